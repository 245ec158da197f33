#version 450
// wkv_chunkpar_output: pass 3 of the chunk-parallel WKV6 / GLA recurrence (spec §5.1; scratch
// layout in common/wkv_chunkpar.glsl). For every chunk, in parallel, with M_in(c) from the scan
// pass and chunk-local inclusive cumsums b_t, X_t = b_{t-1} (Rwkv6, b_{-1} = 0) or b_t (Gla):
//   A[t][tau] = sum_i r_t[i] k_tau[i] exp(X_t[i] - b_tau[i])   tau < t (Rwkv6) / tau <= t (Gla)
//   A[t][t]   = sum_i r_t[i] u[i] k_t[i]                       (Rwkv6 bonus)
//   Y         = scale * (A V + (R (.) exp(X)) M_in)
// Stability (spec §5.2): every factor is exp(later cumsum - earlier cumsum) with the difference
// <= 0, computed per (t, tau, i) ("direct" form, the spec's diagonal-block rule over the whole
// chunk): no factoring, so any decay down to -60 per token and below is safe. The L^2 S / 2
// exponentials per chunk are cheap next to the two GEMMs at L <= 64.
// grid: (NC, H, B); workgroup = (chunk, head, sequence), all S value columns (A computed once).
//   Invocation x = rg * CG + cg (CG = S / 4) owns the vec4 Y[t][4cg .. 4cg + 3] of the rows
//   t = rg + RG * q (q < L / RG), and APT entries of the lower triangle of A (e = q * WG + x in
//   row-major triangle order). The channels are walked in slices of KS: each slice's r, k, logw
//   rows (cumsum by a two-level scan) and KS rows of M_in go through shared memory; V is then
//   streamed through the M_in area in blocks of KS tokens for A V.
// spec: 0 = WG (= RG * S / 4), 1 = S, 2 = L (chunk length), 3 = MODE (0 Rwkv6, 1 Gla),
//       4 = KS (channel slice, divides S, <= L), 5 = RG (row groups, divides L),
//       6 = SEG (cumsum segments per channel: divides L, KS * SEG <= WG).
// push: B, T, H, scale, token window t0, tn (common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint L = 32;
layout(constant_id = 3) const uint MODE = 0;
layout(constant_id = 4) const uint KS = 16;
layout(constant_id = 5) const uint RG = 16;
layout(constant_id = 6) const uint SEG = 8;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"
#include "common/wkv_chunkpar.glsl"

const uint WG = gl_WorkGroupSize.x;
const uint CG = S / 4;
const uint RPT = L / RG;                 // output rows per invocation
const uint NA = L * (L + 1) / 2;         // lower-triangle entries of A (diagonal included)
const uint APT = (NA + WG - 1) / WG;     // A entries per invocation
const uint KP = KS + 1;                  // row pitch of the slices: A reads columns tau * KP + i
const uint TPS = L / SEG;                // tokens per cumsum segment

shared float s_r[L * KP];        // (L, KS) r slice
shared float s_rx[L * KP];       // (L, KS) r (.) exp(X)
shared float s_k[L * KP];        // (L, KS) k slice
shared float s_b[(L + 1) * KP];  // (L + 1, KS) row 0 = 0, row t + 1 = logw_t, then b_t
shared float s_part[SEG * KS];   // segment totals of the cumsum
shared vec4 s_m[KS * CG];        // (KS, S / 4) rows of M_in, later KS rows of V
shared float s_a[L * L];         // (L, L) A, upper triangle 0
shared float s_u[S];             // bonus u of this head (Rwkv6)

float x_cum(uint t, uint i) { return s_b[(MODE == MODE_GLA ? t + 1 : t) * KP + i]; }

