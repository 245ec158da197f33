#version 450
// wkv_chunkpar_scan: pass 2 of the chunk-parallel WKV6 / GLA recurrence (spec §5.3; scratch layout
// in common/wkv_chunkpar.glsl). Walks the window's chunks in order, per state entry:
//   mats[c] <- M_in(c) (replacing D_c);  M <- diag(decay_c) M + D_c
// starting from `state` and writing the final M back to it. Parallel over the S*S entries of every
// (head, sequence); sequential only over the NC chunks. Independent of the dtype and mode.
// grid: (S * S / (4 * WG), H, B); invocation = one vec4 of a state row (4 value columns).
// spec: 0 = WG (divides S * S / 4), 1 = S, 2 = L (chunk length, for NC).
// push: B, T, H, scale, token window t0, tn (common/wkv_io.glsl).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint L = 32;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"
#include "common/wkv_chunkpar.glsl"

// Chunks per group of loads: the group's D_c and decays are all loaded before the first of its
// stores. The loads and stores address one buffer, so the compiler may not move a load above an
// earlier store by itself: one load per chunk would wait a full memory round trip each.
const uint PF = 8u;

void main() {
  const uint e4 = gl_GlobalInvocationID.x;  // vec4 index in the S x S matrix
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint i = e4 / (S / 4);
  const uint st = wkv_state_at(b, h, S) / 4 + e4;
  const uint NC = cp_chunks();
  const uint mat = cp_mat_at(b, h, 0) / 4 + e4;
  const uint dec = cp_decay_at(b, h, 0) + i;
  vec4 m = state4[st];
  for (uint c0 = 0; c0 < NC; c0 += PF) {
    vec4 d[PF];
    float w[PF];
    [[unroll]] for (uint j = 0; j < PF; ++j) {
      if (c0 + j < NC) {
        const uint dc = dec + (c0 + j) * S;
        d[j] = scratch4[mat + (c0 + j) * (S * S / 4)];
        w[j] = scratch4[dc / 4][dc % 4];
      }
    }
    [[unroll]] for (uint j = 0; j < PF; ++j) {
      if (c0 + j < NC) {
        scratch4[mat + (c0 + j) * (S * S / 4)] = m;
        m = w[j] * m + d[j];
      }
    }
  }
  state4[st] = m;
}
