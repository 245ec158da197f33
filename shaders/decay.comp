#version 450
// decay: the "up" half of the decay LoRA (spec §3.1 "Decay"; lora_down IN_MODE 0 wrote
// h = tanh(P·x^w) before this dispatch), optionally fused with QRWKV6 key scaling + GQA repetition
// (spec §3.3) so the WKV kernel reads H-head k / v directly:
//   logw[r][c] = -exp(d0[c] + sum_d q[c][d] * h[r][d])
//   KSCALE: with c = h*S + i and kv channel ckv = (h / n_rep)*S + i:
//     k_out[r][c] = k[r][ckv] * (1 - w) = k[r][ckv] * -expm1(logw[r][c]);   v_out[r][c] = v[r][ckv]
// 1 - w is computed as -expm1(logw) (Taylor series near 0) so it stays exact when w ~ 1.
// A small GEMM (rows x DD)·(DD x C) with an elementwise epilogue: each invocation keeps an MR rows
// x NR channels register tile (MR + NR vec4 loads per MR * NR dot products); no shared memory, no
// barrier (see token_shift.comp for why that matters on CPU implementations).
// grid: (ceil(C / (WG * NR)), ceil(rows / MR), 1); invocation = channels c0 + lane + WG*j (j < NR)
//   for MR consecutive rows.
// variants: f32 (vec4 loads), f32x8 (u64vec4 loads of 8 floats, DD % 8 == 0; needs shaderInt64).
// spec: 0 = WG, 1 = DD (LoRA width, multiple of 4), 2 = MR (rows per workgroup), 3 = KSCALE (0/1),
//   4 = NR (channels per invocation).
// push: rows, C, S (head size), n_rep (H / Hkv), ckv (Hkv*S).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#ifdef VKR_DTYPE_F32X8
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DD = 64;
layout(constant_id = 2) const uint MR = 8;
layout(constant_id = 3) const uint KSCALE = 0;
layout(constant_id = 4) const uint NR = 1;

#include "common/index.glsl"
#include "common/lora_chunk.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint C;
  uint S;
  uint n_rep;
  uint ckv;
} p;

layout(std430, set = 0, binding = 0) readonly buffer HBuf { CHUNK hc[]; };        // h: (rows, DD)
layout(std430, set = 0, binding = 1) readonly buffer D0Buf { float d0[]; };       // d0: (C)
layout(std430, set = 0, binding = 2) readonly buffer QBuf { CHUNK qc[]; };        // q: (C, DD)
layout(std430, set = 0, binding = 3) writeonly buffer LogwBuf { float logw[]; };  // logw: (rows, C)
layout(std430, set = 0, binding = 4) readonly buffer KBuf { float k_in[]; };      // k: (rows, Hkv*S)
layout(std430, set = 0, binding = 5) readonly buffer VBuf { float v_in[]; };      // v: (rows, Hkv*S)
layout(std430, set = 0, binding = 6) writeonly buffer KoBuf { float k_out[]; };   // k_out: (rows, C)
layout(std430, set = 0, binding = 7) writeonly buffer VoBuf { float v_out[]; };   // v_out: (rows, C)

// -expm1(x) for x <= 0: a degree-8 Taylor series for |x| < 0.5 (relative error < 2e-8), where
// 1 - exp(x) would cancel; plain 1 - exp(x) elsewhere.
float one_minus_exp(float x) {
  if (abs(x) < 0.5) {
    float s = 1.0 / 40320.0;
    s = s * x + 1.0 / 5040.0;
    s = s * x + 1.0 / 720.0;
    s = s * x + 1.0 / 120.0;
    s = s * x + 1.0 / 24.0;
    s = s * x + 1.0 / 6.0;
    s = s * x + 0.5;
    s = s * x + 1.0;
    return -(s * x);
  }
  return 1.0 - exp(x);
}

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint c0 = gl_WorkGroupID.x * gl_WorkGroupSize.x * NR + lane;
  const uint r0 = gl_WorkGroupID.y * MR;
  // Rows / channels past the end are clamped for loads and never written.
  uint rr[MR], cc[NR];
  [[unroll]] for (uint m = 0u; m < MR; ++m) rr[m] = min(r0 + m, p.rows - 1u);
  [[unroll]] for (uint j = 0u; j < NR; ++j) cc[j] = min(c0 + gl_WorkGroupSize.x * j, p.C - 1u);

  float acc[MR][NR];
  [[unroll]] for (uint j = 0u; j < NR; ++j) {
    const float base = d0[cc[j]];
    [[unroll]] for (uint m = 0u; m < MR; ++m) acc[m][j] = base;
  }
  for (uint d = 0u; d < DD / CW; ++d) {
    Chunk hv[MR];
    [[unroll]] for (uint m = 0u; m < MR; ++m) hv[m] = unpack(hc[rr[m] * (DD / CW) + d]);
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      const Chunk qv = unpack(qc[cc[j] * (DD / CW) + d]);
      [[unroll]] for (uint m = 0u; m < MR; ++m) acc[m][j] += chunk_dot(hv[m], qv);
    }
  }
  [[unroll]] for (uint j = 0u; j < NR; ++j) {
    const uint c = c0 + gl_WorkGroupSize.x * j;
    const uint ckv = (c / p.S / p.n_rep) * p.S + c % p.S;
    [[unroll]] for (uint m = 0u; m < MR; ++m) {
      const uint r = r0 + m;
      if (r < p.rows && c < p.C) {  // an if, not a break: keeps the loops unrollable
        const float lw = -exp(acc[m][j]);
        logw[r * p.C + c] = lw;
        if (KSCALE != 0u) {
          k_out[r * p.C + c] = k_in[r * p.ckv + ckv] * one_minus_exp(lw);
          v_out[r * p.C + c] = v_in[r * p.ckv + ckv];
        }
      }
    }
  }
}
