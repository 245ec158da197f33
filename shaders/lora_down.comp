#version 450
// lora_down: the "down" half of the LoRA stacks (spec §2.3) with its tanh epilogue:
//   h[r][d] = tanh(sum_c W[d][c] * in[r][c])
//   IN_MODE 0: in = x (decay: x^w; ddlerp: xi_t, written by token_shift.comp MODE 2 before this)
//   IN_MODE 1: in = x + (s - x) * mu: ddlerp decode (T = 1, so x_prev = s = the shift state row and
//     the separate token_shift pass, with its barrier, is skipped). Chunk loads only (VEC == CW).
// A small GEMM (rows x C)·(C x D) with D = 5*Dm or Dd (<= 320) and C up to 5120: every invocation
// of a workgroup strides over K = C in chunk steps (4 or 8 floats, "K across lanes", coalesced on
// GPUs) and keeps an MR x NR register tile of partial dot products; the tile is reduced across the
// workgroup once at the end. No barrier inside the K loop: on CPU implementations (lavapipe) each
// barrier is a coroutine switch, and every per-lane load is a scalar loop there, so the register
// tile (MR + NR chunk loads feed MR * NR dot products) is what sets the speed.
// grid: (ceil(D / NR), ceil(rows / MR), 1); workgroup = MR rows x NR outputs, all of K.
// variants: f32 (vec4 loads), f32x8 (u64vec4 loads of 8 floats; needs shaderInt64: on lavapipe
//   each load is a per-lane loop, so wider loads mean fewer of them), f32tex (x, W, s, mu through
//   uniform texel buffers, one vector load per lane on llvmpipe: CPU devices; VEC == 4 only).
// spec: 0 = WG, 1 = MR, 2 = NR, 3 = VEC (CW = 4 or 8 per variant: C % CW == 0, one chunk load
//   per row and step; 1: guarded scalar vec4 loads, for any C), 4 = NSG (upper bound on subgroups
//   per workgroup, WG / min subgroup size; 1 = one subgroup, no shared-memory pass), 5 = IN_MODE.
// push: rows, C, D.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#ifdef VKR_DTYPE_F32X8
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MR = 1;
layout(constant_id = 2) const uint NR = 4;
layout(constant_id = 3) const uint VEC = 4;
layout(constant_id = 4) const uint NSG = 1;
layout(constant_id = 5) const uint IN_MODE = 0;

#include "common/index.glsl"
#include "common/lora_chunk.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint C;
  uint D;
} p;

