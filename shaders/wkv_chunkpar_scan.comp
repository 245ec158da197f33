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

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint S = 64;
layout(constant_id = 2) const uint L = 32;

#define WKV_IO_VEC4
#include "common/types.glsl"
#include "common/index.glsl"
#include "common/wkv_io.glsl"
#include "common/wkv_chunkpar.glsl"

void main() {
  const uint e4 = gl_GlobalInvocationID.x;  // vec4 index in the S x S matrix
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint i = e4 / (S / 4);
  const uint st = wkv_state_at(b, h, S) / 4 + e4;
  const uint NC = cp_chunks();
  const uint mat = cp_mat_at(b, h, 0) / 4 + e4;
  const uint dec = cp_decay_at(b, h, 0) + i;
  vec4 m = state4[st];
  for (uint c = 0; c < NC; ++c) {
    const vec4 d = scratch4[mat + c * (S * S / 4)];
    const uint dc = dec + c * S;
    const float w = scratch4[dc / 4][dc % 4];
    scratch4[mat + c * (S * S / 4)] = m;
    m = w * m + d;
  }
  state4[st] = m;
}
