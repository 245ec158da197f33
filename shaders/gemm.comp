#version 450
// gemm: the portable linear layer for prefill (many tokens), f32 accumulation.
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = acc (+ bias[o])                         MODE 0
//             = res[t][o] + acc (+ bias[o])             MODE 1 (res may be y: in place)
//             = silu(acc[t][o]) * acc_up[t][o]          MODE 2 (SwiGLU, gate + up in one pass)
// grid: (ceil(nw / BN), ceil(T / BM), 1); workgroup (bx, by) owns the BM x BN tile of y at tokens
//   [by*BM, +BM) and outputs [bx*BN, +BN). Invocation (tx, ty), tx < GN = BN/TN, ty < GM = BM/TM,
//   computes a TM x TN register block.
//   DIRECT == 0 (GPUs; TM and TN multiples of 4): K advances BK at a time through shared memory
//     (the x tile and the decoded f32 weight tiles, K-major, vec4 words, rows padded by a vec4).
//     The block holds tokens ty*4 + ib*4*GM + {0..3} (ib < TM/4) and outputs tx*4 + jb*4*GN +
//     {0..3} (jb < TN/4), so every step of k reads TM/4 + TN/4 vec4s of shared memory for TM*TN
//     FMAs (8 x 8: 4 loads per 64 FMAs; scalar reads of a 8 x 4 block made the shared-memory
//     pipe, not the FMA units, the limit on an H100: 36% of the FMA probe). A subgroup's vec4
//     reads of one row are consecutive (or the same: broadcast). With VEC the tiles are filled
//     from vec4 / uvec4 loads (8 halves per load) issued into registers one step ahead, before
//     the FMAs. Edges are zero-filled on load.
//   DIRECT == 1 (CPU implementations): no shared memory and no barrier (a context switch each on
//     llvmpipe, whose loads cost per component whatever the memory): every invocation streams its
//     TM x rows of x and TN rows of W with vec4 / uvec4 loads, CHUNK elements of K at a time, and
//     does TM*TN*CHUNK FMAs per TM*CHUNK + TN*CHUNK/2 loaded words. The block holds tokens
//     ty + i*GM and outputs tx + j*GN. Rows past the edge re-read the last row (no divergence)
//     and are never stored.
//   Edges (T, nw not multiples of the tile) are masked on store.
// spec: 0 = WG = (BM/TM)*(BN/TN), 1 = BM, 2 = BN, 3 = BK, 4 = TM, 5 = TN, 6 = MODE, 7 = HAS_BIAS,
//       8 = VEC (1: K and the w offsets are multiples of W_PER_VEC, the x offset of 4),
//       9 = DIRECT.
// push: see common/linear_io.glsl (T, N, K, nw, element offsets of each binding's window).
// bindings: x (T, K) f32; w, wu (nw, K) dtype words; bias (nw) f32; res (T, N) f32; y (T, N) f32.
// variants: f32, f16, bf16 (storage buffers); f32tex, f16tex, bf16tex (x, w, wu through uniform
//   texel buffers; DIRECT with VEC only: CPU devices, where texel fetches are vector loads).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#if defined(VKR_DTYPE_F32TEX)
#define VKR_DTYPE_F32 1
#define VKR_LINEAR_TEX 1
#elif defined(VKR_DTYPE_F16TEX)
#define VKR_DTYPE_F16 1
#define VKR_LINEAR_TEX 1
#elif defined(VKR_DTYPE_BF16TEX)
#define VKR_DTYPE_BF16 1
#define VKR_LINEAR_TEX 1
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64u;
layout(constant_id = 2) const uint BN = 64u;
layout(constant_id = 3) const uint BK = 16u;
layout(constant_id = 4) const uint TM = 4u;
layout(constant_id = 5) const uint TN = 4u;
layout(constant_id = 6) const uint MODE = 0u;
layout(constant_id = 7) const uint HAS_BIAS = 0u;
layout(constant_id = 8) const uint VEC = 0u;
layout(constant_id = 9) const uint DIRECT = 0u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

// Vector reads of x (vec4), w and wu (uvec4) by vector index: storage or texel bindings.
#ifdef VKR_LINEAR_TEX
#define X4(i) uintBitsToFloat(texelFetch(xt, int(i)))
#define W4(i) texelFetch(wt, int(i))
#define WU4(i) texelFetch(wut, int(i))
#else
#define X4(i) x4[i]
#define W4(i) w4[i]
#define WU4(i) wu4[i]
#endif

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint GM = BM / TM;  // invocations along tokens
const uint GN = BN / TN;  // invocations along outputs
const uint XV = W_PER_VEC / 4u;  // vec4s per uvec4 of weights
#include "common/gemm_block.glsl"