#ifdef VKR_DTYPE_F32TEX
// Texel build: bindings 0, 1, 3, 4 are uniform texel buffers of vec4 texels (KernelDesc texel_mask
// 0b11011); only the chunk path exists (the host picks this build for C % 4 == 0).
layout(set = 0, binding = 0) uniform utextureBuffer xt;
layout(set = 0, binding = 1) uniform utextureBuffer wt;
layout(set = 0, binding = 3) uniform utextureBuffer st;
layout(set = 0, binding = 4) uniform utextureBuffer mut;
layout(std430, set = 0, binding = 2) writeonly buffer HBuf { float h[]; };  // h: (rows, D)
#define LD_X(i) unpack(uintBitsToFloat(texelFetch(xt, int(i))))
#define LD_W(i) unpack(uintBitsToFloat(texelFetch(wt, int(i))))
#define LD_S(i) unpack(uintBitsToFloat(texelFetch(st, int(i))))
#define LD_MU(i) unpack(uintBitsToFloat(texelFetch(mut, int(i))))
#else
// Each buffer is declared twice (scalar and vec4 views of the same binding) so odd C stays legal.
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float x[]; };   // x: (rows, C)
layout(std430, set = 0, binding = 0) readonly buffer X4Buf { vec4 x4[]; };
layout(std430, set = 0, binding = 0) readonly buffer XcBuf { CHUNK xc[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float w[]; };   // W: (D, C)
layout(std430, set = 0, binding = 1) readonly buffer W4Buf { vec4 w4[]; };
layout(std430, set = 0, binding = 1) readonly buffer WcBuf { CHUNK wc[]; };
layout(std430, set = 0, binding = 2) writeonly buffer HBuf { float h[]; };  // h: (rows, D)
layout(std430, set = 0, binding = 3) readonly buffer SBuf { CHUNK sc[]; };     // s: (rows, C)
layout(std430, set = 0, binding = 4) readonly buffer MuBuf { CHUNK muc[]; };   // mu: (C)

#define LD_X(i) unpack(xc[i])
#define LD_W(i) unpack(wc[i])
#define LD_S(i) unpack(sc[i])
#define LD_MU(i) unpack(muc[i])
#endif

shared float red[NSG * MR * NR];  // one partial per (subgroup, tile entry); unused when NSG == 1

#ifndef VKR_DTYPE_F32TEX
// Elements [k, k+4) of row `row` (C floats per row) of a buffer; zeros past C.
#define LOAD4(S, S4, row, k)                                                              \
  vec4 v = vec4(0.0);                                                                     \
  if (VEC == 4u) {                                                                        \
    v = S4[((row) * p.C + (k)) >> 2];                                                     \
  } else {                                                                                \
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {                                           \
      if ((k) + i < p.C) v[i] = S[(row) * p.C + (k) + i];                                 \
    }                                                                                     \
  }                                                                                       \
  return v;

vec4 load_x(uint row, uint k) { LOAD4(x, x4, row, k) }
vec4 load_w(uint row, uint k) { LOAD4(w, w4, row, k) }
#endif

// tanh is +-1 in f32 well before |s| = 15; the clamp keeps an exp-based tanh away from inf / inf.
float tanh_sat(float s) { return tanh(clamp(s, -15.0, 15.0)); }

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint d0 = gl_WorkGroupID.x * NR, r0 = gl_WorkGroupID.y * MR;
  float acc[MR][NR];
  [[unroll]] for (uint m = 0u; m < MR; ++m) {
    [[unroll]] for (uint j = 0u; j < NR; ++j) acc[m][j] = 0.0;
  }
  // Rows / outputs past the end are clamped (valid loads, results never written).
  uint rr[MR];
  [[unroll]] for (uint m = 0u; m < MR; ++m) rr[m] = min(r0 + m, p.rows - 1u);

  if (VEC == CW) {  // C % CW == 0: one CHUNK load per row and step
    for (uint k = lane * CW; k < p.C; k += gl_WorkGroupSize.x * CW) {
      Chunk a[MR];
      [[unroll]] for (uint m = 0u; m < MR; ++m) a[m] = LD_X((rr[m] * p.C + k) / CW);
      if (IN_MODE == 1u) {
        const Chunk mu = LD_MU(k / CW);
        [[unroll]] for (uint m = 0u; m < MR; ++m) {
          a[m] = chunk_lerp(a[m], LD_S((rr[m] * p.C + k) / CW), mu);
        }
      }
      [[unroll]] for (uint j = 0u; j < NR; ++j) {
        const Chunk wv = LD_W((min(d0 + j, p.D - 1u) * p.C + k) / CW);
        [[unroll]] for (uint m = 0u; m < MR; ++m) acc[m][j] += chunk_dot(a[m], wv);
      }
    }
  }
#ifndef VKR_DTYPE_F32TEX
  else {
    for (uint k = lane * 4u; k < p.C; k += gl_WorkGroupSize.x * 4u) {
      vec4 a[MR];
      [[unroll]] for (uint m = 0u; m < MR; ++m) a[m] = load_x(rr[m], k);
      [[unroll]] for (uint j = 0u; j < NR; ++j) {
        const vec4 wv = load_w(min(d0 + j, p.D - 1u), k);
        [[unroll]] for (uint m = 0u; m < MR; ++m) acc[m][j] += dot(a[m], wv);
      }
    }
  }
#endif

  if (NSG == 1u) {  // the workgroup is one subgroup: no shared memory, no barrier
    [[unroll]] for (uint m = 0u; m < MR; ++m) {
      [[unroll]] for (uint j = 0u; j < NR; ++j) {
        const float s = subgroupAdd(acc[m][j]);
        if (lane == 0u && r0 + m < p.rows && d0 + j < p.D) h[(r0 + m) * p.D + d0 + j] = tanh_sat(s);
      }
    }
    return;
  }
  [[unroll]] for (uint m = 0u; m < MR; ++m) {
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      const float s = subgroupAdd(acc[m][j]);
      if (subgroupElect()) red[(m * NR + j) * NSG + gl_SubgroupID] = s;
    }
  }
  barrier();
  for (uint e = lane; e < MR * NR; e += gl_WorkGroupSize.x) {
    const uint m = e / NR, j = e % NR;
    float s = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[e * NSG + g];
    if (r0 + m < p.rows && d0 + j < p.D) h[(r0 + m) * p.D + d0 + j] = tanh_sat(s);
  }
}
