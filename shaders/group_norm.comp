#version 450
// group_norm: RWKV-6 ln_x, the per-head LayerNorm of the WKV output with the full-width affine,
// optionally fused with the gate multiply that follows it (spec §3.2.2: o = GN(y) * silu(g_pre)).
//   for each row r and head h, over the S channels c = h*S + i:
//     o[r][c] = ((y[r][c] - mean_h) / sqrt(var_h + eps) * gamma[c] + beta[c]) * gate(r, c)
//   gate = 1 (GATE 0), g[r][c] (GATE 1), silu(g[r][c]) = g / (1 + exp(-g)) (GATE 2, the form of
//   elementwise.comp's SILU, so fusing it changes no bit).
// grid: rows*H workgroups over (x, y) (grid_1d); one workgroup per (row, head), invocations stride
//   over the head's S channels.
// spec: 0 = WG (local size x), 1 = GATE (0/1/2), 2 = VEC (1: units of CW channels, for S % CW == 0
//   and every binding on 4 * CW bytes: fewer, wider accesses; on CPU drivers a quarter or an
//   eighth of the per-lane load / store loops).
// variants: f32 (CW = 4, vec4), f32x8 (CW = 8, u64vec4; needs shaderInt64).
// push: rows, H, S, eps (64e-5 for RWKV-6).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#ifdef VKR_DTYPE_F32X8
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint GATE = 0;
layout(constant_id = 2) const uint VEC = 0;

#include "common/index.glsl"
#include "common/lora_chunk.glsl"
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
// Vector path (VEC): units of CW channels (common/lora_chunk.glsl: vec4 in the f32 build, 8 floats
// as u64vec4 in the f32x8 build).
layout(std430, set = 0, binding = 0) readonly buffer YBufC { CHUNK yc[]; };
layout(std430, set = 0, binding = 1) readonly buffer GamBufC { CHUNK gammac[]; };
layout(std430, set = 0, binding = 2) readonly buffer BetBufC { CHUNK betac[]; };
layout(std430, set = 0, binding = 3) readonly buffer GateBufC { CHUNK gc[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBufC { CHUNK oc[]; };
const uint NV = CW / 4u;  // vec4s per unit

// main() over units (VEC): ch0 / base / S in units of CW channels.
void main_vec(uint ch0, uint base) {
  const uint su = p.S / CW, c0 = ch0 / CW, b0 = base / CW;
  const uint tid = gl_LocalInvocationID.x;
  const float inv_s = 1.0 / float(p.S);
  float s = 0.0;
  for (uint i = tid; i < su; i += gl_WorkGroupSize.x) {
    const Chunk v = unpack(yc[b0 + i]);
    [[unroll]] for (uint h = 0u; h < NV; ++h) {
      const vec4 e = part(v, h);
      s += (e.x + e.y) + (e.z + e.w);
    }
  }
  const float mean = wg_sum(s) * inv_s;
  float q = 0.0;
  for (uint i = tid; i < su; i += gl_WorkGroupSize.x) {
    const Chunk v = unpack(yc[b0 + i]);
    [[unroll]] for (uint h = 0u; h < NV; ++h) {
      const vec4 d = part(v, h) - mean;
      q += dot(d, d);
    }
  }
  const float scale = inversesqrt(wg_sum(q) * inv_s + p.eps);
  for (uint i = tid; i < su; i += gl_WorkGroupSize.x) {
    Chunk v = unpack(yc[b0 + i]);
    const Chunk ga = unpack(gammac[c0 + i]), be = unpack(betac[c0 + i]);
    Chunk gt = v;
    if (GATE != 0u) gt = unpack(gc[b0 + i]);
    [[unroll]] for (uint h = 0u; h < NV; ++h) {
      const vec4 o = (part(v, h) - mean) * scale * part(ga, h) + part(be, h);
      vec4 gv = vec4(1.0);
      if (GATE != 0u) gv = part(gt, h);
      if (GATE == 2u) gv = gv * (1.0 / (1.0 + exp(-gv)));
      set_part(v, h, GATE != 0u ? o * gv : o);
    }
    oc[b0 + i] = pack(v);
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
