#version 450
// token_shift: token shift + mixing of the RWKV-6 / QRWKV6 blocks (spec §3.1). Rows are
// sequence-major: r = b*T + t; prev(r, c) = t == 0 ? state[b][c] : x[r - 1][c].
//   MODE 1 (plain lerp, RWKV-6 channel-mix): out[g][r][c] = x + (prev - x) * mix[g][c], g < groups
//   MODE 2 (ddlerp step 1; groups = 1, mix = time_maa_x): out[0][r][c] = xi = x + (prev - x) * mix,
//     out[1][r][c] = prev (so steps 2 and 3 never touch the state)
//   MODE 1 and 2: state[b][c] = x[b*T + T-1][c]. Only the invocation that owns (t == 0, c) of
//     sequence b reads state[b][c] in this dispatch, and it writes the new value after its read, so
//     the in-place update cannot race.
//   MODE 0 (ddlerp step 3, after lora_down wrote h = tanh(A·xi)); binding 1 holds MODE 2's output
//   (2, rows, C), prev = [1]:
//     out[g][r][c] = x + (prev - x) * (mix[g][c] + sum_d bm[g][c][d] * h[r][g*DM + d]),  g < 5
//   MODE 3: MODE 0 for decode (T = 1: lora_down computed xi itself, no MODE 2 pass): binding 1 is
//     the state, prev = state[r][c], then state[r][c] = x[r][c] (only this invocation reads it).
// MODE 0 is a small GEMM per group, (rows x DM)·(DM x C), with the lerp as its epilogue: each
// invocation keeps an MR rows x NR channels register tile (MR + NR vec4 loads per MR * NR dot
// products; on CPU implementations every per-lane load is a scalar loop, so loads set the speed)
// and loads x / prev once for all five groups. No shared memory and no barrier in any mode.
// grid: (ceil(C / (WG * NR)), ceil(rows / MR), 1); invocation = channels c0 + lane + WG*j (j < NR;
//   adjacent lanes, adjacent channels: coalesced stores) for MR consecutive rows.
// variants: f32 (vec4 loads), f32x8 (u64vec4 loads of 8 floats, DM % 8 == 0; needs shaderInt64:
//   on lavapipe each load is a per-lane loop, so wider loads mean fewer of them).
// spec: 0 = WG, 1 = MODE (0-3), 2 = DM (LoRA width, multiple of 4), 3 = MR (rows per workgroup),
//   4 = NR (channels per invocation), 5 = VEC (MODE 1 / 2 only: 1 = the channels are vec4 units,
//   C % 4 == 0 and x / state / mix / out on 16 bytes; a quarter of the per-lane load and store
//   loops of CPU drivers, 16-byte accesses on GPUs; the grid's x counts units).
// push: rows (B*T), T, C, groups (5 for MODE 0, 1 for MODE 2).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#ifdef VKR_DTYPE_F32X8
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint DM = 32;
layout(constant_id = 3) const uint MR = 8;
layout(constant_id = 4) const uint NR = 1;
layout(constant_id = 5) const uint VEC = 0;

#include "common/index.glsl"
#include "common/lora_chunk.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint T;
  uint C;
  uint groups;
} p;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float x[]; };        // x: (B*T, C)
// state: (B, C); MODE 0: (xi, prev) (2, B*T, C)
layout(std430, set = 0, binding = 1) buffer StateBuf { float state[]; };
layout(std430, set = 0, binding = 2) readonly buffer MixBuf { float mix_[]; };   // mix: (groups, C)
layout(std430, set = 0, binding = 3) readonly buffer BmBuf { CHUNK bmc[]; };     // bm: (5, C, DM)
layout(std430, set = 0, binding = 4) readonly buffer HBuf { CHUNK hc[]; };       // h: (B*T, 5*DM)
// out: (groups, B*T, C); MODE 2: (2, B*T, C)
layout(std430, set = 0, binding = 5) writeonly buffer OutBuf { float out_[]; };

layout(std430, set = 0, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) buffer StateBuf4 { vec4 state4[]; };
layout(std430, set = 0, binding = 2) readonly buffer MixBuf4 { vec4 mix4[]; };
layout(std430, set = 0, binding = 5) writeonly buffer OutBuf4 { vec4 out4[]; };

const uint D5 = 5u * DM;

#ifdef VKR_DTYPE_F32X8
// The f32x8 build's units are 8 channels, moved as u64vec4 (on llvmpipe a load or store costs
// per component: 64-bit components halve the loop trips per byte).
layout(std430, set = 0, binding = 0) readonly buffer XBuf8 { u64vec4 x8[]; };
layout(std430, set = 0, binding = 1) buffer StateBuf8 { u64vec4 state8[]; };
layout(std430, set = 0, binding = 2) readonly buffer MixBuf8 { u64vec4 mix8[]; };
layout(std430, set = 0, binding = 5) writeonly buffer OutBuf8 { u64vec4 out8[]; };
#define UNIT 8u
#define LD_X(i) unpack(x8[i])
#define LD_STATE(i) unpack(state8[i])
#define LD_MIX(i) unpack(mix8[i])
#define ST_OUT(i, v) out8[i] = pack(v)
#define ST_STATE(i, v) state8[i] = pack(v)
#else
#define UNIT 4u
#define LD_X(i) Chunk(x4[i])
#define LD_STATE(i) Chunk(state4[i])
#define LD_MIX(i) Chunk(mix4[i])
#define ST_OUT(i, v) out4[i] = (v).lo
#define ST_STATE(i, v) state4[i] = (v).lo
#endif

