// quant.glsl: in-place decoding of ggml block-quantized weights (spec §6.3; model/dequant.cpp is
// the CPU twin) read as 32-bit words, so no 8/16-bit storage feature is needed.
// The build variant selects the type: VKR_DTYPE_{Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,
// Q6_K,IQ4_NL,IQ4_XS,IQ1_S,IQ1_M,IQ2_XXS,IQ2_XS,IQ2_S,IQ3_XXS,IQ3_S}. Blocks are 18 to 210 bytes
// (all even), so fields are not word-aligned: bytes and halves are
// extracted with shifts. Every field the decoders read as a half or a 32-bit group starts at an
// even byte (block sizes are even and rows start at even bytes), so a half never straddles a word
// and a 32-bit group straddles at most two.
//
// The includer defines `uint qw(uint m, uint i)`: word i of weight matrix m (0 = W, 1 = W_up for
// SwiGLU; GLSL cannot pass buffer arrays to functions). Addresses below are byte addresses within
// that matrix's binding.
//
// Decoding works in units of 32 consecutive weights of a row (one block of the legacy types, one
// sub-block of a 256-element K-quant super-block): dequant_unit(m, row_byte, u, v) writes weights
// [32u, 32u + 32) of the row starting at byte row_byte into v[0..7] (v[i][c] = weight 4i + c).
#ifndef VKR_QUANT_GLSL
#define VKR_QUANT_GLSL

#if defined(VKR_DTYPE_Q8_0)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 34u
#elif defined(VKR_DTYPE_Q4_0)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 18u
#elif defined(VKR_DTYPE_Q5_0)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 22u
#elif defined(VKR_DTYPE_Q5_1)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 24u
#elif defined(VKR_DTYPE_Q4_K)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 144u
#elif defined(VKR_DTYPE_Q5_K)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 176u
#elif defined(VKR_DTYPE_Q6_K)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 210u
#elif defined(VKR_DTYPE_Q4_1)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 20u
#elif defined(VKR_DTYPE_Q2_K)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 84u
#elif defined(VKR_DTYPE_Q3_K)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 110u
#elif defined(VKR_DTYPE_IQ4_NL)
#define Q_BLOCK_ELEMS 32u
#define Q_BLOCK_BYTES 18u
#elif defined(VKR_DTYPE_IQ4_XS)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 136u
#elif defined(VKR_DTYPE_IQ2_XXS)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 66u
#define Q_GRID_OFF 0u
#elif defined(VKR_DTYPE_IQ2_XS)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 74u
#define Q_GRID_OFF 512u
#elif defined(VKR_DTYPE_IQ2_S)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 82u
#define Q_GRID_OFF 1536u
#elif defined(VKR_DTYPE_IQ3_XXS)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 98u
#define Q_GRID_OFF 3584u
#elif defined(VKR_DTYPE_IQ3_S)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 110u
#define Q_GRID_OFF 3840u
#elif defined(VKR_DTYPE_IQ1_S)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 50u
#define Q_GRID_OFF 4352u
#elif defined(VKR_DTYPE_IQ1_M)
#define Q_BLOCK_ELEMS 256u
#define Q_BLOCK_BYTES 56u
#define Q_GRID_OFF 4352u
#else
#error "quant.glsl: no quantized VKR_DTYPE_* variant defined"
#endif

