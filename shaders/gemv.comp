#version 450
// gemv: the bandwidth-bound linear layer for decode (T = NT <= 8 tokens); every weight is read
// once for all NT tokens. The body is shaders/common/gemv_body.glsl, shared with gemv_w64.comp
// (the same kernel with 64-bit-word loads, for CPU implementations with shaderInt64).
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU), f32 accumulation
//   y[t][o]   = acc (+ bias[o])                         MODE 0
//             = res[t][o] + acc (+ bias[o])             MODE 1 (res may be y: in place)
//             = silu(acc[t][o]) * acc_up[t][o]          MODE 2 (SwiGLU, gate + up in one pass)
// grid: ceil(nw / ROWS) workgroups over (x, y) (grid_1d); workgroup g owns rows [g*ROWS, +ROWS).
//   Every invocation strides over K in chunks (uvec4 = 8 halves / 4 floats per load when VEC;
//   gemv_w64: u64vec4 = 16 halves / 8 floats), neighbouring invocations on neighbouring chunks,
//   keeping ROWS x NT (x2 for SwiGLU) partial sums; each is reduced with subgroupAdd, then across
//   subgroups through shared memory (gl_NumSubgroups read at run time: any subgroup size). With
//   MAX_SG == 1 (one subgroup per workgroup) there is no shared memory and no barrier at all.
// spec: 0 = WG (local size x), 1 = ROWS, 2 = NT tokens, 3 = MODE, 4 = HAS_BIAS,
//       5 = VEC (1: vector loads; K and the w offsets are multiples of the chunk, the x offset of
//           4 floats (8 for gemv_w64)),
//       6 = MAX_SG (>= gl_NumSubgroups: WG / the device's minimum subgroup size).
// push: see common/linear_io.glsl (T, N, K, nw, element offsets of each binding's window).
// bindings: x (T, K) f32; w, wu (nw, K) dtype words; bias (nw) f32; res (T, N) f32; y (T, N) f32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#include "common/gemv_body.glsl"
