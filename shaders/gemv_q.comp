#version 450
// gemv_q: gemv.comp for block-quantized weights (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K: one
// build variant each), decoding the blocks in place from the weight buffer (common/quant.glsl):
// one pass over the quantized bytes for all NT <= 8 tokens, f32 accumulation.
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = acc (+ bias[o]) | res[t][o] + acc (+ bias[o]) | silu(acc) * acc_up   (MODE 0/1/2)
// grid: ceil(nw / ROWS) workgroups over (x, y) (grid_1d); workgroup g owns rows [g*ROWS, +ROWS).
//   Invocations stride over the row's 32-weight units (a legacy block, or a K-quant sub-block),
//   neighbours on neighbouring units (contiguous bytes per subgroup); each unit of x (8 vec4 per
//   token) is reused by all ROWS rows. Partial sums are reduced with subgroupAdd, then across
//   subgroups through shared memory (gl_NumSubgroups at run time: any subgroup size); with
//   MAX_SG == 1 there is no shared memory and no barrier.
// spec: 0 = WG, 1 = ROWS, 2 = NT, 3 = MODE, 4 = HAS_BIAS, 5 = XVEC (1: x offset a multiple of 4
//       floats, x read as vec4), 6 = MAX_SG (>= gl_NumSubgroups).
// push: common/linear_io.glsl, except w_off / u_off are BYTE offsets (even) of the window's first
//   row in the w / wu bindings; rows are q_row_bytes(K) bytes apart.
// bindings: x (T, K) f32; w, wu (nw rows of quantized blocks) words; bias (nw) f32; res, y (T, N).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 2u;
layout(constant_id = 2) const uint NT = 1u;
layout(constant_id = 3) const uint MODE = 0u;
layout(constant_id = 4) const uint HAS_BIAS = 0u;
layout(constant_id = 5) const uint XVEC = 0u;
layout(constant_id = 6) const uint MAX_SG = 32u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

uint qw(uint m, uint i) { return m == 0u ? w[i] : wu[i]; }
#include "common/quant.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint NACC = NW * ROWS * NT;

shared float red[MAX_SG == 1u ? 1u : MAX_SG * NACC];  // red[(acc index) * MAX_SG + subgroup]

// x[t][32u, +32) as 8 vec4s.
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

void main() {
  const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint row0 = group * ROWS;
  if (row0 >= p.nw) return;  // grid_1d padding: uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint rb = q_row_bytes(p.K);

  float acc[NACC];  // acc[(m * ROWS + r) * NT + t]
  for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;
  uint wrow[ROWS];  // rows past the end re-read the last row and are never stored
  for (uint r = 0u; r < ROWS; ++r) wrow[r] = min(row0 + r, p.nw - 1u) * rb;

  const uint units = p.K / Q_UNIT;
  for (uint u = tid; u < units; u += gl_WorkGroupSize.x) {
    vec4 xv[NT * 8u];
    for (uint t = 0u; t < NT; ++t) {
      vec4 v[8];
      load_x_unit(t, u, v);
      for (uint h = 0u; h < 8u; ++h) xv[t * 8u + h] = v[h];
    }
    for (uint mat = 0u; mat < NW; ++mat) {
      const uint off = mat == 0u ? p.w_off : p.u_off;
      for (uint r = 0u; r < ROWS; ++r) {
        vec4 wv[8];
        dequant_unit(mat, off + wrow[r], u, wv);
        for (uint t = 0u; t < NT; ++t) {
          float s = 0.0;
          for (uint h = 0u; h < 8u; ++h) s += dot(wv[h], xv[t * 8u + h]);
          acc[(mat * ROWS + r) * NT + t] += s;
        }
      }
    }
  }

  for (uint i = 0u; i < NACC; ++i) acc[i] = subgroupAdd(acc[i]);
  if (MAX_SG == 1u) {
    // One subgroup per workgroup (host-guaranteed): the sums are final, no barrier.
    for (uint j = 0u; j < ROWS * NT; ++j) {
      const uint r = j / NT, t = j % NT;
      if (j % gl_SubgroupSize == gl_SubgroupInvocationID && row0 + r < p.nw) {
        store_output(t, row0 + r, acc[j], acc[(NW - 1u) * ROWS * NT + j]);
      }
    }
    return;
  }
  if (subgroupElect()) {
    for (uint i = 0u; i < NACC; ++i) red[i * MAX_SG + gl_SubgroupID] = acc[i];
  }
  barrier();
  for (uint j = tid; j < ROWS * NT; j += gl_WorkGroupSize.x) {
    const uint r = j / NT, t = j % NT;
    if (row0 + r >= p.nw) continue;
    float g = 0.0, up = 0.0;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {  // same order in every invocation
      g += red[j * MAX_SG + s];
      if (NW == 2u) up += red[(ROWS * NT + j) * MAX_SG + s];
    }
    store_output(t, row0 + r, g, up);
  }
}
