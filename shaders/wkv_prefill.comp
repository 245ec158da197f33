#version 450
// wkv_prefill: the WKV6 / GLA recurrence in chunked-parallel form (spec §5), for prompts.
// Per (sequence b, head h) the T tokens are cut into chunks of L (the last may be partial). For a
// chunk of n tokens with chunk-local inclusive cumsum b_t = sum_{m<=t} logw_m and X_t = b_{t-1}
// (Rwkv6, b_{-1} = 0) or b_t (Gla):
//   A[t][tau] = sum_i r_t[i] k_tau[i] exp(X_t[i] - b_tau[i])   tau < t (Rwkv6) / tau <= t (Gla)
//   A[t][t]   = sum_i r_t[i] u[i] k_t[i]                       (Rwkv6 bonus)
//   Y         = scale * (A V + (R (.) exp(X)) M_in)
//   M_out     = diag(exp(b_{n-1})) M_in + sum_tau (k_tau (.) exp(b_{n-1} - b_tau)) v_tau^T
// Stability (spec §5.2): every decay factor is formed as exp(later cumsum - earlier cumsum) <= 1
// ("direct" path), EXCEPT when the whole chunk decays by at most e^-kSpan in every channel: then A
// is the plain matmul (R (.) exp(X)) (K (.) exp(-B))^T with the reference point at the chunk start
// ("factored" path, spec §5.2.2 with one reference), whose large factor is bounded by e^kSpan, far
// from f32 overflow (e^88). The choice is uniform per chunk (all invocations read the same cumsum).
// Real checkpoints take the factored path almost always; decays down to -60 per token take the
// direct one. Chunks are short (L <= 32: shared memory and registers), so there are no sub-chunks:
// the direct path is the spec's diagonal-block rule applied to the whole chunk, and the factored
// path is its reference-point rule with one reference, guarded by the span check.
// grid: (S / VT, H, B); one workgroup per (value tile, head, sequence) walking the chunks in order.
//   Invocation x owns the VPT state columns j = tile * VT + x + c * WG (c < VPT), keeping their S
//   entries in registers for the whole call; state is read and written once per call. The chunk's
//   r, k, cumsum and A live in shared memory; all invocations share the A / cumsum work.
// spec: 0 = WG (local size x), 1 = S (head size), 2 = L (chunk length), 3 = MODE (0 Rwkv6,
//       1 Gla), 4 = VPT (value columns per invocation; VT = WG * VPT divides S), 5 = U (state rows
//       per dynamic loop iteration, divides S; U = S unrolls fully so the state stays in registers).
// Loops: the hot ones indexing per-invocation arrays are [[unroll]]ed (registers on GPUs, whose
//   compilers also unroll the other constant-trip loops); the rest stay loops (llvmpipe compiles
//   big unrolled bodies very slowly), and the host bounds the dynamic loop iterations per
//   dispatch (wkv_prefill.cpp: the lavapipe loop limiter, see common/wkv_io.glsl).
// push: B, T, H, scale, token window t0, tn (see common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint L = 16;
layout(constant_id = 3) const uint MODE = 0;
layout(constant_id = 4) const uint VPT = 1;
layout(constant_id = 5) const uint U = 4;

#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"

const float kSpan = 60.0;  // max chunk decay (in log units) for the factored path
const uint WG = gl_WorkGroupSize.x;
const uint E = (L * L + WG - 1) / WG;  // A entries per invocation

shared float s_r[L * S];  // (L, S) r, then r (.) exp(X)
shared float s_k[L * S];  // (L, S) k, then k (.) exp(b_{n-1} - b) (direct) or k (.) exp(-b) (factored)
shared float s_b[(L + 1) * S];  // (L + 1, S) row 0 = 0, row t + 1 = logw_t, then cumsum b_t
shared float s_a[L * L];  // (L, L) intra-chunk scores A[t][tau]
shared float s_d[S];      // (S) chunk decay exp(b_{n-1})
shared float s_u[S];      // (S) bonus u of this head (Rwkv6)

// b_t[i] and X_t[i] of the header; the zero row 0 makes b_{-1} = 0 a plain load (no selects:
// llvmpipe compiled the unrolled loops many times slower with them).
float b_cum(uint t, uint i) { return s_b[(t + 1) * S + i]; }
float x_cum(uint t, uint i) { return s_b[(MODE == MODE_GLA ? t + 1 : t) * S + i]; }