void main() {
  const uint x = gl_LocalInvocationID.x;
  const uint c = gl_WorkGroupID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint cg = x % CG, rg = x / CG;
  const uint n = min(L, p.tn - c * L);  // tokens in this chunk
  const uint tc = p.t0 + c * L;         // its first token
  const uint mat = cp_mat_at(b, h, c) / 4;

  // This invocation's triangle entries (t, tau), tau <= t; e >= NA marks a spare slot.
  uint ta[APT], tb[APT];
  float acc_a[APT];
  [[unroll]] for (uint q = 0; q < APT; ++q) {
    const uint e = min(q * WG + x, NA - 1);
    uint t = uint((sqrt(8.0 * float(e) + 1.0) - 1.0) * 0.5);
    if (t * (t + 1) / 2 > e) --t;
    if ((t + 1) * (t + 2) / 2 <= e) ++t;
    ta[q] = t;
    tb[q] = e - t * (t + 1) / 2;
    acc_a[q] = 0.0;
  }
  vec4 yv[RPT];
  [[unroll]] for (uint q = 0; q < RPT; ++q) yv[q] = vec4(0.0);

  for (uint e = x; e < L * L; e += WG) s_a[e] = 0.0;
  if (MODE == MODE_RWKV6)
    for (uint i = x; i < S; i += WG) s_u[i] = u4[(h * S + i) / 4][i % 4];

  for (uint i0 = 0; i0 < S; i0 += KS) {
    // Slice loads (rows past n are zero: no score, no output), then KS rows of M_in.
    for (uint e = x; e < L * KS / 4; e += WG) {
      const uint t = e / (KS / 4), i4 = e % (KS / 4);
      const bool live = t < n;
      const uint at = live ? (wkv_act_at(b, tc + t, h, S) + i0) / 4 + i4 : 0;
      const vec4 rr = live ? vec4(r4[at]) : vec4(0.0);
      const vec4 kk = live ? vec4(k4[at]) : vec4(0.0);
      const vec4 ww = live ? logw4[at] : vec4(0.0);
      [[unroll]] for (uint m = 0; m < 4; ++m) {
        s_r[t * KP + 4 * i4 + m] = rr[m];
        s_k[t * KP + 4 * i4 + m] = kk[m];
        s_b[(t + 1) * KP + 4 * i4 + m] = ww[m];
      }
    }
    if (x < KS) s_b[x] = 0.0;
    for (uint e = x; e < KS * CG; e += WG) s_m[e] = scratch4[mat + (i0 + e / CG) * CG + e % CG];
    barrier();

    // Cumsum, level 1: running sums inside each segment. Adding values <= 0 never increases a
    // float, so every later-minus-earlier difference below is exactly <= 0.
    const uint ch = x % KS, sg = x / KS;
    if (sg < SEG) {
      float acc = 0.0;
      for (uint tt = 0; tt < TPS; ++tt) {
        const uint at = (sg * TPS + tt + 1) * KP + ch;
        acc += s_b[at];
        s_b[at] = acc;
      }
      s_part[sg * KS + ch] = acc;
    }
    barrier();
    // Level 2: add the preceding segments' totals (in order, so the segment ends equal the next
    // segment's offset bit for bit); r (.) exp(X) on the way.
    if (sg < SEG) {
      float off = 0.0;
      for (uint s = 0; s < sg; ++s) off += s_part[s * KS + ch];
      float prev = off;  // b_{t-1}
      for (uint tt = 0; tt < TPS; ++tt) {
        const uint t = sg * TPS + tt;
        const float bt = off + s_b[(t + 1) * KP + ch];
        s_b[(t + 1) * KP + ch] = bt;
        s_rx[t * KP + ch] = s_r[t * KP + ch] * exp(MODE == MODE_GLA ? bt : prev);
        prev = bt;
      }
    }
    barrier();

    // A partial sums over this slice: direct factors, every exponent <= 0.
    [[unroll]] for (uint q = 0; q < APT; ++q) {
      const uint t = ta[q], tau = tb[q];
      for (uint i = 0; i < KS; ++i) {
        const float decay = exp(min(x_cum(t, i) - s_b[(tau + 1) * KP + i], 0.0));
        const float f = MODE == MODE_RWKV6 && tau == t ? s_u[i0 + i] : decay;
        acc_a[q] += s_r[t * KP + i] * s_k[tau * KP + i] * f;
      }
    }
    // Y += (R (.) exp(X)) M_in over this slice.
    for (uint i = 0; i < KS; ++i) {
      const vec4 mv = s_m[i * CG + cg];
      [[unroll]] for (uint q = 0; q < RPT; ++q) yv[q] += s_rx[(rg + RG * q) * KP + i] * mv;
    }
    barrier();  // the next slice overwrites the shared rows
  }

  [[unroll]] for (uint q = 0; q < APT; ++q)
    if (q * WG + x < NA) s_a[ta[q] * L + tb[q]] = acc_a[q];

  // Y += A V, V streamed in blocks of KS tokens through s_m.
  for (uint t0 = 0; t0 < L; t0 += KS) {
    barrier();  // s_a written / previous block consumed
    for (uint e = x; e < KS * CG; e += WG) {
      const uint t = t0 + e / CG;
      s_m[e] = t < n ? vec4(v4[wkv_act_at(b, tc + t, h, S) / 4 + e % CG]) : vec4(0.0);
    }
    barrier();
    for (uint tt = 0; tt < KS; ++tt) {
      const vec4 vv = s_m[tt * CG + cg];
      [[unroll]] for (uint q = 0; q < RPT; ++q) yv[q] += s_a[(rg + RG * q) * L + t0 + tt] * vv;
    }
  }

  [[unroll]] for (uint q = 0; q < RPT; ++q) {
    const uint t = rg + RG * q;
    if (t < n) y4[wkv_act_at(b, tc + t, h, S) / 4 + cg] = p.scale * yv[q];
  }
}
