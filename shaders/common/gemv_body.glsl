// gemv_body.glsl: the body of gemv.comp (uvec4 = 128-bit loads), gemv_w64.comp (u64vec4 =
// 256-bit loads, needs shaderInt64) and gemv_tex.comp (uvec4 texel fetches, VKR_LINEAR_TEX); see
// gemv.comp's header for the formula, grid and constants. VKR_GEMV_W64 selects the 64-bit-word
// loads. Include after #version and the extensions.
#ifndef VKR_GEMV_BODY_GLSL
#define VKR_GEMV_BODY_GLSL

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 2u;
layout(constant_id = 2) const uint NT = 1u;
layout(constant_id = 3) const uint MODE = 0u;
layout(constant_id = 4) const uint HAS_BIAS = 0u;
layout(constant_id = 5) const uint VEC = 0u;
layout(constant_id = 6) const uint MAX_SG = 32u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;  // weight matrices read per pass
const uint NACC = NW * ROWS * NT;               // partial sums per invocation

#if defined(VKR_LINEAR_TEX)
const uint CHUNK = W_PER_VEC;
#elif defined(VKR_GEMV_W64)
// One load brings 4 x 64-bit words: 16 halves or 8 floats of weights. CPU implementations
// (llvmpipe) execute every SSBO load as a per-lane, per-component scalar loop, so the cost is per
// component: 64-bit components halve it per byte.
layout(std430, set = 0, binding = 0) readonly buffer XBuf8 { u64vec4 x8[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf8 { u64vec4 w8[]; };
layout(std430, set = 0, binding = 2) readonly buffer UBuf8 { u64vec4 wu8[]; };
const uint CHUNK = 2u * W_PER_VEC;  // weight elements per load
vec4 words_to_vec4(uint64_t a, uint64_t b) {
  return uintBitsToFloat(uvec4(unpackUint2x32(a), unpackUint2x32(b)));
}
#else
const uint CHUNK = W_PER_VEC;
#endif
const uint XV = CHUNK / 4u;  // vec4s of x (and of decoded weights) per chunk

// x[t][c*CHUNK, +CHUNK) as XV vec4s; `base` = element index of x[t][0] (a multiple of 8 / 4).
void load_x(uint base, uint c, out vec4 v[XV]) {
#if defined(VKR_LINEAR_TEX)
  for (uint h = 0u; h < XV; ++h) v[h] = uintBitsToFloat(texelFetch(xt, int(base / 4u + c * XV + h)));
#elif defined(VKR_GEMV_W64)
  for (uint h = 0u; h < XV / 2u; ++h) {
    const u64vec4 q = x8[base / 8u + c * (XV / 2u) + h];
    v[2u * h] = words_to_vec4(q.x, q.y);
    v[2u * h + 1u] = words_to_vec4(q.z, q.w);
  }
#else
  for (uint h = 0u; h < XV; ++h) v[h] = x4[base / 4u + c * XV + h];
#endif
}

// Weights [c*CHUNK, +CHUNK) of the row starting at element `base`, decoded to f32.
#if defined(VKR_LINEAR_TEX)
void load_w(uint base, uint c, out vec4 v[XV]) {
  const uvec4 q = texelFetch(wt, int(base / CHUNK + c));
  for (uint h = 0u; h < XV; ++h) v[h] = w_vec4(q, h);
}
void load_wu(uint base, uint c, out vec4 v[XV]) {
  const uvec4 q = texelFetch(wut, int(base / CHUNK + c));
  for (uint h = 0u; h < XV; ++h) v[h] = w_vec4(q, h);
}
#elif defined(VKR_GEMV_W64)
#if defined(VKR_DTYPE_F32)
#define DECODE_W64(q, v) v[0] = words_to_vec4(q.x, q.y); v[1] = words_to_vec4(q.z, q.w)
#else
#define DECODE_W64(q, v)                                                   \
  for (uint h = 0u; h < 4u; ++h) {                                         \
    const uvec2 d = unpackUint2x32(q[h]);                                  \
    v[h] = w_vec4(uvec4(d, 0u, 0u), 0u);                                   \
  }
#endif
void load_w(uint base, uint c, out vec4 v[XV]) {
  const u64vec4 q = w8[base / CHUNK + c];
  DECODE_W64(q, v);
}
void load_wu(uint base, uint c, out vec4 v[XV]) {
  const u64vec4 q = wu8[base / CHUNK + c];
  DECODE_W64(q, v);
}
#else
void load_w(uint base, uint c, out vec4 v[XV]) {
  const uvec4 q = w4[base / CHUNK + c];
  for (uint h = 0u; h < XV; ++h) v[h] = w_vec4(q, h);
}
void load_wu(uint base, uint c, out vec4 v[XV]) {
  const uvec4 q = wu4[base / CHUNK + c];
  for (uint h = 0u; h < XV; ++h) v[h] = w_vec4(q, h);
}
#endif

shared float red[MAX_SG == 1u ? 1u : MAX_SG * NACC];  // red[(acc index) * MAX_SG + subgroup]

void main() {
  const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint row0 = group * ROWS;
  if (row0 >= p.nw) return;  // grid_1d padding: uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;

  float acc[NACC];  // acc[(m * ROWS + r) * NT + t], m = 0 gate/plain, 1 up
  for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;
  // Rows past the end re-read the last row (no divergence in the loop) and are never stored.
  uint wrow[ROWS];
  for (uint r = 0u; r < ROWS; ++r) wrow[r] = min(row0 + r, p.nw - 1u) * p.K;

  if (VEC != 0u) {
    // Neighbouring invocations read neighbouring chunks (coalesced on GPUs; on CPUs the per-lane
    // scalar loads of one instruction walk one contiguous 8 x 32-byte run).
    const uint kv = p.K / CHUNK;
    for (uint c = tid; c < kv; c += gl_WorkGroupSize.x) {
      vec4 xv[NT * XV];
      for (uint t = 0u; t < NT; ++t) {
        vec4 v[XV];
        load_x(p.x_off + t * p.K, c, v);
        for (uint h = 0u; h < XV; ++h) xv[t * XV + h] = v[h];
      }
      for (uint r = 0u; r < ROWS; ++r) {
        vec4 wv[XV];
        load_w(p.w_off + wrow[r], c, wv);
        for (uint h = 0u; h < XV; ++h) {
          for (uint t = 0u; t < NT; ++t) acc[r * NT + t] += dot(wv[h], xv[t * XV + h]);
        }
        if (NW == 2u) {
          load_wu(p.u_off + wrow[r], c, wv);
          for (uint h = 0u; h < XV; ++h) {
            for (uint t = 0u; t < NT; ++t) acc[(ROWS + r) * NT + t] += dot(wv[h], xv[t * XV + h]);
          }
        }
      }
    }
  }
#ifndef VKR_LINEAR_TEX  // the texel variant is only chosen with VEC (whole texels)
  else {
    for (uint k = tid; k < p.K; k += gl_WorkGroupSize.x) {
      float xs[NT];
      for (uint t = 0u; t < NT; ++t) xs[t] = x[p.x_off + t * p.K + k];
      for (uint r = 0u; r < ROWS; ++r) {
        float wv = W_ELEM(w, p.w_off + wrow[r] + k);
        for (uint t = 0u; t < NT; ++t) acc[r * NT + t] += wv * xs[t];
        if (NW == 2u) {
          float uv = W_ELEM(wu, p.u_off + wrow[r] + k);
          for (uint t = 0u; t < NT; ++t) acc[(ROWS + r) * NT + t] += uv * xs[t];
        }
      }
    }
  }
#endif

  for (uint i = 0u; i < NACC; ++i) acc[i] = subgroupAdd(acc[i]);
  if (MAX_SG == 1u) {
    // One subgroup per workgroup (the host guarantees it: WG <= the minimum subgroup size): the
    // subgroup sums are final, no shared memory and no barrier (a context switch on CPUs).
    for (uint j = 0u; j < ROWS * NT; ++j) {
      const uint r = j / NT, t = j % NT;
      if (j % gl_SubgroupSize == gl_SubgroupInvocationID && row0 + r < p.nw) {
        store_output(t, row0 + r, acc[j], acc[(NW - 1u) * ROWS * NT + j]);
      }
    }
    return;
  }
  if (subgroupElect()) {
    for (uint i = 0u; i < NACC; ++i) red[i * MAX_SG + gl_SubgroupID] = acc[i];
  }
  barrier();
  for (uint j = tid; j < ROWS * NT; j += gl_WorkGroupSize.x) {
    const uint r = j / NT, t = j % NT;
    if (row0 + r >= p.nw) continue;
    float g = 0.0, u = 0.0;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {  // same order in every invocation
      g += red[j * MAX_SG + s];
      if (NW == 2u) u += red[(ROWS * NT + j) * MAX_SG + s];
    }
    store_output(t, row0 + r, g, u);
  }
}

#endif
