#version 450
// wkv_decode: the WKV6 / GLA recurrence token by token (spec §3.4); the decode / short-prompt path.
//   Rwkv6: y_t[j] = scale * sum_i r_t[i] (M[i][j] + u[i] k_t[i] v_t[j]);  M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j]
//   Gla:   M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j];  y_t[j] = scale * sum_i r_t[i] M[i][j]
//   with w_t = exp(logw_t), for t = 0..T-1 of each sequence, M starting from and ending in `state`.
// grid: (S / (4 * WG), H, B); invocation q = tile * WG + x owns the 4 contiguous state columns
//   j = 4q .. 4q + 3 and keeps their S rows in registers (vec4 m[S]) for the whole call, so the
//   state is read and written once per call with one vec4 load / store per row. Per token, r, k,
//   logw (and u) are read straight from memory as vec4: every invocation of the workgroup reads the
//   same address (a uniform load: one load, not one per lane, on llvmpipe; a broadcast on GPUs),
//   and each loaded value feeds 4 columns. No shared memory and no barriers.
//   GPU caveat (unmeasured): 4 * S state floats per invocation exceed a GPU's register file at
//   S >= 64 and spill; GPUs take this kernel only for T < 16 (wkv.cpp).
// spec: 0 = WG (local size x; 4 * WG divides S), 1 = S (head size), 2 = MODE (0 Rwkv6, 1 Gla).
// push: B, T, H, scale, token window t0, tn (see common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint MODE = 0;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"

void main() {
  const uint S4 = S / 4;
  const uint q = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;  // column quad
  const uint h = gl_WorkGroupID.y;
  const uint b = gl_WorkGroupID.z;

  vec4 m[S];  // m[i] = M[i][4q .. 4q + 3]
  const uint st = wkv_state_at(b, h, S) / 4;
  [[unroll]] for (uint i = 0; i < S; ++i) m[i] = state4[st + i * S4 + q];

  // One dynamic iteration per token (the row loops are unrolled). Tried on lavapipe and not kept:
  // 4 tokens per pass over the rows (fewer loads / stores of the spilled state array): ~10% at
  // T = 1024, 2x slower at T = 1 (masked tail tokens); each of 8 subgroup lanes exponentiating one
  // decay row and subgroupBroadcast-ing it (instead of all lanes computing the same exps): no gain.
  for (uint tt = 0; tt < p.tn; ++tt) {
    const uint at = wkv_act_at(b, p.t0 + tt, h, S) / 4;
    const vec4 vq = vec4(v4[at + q]);
    vec4 acc = vec4(0.0);
    [[unroll]] for (uint i4 = 0; i4 < S4; ++i4) {
      const vec4 rr = vec4(r4[at + i4]);  // uniform loads: same address in every invocation
      const vec4 kk = vec4(k4[at + i4]);
      const vec4 ww = exp(logw4[at + i4]);
      if (MODE == MODE_RWKV6) {
        const vec4 uu = u4[h * S4 + i4];
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          const vec4 kv = kk[c] * vq;
          acc += rr[c] * (m[i] + uu[c] * kv);  // reads M_{t-1} plus the bonus
          m[i] = ww[c] * m[i] + kv;
        }
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          m[i] = ww[c] * m[i] + kk[c] * vq;
          acc += rr[c] * m[i];  // reads the updated M_t
        }
      }
    }
    y4[at + q] = p.scale * acc;
  }

  [[unroll]] for (uint i = 0; i < S; ++i) state4[st + i * S4 + q] = m[i];
}
