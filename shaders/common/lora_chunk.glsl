// lora_chunk.glsl: the access unit of the LoRA kernels (lora_down, token_shift, decay) and of the
// bandwidth-bound block ops' vector paths (norm, group_norm): CW = 4 floats (vec4) in the f32
// variant, CW = 8 floats (u64vec4, shaderInt64) in the f32x8 variant. On CPU implementations
// (lavapipe) every non-uniform load or store is a per-lane loop over its components, so the wider
// unit halves the loop trips for the same bytes (token_shift lerp T=64: ~2x); on GPUs it is one
// 32-byte access.
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
u64vec4 pack(Chunk c) {
  const uvec4 lo = floatBitsToUint(c.lo), hi = floatBitsToUint(c.hi);
  return u64vec4(packUint2x32(lo.xy), packUint2x32(lo.zw), packUint2x32(hi.xy),
                 packUint2x32(hi.zw));
}
// vec4 h (h < CW / 4) of a chunk, read and written (h is a constant in unrolled loops).
vec4 part(Chunk c, uint h) { return h == 0u ? c.lo : c.hi; }
void set_part(inout Chunk c, uint h, vec4 v) {
  if (h == 0u) {
    c.lo = v;
  } else {
    c.hi = v;
  }
}
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
vec4 pack(Chunk c) { return c.lo; }
vec4 part(Chunk c, uint h) { return c.lo; }
void set_part(inout Chunk c, uint h, vec4 v) { c.lo = v; }
Chunk chunk_lerp(Chunk x, Chunk s, Chunk mu) { return Chunk(x.lo + (s.lo - x.lo) * mu.lo); }
#endif

#endif
