#version 450
// embed_q: embed.comp for block-quantized tables (one build variant per type), decoding the
// gathered row's blocks in place (common/quant.glsl). One window of table rows per dispatch
// (tables beyond maxStorageBufferRange are bound in pieces); ids outside [0, V) give zero rows,
// written by the window with first == 0.
//   out[t][c] = dequant(table[ids[t] - first])[c]   for first <= ids[t] < first + count
// grid: T * ceil(C / (32 * WG)) workgroups over (x, y) (grid_1d); invocation = one 32-weight unit.
// spec: 0 = WG.   push: T, C, V, first, count, byte offset of the window's first row in `table`.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

#include "common/index.glsl"

layout(push_constant) uniform Params {
  uint T;
  uint C;
  uint V;
  uint first;
  uint count;
  uint byte_off;
} p;

layout(std430, set = 0, binding = 0) readonly buffer IdBuf { uint ids[]; };      // (T) u32/i32
layout(std430, set = 0, binding = 1) readonly buffer TabBuf { uint table[]; };   // (count, C) blocks
layout(std430, set = 0, binding = 2) writeonly buffer OutBuf { vec4 out4[]; };   // (T, C) f32

uint qw(uint m, uint i) { return table[i]; }
#define Q_GRID_BINDING 3  // the i-quant codebooks (IQ1_S .. IQ3_S variants only)
#include "common/quant.glsl"

void main() {
  const uint units = p.C / Q_UNIT;
  const uint blocks = ceil_div(units, gl_WorkGroupSize.x);
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = wg / blocks;
  const uint u = (wg % blocks) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (t >= p.T || u >= units) return;
  const uint id = ids[t];
  const uint o = (t * p.C + u * Q_UNIT) / 4u;  // C is a multiple of 32: whole vec4s
  if (id >= p.first && id - p.first < p.count) {
    vec4 v[8];
    dequant_unit(0u, p.byte_off + (id - p.first) * q_row_bytes(p.C), u, v);
    for (uint h = 0u; h < 8u; ++h) out4[o + h] = v[h];
  } else if (p.first == 0u && id >= p.V) {
    for (uint h = 0u; h < 8u; ++h) out4[o + h] = vec4(0.0);
  }
}
