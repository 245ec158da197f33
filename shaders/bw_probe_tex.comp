#version 450
// bw_probe_tex: bw_probe.comp's read probe (MODE 1) through a uniform texel buffer of uvec4
// texels, the way CPU-device kernel variants read (gemv_tex.comp): on llvmpipe a texel fetch is
// one vector load per lane while a storage-buffer load is a per-lane, per-component scalar loop,
// so this is the read ceiling those variants are held to. bytes = 16 n.
// grid: (groups, 1, 1); spec: 0 = WG, 1 = UNROLL.   push: n (texels).
// bindings: 0 src (n texels, texel binding), 1 dst (groups * WG words).

#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint UNROLL = 4u;

layout(push_constant) uniform Params { uint n; } p;
layout(set = 0, binding = 0) uniform utextureBuffer src;
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uvec4 acc = uvec4(0u);
  for (uint base = gl_GlobalInvocationID.x; base < p.n; base += stride * UNROLL) {
    [[unroll]] for (uint u = 0u; u < UNROLL; ++u) {
      const uint i = base + u * stride;
      if (i < p.n) acc ^= texelFetch(src, int(i));
    }
  }
  dst[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
