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
//   units of CW channels, for C % CW == 0 and every binding on 4 * CW bytes: 16- or 32-byte
//   accesses, and on CPU drivers a quarter or an eighth of the per-lane load / store loops).
// variants: f32 (CW = 4, vec4), f32x8 (CW = 8, u64vec4; needs shaderInt64).
// push: rows, C, eps.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#ifdef VKR_DTYPE_F32X8
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint FUSE_ADD = 0;
layout(constant_id = 3) const uint VEC = 0;

#include "common/index.glsl"
#include "common/lora_chunk.glsl"
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
// Vector path (VEC): units of CW channels (common/lora_chunk.glsl: vec4 in the f32 build, 8 floats
// as u64vec4 in the f32x8 build).
layout(std430, set = 0, binding = 0) buffer XBufC { CHUNK xc[]; };
layout(std430, set = 0, binding = 1) readonly buffer DBufC { CHUNK deltac[]; };
layout(std430, set = 0, binding = 2) readonly buffer GBufC { CHUNK gammac[]; };
layout(std430, set = 0, binding = 3) readonly buffer BBufC { CHUNK betac[]; };
layout(std430, set = 0, binding = 4) writeonly buffer YBufC { CHUNK yc[]; };
const uint NV = CW / 4u;  // vec4s per unit

// The VEC form of main(): the same passes over units of the row.
void main_vec(uint row) {
  const uint cu = p.C / CW, base = row * cu;
  const uint tid = gl_LocalInvocationID.x;
  const float inv_c = 1.0 / float(p.C);
  float s = 0.0;
  for (uint c = tid; c < cu; c += gl_WorkGroupSize.x) {
    Chunk v = unpack(xc[base + c]);
    if (FUSE_ADD != 0u) {
      const Chunk d = unpack(deltac[base + c]);
      [[unroll]] for (uint h = 0u; h < NV; ++h) set_part(v, h, part(v, h) + part(d, h));
      xc[base + c] = pack(v);
    }
    [[unroll]] for (uint h = 0u; h < NV; ++h) {
      const vec4 e = part(v, h);
      s += MODE == 0u ? (e.x + e.y) + (e.z + e.w) : dot(e, e);
    }
  }
  float scale;
  float mean = 0.0;
  if (MODE == 0u) {
    mean = wg_sum(s) * inv_c;
    float q = 0.0;
    for (uint c = tid; c < cu; c += gl_WorkGroupSize.x) {
      const Chunk v = unpack(xc[base + c]);
      [[unroll]] for (uint h = 0u; h < NV; ++h) {
        const vec4 d = part(v, h) - mean;
        q += dot(d, d);
      }
    }
    scale = inversesqrt(wg_sum(q) * inv_c + p.eps);
  } else {
    scale = inversesqrt(wg_sum(s) * inv_c + p.eps);
  }
  for (uint c = tid; c < cu; c += gl_WorkGroupSize.x) {
    Chunk v = unpack(xc[base + c]);
    const Chunk g = unpack(gammac[c]);
    Chunk bt = g;
    if (MODE == 0u) bt = unpack(betac[c]);
    [[unroll]] for (uint h = 0u; h < NV; ++h) {
      const vec4 o = (part(v, h) - mean) * scale * part(g, h);
      set_part(v, h, MODE == 0u ? o + part(bt, h) : o);
    }
    yc[base + c] = pack(v);
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
