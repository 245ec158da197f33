#version 450
// gemv_q_tex: gemv_q.comp's CPU layout (LAYOUT 2: rows per lane, groups of blocks decoded by
// common/quant_group.glsl) with x, w and wu read through uniform texel buffers of uvec4: llvmpipe
// runs a texel fetch as one 16-byte load per lane (a ~40-instruction routine), a storage load as a
// scalar loop per lane and component (bench/README.md). Chosen on CPU devices when x starts on a
// texel and the weight window is whole texels (linear_q.cpp). Same spec constants and push block
// as gemv_q.comp (only LAYOUT 2 exists here; XSHARE should be 0: each lane fetches x itself).
// bindings: x (T, K) f32 texels; w, wu (nw rows of quantized blocks) texels; bias (nw) f32;
//           res (T, N) f32; y (T, N) f32; codebook types: 6 = the i-quant grids (texels).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_samplerless_texture_functions : require
#define VKR_LINEAR_TEX 1

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 2u;
layout(constant_id = 2) const uint NT = 1u;
layout(constant_id = 3) const uint MODE = 0u;
layout(constant_id = 4) const uint HAS_BIAS = 0u;
layout(constant_id = 5) const uint XVEC = 1u;
layout(constant_id = 6) const uint MAX_SG = 1u;
layout(constant_id = 7) const uint LAYOUT = 2u;
layout(constant_id = 8) const uint XSHARE = 0u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

// Word i of matrix m, for quant.glsl (its q_row_bytes(), and for the codebook types its
// dequant_unit() on quant_group.glsl's registers, QG_REGS); defined below.
uint qw(uint m, uint i);
#define Q_GRID_BINDING 6
#define Q_GRID_TEXEL 1
#include "common/quant.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint NACC = NW * ROWS * NT;
#include "common/quant_group.glsl"

uint qw(uint m, uint i) {
#if defined(Q_HAS_GRID)
  if (m == QG_REGS) return qg_regs[i];
#endif
  const uvec4 q = m == 0u ? texelFetch(wt, int(i >> 2u)) : texelFetch(wut, int(i >> 2u));
  return q[i & 3u];
}

// Private globals, not parameters: glslang mis-sizes spec-constant-sized array arguments.
float acc[NACC];  // acc[(mat * ROWS + r) * NT + t]
uint wrow[ROWS];  // byte offsets of the rows from the window's first row

#include "common/gemv_q_rows.glsl"

void main() {
  const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (group * ROWS * gl_WorkGroupSize.x >= p.nw) return;  // grid_1d padding: uniform
  main_rows(group);
}