// Rows t >= n are zero-filled so the register loops below run a constant L trip count.
void load_chunk(uint b, uint h, uint tc, uint n) {
  for (uint q = 0; q < (L * S + WG - 1) / WG; ++q) {
    const uint e = q * WG + gl_LocalInvocationID.x;
    if (e < L * S) {
      const uint t = e / S;
      const bool live = t < n;
      const uint src = live ? wkv_act_at(b, tc + t, h, S) + e % S : 0;
      s_r[e] = live ? sfp_to_f32(r[src]) : 0.0;
      s_k[e] = live ? sfp_to_f32(k[src]) : 0.0;
      s_b[e + S] = live ? logw[src] : 0.0;
      if (e < S) s_b[e] = 0.0;
    }
  }
  for (uint q = 0; q < E; ++q) {
    const uint e = q * WG + gl_LocalInvocationID.x;
    if (e < L * L) s_a[e] = 0.0;
  }
}

// Adding values <= 0 never increases a float, so later-minus-earlier cumsums are exactly <= 0.
void cumsum(uint n) {
  for (uint q = 0; q < (S + WG - 1) / WG; ++q) {
    const uint i = q * WG + gl_LocalInvocationID.x;
    if (i < S) {
      float acc = 0.0;
      for (uint t = 1; t <= n; ++t) {
        acc += s_b[t * S + i];
        s_b[t * S + i] = acc;
      }
      s_d[i] = exp(acc);
    }
  }
}

// Rwkv6 bonus sum_i r_t[i] u[i] k_t[i] -> A[t][t], before r and k are transformed (the direct
// path's scores() rewrites the same value).
void bonus(uint n) {
  const uint NT = (L + WG - 1) / WG;
  float acc[NT];
  [[unroll]] for (uint q = 0; q < NT; ++q) acc[q] = 0.0;
  for (uint i0 = 0; i0 < S; i0 += U) {
    [[unroll]] for (uint ii = 0; ii < U; ++ii) {
      const uint i = i0 + ii;
      const float ui = s_u[i];
      [[unroll]] for (uint q = 0; q < NT; ++q) {
        const uint t = min(q * WG + gl_LocalInvocationID.x, L - 1);
        acc[q] += s_r[t * S + i] * ui * s_k[t * S + i];
      }
    }
  }
  [[unroll]] for (uint q = 0; q < NT; ++q) {
    const uint t = q * WG + gl_LocalInvocationID.x;
    if (t < n) s_a[t * L + t] = acc[q];
  }
}

// A[t][tau] for this invocation's E entries e = q * WG + x (t = e / L, tau = e % L). Direct path:
// every factor exp(X_t - b_tau) <= 1 computed per (t, tau, i) (clamped at 0 for the masked
// tau > t entries), Rwkv6 diagonal = bonus u. Factored path: plain dot products of the
// transformed rows; the Rwkv6 diagonal was set by bonus(). Branch-free inner loops on purpose:
// nested divergent ifs in these unrolled loops made llvmpipe compile for minutes.
void scores(uint h, uint n, bool factored) {
  float acc[E];
  [[unroll]] for (uint q = 0; q < E; ++q) acc[q] = 0.0;
  if (factored) {
    for (uint i0 = 0; i0 < S; i0 += U) {
      [[unroll]] for (uint ii = 0; ii < U; ++ii) {
        [[unroll]] for (uint q = 0; q < E; ++q) {
          const uint e = min(q * WG + gl_LocalInvocationID.x, L * L - 1);
          acc[q] += s_r[(e / L) * S + i0 + ii] * s_k[(e % L) * S + i0 + ii];
        }
      }
    }
  } else {
    for (uint i0 = 0; i0 < S; i0 += U) {
      [[unroll]] for (uint ii = 0; ii < U; ++ii) {
        const uint i = i0 + ii;
        const float ui = MODE == MODE_RWKV6 ? s_u[i] : 0.0;
        [[unroll]] for (uint q = 0; q < E; ++q) {
          const uint e = min(q * WG + gl_LocalInvocationID.x, L * L - 1);
          const uint t = e / L, tau = e % L;
          const float decay = exp(min(x_cum(t, i) - b_cum(tau, i), 0.0));
          const float f = MODE == MODE_RWKV6 && tau == t ? ui : decay;
          acc[q] += s_r[t * S + i] * s_k[tau * S + i] * f;
        }
      }
    }
  }
  [[unroll]] for (uint q = 0; q < E; ++q) {
    const uint e = q * WG + gl_LocalInvocationID.x;
    const uint t = e / L, tau = e % L;
    const bool skip = factored && MODE == MODE_RWKV6 && tau == t;  // bonus already there
    if (e < L * L && t < n && tau <= t && !skip) s_a[e] = acc[q];
  }
}

