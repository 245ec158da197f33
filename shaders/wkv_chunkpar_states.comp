#version 450
// wkv_chunkpar_states: pass 1 of the chunk-parallel WKV6 / GLA recurrence (spec §5.1, §5.3; the
// passes and scratch layout are in common/wkv_chunkpar.glsl). For every chunk, in parallel:
//   D_c[i][j] = sum_tau k_tau[i] exp(b_last[i] - b_tau[i]) v_tau[j],   decay_c[i] = exp(b_last[i])
// (identical for Rwkv6 and Gla), so that M_out = diag(decay_c) M_in + D_c.
// b_last - b_tau is the suffix sum sum_{m > tau} logw_m, accumulated backwards from the chunk end:
// a sum of values <= 0, so every exponent is <= 0 with no cancellation (any decay, spec §5.2).
// grid: (NC * (S / VT), H, B); workgroup = (chunk, value tile of VT columns, head, sequence).
//   Invocation x = rg * CG + cg (CG = VT / 4) accumulates the vec4 D[i][4cg .. 4cg + 3] of tile
//   rows i = rg + RG * q (q < S / RG) in registers; tokens are streamed through shared memory in
//   blocks of TS (last block first, so the suffix sums run in one pass): k and logw rows (all S
//   channels) and the v tile, loaded as coalesced vec4.
// spec: 0 = WG (= RG * VT / 4, >= S), 1 = S, 2 = L (chunk length), 3 = VT (value tile, divides S),
//       4 = RG (row groups, divides S), 5 = TS (token block, divides L).
// push: B, T, H, scale, token window t0, tn (common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint L = 32;
layout(constant_id = 3) const uint VT = 64;
layout(constant_id = 4) const uint RG = 16;
layout(constant_id = 5) const uint TS = 8;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"
#include "common/wkv_chunkpar.glsl"

const uint WG = gl_WorkGroupSize.x;
const uint CG = VT / 4;
const uint RI = S / RG;  // tile rows per invocation

shared float s_k[TS * S];  // (TS, S) k, then k (.) exp(b_last - b)
shared float s_w[TS * S];  // (TS, S) logw
shared vec4 s_v[TS * CG];  // (TS, VT / 4) v tile

void main() {
  const uint x = gl_LocalInvocationID.x;
  const uint NT = S / VT;
  const uint c = gl_WorkGroupID.x / NT, vt = gl_WorkGroupID.x % NT;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint cg = x % CG, rg = x / CG;
  const uint n = min(L, p.tn - c * L);  // tokens in this chunk
  const uint tc = p.t0 + c * L;         // its first token

  vec4 acc[RI];
  [[unroll]] for (uint q = 0; q < RI; ++q) acc[q] = vec4(0.0);
  float carry = 0.0;  // invocation x < S: sum of logw[x] over the tokens after the current one

  for (uint blk = L / TS; blk-- > 0;) {
    // Load TS token rows (zeros past n: no contribution, no decay).
    for (uint e = x; e < TS * S / 4; e += WG) {
      const uint t = e / (S / 4), i4 = e % (S / 4), tok = blk * TS + t;
      const bool live = tok < n;
      const uint at = live ? wkv_act_at(b, tc + tok, h, S) / 4 + i4 : 0;
      const vec4 kk = live ? vec4(k4[at]) : vec4(0.0);
      const vec4 ww = live ? logw4[at] : vec4(0.0);
      [[unroll]] for (uint m = 0; m < 4; ++m) {
        s_k[t * S + 4 * i4 + m] = kk[m];
        s_w[t * S + 4 * i4 + m] = ww[m];
      }
    }
    for (uint e = x; e < TS * CG; e += WG) {
      const uint t = e / CG, j4 = e % CG, tok = blk * TS + t;
      s_v[e] = tok < n ? vec4(v4[wkv_act_at(b, tc + tok, h, S) / 4 + vt * CG + j4]) : vec4(0.0);
    }
    barrier();
    if (x < S) {
      for (uint t = TS; t-- > 0;) {
        s_k[t * S + x] *= exp(carry);
        carry += s_w[t * S + x];
      }
    }
    barrier();
    for (uint t = 0; t < TS; ++t) {
      const vec4 vv = s_v[t * CG + cg];
      [[unroll]] for (uint q = 0; q < RI; ++q) acc[q] += s_k[t * S + rg + RG * q] * vv;
    }
    barrier();  // the next block overwrites the shared rows
  }

  const uint at = cp_mat_at(b, h, c) / 4 + vt * CG + cg;
  [[unroll]] for (uint q = 0; q < RI; ++q) scratch4[at + (rg + RG * q) * (S / 4)] = acc[q];
  if (vt == 0 && x < S) {
    const uint d = cp_decay_at(b, h, c) + x;
    scratch4[d / 4][d % 4] = exp(carry);
  }
}