// Tile rows (one k each) are padded by one vec4: the invocations that store one loaded vector's
// 4 (or 8) k values to 4 (8) rows land in different banks (unpadded, the row stride of BM words
// is a multiple of the bank count and puts them all in one).
const uint SA4 = BM / 4u + 1u;  // vec4s per row of the x tile
const uint SB4 = BN / 4u + 1u;  // vec4s per row of a weight tile

// The shared tiles are sized 1 in the DIRECT path (spec-constant array sizes).
shared vec4 sa[DIRECT != 0u ? 1u : BK * SA4];       // sa[k * SA4 + m / 4][m % 4]
shared vec4 sb[DIRECT != 0u ? 1u : NW * BK * SB4];  // sb[(mat * BK + k) * SB4 + n / 4][n % 4]

void put_a(uint k, uint m, float v) { sa[k * SA4 + m / 4u][m % 4u] = v; }
void put_b(uint mat, uint k, uint n, float v) { sb[(mat * BK + k) * SB4 + n / 4u][n % 4u] = v; }

void load_tiles_scalar(uint m0, uint n0, uint k0) {
#ifndef VKR_LINEAR_TEX  // texel builds run with VEC only
  for (uint i = gl_LocalInvocationID.x; i < BM * BK; i += gl_WorkGroupSize.x) {
    const uint m = i / BK, k = i % BK;  // k fastest: consecutive invocations read consecutive x
    const uint t = m0 + m, kk = k0 + k;
    put_a(k, m, (t < p.T && kk < p.K) ? x[p.x_off + t * p.K + kk] : 0.0);
  }
  for (uint i = gl_LocalInvocationID.x; i < BN * BK; i += gl_WorkGroupSize.x) {
    const uint n = i / BK, k = i % BK;
    const uint o = n0 + n, kk = k0 + k;
    const bool inside = o < p.nw && kk < p.K;
    const uint e = o * p.K + kk;
    put_b(0u, k, n, inside ? W_ELEM(w, p.w_off + e) : 0.0);
    if (NW == 2u) put_b(1u, k, n, inside ? W_ELEM(wu, p.u_off + e) : 0.0);
  }
#endif
}

// VEC: x in vec4s, weights in uvec4s (W_PER_VEC elements); K % W_PER_VEC == 0 so a vector is
// either wholly inside K or wholly past it. BK is a multiple of W_PER_VEC. Software-pipelined:
// fetch_vec() loads the NEXT step's vectors into registers before the current step's FMAs (the
// loads are in flight meanwhile), stash_vec() writes them to the tiles after the barrier.
const uint WGS = GM * GN;                       // invocations (= spec 0)
const uint XQ = BM * (BK / 4u);                 // vec4s of x per tile
const uint WQ = BN * (BK / W_PER_VEC);          // uvec4s of each weight matrix per tile
const uint RX = (XQ + WGS - 1u) / WGS;          // per invocation
const uint RW = (WQ + WGS - 1u) / WGS;
vec4 rx[DIRECT != 0u ? 1u : RX];                // (globals: glslang cannot pass spec-sized arrays)
uvec4 rw[DIRECT != 0u ? 1u : NW * RW];

void fetch_vec(uint m0, uint n0, uint k0) {
  [[unroll]] for (uint r = 0u; r < RX; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    const uint t = m0 + c / (BK / 4u), kk = k0 + (c % (BK / 4u)) * 4u;
    rx[r] = (c < XQ && t < p.T && kk < p.K) ? X4((p.x_off + t * p.K + kk) / 4u) : vec4(0.0);
  }
  const uint WV = BK / W_PER_VEC;
  [[unroll]] for (uint r = 0u; r < RW; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    const uint o = n0 + c / WV, kk = k0 + (c % WV) * W_PER_VEC;
    const bool inside = c < WQ && o < p.nw && kk < p.K;
    const uint e = o * p.K + kk;
    [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
      uvec4 q = uvec4(0u);  // decodes to zeros (f32, f16 and bf16 alike)
      if (inside) q = mat == 0u ? W4((p.w_off + e) / W_PER_VEC) : WU4((p.u_off + e) / W_PER_VEC);
      rw[mat * RW + r] = q;
    }
  }
}

void stash_vec() {
  [[unroll]] for (uint r = 0u; r < RX; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    if (c >= XQ) continue;
    const uint m = c / (BK / 4u), k = (c % (BK / 4u)) * 4u;
    [[unroll]] for (uint e = 0u; e < 4u; ++e) put_a(k + e, m, rx[r][e]);
  }
  const uint WV = BK / W_PER_VEC;
  [[unroll]] for (uint r = 0u; r < RW; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    if (c >= WQ) continue;
    const uint n = c / WV, k = (c % WV) * W_PER_VEC;
    [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
      [[unroll]] for (uint h = 0u; h < XV; ++h) {
        const vec4 v = w_vec4(rw[mat * RW + r], h);
        [[unroll]] for (uint i = 0u; i < 4u; ++i) put_b(mat, k + 4u * h + i, n, v[i]);
      }
    }
  }
}

