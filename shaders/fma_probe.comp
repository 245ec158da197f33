#version 450
// fma_probe: device FMA-throughput probe for the kernel benchmark (not a model op).
//   Each invocation runs ITERS rounds of 8 independent FMA chains (a = a * b + c) in the storage
//   type's arithmetic (f32, or f16 in the f16 variant) and writes one value so nothing is dead code.
//   flops = invocations * ITERS * 8 chains * 2.
// grid: (groups, 1, 1); spec: 0 = WG, 1 = ITERS.   push: seed (keeps the compiler honest).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ITERS = 1024;

#if defined(VKR_DTYPE_F16)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define T float16_t
#define VT f16vec4
#else
#define T float
#define VT vec4
#endif

layout(push_constant) uniform Params { float seed; } p;
layout(std430, set = 0, binding = 0) writeonly buffer OutBuf { float out_values[]; };  // (groups*WG)

void main() {
  VT a0 = VT(T(p.seed)), a1 = a0 + VT(T(1)), b = VT(T(0.999)), c = VT(T(0.001));
  for (uint i = 0; i < ITERS; ++i) {
    a0 = a0 * b + c;
    a1 = a1 * b + c;
  }
  VT s = a0 + a1;
  out_values[gl_GlobalInvocationID.x] = float(s.x + s.y + s.z + s.w);
}
