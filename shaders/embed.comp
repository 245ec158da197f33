#version 450
// embed: token ids -> f32 embedding rows, for one window of table rows (spec §3.2.1, §3.3). Tables
// larger than maxStorageBufferRange (QRWKV6-32B: 152064 x 5120 bf16 = 1.5 GiB) are bound as
// windows of rows [first, first + count), one dispatch each; a dispatch writes only the rows whose
// id falls in its window. Ids outside [0, V) (negative i32 ids read as huge u32) never index the
// table: the window with first == 0 writes zeros for them.
//   out[t][c] = table[ids[t] - first][c]   for first <= ids[t] < first + count
// grid: T * ceil(C / WG) workgroups over (x, y) (grid_1d); workgroup = one token, WG channels.
// spec: 0 = WG.   push: T, C, V, first, count.   storage dtype of the table: build variant.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

#include "common/index.glsl"
#include "common/types.glsl"

layout(push_constant) uniform Params {
  uint T;
  uint C;
  uint V;
  uint first;
  uint count;
} p;

layout(std430, set = 0, binding = 0) readonly buffer IdBuf { uint ids[]; };      // ids: (T) u32/i32
layout(std430, set = 0, binding = 1) readonly buffer TabBuf { sfp table[]; };    // table window: (count, C)
layout(std430, set = 0, binding = 2) writeonly buffer OutBuf { float out_[]; };  // out: (T, C)

void main() {
  const uint blocks = ceil_div(p.C, gl_WorkGroupSize.x);
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = wg / blocks;
  const uint c = (wg % blocks) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (t >= p.T || c >= p.C) return;
  const uint id = ids[t];
  if (id >= p.first && id - p.first < p.count) {
    out_[t * p.C + c] = sfp_to_f32(table[(id - p.first) * p.C + c]);
  } else if (p.first == 0u && id >= p.V) {
    out_[t * p.C + c] = 0.0;
  }
}
