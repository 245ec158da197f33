#version 450
// gemv_w64: gemv.comp with 64-bit-word loads (u64vec4: 32 bytes per invocation and load), chosen
// on CPU implementations with shaderInt64, where a load costs per component (see gemv_body.glsl).
// Formula, grid, spec and push constants and bindings: exactly those of shaders/gemv.comp, except
// VEC needs K and the w offsets to be multiples of 16 (16-bit types) / 8 (f32) elements and the x
// offset a multiple of 8 floats.
// bindings: x (T, K) f32; w, wu (nw, K) dtype words; bias (nw) f32; res (T, N) f32; y (T, N) f32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#define VKR_GEMV_W64 1

#include "common/gemv_body.glsl"
