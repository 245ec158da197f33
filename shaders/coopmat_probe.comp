#version 450
// coopmat_probe: cooperative-matrix throughput probe for the kernel benchmark (not a model op).
//   Each subgroup keeps CHAINS independent f32 accumulators (16 x CN) and runs ITERS rounds of
//   acc[c] = A * B + acc[c] (A: 16 x 16 f16, B: 16 x CN f16, VK_NV_cooperative_matrix) on register
//   fragments: no memory traffic inside the loop, so the time is the tensor units' issue rate.
//   Independent chains hide the MMA latency. One accumulator is stored per subgroup, yet no chain
//   is dead code (see the end); A and B come from the push constant: nothing folds at compile time.
//   flops = subgroups * ITERS * CHAINS * 2 * 16 * CN * 16.
// grid: (groups, 1, 1); spec: 0 = WG (a multiple of the subgroup size), 1 = ITERS, 2 = CN (16 or 8:
//   the 16 x CN x 16 f16 -> f32 shape the device reports).   push: seed.
// bindings: out (groups * WG / subgroup size * 16 * CN) f32, one fragment per subgroup.
// Requires VK_NV_cooperative_matrix, shaderFloat16 and vulkanMemoryModel (the host checks).
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ITERS = 1024u;
layout(constant_id = 2) const uint CN = 16u;

const uint CHAINS = 8u;

layout(push_constant) uniform Params { float seed; } p;
layout(std430, set = 0, binding = 0) writeonly buffer OutBuf { float out_values[]; };

void main() {
  fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a =
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(float16_t(p.seed));
  fcoopmatNV<16, gl_ScopeSubgroup, 16, CN> b =
      fcoopmatNV<16, gl_ScopeSubgroup, 16, CN>(float16_t(p.seed * 0.5));
  fcoopmatNV<32, gl_ScopeSubgroup, 16, CN> acc[CHAINS];
  for (uint c = 0u; c < CHAINS; ++c) acc[c] = fcoopmatNV<32, gl_ScopeSubgroup, 16, CN>(float(c));
  for (uint i = 0u; i < ITERS; ++i) {
    for (uint c = 0u; c < CHAINS; ++c) acc[c] = coopMatMulAddNV(a, b, acc[c]);
  }
  const uint at = (gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID) * 16u * CN;
  coopMatStoreNV(acc[0], out_values, at, CN, false);
  // Never taken (the host passes seed > 0), but the compiler cannot know: every chain stays live.
  // (Summing the chains with coopmat '+' instead crashes glslc 2023.2's optimizer.)
  if (p.seed < 0.0) {
    for (uint c = 1u; c < CHAINS; ++c) coopMatStoreNV(acc[c], out_values, at, CN, false);
  }
}
