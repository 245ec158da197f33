#version 450
// group_norm: RWKV-6 ln_x, the per-head LayerNorm of the WKV output with the full-width affine,
// optionally fused with the gate multiply that follows it (spec §3.2.2: o = GN(y) * silu(g_pre)).
//   for each row r and head h, over the S channels c = h*S + i:
//     o[r][c] = ((y[r][c] - mean_h) / sqrt(var_h + eps) * gamma[c] + beta[c]) * gate(r, c)
//   gate = 1 (GATE 0), g[r][c] (GATE 1), silu(g[r][c]) = g / (1 + exp(-g)) (GATE 2, the form of
//   elementwise.comp's SILU, so fusing it changes no bit).
// grid: rows*H workgroups over (x, y) (grid_1d); one workgroup per (row, head), invocations stride
//   over the head's S channels.
// spec: 0 = WG (local size x), 1 = GATE (0/1/2), 2 = VEC (1: vec4 accesses, for S % 4 == 0 and
//   every binding on 16 bytes: a quarter of the per-lane load / store loops of CPU drivers).
// push: rows, H, S, eps (64e-5 for RWKV-6).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint GATE = 0;
layout(constant_id = 2) const uint VEC = 0;

#include "common/index.glsl"
#include "common/reduce.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint H;
  uint S;
  float eps;
} p;

layout(std430, set = 0, binding = 0) readonly buffer YBuf { float y[]; };      // y: (rows, H*S)
layout(std430, set = 0, binding = 1) readonly buffer GamBuf { float gamma[]; }; // gamma: (H*S)
layout(std430, set = 0, binding = 2) readonly buffer BetBuf { float beta[]; };  // beta: (H*S)
layout(std430, set = 0, binding = 3) readonly buffer GateBuf { float g[]; };    // g: (rows, H*S)
layout(std430, set = 0, binding = 4) writeonly buffer OBuf { float o[]; };      // o: (rows, H*S)
layout(std430, set = 0, binding = 0) readonly buffer YBuf4 { vec4 y4[]; };
layout(std430, set = 0, binding = 1) readonly buffer GamBuf4 { vec4 gamma4[]; };
layout(std430, set = 0, binding = 2) readonly buffer BetBuf4 { vec4 beta4[]; };
layout(std430, set = 0, binding = 3) readonly buffer GateBuf4 { vec4 g4[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBuf4 { vec4 o4[]; };

// main() over vec4 units (VEC): ch0 / base / S in units of 4 channels.
void main_vec(uint ch0, uint base) {
  const uint s4 = p.S / 4u, c0 = ch0 / 4u, b0 = base / 4u;
  const uint tid = gl_LocalInvocationID.x;
  const float inv_s = 1.0 / float(p.S);
  float s = 0.0;
  for (uint i = tid; i < s4; i += gl_WorkGroupSize.x) {
    const vec4 v = y4[b0 + i];
    s += (v.x + v.y) + (v.z + v.w);
  }
  const float mean = wg_sum(s) * inv_s;
  float q = 0.0;
  for (uint i = tid; i < s4; i += gl_WorkGroupSize.x) {
    const vec4 d = y4[b0 + i] - mean;
    q += dot(d, d);
  }
  const float scale = inversesqrt(wg_sum(q) * inv_s + p.eps);
  for (uint i = tid; i < s4; i += gl_WorkGroupSize.x) {
    const vec4 v = (y4[b0 + i] - mean) * scale * gamma4[c0 + i] + beta4[c0 + i];
    vec4 gv = vec4(1.0);
    if (GATE != 0u) gv = g4[b0 + i];
    if (GATE == 2u) gv = gv * (1.0 / (1.0 + exp(-gv)));
    o4[b0 + i] = GATE != 0u ? v * gv : v;
  }
}

void main() {
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (wg >= p.rows * p.H) return;  // uniform per workgroup
  const uint row = wg / p.H, h = wg % p.H;
  const uint ch0 = h * p.S;                     // first channel of the head
  const uint base = row * p.H * p.S + ch0;      // its offset in y / g / o
  if (VEC != 0u) {
    main_vec(ch0, base);
    return;
  }
  const uint tid = gl_LocalInvocationID.x;
  const float inv_s = 1.0 / float(p.S);

  float s = 0.0;
  for (uint i = tid; i < p.S; i += gl_WorkGroupSize.x) s += y[base + i];
  const float mean = wg_sum(s) * inv_s;
  float q = 0.0;
  for (uint i = tid; i < p.S; i += gl_WorkGroupSize.x) {
    float d = y[base + i] - mean;
    q += d * d;
  }
  const float scale = inversesqrt(wg_sum(q) * inv_s + p.eps);
  for (uint i = tid; i < p.S; i += gl_WorkGroupSize.x) {
    float v = (y[base + i] - mean) * scale * gamma[ch0 + i] + beta[ch0 + i];
    float gv = 1.0;
    if (GATE != 0u) gv = g[base + i];
    if (GATE == 2u) gv = gv * (1.0 / (1.0 + exp(-gv)));
    o[base + i] = GATE != 0u ? v * gv : v;
  }
}
