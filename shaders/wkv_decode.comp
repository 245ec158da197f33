#version 450
// wkv_decode: the WKV6 / GLA recurrence token by token (spec §3.4); the decode / short-prompt path.
//   Rwkv6: y_t[j] = scale * sum_i r_t[i] (M[i][j] + u[i] k_t[i] v_t[j]);  M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j]
//   Gla:   M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j];  y_t[j] = scale * sum_i r_t[i] M[i][j]
//   with w_t = exp(logw_t), for t = 0..T-1 of each sequence, M starting from and ending in `state`.
// grid: (S / VT, H, B); one workgroup per (value tile, head, sequence); invocation x owns the
//   state column j = tile * VT + x and keeps its S entries in registers for the whole call, so the
//   state is read and written once per call. Tokens are staged TB at a time into shared memory
//   (r, k and w = exp(logw) rows): two barriers per TB tokens instead of one or two per token.
// spec: 0 = VT (local size x = value columns per workgroup, divides S), 1 = S (head size),
//       2 = TB (tokens staged per barrier), 3 = MODE (0 Rwkv6, 1 Gla).
// push: B, T, H, scale, token window t0, tn (see common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint TB = 16;
layout(constant_id = 3) const uint MODE = 0;

#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"

shared float s_r[TB * S];  // (TB, S) receptance of the staged tokens
shared float s_k[TB * S];  // (TB, S) keys
shared float s_w[TB * S];  // (TB, S) decays w = exp(logw)
shared float s_u[S];       // (S) bonus (Rwkv6)

void main() {
  const uint VT = gl_WorkGroupSize.x;
  const uint x = gl_LocalInvocationID.x;
  const uint j = gl_WorkGroupID.x * VT + x;
  const uint h = gl_WorkGroupID.y;
  const uint b = gl_WorkGroupID.z;

  float m[S];  // column j of this head's state: m[i] = M[i][j]
  const uint st = wkv_state_at(b, h, S);
  [[unroll]] for (uint i = 0; i < S; ++i) m[i] = state[st + i * S + j];
  if (MODE == MODE_RWKV6) {
    [[unroll]] for (uint q = 0; q < (S + VT - 1) / VT; ++q) {
      const uint i = q * VT + x;
      if (i < S) s_u[i] = u[h * S + i];
    }
  }

  // One dynamic iteration per token (the staging and i loops are unrolled).
  for (uint tb = 0; tb < p.tn; tb += TB) {
    const uint n = min(TB, p.tn - tb);
    // Stage n tokens: rows of the (B, T, H, S) inputs are S contiguous values each.
    [[unroll]] for (uint q = 0; q < (TB * S + VT - 1) / VT; ++q) {
      const uint e = q * VT + x;
      if (e < n * S) {
        const uint src = wkv_act_at(b, p.t0 + tb + e / S, h, S) + e % S;
        s_r[e] = sfp_to_f32(r[src]);
        s_k[e] = sfp_to_f32(k[src]);
        s_w[e] = exp(logw[src]);
      }
    }
    barrier();
    for (uint tt = 0; tt < n; ++tt) {
      const uint at = wkv_act_at(b, p.t0 + tb + tt, h, S);
      const float vj = sfp_to_f32(v[at + j]);
      const uint row = tt * S;
      float acc = 0.0;
      if (MODE == MODE_RWKV6) {
        [[unroll]] for (uint i = 0; i < S; ++i) {
          const float kv = s_k[row + i] * vj;
          acc += s_r[row + i] * (m[i] + s_u[i] * kv);  // reads M_{t-1} plus the bonus
          m[i] = s_w[row + i] * m[i] + kv;
        }
      } else {
        [[unroll]] for (uint i = 0; i < S; ++i) {
          m[i] = s_w[row + i] * m[i] + s_k[row + i] * vj;
          acc += s_r[row + i] * m[i];  // reads the updated M_t
        }
      }
      y[at + j] = p.scale * acc;
    }
    barrier();  // the next block overwrites the staging arrays
  }

  [[unroll]] for (uint i = 0; i < S; ++i) state[st + i * S + j] = m[i];
}
