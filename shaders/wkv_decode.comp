#version 450
// wkv_decode: the WKV6 / GLA recurrence token by token (spec §3.4); the decode / short-prompt path.
//   Rwkv6: y_t[j] = scale * sum_i r_t[i] (M[i][j] + u[i] k_t[i] v_t[j]);  M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j]
//   Gla:   M[i][j] = w_t[i] M[i][j] + k_t[i] v_t[j];  y_t[j] = scale * sum_i r_t[i] M[i][j]
//   with w_t = exp(logw_t), for t = 0..T-1 of each sequence, M starting from and ending in `state`.
// grid: (S / (COLS * WG), H, B); invocation q = tile * WG + x owns COLS contiguous state columns
//   (COLS = 4, 8, 16: j = COLS q .. COLS q + COLS - 1; COLS = 1: j = q) and keeps their S rows in
//   registers for the whole call, so the state is read and written once per call. Per token, r, k,
//   logw (and u) are read straight from memory as vec4: every invocation of the workgroup reads the
//   same address (a broadcast on GPUs; llvmpipe 22.3 has no uniform-load shortcut and runs a
//   storage load as a per-lane scalar loop, hence the texel builds for CPU devices, measured 2.3x
//   faster at T = 1024), and each loaded value feeds COLS columns. No shared memory, no barriers.
//   COLS = 8 suits CPU devices (two vec4 loads per row on llvmpipe, each row fetch shared by 8
//   columns); COLS * S floats per invocation would exceed a GPU's register file and spill, so GPUs
//   get COLS = 1 (S floats).
// spec: 0 = WG (local size x; COLS * WG divides S), 1 = S (head size), 2 = MODE (0 Rwkv6, 1 Gla),
//   3 = COLS (1, 4, 8 or 16), 4 = STATE_TEX (texel builds: 1 = read the state through binding 7).
// push: B, T, H, scale, token window t0, tn (see common/wkv_io.glsl).
// variants: f32, f16 (storage buffers); f32tex, f16tex (r, k, v, logw, u and the initial state
//   through uniform texel buffers, binding 7 = the state again, read through it with STATE_TEX:
//   CPU devices, where that makes the loads vector loads; bench/README.md).
#extension GL_GOOGLE_include_directive : require
#if defined(VKR_DTYPE_F32TEX) || defined(VKR_DTYPE_F16TEX)
#define WKV_IO_TEX 1
#endif
#if defined(VKR_DTYPE_F16TEX)
#define VKR_DTYPE_F16 1
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint MODE = 0;
layout(constant_id = 3) const uint COLS = 4;
layout(constant_id = 4) const uint STATE_TEX = 0;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"

