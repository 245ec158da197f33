#version 450
// gemm_q: gemm.comp for block-quantized weights (one build variant per type), the prefill linear
// layer: weight tiles are decoded in place from the quantized bytes (common/quant.glsl), f32
// accumulation.
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = acc (+ bias[o]) | res[t][o] + acc (+ bias[o]) | silu(acc) * acc_up   (MODE 0/1/2)
// grid: (ceil(nw / BN), ceil(T / BM), 1); workgroup (bx, by) owns the BM x BN tile of y; invocation
//   (tx, ty) computes a TM x TN register block at tokens ty + i*(BM/TM), outputs tx + j*(BN/TN).
//   DIRECT == 0 (GPUs): K advances one 32-weight unit at a time; the x tile (BM x 32) and the
//     decoded weight tile (BN x 32 per matrix, one unit per invocation) go through shared memory,
//     K-major, exactly gemm.comp's tiled structure with BK = 32.
//   DIRECT == 1 (CPU implementations): no shared memory, no barrier: every invocation decodes the
//     units of its TN rows itself and dots them with its TM rows of x (8 vec4 each).
//   Edges are masked on store; rows / tokens past the edge re-read the last one.
//   The tiled path's loops over register arrays are [[unroll]]ed: GPU compilers put a register
//   array indexed by a loop counter in (per-thread) local memory; unrolling them took T = 128,
//   1024 x 1024 from ~3400 to ~600 us on an H100.
// spec: 0 = WG = (BM/TM)*(BN/TN), 1 = BM, 2 = BN, 3 = TM, 4 = TN, 5 = MODE, 6 = HAS_BIAS,
//       7 = XVEC (1: x offset a multiple of 4 floats), 8 = DIRECT.
// push: common/linear_io.glsl, w_off / u_off in BYTES (see gemv_q.comp).
// bindings: x (T, K) f32; w, wu (nw rows of blocks) words; bias (nw) f32; res, y (T, N) f32.
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
#include "common/quant.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint GM = BM / TM;
const uint GN = BN / TN;
const uint BK = Q_UNIT;

shared float sa[DIRECT != 0u ? 1u : BK * BM];       // sa[k * BM + m]
shared float sb[DIRECT != 0u ? 1u : NW * BK * BN];  // sb[(mat * BK + k) * BN + n]

float acc[NW * TM * TN];  // acc[(mat * TM + i) * TN + j]

void load_x_unit(uint t, uint u, out vec4 v[8]) {
  const uint base = p.x_off + t * p.K + u * Q_UNIT;
  if (XVEC != 0u) {
    for (uint h = 0u; h < 8u; ++h) v[h] = x4[base / 4u + h];
  } else {
    for (uint h = 0u; h < 8u; ++h) {
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
      [[unroll]] for (uint c = 0u; c < 4u; ++c) sa[(k + c) * BM + m] = v[c];
    }
    for (uint i = gl_LocalInvocationID.x; i < NW * BN; i += gl_WorkGroupSize.x) {
      const uint mat = i / BN, n = i % BN, o = n0 + n;
      vec4 v[8];
      dequant_unit(mat, (mat == 0u ? p.w_off : p.u_off) + min(o, p.nw - 1u) * rb, u, v);
      [[unroll]] for (uint h = 0u; h < 8u; ++h) {
        [[unroll]] for (uint c = 0u; c < 4u; ++c) sb[(mat * BK + 4u * h + c) * BN + n] = v[h][c];
      }
    }
    barrier();
    for (uint k = 0u; k < BK; ++k) {
      float a[TM];
      [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = sa[k * BM + ty + i * GM];
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
          const float b = sb[(mat * BK + k) * BN + tx + j * GN];
          [[unroll]] for (uint i = 0u; i < TM; ++i) acc[(mat * TM + i) * TN + j] += a[i] * b;
        }
      }
    }
    barrier();  // the tiles are overwritten by the next unit
  }
}

void direct(uint m0, uint n0, uint tx, uint ty, uint rb) {
  uint trow[TM], wrow[TN];
  for (uint i = 0u; i < TM; ++i) trow[i] = min(m0 + ty + i * GM, p.T - 1u);
  for (uint j = 0u; j < TN; ++j) wrow[j] = min(n0 + tx + j * GN, p.nw - 1u) * rb;
  for (uint u = 0u; u < p.K / Q_UNIT; ++u) {
    vec4 a[TM * 8u];
    for (uint i = 0u; i < TM; ++i) {
      vec4 v[8];
      load_x_unit(trow[i], u, v);
      for (uint h = 0u; h < 8u; ++h) a[i * 8u + h] = v[h];
    }
    for (uint mat = 0u; mat < NW; ++mat) {
      for (uint j = 0u; j < TN; ++j) {
        vec4 b[8];
        dequant_unit(mat, (mat == 0u ? p.w_off : p.u_off) + wrow[j], u, b);
        for (uint i = 0u; i < TM; ++i) {
          float s = 0.0;
          for (uint h = 0u; h < 8u; ++h) s += dot(a[i * 8u + h], b[h]);
          acc[(mat * TM + i) * TN + j] += s;
        }
      }
    }
  }
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
  const uint tx = gl_LocalInvocationID.x % GN, ty = gl_LocalInvocationID.x / GN;
  const uint rb = q_row_bytes(p.K);
  [[unroll]] for (uint i = 0u; i < NW * TM * TN; ++i) acc[i] = 0.0;
  if (DIRECT != 0u) {
    direct(m0, n0, tx, ty, rb);
  } else {
    tiled(m0, n0, tx, ty, rb);
  }
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    const uint t = m0 + ty + i * GM;
    if (t >= p.T) continue;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      const uint o = n0 + tx + j * GN;
      if (o >= p.nw) continue;
      store_output(t, o, acc[i * TN + j], acc[((NW - 1u) * TM + i) * TN + j]);
    }
  }
}