// MODE 1 / 2 over units of UNIT channels (VEC): the elementwise loop of main() below.
void lerp_vec(uint r0, uint c0) {
  const uint C4 = p.C / UNIT;
  [[unroll]] for (uint m = 0u; m < MR; ++m) {
    const uint r = r0 + m, t = r % p.T, b = r / p.T;
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      const uint u = c0 + gl_WorkGroupSize.x * j;
      if (r < p.rows && u < C4) {
        const Chunk xv = LD_X(r * C4 + u);
        const Chunk prev = t == 0u ? LD_STATE(b * C4 + u) : LD_X((r - 1u) * C4 + u);
        for (uint g = 0u; g < p.groups; ++g) {
          ST_OUT((g * p.rows + r) * C4 + u, chunk_lerp(xv, prev, LD_MIX(g * C4 + u)));
        }
        if (MODE == 2u) ST_OUT((p.rows + r) * C4 + u, prev);
        if (t == 0u) ST_STATE(b * C4 + u, LD_X((r + p.T - 1u) * C4 + u));
      }
    }
  }
}

// MODE 0 / 3: the five LoRA "up" GEMMs with the lerp epilogue.
void lora_mix(uint r0, uint c0, uint rr[MR], uint cc[NR]) {
  float xv[MR][NR], sx[MR][NR];  // clamped loads: always in range
  [[unroll]] for (uint m = 0u; m < MR; ++m) {
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      xv[m][j] = x[rr[m] * p.C + cc[j]];
      // MODE 3 overwrites the state below: read it only where this invocation owns (r, c), so a
      // clamped duplicate never races with the owner's write.
      const bool mine = r0 + m < p.rows && c0 + gl_WorkGroupSize.x * j < p.C;
      float prev = xv[m][j];
      if (MODE != 3u) prev = state[(p.rows + rr[m]) * p.C + cc[j]];
      if (MODE == 3u && mine) prev = state[rr[m] * p.C + cc[j]];
      sx[m][j] = prev - xv[m][j];
    }
  }
  for (uint g = 0u; g < 5u; ++g) {
    float acc[MR][NR];
    [[unroll]] for (uint m = 0u; m < MR; ++m) {
      [[unroll]] for (uint j = 0u; j < NR; ++j) acc[m][j] = 0.0;
    }
    for (uint d = 0u; d < DM / CW; ++d) {
      Chunk hv[MR];
      [[unroll]] for (uint m = 0u; m < MR; ++m) hv[m] = unpack(hc[(rr[m] * D5 + g * DM) / CW + d]);
      [[unroll]] for (uint j = 0u; j < NR; ++j) {
        const Chunk bv = unpack(bmc[(g * p.C + cc[j]) * (DM / CW) + d]);
        [[unroll]] for (uint m = 0u; m < MR; ++m) acc[m][j] += chunk_dot(hv[m], bv);
      }
    }
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      const uint c = c0 + gl_WorkGroupSize.x * j;
      const float mg = mix_[g * p.C + cc[j]];
      [[unroll]] for (uint m = 0u; m < MR; ++m) {
        const uint r = r0 + m;
        if (r < p.rows && c < p.C) {  // an if, not a break: keeps the loops unrollable
          out_[(g * p.rows + r) * p.C + c] = xv[m][j] + sx[m][j] * (mg + acc[m][j]);
        }
      }
    }
  }
  if (MODE == 3u) {  // decode: this invocation was the only reader of state[r][c]
    [[unroll]] for (uint m = 0u; m < MR; ++m) {
      [[unroll]] for (uint j = 0u; j < NR; ++j) {
        const uint r = r0 + m, c = c0 + gl_WorkGroupSize.x * j;
        if (r < p.rows && c < p.C) state[r * p.C + c] = xv[m][j];
      }
    }
  }
}

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint c0 = gl_WorkGroupID.x * gl_WorkGroupSize.x * NR + lane;
  const uint r0 = gl_WorkGroupID.y * MR;
  // Rows / channels past the end are clamped for loads and never written.
  uint rr[MR], cc[NR];
  [[unroll]] for (uint m = 0u; m < MR; ++m) rr[m] = min(r0 + m, p.rows - 1u);
  [[unroll]] for (uint j = 0u; j < NR; ++j) cc[j] = min(c0 + gl_WorkGroupSize.x * j, p.C - 1u);
  if (MODE == 0u || MODE == 3u) {
    lora_mix(r0, c0, rr, cc);
    return;
  }
  // MODE 1 / 2: elementwise. The (t == 0, c) invocation reads state[b][c] and then overwrites it.
  if (VEC != 0u) {
    lerp_vec(r0, c0);
    return;
  }
  [[unroll]] for (uint m = 0u; m < MR; ++m) {
    const uint r = r0 + m, t = r % p.T, b = r / p.T;
    [[unroll]] for (uint j = 0u; j < NR; ++j) {
      const uint c = c0 + gl_WorkGroupSize.x * j;
      if (r < p.rows && c < p.C) {
        const float xv = x[r * p.C + c];
        const float prev = t == 0u ? state[b * p.C + c] : x[(r - 1u) * p.C + c];
        for (uint g = 0u; g < p.groups; ++g) {
          out_[(g * p.rows + r) * p.C + c] = xv + (prev - xv) * mix_[g * p.C + c];
        }
        if (MODE == 2u) out_[(p.rows + r) * p.C + c] = prev;
        if (t == 0u) state[b * p.C + c] = x[(r + p.T - 1u) * p.C + c];
      }
    }
  }
}
