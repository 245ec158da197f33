#version 450
// bw_probe: memory-bandwidth probes for the kernel benchmark (not a model op).
//   MODE 0 (copy): dst[i] = src[i] for i < n (uvec4 elements): read + write bytes = 32 n.
//   MODE 1 (read): each invocation XORs its uvec4 elements and writes one word to dst[gid], so
//                  the loads cannot be dropped; bytes = 16 n (+ 4 per invocation, negligible).
// Why a shader and not only vkCmdCopyBuffer: the copy command's speed is the driver's business
// (on the H100 it moved 828 GB/s on a 64 MiB copy while gemv read 2.3 TB/s), and the GEMV rows
// are read-dominated, so the fair ceiling for them is the read probe.
// Grid-stride loop with UNROLL independent 16-byte loads in flight per invocation; adjacent
// invocations touch adjacent elements (coalesced on GPUs).
// grid: (groups, 1, 1); spec: 0 = WG, 1 = MODE, 2 = UNROLL.   push: n (uvec4 elements).
// bindings: 0 src (n uvec4), 1 dst (n uvec4 for MODE 0, groups * WG words for MODE 1).

#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0u;
layout(constant_id = 2) const uint UNROLL = 4u;

layout(push_constant) uniform Params { uint n; } p;
layout(std430, set = 0, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst4 { uvec4 dst4[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uvec4 acc = uvec4(0u);
  for (uint base = gl_GlobalInvocationID.x; base < p.n; base += stride * UNROLL) {
    uvec4 v[UNROLL];
    [[unroll]] for (uint u = 0u; u < UNROLL; ++u) {
      const uint i = base + u * stride;
      v[u] = i < p.n ? src[i] : uvec4(0u);
    }
    [[unroll]] for (uint u = 0u; u < UNROLL; ++u) {
      const uint i = base + u * stride;
      if (MODE == 0u) {
        if (i < p.n) dst4[i] = v[u];
      } else {
        acc ^= v[u];
      }
    }
  }
  if (MODE == 1u) dst[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