// COLS = 4 NV (4, 8 or 16): invocation q owns columns COLS q .. COLS q + COLS - 1, NV vec4s per
// state row (vec4 m[S NV]; CPU devices: fewer, wider loads, and each row's r / k / w feeds COLS
// columns).
void decode_colsv(uint q, uint h, uint b) {
  // NV >= 1 even in the COLS = 1 pipelines, which keep this (dead) function: no zero-size array.
  const uint S4 = S / 4, NV = COLS >= 4u ? COLS / 4u : 1u;
  vec4 m[S * NV];  // m[i NV + n] = M[i][COLS q + 4 n .. + 3]
  const uint st = wkv_state_at(b, h, S) / 4;
  [[unroll]] for (uint i = 0; i < S; ++i) {
    [[unroll]] for (uint n = 0; n < NV; ++n) m[i * NV + n] = LD_STATE4(st + i * S4 + q * NV + n);
  }

  // One dynamic iteration per token (the row loops are unrolled). Tried on lavapipe and not kept:
  // 4 tokens per pass over the rows (fewer loads / stores of the spilled state array): ~10% at
  // T = 1024, 2x slower at T = 1 (masked tail tokens); each of 8 subgroup lanes fetching and
  // exponentiating one group of rows and subgroupBroadcast-ing them: 2.5x slower (Mesa's gallivm
  // lowers each broadcast component to a loop over the lanes that finds the first active one).
  for (uint tt = 0; tt < p.tn; ++tt) {
    const uint at = wkv_act_at(b, p.t0 + tt, h, S) / 4;
    vec4 vq[NV], acc[NV];
    [[unroll]] for (uint n = 0; n < NV; ++n) {
      vq[n] = LD_V4(at + q * NV + n);
      acc[n] = vec4(0.0);
    }
    [[unroll]] for (uint i4 = 0; i4 < S4; ++i4) {
      const vec4 rr = LD_R4(at + i4);  // uniform loads: same address in every invocation
      const vec4 kk = LD_K4(at + i4);
      const vec4 ww = exp(LD_W4(at + i4));
      if (MODE == MODE_RWKV6) {
        const vec4 uu = LD_U4(h * S4 + i4);
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          [[unroll]] for (uint n = 0; n < NV; ++n) {
            const vec4 kv = kk[c] * vq[n];
            acc[n] += rr[c] * (m[i * NV + n] + uu[c] * kv);  // reads M_{t-1} plus the bonus
            m[i * NV + n] = ww[c] * m[i * NV + n] + kv;
          }
        }
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          [[unroll]] for (uint n = 0; n < NV; ++n) {
            m[i * NV + n] = ww[c] * m[i * NV + n] + kk[c] * vq[n];
            acc[n] += rr[c] * m[i * NV + n];  // reads the updated M_t
          }
        }
      }
    }
    [[unroll]] for (uint n = 0; n < NV; ++n) y4[at + q * NV + n] = p.scale * acc[n];
  }

  [[unroll]] for (uint i = 0; i < S; ++i) {
    [[unroll]] for (uint n = 0; n < NV; ++n) state4[st + i * S4 + q * NV + n] = m[i * NV + n];
  }
}

// COLS == 1: invocation j owns column j (float m[S]: S registers, which a GPU holds without
// spilling up to S = 128; adjacent invocations touch adjacent floats, so state and v / y accesses
// coalesce). Single components of the vec4 views are read and written.
void decode_cols1(uint j, uint h, uint b) {
  const uint S4 = S / 4, jq = j >> 2, jc = j & 3u;
  float m[S];
  const uint st = wkv_state_at(b, h, S) / 4;
  [[unroll]] for (uint i = 0; i < S; ++i) m[i] = LD_STATE4(st + i * S4 + jq)[jc];
  for (uint tt = 0; tt < p.tn; ++tt) {
    const uint at = wkv_act_at(b, p.t0 + tt, h, S) / 4;
    const float vj = LD_V4(at + jq)[jc];
    float acc = 0.0;
    [[unroll]] for (uint i4 = 0; i4 < S4; ++i4) {
      const vec4 rr = LD_R4(at + i4);  // uniform (broadcast) loads
      const vec4 kk = LD_K4(at + i4);
      const vec4 ww = exp(LD_W4(at + i4));
      if (MODE == MODE_RWKV6) {
        const vec4 uu = LD_U4(h * S4 + i4);
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          const float kv = kk[c] * vj;
          acc += rr[c] * (m[i] + uu[c] * kv);
          m[i] = ww[c] * m[i] + kv;
        }
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c) {
          const uint i = 4 * i4 + c;
          m[i] = ww[c] * m[i] + kk[c] * vj;
          acc += rr[c] * m[i];
        }
      }
    }
    y4[at + jq][jc] = p.scale * acc;
  }
  [[unroll]] for (uint i = 0; i < S; ++i) state4[st + i * S4 + jq][jc] = m[i];
}

void main() {
  const uint q = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  // The spec constant folds this branch away when the pipeline is created.
  if (COLS >= 4u) {
    decode_colsv(q, gl_WorkGroupID.y, gl_WorkGroupID.z);
  } else {
    decode_cols1(q, gl_WorkGroupID.y, gl_WorkGroupID.z);
  }
}
