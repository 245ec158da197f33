// lora_chunk.glsl: the load unit of the LoRA kernels (lora_down, token_shift, decay): CW = 4 floats
// (vec4) in the f32 variant, CW = 8 floats (u64vec4, shaderInt64) in the f32x8 variant. On CPU
// implementations (lavapipe) every non-uniform load is a per-lane loop, so the wider unit halves
// the loop trips for the same bytes; on GPUs it is one 32-byte load.
// The including shader enables GL_EXT_shader_explicit_arithmetic_types_int64 for f32x8.
#ifndef VKR_LORA_CHUNK_GLSL
#define VKR_LORA_CHUNK_GLSL

#ifdef VKR_DTYPE_F32X8
#define CHUNK u64vec4
const uint CW = 8u;
struct Chunk {
  vec4 lo, hi;
};
Chunk unpack(u64vec4 q) {
  Chunk c;
  c.lo = uintBitsToFloat(uvec4(unpackUint2x32(q.x), unpackUint2x32(q.y)));
  c.hi = uintBitsToFloat(uvec4(unpackUint2x32(q.z), unpackUint2x32(q.w)));
  return c;
}
float chunk_dot(Chunk a, Chunk b) { return dot(a.lo, b.lo) + dot(a.hi, b.hi); }
// x + (s - x) * mu, per element.
Chunk chunk_lerp(Chunk x, Chunk s, Chunk mu) {
  Chunk c;
  c.lo = x.lo + (s.lo - x.lo) * mu.lo;
  c.hi = x.hi + (s.hi - x.hi) * mu.hi;
  return c;
}
#else
#define CHUNK vec4
const uint CW = 4u;
struct Chunk {
  vec4 lo;
};
Chunk unpack(vec4 q) { return Chunk(q); }
float chunk_dot(Chunk a, Chunk b) { return dot(a.lo, b.lo); }
Chunk chunk_lerp(Chunk x, Chunk s, Chunk mu) { return Chunk(x.lo + (s.lo - x.lo) * mu.lo); }
#endif

#endif