// The codebook i-quants (IQ1_S .. IQ3_S) look their values up in ggml's grids, which the host
// binds as one read-only buffer of words (vkr/iq_grids.hpp: Q_GRID_OFF is this type's grid there)
// at binding Q_GRID_BINDING, which the includer defines. A storage buffer, not a const array:
// glslang copies a dynamically indexed const array into every invocation's private memory.
#if defined(Q_GRID_OFF)
#define Q_HAS_GRID 1
#if !defined(Q_GRID_BINDING)
#error "quant.glsl: the includer must define Q_GRID_BINDING for the codebook types"
#endif
#if defined(Q_GRID_TEXEL)
// CPU devices' texel build (gemv_q_tex.comp): the grids as uvec4 texels (llvmpipe: one vector
// load per lane instead of a scalar loop per lane and word).
layout(set = 0, binding = Q_GRID_BINDING) uniform utextureBuffer q_grid_t;
uint q_grid_word(uint i) { return texelFetch(q_grid_t, int(i >> 2u))[i & 3u]; }
// Words i, i + 1 (i even: one texel).
uvec2 q_grid_pair(uint i) {
  const uvec4 t = texelFetch(q_grid_t, int(i >> 2u));
  return (i & 2u) != 0u ? t.zw : t.xy;
}
#else
layout(std430, set = 0, binding = Q_GRID_BINDING) readonly buffer QGridBuf { uint q_grid[]; };
uint q_grid_word(uint i) { return q_grid[i]; }
uvec2 q_grid_pair(uint i) { return uvec2(q_grid[i], q_grid[i + 1u]); }
#endif
#endif

#define Q_UNIT 32u                                   // weights per dequant_unit() call
#define Q_UNITS_PER_BLOCK (Q_BLOCK_ELEMS / Q_UNIT)   // 1 (legacy) or 8 (K-quants)

// Bytes of a row of k weights (k a multiple of Q_BLOCK_ELEMS).
uint q_row_bytes(uint k) { return k / Q_BLOCK_ELEMS * Q_BLOCK_BYTES; }

uint q_u8(uint m, uint a) { return (qw(m, a >> 2u) >> ((a & 3u) * 8u)) & 0xFFu; }
// a even: a half never crosses a word.
float q_half(uint m, uint a) {
  return unpackHalf2x16((qw(m, a >> 2u) >> ((a & 2u) * 8u)) & 0xFFFFu).x;
}
// 4 bytes from an even address (little-endian), joining two words when a % 4 == 2.
uint q_u32(uint m, uint a) {
  const uint i = a >> 2u;
  if ((a & 2u) == 0u) return qw(m, i);
  return (qw(m, i) >> 16u) | (qw(m, i + 1u) << 16u);
}
// The 4 bytes of a word as unsigned / signed values, byte 0 first.
uvec4 q_bytes(uint w) { return uvec4(w, w >> 8u, w >> 16u, w >> 24u) & 0xFFu; }
ivec4 q_sbytes(uint w) { return ivec4(w << 24u, w << 16u, w << 8u, w) >> 24; }
// Bit `b` of each of the 4 bytes of a word.
uvec4 q_bits(uint w, uint b) { return uvec4(w >> b, w >> (b + 8u), w >> (b + 16u), w >> (b + 24u)) & 1u; }

#if defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
// 6-bit (scale, min) of sub-block j of a Q4_K / Q5_K block whose scales start at byte s.
void q_scale_min_k4(uint m, uint s, uint j, out float sc, out float mn) {
  if (j < 4u) {
    sc = float(q_u8(m, s + j) & 63u);
    mn = float(q_u8(m, s + j + 4u) & 63u);
  } else {
    const uint b = q_u8(m, s + j + 4u);
    sc = float((b & 0xFu) | ((q_u8(m, s + j - 4u) >> 6u) << 4u));
    mn = float((b >> 4u) | ((q_u8(m, s + j) >> 6u) << 4u));
  }
}
#endif

#if defined(VKR_DTYPE_Q3_K)
// 6-bit scale i (0..15) of a Q3_K block whose scales start at byte s, minus 32: low 4 bits in the
// low (i < 8) / high nibble of scales[i % 8], high 2 bits at bit 2 (i / 4) of scales[8 + i % 4].
float q3k_scale(uint m, uint s, uint i) {
  const uint lo = (q_u8(m, s + (i & 7u)) >> ((i >> 3u) * 4u)) & 0xFu;
  const uint hi = (q_u8(m, s + 8u + (i & 3u)) >> (2u * (i >> 2u))) & 3u;
  return float(int(lo | (hi << 4u)) - 32);
}
#endif

