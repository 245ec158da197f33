#version 450
// gemv_tex: gemv.comp with x, w and wu read through uniform texel buffers (uvec4 texels), chosen
// on CPU implementations: llvmpipe turns a texel fetch into one vector load per lane, but every
// storage-buffer load component into a scalar loop iteration with a bounds check (probe: 64 MiB
// read 2.5 GB/s through uvec4 storage loads, 16-20 GB/s through texel fetches).
// Formula, grid, spec and push constants: exactly those of shaders/gemv.comp, with VEC == 1
// always (the host picks this variant only when every row and x start on a whole texel).
// bindings: x (T, K) f32 texels; w, wu (nw, K) dtype texels; bias (nw) f32; res (T, N) f32;
//           y (T, N) f32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define VKR_LINEAR_TEX 1

#include "common/gemv_body.glsl"