// r -> r (.) exp(X); k -> k (.) exp(b_{n-1} - b) (direct) or k (.) exp(-b) (factored).
void transform(uint n, bool factored) {
  for (uint q = 0; q < (L * S + WG - 1) / WG; ++q) {
    const uint e = q * WG + gl_LocalInvocationID.x;
    if (e < n * S) {
      const uint t = e / S, i = e % S;
      const float last = factored ? 0.0 : b_cum(n - 1, i);
      s_r[e] *= exp(x_cum(t, i));
      s_k[e] *= exp(last - b_cum(t, i));
    }
  }
}

// Leaves s_a = A, s_r = R (.) exp(X), s_k = decayed keys; returns the path taken.
bool prepare_chunk(uint h, uint n) {
  float lowest = 0.0;  // min_i b_{n-1}[i]: the strongest total decay over the chunk
  for (uint i0 = 0; i0 < S; i0 += U) {
    [[unroll]] for (uint ii = 0; ii < U; ++ii) lowest = min(lowest, b_cum(n - 1, i0 + ii));
  }
  const bool factored = lowest >= -kSpan;
  if (factored) {
    transform(n, true);
    barrier();
    scores(h, n, true);
  } else {
    scores(h, n, false);
    barrier();
    transform(n, false);
  }
  barrier();
  return factored;
}

void main() {
  const uint x = gl_LocalInvocationID.x;
  const uint j0 = gl_WorkGroupID.x * WG * VPT + x;  // column of slot c: j0 + c * WG
  const uint h = gl_WorkGroupID.y;
  const uint b = gl_WorkGroupID.z;
  const uint st = wkv_state_at(b, h, S);

  float m[S * VPT];  // m[i * VPT + c] = M[i][j0 + c * WG]
  for (uint i = 0; i < S; ++i)
    [[unroll]] for (uint c = 0; c < VPT; ++c) m[i * VPT + c] = state[st + i * S + j0 + c * WG];
  if (MODE == MODE_RWKV6) {
    for (uint q = 0; q < (S + WG - 1) / WG; ++q) {
      const uint i = q * WG + x;
      if (i < S) s_u[i] = u[h * S + i];
    }
  }

  for (uint tl = 0; tl < p.tn; tl += L) {
    const uint n = min(L, p.tn - tl);
    const uint tc = p.t0 + tl;  // first token of the chunk
    load_chunk(b, h, tc, n);
    barrier();
    cumsum(n);
    if (MODE == MODE_RWKV6) bonus(n);  // reads r, k only: shares cumsum's barrier interval
    barrier();
    const bool factored = prepare_chunk(h, n);

    float vv[L * VPT];  // vv[t * VPT + c] = v_t[j_c] (0 past n)
    float yy[L * VPT];  // output rows of this chunk
    for (uint t = 0; t < L; ++t) {
      const uint at = t < n ? wkv_act_at(b, tc + t, h, S) : 0;
      [[unroll]] for (uint c = 0; c < VPT; ++c) {
        vv[t * VPT + c] = t < n ? sfp_to_f32(v[at + j0 + c * WG]) : 0.0;
        yy[t * VPT + c] = 0.0;
      }
    }
    // Y = A V (A is lower triangular)
    for (uint t = 0; t < L; ++t)
      for (uint tau = 0; tau <= t; ++tau) {
        const float a = s_a[t * L + tau];
        [[unroll]] for (uint c = 0; c < VPT; ++c) yy[t * VPT + c] += a * vv[tau * VPT + c];
      }
    // Y += (R (.) exp(X)) M_in, then the hand-off M_out, U state rows per iteration.
    for (uint i0 = 0; i0 < S; i0 += U) {
      [[unroll]] for (uint ii = 0; ii < U; ++ii) {
        const uint i = i0 + ii;
        const float d = s_d[i];
        [[unroll]] for (uint c = 0; c < VPT; ++c) {
          const float mi = m[i * VPT + c];
          float kv = 0.0;
          [[unroll]] for (uint t = 0; t < L; ++t) {
            yy[t * VPT + c] += s_r[t * S + i] * mi;
            kv += s_k[t * S + i] * vv[t * VPT + c];
          }
          m[i * VPT + c] = factored ? d * (mi + kv) : d * mi + kv;
        }
      }
    }
    for (uint t = 0; t < n; ++t) {
      {
        const uint at = wkv_act_at(b, tc + t, h, S);
        [[unroll]] for (uint c = 0; c < VPT; ++c) y[at + j0 + c * WG] = p.scale * yy[t * VPT + c];
      }
    }
    barrier();  // the next chunk overwrites the shared arrays
  }

  for (uint i = 0; i < S; ++i)
    [[unroll]] for (uint c = 0; c < VPT; ++c) state[st + i * S + j0 + c * WG] = m[i * VPT + c];
}
