#version 450
// col_sumsq: acc[j] += sum over rows r of x[r][j]^2 -- the per-input-column activation energy an
// importance matrix (imatrix, `vkrwkv imatrix`) collects for every weight matrix: the input
// columns a matrix multiplies by large activations are the ones whose weights quantization must
// keep most accurate.
// A workgroup is WG column lanes x LANES row lanes: column lane c owns column (or vec4 of
// columns) group * WG + c; row lane y sums rows y, y + LANES, ... (adjacent column lanes read
// adjacent words of a row: coalesced). The LANES partial sums meet in shared memory after one
// barrier and row lane 0 adds them to acc[j]: no two workgroups touch the same accumulator, so no
// atomics. LANES = 1 (CPU devices: the row loop is cheap there, a barrier is not) skips the
// shared step. VEC4 = 1 handles 4 columns per lane through vec4 views (K % 4 == 0, 16-byte
// aligned offsets; the twin checks).
// grid: ceil(K / (WG * (VEC4 ? 4 : 1))) workgroups over (x, y) (grid_1d).
// spec: 0 = WG, 1 = VEC4 (0/1), 2 = LANES (WG * LANES <= 256).   push: rows, K (columns, floats).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y_id = 2) in;
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

shared vec4 partial[256];

void main() {
  const uint WG = gl_WorkGroupSize.x, LANES = gl_WorkGroupSize.y;
  const uint c = gl_LocalInvocationID.x, y = gl_LocalInvocationID.y;
  const uint col = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + c;
  const uint width = VEC4 != 0u ? p.K / 4u : p.K;  // columns in units of this pipeline
  vec4 s = vec4(0.0);
  if (col < width) {
    for (uint r = y; r < p.rows; r += LANES) {
      if (VEC4 != 0u) {
        const vec4 v = x4[r * width + col];
        s += v * v;
      } else {
        const float v = x[r * width + col];
        s.x += v * v;
      }
    }
  }
  if (LANES > 1u) {
    partial[y * WG + c] = s;
    barrier();
    if (y != 0u) return;
    for (uint l = 1u; l < LANES; ++l) s += partial[l * WG + c];
  }
  if (col >= width) return;
  if (VEC4 != 0u) {
    acc4[col] += s;
  } else {
    acc[col] += s.x;
  }
}
