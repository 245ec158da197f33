#version 450
// gemm_q: gemm.comp for block-quantized weights (one build variant per type), the prefill linear
// layer: weight tiles are decoded in place from the quantized bytes (common/quant.glsl), f32
// accumulation.
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = acc (+ bias[o]) | res[t][o] + acc (+ bias[o]) | silu(acc) * acc_up   (MODE 0/1/2)
// grid: (ceil(nw / BN), ceil(T / BM), 1); workgroup (bx, by) owns the BM x BN tile of y; invocation
//   (tx, ty), tx < GN = BN/TN, ty < GM = BM/TM, computes a TM x TN register block.
//   DIRECT == 0 (GPUs; TM, TN multiples of 4): K advances one 32-weight unit at a time; the x tile
//     (BM x 32) and the decoded weight tile (BN x 32 per matrix, one unit per invocation) go
//     through shared memory, K-major, as vec4 words: gemm.comp's tiled structure with BK = 32,
//     the same block layout (tokens ty*4 + ib*4*GM + {0..3}, outputs tx*4 + jb*4*GN + {0..3}) and
//     the same 8 x 4 invocation patches (see gemm.comp).
//   DIRECT == 1 (CPU implementations): no shared memory, no barrier: every invocation decodes the
//     units of its TN rows itself and dots them with its TM rows of x (8 vec4 each); the block
//     holds tokens ty + i*GM and outputs tx + j*GN.
//   Edges are masked on store; rows / tokens past the edge re-read the last one.
//   Every loop over a register array is [[unroll]]ed (both paths): GPU compilers put a register
//   array indexed by a loop counter in (per-thread) local memory; unrolling them took T = 128,
//   1024 x 1024 from ~3400 to ~600 us on an H100.
// spec: 0 = WG = (BM/TM)*(BN/TN), 1 = BM, 2 = BN, 3 = TM, 4 = TN, 5 = MODE, 6 = HAS_BIAS,
//       7 = XVEC (1: x offset a multiple of 4 floats), 8 = DIRECT.
// push: common/linear_io.glsl, w_off / u_off in BYTES (see gemv_q.comp).
// bindings: x (T, K) f32; w, wu (nw rows of blocks) words; bias (nw) f32; res, y (T, N) f32;
//   6 = the i-quant codebooks (IQ1_S .. IQ3_S variants only, quant.glsl).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64u;
layout(constant_id = 2) const uint BN = 64u;
layout(constant_id = 3) const uint TM = 4u;
layout(constant_id = 4) const uint TN = 4u;
layout(constant_id = 5) const uint MODE = 0u;
layout(constant_id = 6) const uint HAS_BIAS = 0u;
layout(constant_id = 7) const uint XVEC = 0u;
layout(constant_id = 8) const uint DIRECT = 0u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

uint qw(uint m, uint i) { return m == 0u ? w[i] : wu[i]; }
#define Q_GRID_BINDING 6
#include "common/quant.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint GM = BM / TM;
const uint GN = BN / TN;
const uint BK = Q_UNIT;
#include "common/gemm_block.glsl"

// Rows padded by one vec4 (the transposing stores of one vector land in different banks).
const uint SA4 = BM / 4u + 1u;
const uint SB4 = BN / 4u + 1u;
shared vec4 sa[DIRECT != 0u ? 1u : BK * SA4];       // sa[k * SA4 + m / 4][m % 4]
shared vec4 sb[DIRECT != 0u ? 1u : NW * BK * SB4];  // sb[(mat * BK + k) * SB4 + n / 4][n % 4]

float acc[NW * TM * TN];  // acc[(mat * TM + i) * TN + j]

