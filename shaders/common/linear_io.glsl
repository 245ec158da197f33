// linear_io.glsl: the interface shared by gemv.comp, gemm.comp and gemm_coopmat.comp (one host
// Push struct, runtime/kernels/linear.hpp): bindings, push constants, weight decoding and the
// epilogue. Include AFTER the spec constants MODE and HAS_BIAS are declared.
//
// Weights are read as 32-bit words whatever their dtype: one uvec4 load brings 8 halves (or 4
// floats), and no 16-bit storage feature is needed. bf16 = the high half of an f32, widened by a
// shift (little-endian: element 2i is the low half of word i).
#ifndef VKR_LINEAR_IO_GLSL
#define VKR_LINEAR_IO_GLSL

// Epilogue modes (spec constant MODE); keep in sync with vkr::kernels::Epilogue.
#define MODE_NONE 0u
#define MODE_RESIDUAL 1u
#define MODE_SWIGLU 2u

layout(push_constant) uniform Params {
  uint T;      // tokens (rows of x / y) in this dispatch
  uint N;      // row stride of y and residual (all outputs, not just this window)
  uint K;      // input features
  uint nw;     // output rows (rows of W) in this window
  uint x_off;  // element offsets of the window's first element in each binding (bindings are
  uint w_off;  // aligned down to minStorageBufferOffsetAlignment, so windows start mid-binding)
  uint u_off;
  uint b_off;
  uint r_off;
  uint y_off;
} p;

#ifdef VKR_LINEAR_TEX
// Texel variant (CPU drivers: texel fetches are vectorized, storage loads are not): x, w and wu
// are uniform texel buffers of uvec4 words (KernelDesc::texel_mask 0b111); x4t[i] = 4 floats,
// wt / wut[i] = 8 halves or 4 floats. Only whole-texel (vector) access exists in this variant.
layout(set = 0, binding = 0) uniform utextureBuffer xt;
layout(set = 0, binding = 1) uniform utextureBuffer wt;
layout(set = 0, binding = 2) uniform utextureBuffer wut;
#else
// x: (T, K) f32
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, set = 0, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
// w: (nw, K) dtype, as 32-bit words (W_gate for SwiGLU)
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf4 { uvec4 w4[]; };
// wu: (nw, K) dtype, W_up for SwiGLU (else bound to w, unused)
layout(std430, set = 0, binding = 2) readonly buffer UBuf { uint wu[]; };
layout(std430, set = 0, binding = 2) readonly buffer UBuf4 { uvec4 wu4[]; };
#endif
// bias: (nw) f32 (bound to x and unused when HAS_BIAS == 0)
layout(std430, set = 0, binding = 3) readonly buffer BiasBuf { float bias[]; };
// res: (T, N) f32 residual; may be the same memory as y (each invocation reads its element before
// writing it, a data dependency no compiler can reorder). Bound to y and unused unless RESIDUAL.
layout(std430, set = 0, binding = 4) readonly buffer ResBuf { float res[]; };
// y: (T, N) f32; this window writes columns [0, nw) of each row, from y_off
layout(std430, set = 0, binding = 5) writeonly buffer YBuf { float y[]; };

#if defined(VKR_DTYPE_F16) || defined(VKR_DTYPE_BF16)
#define W_PER_VEC 8u  // elements per uvec4
#else
#define W_PER_VEC 4u
#endif

// Element `i` of a word array `buf` (a macro: GLSL cannot pass buffer arrays to functions).
#if defined(VKR_LINEAR_TEX)
// (no word arrays in the texel variant)
#elif defined(VKR_DTYPE_F16)
#define W_ELEM(buf, i) (unpackHalf2x16(buf[(i) >> 1u])[(i) & 1u])
#elif defined(VKR_DTYPE_BF16)
#define W_ELEM(buf, i) uintBitsToFloat(((buf[(i) >> 1u] >> (((i) & 1u) * 16u)) & 0xFFFFu) << 16u)
#else
#define W_ELEM(buf, i) uintBitsToFloat(buf[i])
#endif

// Elements [4h, 4h + 4) of a uvec4 of weights (h = 0 or 1 for 16-bit types, 0 for f32).
vec4 w_vec4(uvec4 q, uint h) {
#if defined(VKR_DTYPE_F16)
  uvec2 d = h == 0u ? q.xy : q.zw;
  return vec4(unpackHalf2x16(d.x), unpackHalf2x16(d.y));
#elif defined(VKR_DTYPE_BF16)
  uvec2 d = h == 0u ? q.xy : q.zw;
  return uintBitsToFloat(uvec4(d.x << 16u, d.x & 0xFFFF0000u, d.y << 16u, d.y & 0xFFFF0000u));
#else
  return uintBitsToFloat(q);
#endif
}

float silu(float v) { return v / (1.0 + exp(-v)); }

// Writes y[t][o] (window-local o < nw) from the accumulated dot products g (gate / plain) and u
// (up, SwiGLU only).
void store_output(uint t, uint o, float g, float u) {
  float v = g;
  if (HAS_BIAS != 0u) v += bias[p.b_off + o];
  if (MODE == MODE_SWIGLU) v = silu(v) * u;
  if (MODE == MODE_RESIDUAL) v += res[p.r_off + t * p.N + o];
  y[p.y_off + t * p.N + o] = v;
}

#endif
