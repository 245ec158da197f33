#version 450
// norm: LayerNorm / RMSNorm over the C channels of each row, optionally fused with the residual add
// that precedes almost every norm in the forward pass (spec §3.1-§3.3: x = x + delta; a = norm(x)).
//   if FUSE_ADD: x[r] += delta[r]           (x is written back: it is the residual stream)
//   MODE 0 (LayerNorm): y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta   (biased var)
//   MODE 1 (RMSNorm):   y[r] = x[r] / sqrt(mean(x^2) + eps) * gamma
// Statistics in f32 with a two-pass mean/variance (no E[x^2]-E[x]^2 cancellation); later passes
// re-read the row from cache (each invocation touches the same channels in every pass, so it
// also sees its own fused-add writes).
// grid: rows workgroups over (x, y) (grid_1d); one workgroup per row, invocations stride over C.
// spec: 0 = WG (local size x), 1 = MODE (0 LayerNorm, 1 RMSNorm), 2 = FUSE_ADD (0/1), 3 = VEC (1:
//   vec4 loads and stores, for C % 4 == 0 and every binding on 16 bytes: 16-byte accesses on
//   GPUs, and on CPU drivers a quarter of the per-lane load / store loops).
// push: rows, C, eps.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint FUSE_ADD = 0;
layout(constant_id = 3) const uint VEC = 0;

#include "common/index.glsl"
#include "common/reduce.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint C;
  float eps;
} p;

layout(std430, set = 0, binding = 0) buffer XBuf { float x[]; };                   // x: (rows, C)
layout(std430, set = 0, binding = 1) readonly buffer DBuf { float delta[]; };      // delta: (rows, C)
layout(std430, set = 0, binding = 2) readonly buffer GBuf { float gamma[]; };      // gamma: (C)
layout(std430, set = 0, binding = 3) readonly buffer BBuf { float beta[]; };       // beta: (C)
layout(std430, set = 0, binding = 4) writeonly buffer YBuf { float y[]; };         // y: (rows, C)
layout(std430, set = 0, binding = 0) buffer XBuf4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer DBuf4 { vec4 delta4[]; };
layout(std430, set = 0, binding = 2) readonly buffer GBuf4 { vec4 gamma4[]; };
layout(std430, set = 0, binding = 3) readonly buffer BBuf4 { vec4 beta4[]; };
layout(std430, set = 0, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };

// The VEC form of main(): the same passes over vec4s of the row.
void main_vec(uint row) {
  const uint c4 = p.C / 4u, base = row * c4;
  const uint tid = gl_LocalInvocationID.x;
  const float inv_c = 1.0 / float(p.C);
  float s = 0.0;
  for (uint c = tid; c < c4; c += gl_WorkGroupSize.x) {
    vec4 v = x4[base + c];
    if (FUSE_ADD != 0u) {
      v += delta4[base + c];
      x4[base + c] = v;
    }
    s += MODE == 0u ? (v.x + v.y) + (v.z + v.w) : dot(v, v);
  }
  float scale;
  float mean = 0.0;
  if (MODE == 0u) {
    mean = wg_sum(s) * inv_c;
    float q = 0.0;
    for (uint c = tid; c < c4; c += gl_WorkGroupSize.x) {
      const vec4 d = x4[base + c] - mean;
      q += dot(d, d);
    }
    scale = inversesqrt(wg_sum(q) * inv_c + p.eps);
  } else {
    scale = inversesqrt(wg_sum(s) * inv_c + p.eps);
  }
  for (uint c = tid; c < c4; c += gl_WorkGroupSize.x) {
    const vec4 v = (x4[base + c] - mean) * scale * gamma4[c];
    y4[base + c] = MODE == 0u ? v + beta4[c] : v;
  }
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup: safe before the barriers
  if (VEC != 0u) {
    main_vec(row);
    return;
  }
  const uint base = row * p.C;
  const uint tid = gl_LocalInvocationID.x;
  const float inv_c = 1.0 / float(p.C);

  float s = 0.0;
  for (uint c = tid; c < p.C; c += gl_WorkGroupSize.x) {
    float v = x[base + c];
    if (FUSE_ADD != 0u) {
      v += delta[base + c];
      x[base + c] = v;
    }
    s += MODE == 0u ? v : v * v;
  }
  float scale;
  float mean = 0.0;
  if (MODE == 0u) {
    mean = wg_sum(s) * inv_c;
    float q = 0.0;
    for (uint c = tid; c < p.C; c += gl_WorkGroupSize.x) {
      float d = x[base + c] - mean;
      q += d * d;
    }
    scale = inversesqrt(wg_sum(q) * inv_c + p.eps);
  } else {
    scale = inversesqrt(wg_sum(s) * inv_c + p.eps);
  }
  for (uint c = tid; c < p.C; c += gl_WorkGroupSize.x) {
    float v = (x[base + c] - mean) * scale * gamma[c];
    y[base + c] = MODE == 0u ? v + beta[c] : v;
  }
}