// acc[(mat * TM + i) * TN + j]: the invocation's register block (a global: glslang cannot pass
// spec-constant-sized arrays to functions). Every loop that indexes it or another register array
// (rx, rw, a, xrow, wrow) is [[unroll]]: one index the compiler cannot resolve at compile time
// puts the whole array in (per-thread) local memory. Measured: gemm_q's tiled path ~6x faster on
// the H100 from that alone; on llvmpipe the Direct path 2x, its SwiGLU form 5x.
float acc[NW * TM * TN];

void tiled(uint m0, uint n0, uint tx, uint ty) {
  if (VEC != 0u) fetch_vec(m0, n0, 0u);
  for (uint k0 = 0u; k0 < p.K; k0 += BK) {
    if (VEC != 0u) {
      stash_vec();
    } else {
      load_tiles_scalar(m0, n0, k0);
    }
    barrier();
    if (VEC != 0u && k0 + BK < p.K) fetch_vec(m0, n0, k0 + BK);  // in flight during the FMAs
    for (uint k = 0u; k < BK; ++k) {
      vec4 a[TM < 4u ? 1u : TM / 4u];  // (the host never runs this path with TM < 4)
      [[unroll]] for (uint ib = 0u; ib < TM / 4u; ++ib) a[ib] = sa[k * SA4 + ib * GM + ty];
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        [[unroll]] for (uint jb = 0u; jb < TN / 4u; ++jb) {
          const vec4 b = sb[(mat * BK + k) * SB4 + jb * GN + tx];
          [[unroll]] for (uint i = 0u; i < TM; ++i) {
            [[unroll]] for (uint e = 0u; e < 4u; ++e) {
              acc[(mat * TM + i) * TN + jb * 4u + e] += a[i / 4u][i % 4u] * b[e];
            }
          }
        }
      }
    }
    barrier();  // the tiles are overwritten by the next step
  }
}

void direct(uint m0, uint n0, uint tx, uint ty) {
  uint xrow[TM], wrow[TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    xrow[i] = p.x_off + min(m0 + block_token(ty, i), p.T - 1u) * p.K;
  }
  [[unroll]] for (uint j = 0u; j < TN; ++j) {
    wrow[j] = min(n0 + block_output(tx, j), p.nw - 1u) * p.K;
  }
  if (VEC != 0u) {
    for (uint k = 0u; k < p.K; k += W_PER_VEC) {
      vec4 a[TM * XV];
      [[unroll]] for (uint i = 0u; i < TM; ++i) {
        [[unroll]] for (uint h = 0u; h < XV; ++h) a[i * XV + h] = X4((xrow[i] + k) / 4u + h);
      }
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
          const uvec4 q = mat == 0u ? W4((p.w_off + wrow[j] + k) / W_PER_VEC)
                                    : WU4((p.u_off + wrow[j] + k) / W_PER_VEC);
          [[unroll]] for (uint h = 0u; h < XV; ++h) {
            const vec4 b = w_vec4(q, h);
            [[unroll]] for (uint i = 0u; i < TM; ++i) {
              acc[(mat * TM + i) * TN + j] += dot(a[i * XV + h], b);
            }
          }
        }
      }
    }
  }
#ifndef VKR_LINEAR_TEX  // texel builds run with VEC only
  else {
    for (uint k = 0u; k < p.K; ++k) {
      float a[TM];
      [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = x[xrow[i] + k];
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
          const float b =
              mat == 0u ? W_ELEM(w, p.w_off + wrow[j] + k) : W_ELEM(wu, p.u_off + wrow[j] + k);
          [[unroll]] for (uint i = 0u; i < TM; ++i) acc[(mat * TM + i) * TN + j] += a[i] * b;
        }
      }
    }
  }
#endif
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
  const uvec2 txy = block_coords(gl_LocalInvocationID.x);
  const uint tx = txy.x, ty = txy.y;
  [[unroll]] for (uint i = 0u; i < NW * TM * TN; ++i) acc[i] = 0.0;

  if (DIRECT != 0u) {
    direct(m0, n0, tx, ty);
  } else {
    tiled(m0, n0, tx, ty);
  }

  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    const uint t = m0 + block_token(ty, i);
    if (t >= p.T) continue;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      const uint o = n0 + block_output(tx, j);
      if (o >= p.nw) continue;
      // acc_up is read (and unused) unless SwiGLU
      store_output(t, o, acc[i * TN + j], acc[((NW - 1u) * TM + i) * TN + j]);
    }
  }
}