#if defined(VKR_DTYPE_IQ4_NL) || defined(VKR_DTYPE_IQ4_XS)
// IQ4's non-linear code: value c of {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53,
// 69, 89, 113} (ggml's kvalues_iq4nl) as signed bytes packed 4 per word; selected without a
// dynamically indexed array (GPUs would put one in local memory).
vec4 iq4_values(uvec4 c) {
  const uvec4 hi = c >> 2u;
  const uvec4 lo2 = mix(uvec4(0xBFAD9881u), uvec4(0xF6EADDCFu), equal(hi & 1u, uvec4(1u)));
  const uvec4 hi2 = mix(uvec4(0x26190D01u), uvec4(0x71594535u), equal(hi & 1u, uvec4(1u)));
  const uvec4 word = mix(lo2, hi2, greaterThanEqual(hi, uvec4(2u)));
  return vec4(ivec4(word << (24u - 8u * (c & 3u))) >> 24);
}
#endif

#if defined(Q_HAS_GRID)
// u16 at an even byte a (never straddles a word).
uint q_u16(uint m, uint a) { return (qw(m, a >> 2u) >> ((a & 2u) * 8u)) & 0xFFFFu; }
// The 8 sign bits of a 7-bit sign index (ggml's ksigns_iq2xs): bit 7 makes the parity even.
uint iq_signs(uint s) { return s | ((uint(bitCount(s)) & 1u) << 7u); }
// The 4 unsigned bytes of a grid word, negated where bit c of `signs` (4 bits) is set.
vec4 iq_grid4w(uint w, uint signs) {
  const vec4 g = vec4(q_bytes(w));
  return mix(g, -g, notEqual((uvec4(signs) >> uvec4(0u, 1u, 2u, 3u)) & 1u, uvec4(0u)));
}
// The same for grid word i of this type's grid.
vec4 iq_grid4(uint i, uint signs) { return iq_grid4w(q_grid_word(Q_GRID_OFF + i), signs); }
#if defined(VKR_DTYPE_IQ1_M)
// IQ1_M's f16 scale: the top nibbles of its four u16 scale words at byte 48 (first word lowest).
float iq1m_scale(uint m, uint a) {
  const uint s0 = q_u32(m, a + 48u), s1 = q_u32(m, a + 52u);
  return unpackHalf2x16(((s0 >> 12u) & 0xFu) | ((s0 >> 24u) & 0xF0u) | ((s1 >> 4u) & 0xF00u) |
                        ((s1 >> 16u) & 0xF000u)).x;
}
#endif
// 8 weights from 8-byte grid entry e with 8 sign bits, scaled: v[2l], v[2l + 1].
void iq_grid8(uint e, uint signs, float d, out vec4 lo, out vec4 hi) {
  const uvec2 g = q_grid_pair(Q_GRID_OFF + 2u * e);
  lo = d * iq_grid4w(g.x, signs & 0xFu);
  hi = d * iq_grid4w(g.y, signs >> 4u);
}
#endif

