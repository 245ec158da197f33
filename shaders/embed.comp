#version 450
// embed: token ids -> f32 embedding rows, for one window of table rows (spec §3.2.1, §3.3). Tables
// larger than maxStorageBufferRange (QRWKV6-32B: 152064 x 5120 bf16 = 1.5 GiB) are bound as
// windows of rows [first, first + count), one dispatch each; a dispatch writes only the rows whose
// id falls in its window. Ids outside [0, V) (negative i32 ids read as huge u32) never index the
// table: the window with first == 0 writes zeros for them.
//   out[t][c] = table[ids[t] - first][c]   for first <= ids[t] < first + count
// grid: T * ceil(C / (WG * E)) workgroups over (x, y) (grid_1d); workgroup = one token, WG * E
//   channels; E = 1 (scalar path) or, with VEC, the elements of one 16-byte word group (8 halves
//   or 4 floats: one uvec4 load and one or two vec4 stores per invocation, for rows and bindings
//   on 16-byte boundaries; on CPU drivers every load / store is a per-lane loop, so fewer, wider
//   ones are what makes it fast there).
// spec: 0 = WG, 1 = VEC (0/1).   push: T, C, V, first, count.   storage dtype: build variant.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VEC = 0u;

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
layout(std430, set = 0, binding = 1) readonly buffer TabBuf4 { uvec4 table4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OutBuf4 { vec4 out4[]; };

#if defined(VKR_DTYPE_F16) || defined(VKR_DTYPE_BF16)
const uint E = 8u;  // elements per uvec4
#else
const uint E = 4u;
#endif

// Elements [4h, 4h + 4) of a uvec4 of table words.
vec4 decode4(uvec4 q, uint h) {
#if defined(VKR_DTYPE_F16)
  const uvec2 d = h == 0u ? q.xy : q.zw;
  return vec4(unpackHalf2x16(d.x), unpackHalf2x16(d.y));
#elif defined(VKR_DTYPE_BF16)
  const uvec2 d = h == 0u ? q.xy : q.zw;
  return uintBitsToFloat(uvec4(d.x << 16u, d.x & 0xFFFF0000u, d.y << 16u, d.y & 0xFFFF0000u));
#else
  return uintBitsToFloat(q);
#endif
}

void main_vec() {
  const uint units = p.C / E;  // word groups per row
  const uint blocks = ceil_div(units, gl_WorkGroupSize.x);
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = wg / blocks;
  const uint u = (wg % blocks) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (t >= p.T || u >= units) return;
  const uint id = ids[t];
  const uint o4 = (t * p.C + u * E) / 4u;  // first vec4 of the output
  if (id >= p.first && id - p.first < p.count) {
    const uvec4 q = table4[(id - p.first) * units + u];
    for (uint h = 0u; h < E / 4u; ++h) out4[o4 + h] = decode4(q, h);
  } else if (p.first == 0u && id >= p.V) {
    for (uint h = 0u; h < E / 4u; ++h) out4[o4 + h] = vec4(0.0);
  }
}

void main() {
  if (VEC != 0u) {
    main_vec();
    return;
  }
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