void load_x_unit(uint t, uint u, out vec4 v[8]) {
  const uint base = p.x_off + t * p.K + u * Q_UNIT;
  if (XVEC != 0u) {
    [[unroll]] for (uint h = 0u; h < 8u; ++h) v[h] = x4[base / 4u + h];
  } else {
    [[unroll]] for (uint h = 0u; h < 8u; ++h) {
      v[h] = vec4(x[base + 4u * h], x[base + 4u * h + 1u], x[base + 4u * h + 2u], x[base + 4u * h + 3u]);
    }
  }
}

void tiled(uint m0, uint n0, uint tx, uint ty, uint rb) {
  for (uint u = 0u; u < p.K / Q_UNIT; ++u) {
    for (uint i = gl_LocalInvocationID.x; i < BM * (BK / 4u); i += gl_WorkGroupSize.x) {
      const uint m = i / (BK / 4u), k = (i % (BK / 4u)) * 4u;
      const uint t = m0 + m, e = p.x_off + t * p.K + u * BK + k;
      vec4 v = vec4(0.0);
      if (t < p.T) v = XVEC != 0u ? x4[e / 4u] : vec4(x[e], x[e + 1u], x[e + 2u], x[e + 3u]);
      [[unroll]] for (uint c = 0u; c < 4u; ++c) sa[(k + c) * SA4 + m / 4u][m % 4u] = v[c];
    }
    for (uint i = gl_LocalInvocationID.x; i < NW * BN; i += gl_WorkGroupSize.x) {
      const uint mat = i / BN, n = i % BN, o = n0 + n;
      vec4 v[8];
      dequant_unit(mat, (mat == 0u ? p.w_off : p.u_off) + min(o, p.nw - 1u) * rb, u, v);
      [[unroll]] for (uint h = 0u; h < 8u; ++h) {
        [[unroll]] for (uint c = 0u; c < 4u; ++c) {
          sb[(mat * BK + 4u * h + c) * SB4 + n / 4u][n % 4u] = v[h][c];
        }
      }
    }
    barrier();
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
    barrier();  // the tiles are overwritten by the next unit
  }
}

void direct(uint m0, uint n0, uint tx, uint ty, uint rb) {
  uint trow[TM], wrow[TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i) trow[i] = min(m0 + block_token(ty, i), p.T - 1u);
  [[unroll]] for (uint j = 0u; j < TN; ++j) {
    wrow[j] = min(n0 + block_output(tx, j), p.nw - 1u) * rb;
  }
  for (uint u = 0u; u < p.K / Q_UNIT; ++u) {
    vec4 a[TM * 8u];
    [[unroll]] for (uint i = 0u; i < TM; ++i) {
      vec4 v[8];
      load_x_unit(trow[i], u, v);
      [[unroll]] for (uint h = 0u; h < 8u; ++h) a[i * 8u + h] = v[h];
    }
    [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
      [[unroll]] for (uint j = 0u; j < TN; ++j) {
        vec4 b[8];
        dequant_unit(mat, (mat == 0u ? p.w_off : p.u_off) + wrow[j], u, b);
        [[unroll]] for (uint i = 0u; i < TM; ++i) {
          float s = 0.0;
          [[unroll]] for (uint h = 0u; h < 8u; ++h) s += dot(a[i * 8u + h], b[h]);
          acc[(mat * TM + i) * TN + j] += s;
        }
      }
    }
  }
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
  const uvec2 txy = block_coords(gl_LocalInvocationID.x);
  const uint tx = txy.x, ty = txy.y;
  const uint rb = q_row_bytes(p.K);
  [[unroll]] for (uint i = 0u; i < NW * TM * TN; ++i) acc[i] = 0.0;
  if (DIRECT != 0u) {
    direct(m0, n0, tx, ty, rb);
  } else {
    tiled(m0, n0, tx, ty, rb);
  }
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    const uint t = m0 + block_token(ty, i);
    if (t >= p.T) continue;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      const uint o = n0 + block_output(tx, j);
      if (o >= p.nw) continue;
      store_output(t, o, acc[i * TN + j], acc[((NW - 1u) * TM + i) * TN + j]);
    }
  }
}