void dequant_unit(uint m, uint row_byte, uint u, out vec4 v[8]) {
  const uint a = row_byte + (u / Q_UNITS_PER_BLOCK) * Q_BLOCK_BYTES;  // block start
#if defined(VKR_DTYPE_Q8_0)
  // {f16 d; i8 qs[32]}: x = d * q
  const float d = q_half(m, a);
  for (uint i = 0u; i < 8u; ++i) v[i] = d * vec4(q_sbytes(q_u32(m, a + 2u + 4u * i)));
#elif defined(VKR_DTYPE_Q4_0)
  // {f16 d; u8 qs[16]}: low nibbles = weights 0..15, high nibbles 16..31, x = d * (q - 8)
  const float d = q_half(m, a);
  for (uint i = 0u; i < 4u; ++i) {
    const uvec4 b = q_bytes(q_u32(m, a + 2u + 4u * i));
    v[i] = (vec4(b & 0xFu) - 8.0) * d;
    v[i + 4u] = (vec4(b >> 4u) - 8.0) * d;
  }
#elif defined(VKR_DTYPE_Q5_0) || defined(VKR_DTYPE_Q5_1)
  // Q5_0 {f16 d; u32 qh; u8 qs[16]}: x = d * (q - 16); Q5_1 {f16 d; f16 m; u32 qh; u8 qs[16]}:
  // x = d * q + m. Bit j of qh is the 5th bit of weight j.
#if defined(VKR_DTYPE_Q5_0)
  const float d = q_half(m, a), mn = -16.0 * d;
  const uint qh = q_u32(m, a + 2u), qs = a + 6u;
#else
  const float d = q_half(m, a), mn = q_half(m, a + 2u);
  const uint qh = q_u32(m, a + 4u), qs = a + 8u;
#endif
  for (uint i = 0u; i < 4u; ++i) {
    const uvec4 b = q_bytes(q_u32(m, qs + 4u * i));
    const uvec4 lo = (b & 0xFu) | (((uvec4(qh) >> (uvec4(0u, 1u, 2u, 3u) + 4u * i)) & 1u) << 4u);
    const uvec4 hi = (b >> 4u) | (((uvec4(qh) >> (uvec4(16u, 17u, 18u, 19u) + 4u * i)) & 1u) << 4u);
#if defined(VKR_DTYPE_Q5_0)
    v[i] = (vec4(lo) - 16.0) * d;
    v[i + 4u] = (vec4(hi) - 16.0) * d;
#else
    v[i] = vec4(lo) * d + mn;
    v[i + 4u] = vec4(hi) * d + mn;
#endif
  }
#elif defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
  // {f16 d; f16 dmin; u8 scales[12]; (Q5_K: u8 qh[32];) u8 qs[128]}: sub-block j (32 weights)
  // sits in the low (j even) or high (j odd) nibbles of qs[32 * (j / 2), +32); x = d*sc*q - dmin*mn.
  const uint j = u % 8u;
  float sc, mn;
  q_scale_min_k4(m, a + 4u, j, sc, mn);
  const float d = q_half(m, a) * sc, dm = q_half(m, a + 2u) * mn;
#if defined(VKR_DTYPE_Q5_K)
  const uint qs = a + 48u + 32u * (j / 2u);
#else
  const uint qs = a + 16u + 32u * (j / 2u);
#endif
  const uint shift = (j & 1u) * 4u;
  for (uint i = 0u; i < 8u; ++i) {
    uvec4 q = (q_bytes(q_u32(m, qs + 4u * i)) >> shift) & 0xFu;
#if defined(VKR_DTYPE_Q5_K)
    q |= q_bits(q_u32(m, a + 16u + 4u * i), j) << 4u;  // bit j of qh[l] (= 2*(j/2) + (j&1))
#endif
    v[i] = d * vec4(q) - dm;
  }
#elif defined(VKR_DTYPE_Q6_K)
  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: half n = j / 4 of the block, run r = j % 4:
  // low 4 bits from ql[64n + 32(r & 1) + l] (nibble r / 2), high 2 bits from qh[32n + l] bits
  // 2r, 2r+1; scale scales[8n + 2r + l / 16]; x = d * sc * (q - 32).
  const uint j = u % 8u, n = j / 4u, r = j % 4u;
  const float d = q_half(m, a + 208u);
  const uint ql = a + 64u * n + 32u * (r & 1u), qh = a + 128u + 32u * n;
  const float s0 = d * float(int(q_u8(m, a + 192u + 8u * n + 2u * r) << 24u) >> 24);
  const float s1 = d * float(int(q_u8(m, a + 193u + 8u * n + 2u * r) << 24u) >> 24);
  for (uint i = 0u; i < 8u; ++i) {
    const uvec4 lo = (q_bytes(q_u32(m, ql + 4u * i)) >> ((r / 2u) * 4u)) & 0xFu;
    const uvec4 hi = (q_bytes(q_u32(m, qh + 4u * i)) >> (2u * r)) & 3u;
    v[i] = (i < 4u ? s0 : s1) * (vec4(lo | (hi << 4u)) - 32.0);
  }
#elif defined(VKR_DTYPE_Q4_1)
  // {f16 d; f16 m; u8 qs[16]}: Q4_0's nibble order, x = d * q + m
  const float d = q_half(m, a), mn = q_half(m, a + 2u);
  for (uint i = 0u; i < 4u; ++i) {
    const uvec4 b = q_bytes(q_u32(m, a + 4u + 4u * i));
    v[i] = vec4(b & 0xFu) * d + mn;
    v[i + 4u] = vec4(b >> 4u) * d + mn;
  }
#elif defined(VKR_DTYPE_IQ4_NL)
  // {f16 d; u8 qs[16]}: Q4_0's nibble order through the non-linear code, x = d * value
  const float d = q_half(m, a);
  for (uint i = 0u; i < 4u; ++i) {
    const uvec4 b = q_bytes(q_u32(m, a + 2u + 4u * i));
    v[i] = d * iq4_values(b & 0xFu);
    v[i + 4u] = d * iq4_values(b >> 4u);
  }
#elif defined(VKR_DTYPE_IQ4_XS)
  // {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: run j as IQ4_NL from qs[16j, +16), scale
  // d * (ls - 32), ls = nibble j % 2 of scales_l[j / 2] | (bits 2j, 2j+1 of scales_h) << 4
  const uint j = u % 8u;
  const uint sh = (q_u32(m, a) >> 16u) >> (2u * j);
  const uint ls = ((q_u8(m, a + 4u + j / 2u) >> (4u * (j & 1u))) & 0xFu) | ((sh & 3u) << 4u);
  const float d = q_half(m, a) * float(int(ls) - 32);
  for (uint i = 0u; i < 4u; ++i) {
    const uvec4 b = q_bytes(q_u32(m, a + 8u + 16u * j + 4u * i));
    v[i] = d * iq4_values(b & 0xFu);
    v[i + 4u] = d * iq4_values(b >> 4u);
  }
#elif defined(VKR_DTYPE_Q2_K) || defined(VKR_DTYPE_Q3_K)
  // Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}, Q3_K {u8 hmask[32]; u8 qs[64]; u8
  // scales[12]; f16 d}: half n = j / 4, field f = j % 4: weight 32j + l (l < 32) is bits 2f,
  // 2f+1 of qs[32n + l]; scale 8n + 2f + l / 16. Q2_K: x = d * (sc & 15) * q - dmin * (sc >> 4);
  // Q3_K: bit 4n + f of hmask[l] clear subtracts 4, x = d * (scale - 32) * q.
  const uint j = u % 8u, n = j / 4u, f = j % 4u;
#if defined(VKR_DTYPE_Q2_K)
  const uint qs = a + 16u + 32u * n;
  const float d = q_half(m, a + 80u), dmin = q_half(m, a + 82u);
  const uint b0 = q_u8(m, a + 8u * n + 2u * f), b1 = q_u8(m, a + 8u * n + 2u * f + 1u);
  const vec2 dl = d * vec2(b0 & 0xFu, b1 & 0xFu), ml = dmin * vec2(b0 >> 4u, b1 >> 4u);
#else
  const uint qs = a + 32u + 32u * n;
  const float d = q_half(m, a + 108u);
  const vec2 dl = d * vec2(q3k_scale(m, a + 96u, 8u * n + 2u * f),
                           q3k_scale(m, a + 96u, 8u * n + 2u * f + 1u));
#endif
  for (uint i = 0u; i < 8u; ++i) {
    const uvec4 q = (q_bytes(q_u32(m, qs + 4u * i)) >> (2u * f)) & 3u;
    const uint k = i / 4u;  // first / second 16 weights
#if defined(VKR_DTYPE_Q2_K)
    v[i] = dl[k] * vec4(q) - ml[k];
#else
    const uvec4 h = (q_bytes(q_u32(m, a + 4u * i)) >> (4u * n + f)) & 1u;
    v[i] = dl[k] * (vec4(q) - 4.0 * vec4(1u - h));
#endif
  }
#elif defined(VKR_DTYPE_IQ2_XXS)
  // {f16 d; u16 qs[32]}: sub-block j = 8 bytes at 2 + 8j: 4 grid indices (bytes), then a u32
  // whose top 4 bits are the scale and whose 7-bit fields l are the sign indices of group l.
  const uint j = u % 8u, idx = q_u32(m, a + 2u + 8u * j), aux = q_u32(m, a + 6u + 8u * j);
  const float db = q_half(m, a) * (0.5 + float(aux >> 28u)) * 0.25;
  for (uint l = 0u; l < 4u; ++l) {
    iq_grid8((idx >> (8u * l)) & 0xFFu, iq_signs((aux >> (7u * l)) & 127u), db, v[2u * l],
             v[2u * l + 1u]);
  }
#elif defined(VKR_DTYPE_IQ2_XS)
  // {f16 d; u16 qs[32]; u8 scales[8]}: group l of sub-block j = qs[4j + l]: grid index (low 9
  // bits), sign index (high 7); scale nibble l / 2 of scales[j].
  const uint j = u % 8u, sc = q_u8(m, a + 66u + j);
  const float d = q_half(m, a);
  for (uint l = 0u; l < 4u; ++l) {
    const uint q = q_u16(m, a + 2u + 8u * j + 2u * l);
    const float db = d * (0.5 + float((sc >> (4u * (l / 2u))) & 0xFu)) * 0.25;
    iq_grid8(q & 511u, iq_signs(q >> 9u), db, v[2u * l], v[2u * l + 1u]);
  }
#elif defined(VKR_DTYPE_IQ2_S)
  // {f16 d; u8 qs[32]; u8 signs[32]; u8 qh[8]; u8 scales[8]}: group l of sub-block j: grid
  // index qs[4j + l] | bits 2l, 2l+1 of qh[j] << 8, signs[4j + l]; scale nibble l / 2 of scales[j].
  const uint j = u % 8u, sc = q_u8(m, a + 74u + j), qh = q_u8(m, a + 66u + j);
  const uint qs = q_u32(m, a + 2u + 4u * j), sg = q_u32(m, a + 34u + 4u * j);
  const float d = q_half(m, a);
  for (uint l = 0u; l < 4u; ++l) {
    const float db = d * (0.5 + float((sc >> (4u * (l / 2u))) & 0xFu)) * 0.25;
    const uint e = ((qs >> (8u * l)) & 0xFFu) | (((qh >> (2u * l)) & 3u) << 8u);
    iq_grid8(e, (sg >> (8u * l)) & 0xFFu, db, v[2u * l], v[2u * l + 1u]);
  }
#elif defined(VKR_DTYPE_IQ3_XXS)
  // {f16 d; u8 qs[64]; u32 scales_signs[8]}: 4-weight grid entries qs[8j + k]; the u32 of sub-
  // block j has the scale in its top 4 bits and the sign index of group l (8 weights) at 7l.
  const uint j = u % 8u, aux = q_u32(m, a + 66u + 4u * j);
  const float db = q_half(m, a) * (0.5 + float(aux >> 28u)) * 0.5;
  for (uint h = 0u; h < 2u; ++h) {
    const uint qs = q_u32(m, a + 2u + 8u * j + 4u * h);
    for (uint k = 0u; k < 2u; ++k) {
      const uint l = 2u * h + k, s = iq_signs((aux >> (7u * l)) & 127u);
      v[2u * l] = db * iq_grid4((qs >> (16u * k)) & 0xFFu, s & 0xFu);
      v[2u * l + 1u] = db * iq_grid4((qs >> (16u * k + 8u)) & 0xFFu, s >> 4u);
    }
  }
#elif defined(VKR_DTYPE_IQ3_S)
  // {f16 d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]}: 4-weight entries qs[8j + k] | bit k
  // of qh[j] << 8; signs[4j + l] for group l; scale 1 + 2 * nibble j % 2 of scales[j / 2].
  const uint j = u % 8u, qh = q_u8(m, a + 66u + j), sg = q_u32(m, a + 74u + 4u * j);
  const float db =
      q_half(m, a) * float(1u + 2u * ((q_u8(m, a + 106u + j / 2u) >> (4u * (j & 1u))) & 0xFu));
  for (uint h = 0u; h < 2u; ++h) {
    const uint qs = q_u32(m, a + 2u + 8u * j + 4u * h);
    for (uint k = 0u; k < 2u; ++k) {
      const uint l = 2u * h + k, s = (sg >> (8u * l)) & 0xFFu;
      const uint e0 = ((qs >> (16u * k)) & 0xFFu) | (((qh >> (2u * l)) & 1u) << 8u);
      const uint e1 = ((qs >> (16u * k + 8u)) & 0xFFu) | (((qh >> (2u * l + 1u)) & 1u) << 8u);
      v[2u * l] = db * iq_grid4(e0, s & 0xFu);
      v[2u * l + 1u] = db * iq_grid4(e1, s >> 4u);
    }
  }
#elif defined(VKR_DTYPE_IQ1_S) || defined(VKR_DTYPE_IQ1_M)
  // Grid entries of 8 signed values (-1, 0, 1) plus a shift of +-1/8, scaled.
  //   IQ1_S {f16 d; u8 qs[32]; u16 qh[8]}: group l of sub-block j: entry qs[4j + l] | bits 3l..3l+2
  //   of qh[j] << 8; scale d * (2 * (qh[j] >> 12 & 7) + 1); shift negative when qh[j] bit 15.
  //   IQ1_M {u8 qs[32]; u8 qh[16]; u16 scales[4]}: d is the f16 made of the top nibbles of the
  //   four scales words; group l: entry qs[4j + l] | (qh[2j + l / 2] >> 4 (l % 2) & 7) << 8, shift
  //   sign bit 3 of that nibble; 3-bit scales at 6 (j % 2) (groups 0, 1) and + 3 (2, 3) of
  //   scales[j / 2].
  const uint j = u % 8u;
#if defined(VKR_DTYPE_IQ1_S)
  const uint qh = q_u16(m, a + 34u + 2u * j), qs = q_u32(m, a + 2u + 4u * j);
  const float dl = q_half(m, a) * float(2u * ((qh >> 12u) & 7u) + 1u);
  const float delta = (qh & 0x8000u) != 0u ? -0.125 : 0.125;
#else
  const float d = iq1m_scale(m, a);
  const uint sc = q_u16(m, a + 48u + 2u * (j / 2u)) >> (6u * (j & 1u));
  const uint qh = q_u16(m, a + 32u + 2u * j), qs = q_u32(m, a + 4u * j);
#endif
  for (uint l = 0u; l < 4u; ++l) {
#if defined(VKR_DTYPE_IQ1_M)
    const uint nib = (qh >> (4u * l)) & 0xFu;  // qh[2j] nibbles for l = 0, 1; qh[2j + 1] for 2, 3
    const uint e = ((qs >> (8u * l)) & 0xFFu) | ((nib & 7u) << 8u);
    const float dl = d * float(2u * ((sc >> (3u * (l / 2u))) & 7u) + 1u);
    const float delta = (nib & 8u) != 0u ? -0.125 : 0.125;
#else
    const uint e = ((qs >> (8u * l)) & 0xFFu) | (((qh >> (3u * l)) & 7u) << 8u);
#endif
    const uvec2 g = q_grid_pair(Q_GRID_OFF + 2u * e);
    v[2u * l] = dl * (vec4(q_sbytes(g.x)) + delta);
    v[2u * l + 1u] = dl * (vec4(q_sbytes(g.y)) + delta);
  }
#endif
}

#endif
