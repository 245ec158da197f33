#version 450
// col_sumsq: acc[j] += sum over rows r of x[r][j]^2 -- the per-input-column activation energy an
// importance matrix (imatrix, `vkrwkv imatrix`) collects for every weight matrix: the input
// columns a matrix multiplies by large activations are the ones whose weights quantization must
// keep most accurate.
// One invocation per column; it walks the rows in order (adjacent invocations read adjacent
// floats of a row, so each row is read once, coalesced) and adds its row sum to acc[j] once, so
// no two invocations touch the same accumulator and no atomics are needed. VEC4 = 1 handles 4
// columns per invocation through vec4 views (K % 4 == 0, 16-byte aligned offsets; the twin checks).
// grid: ceil(K / (WG * (VEC4 ? 4 : 1))) workgroups over (x, y) (grid_1d).
// spec: 0 = WG, 1 = VEC4 (0/1).   push: rows, K (columns, floats).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VEC4 = 0;

#include "common/index.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint K;
} p;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float x[]; };  // x: (rows, K)
layout(std430, set = 0, binding = 1) buffer AccBuf { float acc[]; };       // acc: (K)
layout(std430, set = 0, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) buffer AccBuf4 { vec4 acc4[]; };

void main() {
  const uint i = linear_invocation_id();
  if (VEC4 != 0u) {
    const uint K4 = p.K / 4u;
    if (i >= K4) return;
    vec4 s = vec4(0.0);
    for (uint r = 0u; r < p.rows; ++r) {
      const vec4 v = x4[r * K4 + i];
      s += v * v;
    }
    acc4[i] += s;
    return;
  }
  if (i >= p.K) return;
  float s = 0.0;
  for (uint r = 0u; r < p.rows; ++r) {
    const float v = x[r * p.K + i];
    s += v * v;
  }
  acc[i] += s;
}
