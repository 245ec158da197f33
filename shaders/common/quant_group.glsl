// quant_group.glsl: gemv_q's fast decoding of block-quantized weights (spec §6.3; quant.glsl is
// the general per-32-weight decoder, model/dequant.cpp the CPU twin) in GROUPS of blocks whose
// size is a multiple of 16 bytes: a group is fetched with a few uvec4 loads into registers and
// every field then sits at a compile-time byte offset, so decoding is constant shifts with no
// loads and no branches (CPU implementations pay per load instruction and per divergent branch;
// GPUs get wide loads). K-quant scales are extracted once per super-block (the unrolled blocks
// share the constant-offset bytes).
//   Q8_0 8 blocks = 272 B, Q4_0 / IQ4_NL 8 = 144 B, Q4_1 4 = 80 B, Q5_0 8 = 176 B, Q5_1 2 = 48 B,
//   Q4_K / Q5_K one super-block = 144 / 176 B: the group must start 16-byte aligned (host-
//   checked: row bytes, window offsets and K % QG_WEIGHTS). Q6_K (210 B), Q2_K (84), Q3_K (110)
//   and IQ4_XS (136) cannot be grouped to 16 bytes for common K, so a super-block at any even
//   byte is fetched from its aligned-down 16 bytes and realigned by a per-lane phase (selects and
//   funnel shifts, no branches). So are the codebook i-quants' super-blocks (IQ1_S 50 ... IQ3_S
//   110 bytes), decoded by quant.glsl's dequant_unit() from the registers (grid values from the
//   grid binding; a texel view in gemv_q_tex.comp, their only grouped build).
// The includer defines QG_SLOTS (groups held at once) and the w4 / wu4 / w / wu bindings
// (linear_io.glsl). qg_load(gq, mat, byte) fetches a group; qg_block(gq, b, q, sc) decodes its
// 32-weight block b: weight 4h + c = (sc.x (h < 4) or sc.y (h >= 4)) * q[h][c] + offset, where the
// offsets are sc.z / sc.w times 1 per weight (applied by the caller through the sums of x).
#ifndef VKR_QUANT_GROUP_GLSL
#define VKR_QUANT_GROUP_GLSL

#if defined(VKR_DTYPE_Q8_0)
#define QG_BLOCKS 8u
#define QG_VECS 17u
#elif defined(VKR_DTYPE_Q4_0)
#define QG_BLOCKS 8u
#define QG_VECS 9u
#elif defined(VKR_DTYPE_Q5_0)
#define QG_BLOCKS 8u
#define QG_VECS 11u
#elif defined(VKR_DTYPE_Q5_1)
#define QG_BLOCKS 2u
#define QG_VECS 3u
#elif defined(VKR_DTYPE_Q4_K)
#define QG_BLOCKS 8u
#define QG_VECS 9u
#elif defined(VKR_DTYPE_Q5_K)
#define QG_BLOCKS 8u
#define QG_VECS 11u
#elif defined(VKR_DTYPE_Q4_1)
#define QG_BLOCKS 4u
#define QG_VECS 5u
#elif defined(VKR_DTYPE_IQ4_NL)
#define QG_BLOCKS 8u
#define QG_VECS 9u
#else
// Super-blocks of 210 (Q6_K), 84 (Q2_K), 110 (Q3_K), 136 (IQ4_XS) bytes at any even byte:
// realigned in registers (see qg_load).
#define QG_REALIGN 1
#define QG_BLOCKS 8u
#if defined(VKR_DTYPE_Q6_K)
#define QG_BYTES 210u
#define QG_WORDS 53u  // realigned words: bytes [0, 212)
#elif defined(VKR_DTYPE_Q2_K)
#define QG_BYTES 84u
#define QG_WORDS 21u
#elif defined(VKR_DTYPE_Q3_K)
#define QG_BYTES 110u
#define QG_WORDS 28u  // bytes [0, 112)
#elif defined(VKR_DTYPE_IQ4_XS)
#define QG_BYTES 136u
#define QG_WORDS 34u
// The codebook i-quants: words = bytes rounded up to a word (the realigned tail is never read).
#elif defined(VKR_DTYPE_IQ2_XXS)
#define QG_BYTES 66u
#define QG_WORDS 17u
#elif defined(VKR_DTYPE_IQ2_XS)
#define QG_BYTES 74u
#define QG_WORDS 19u
#elif defined(VKR_DTYPE_IQ2_S)
#define QG_BYTES 82u
#define QG_WORDS 21u
#elif defined(VKR_DTYPE_IQ3_XXS)
#define QG_BYTES 98u
#define QG_WORDS 25u
#elif defined(VKR_DTYPE_IQ3_S)
#define QG_BYTES 110u
#define QG_WORDS 28u
#elif defined(VKR_DTYPE_IQ1_S)
#define QG_BYTES 50u
#define QG_WORDS 13u
#elif defined(VKR_DTYPE_IQ1_M)
#define QG_BYTES 56u
#define QG_WORDS 14u
#endif
#endif

#define QG_WEIGHTS (QG_BLOCKS * 32u)  // weights per group (host twin: gemv_q_group_weights)
#if !defined(QG_REALIGN)
#define QG_BYTES (QG_VECS * 16u)
#define QG_WORDS (QG_VECS * 4u)
#endif
#if defined(VKR_DTYPE_Q8_0) || defined(VKR_DTYPE_IQ4_NL) || defined(VKR_DTYPE_IQ4_XS) || \
    defined(Q_HAS_GRID)
#define QG_OFFSET 0  // no per-block offset: the sums of x are not needed
#else
#define QG_OFFSET 1
#endif

// Fields at byte o of a group held as words gq (o is a constant once the callers' loops unroll,
// so gq stays in registers: a function-local array, never indexed dynamically).
#define QG_ARRAY uint gq[QG_WORDS]
uint qg_byte(QG_ARRAY, uint o) { return (gq[o >> 2u] >> ((o & 3u) * 8u)) & 0xFFu; }
int qg_sbyte(QG_ARRAY, uint o) { return int(gq[o >> 2u] << (24u - (o & 3u) * 8u)) >> 24; }
float qg_half(QG_ARRAY, uint o) {  // o even
  return unpackHalf2x16(gq[o >> 2u] >> ((o & 2u) * 8u)).x;
}
uint qg_u32(QG_ARRAY, uint o) {  // o even
  const uint i = o >> 2u;
  return (o & 2u) == 0u ? gq[i] : (gq[i] >> 16u) | (gq[i + 1u] << 16u);
}

// Small unsigned quants to float through a SIGNED conversion: x86 before AVX-512 has no unsigned
// int -> float instruction, so llvmpipe emulates uint conversions with several operations.
vec4 qg_float(uvec4 v) { return vec4(ivec4(v)); }

// The field `mask` at bit `shift` of each of the 4 bytes of word w (one shift and one mask per
// weight; the top field of byte 3 needs no mask after constant folding).
uvec4 qg_fields(uint w, uint shift, uint mask) {
  return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & mask;
}

#if defined(VKR_LINEAR_TEX)
// gemv_q_tex.comp: w / wu are uniform texel buffers of uvec4 (llvmpipe: a vector load per lane
// instead of a scalar loop per lane and component). The host binds whole texels only.
uvec4 qg_vec(uint mat, uint i) {
  return mat == 0u ? texelFetch(wt, int(i)) : texelFetch(wut, int(i));
}
uint qg_word(uint mat, uint j) { return qg_vec(mat, j >> 2u)[j & 3u]; }
uint qg_last_word(uint mat) {
  return uint(mat == 0u ? textureSize(wt) : textureSize(wut)) * 4u - 1u;
}
#else
uvec4 qg_vec(uint mat, uint i) { return mat == 0u ? w4[i] : wu4[i]; }
uint qg_word(uint mat, uint j) { return mat == 0u ? w[j] : wu[j]; }
uint qg_last_word(uint mat) { return uint(mat == 0u ? w.length() : wu.length()) - 1u; }
#endif

// Fetches the group starting at byte `a` of matrix `mat` (16-byte aligned; Q6_K: even).
#if defined(QG_REALIGN)
#define QG_RAW_VECS (QG_BYTES / 16u)             // whole vectors inside [a & ~15, a + QG_BYTES)
#define QG_RAW_WORDS (QG_WORDS + 4u)             // phase e <= 3 plus the funnel's next word
#define QG_RAW_TAIL (QG_RAW_WORDS - 4u * QG_RAW_VECS)
#endif

void qg_load(out QG_ARRAY, uint mat, uint a) {
#if defined(QG_REALIGN)
  // Raw words from the aligned-down 16 bytes: the whole uvec4s that cannot leave the super-block
  // (16 (a / 16) + 16 QG_RAW_VECS <= a + QG_BYTES) plus single words, those clamped to the
  // binding (a super-block ending a row may end 2 bytes past a word: the binding's end is
  // rounded up to a word, never to 16 bytes, so one more uvec4 could fall outside it).
  const uint i = a >> 4u, e = (a >> 2u) & 3u, sh = (a & 2u) * 8u;
  uint raw[QG_RAW_WORDS];
  [[unroll]] for (uint v = 0u; v < QG_RAW_VECS; ++v) {
    const uvec4 q = qg_vec(mat, i + v);
    raw[4u * v] = q.x; raw[4u * v + 1u] = q.y; raw[4u * v + 2u] = q.z; raw[4u * v + 3u] = q.w;
  }
  const uint last = qg_last_word(mat);
  [[unroll]] for (uint k = 0u; k < QG_RAW_TAIL; ++k) {
    const uint j = min(4u * (i + QG_RAW_VECS) + k, last);
    raw[4u * QG_RAW_VECS + k] = qg_word(mat, j);
  }
  // Word k of the block = bytes [a + 4k, +4): raw words e + k and e + k + 1 shifted by sh bits
  // ((hi << (16 - sh)) << 16 is 0 for sh = 0 without a 32-bit shift).
  uint lo = e == 0u ? raw[0] : e == 1u ? raw[1] : e == 2u ? raw[2] : raw[3];
  [[unroll]] for (uint k = 0u; k < QG_WORDS; ++k) {
    const uint hi = e == 0u   ? raw[k + 1u]
                    : e == 1u ? raw[k + 2u]
                    : e == 2u ? raw[k + 3u]
                              : raw[k + 4u];
    gq[k] = (lo >> sh) | ((hi << (16u - sh)) << 16u);
    lo = hi;
  }
#else
  const uint i = a >> 4u;
  [[unroll]] for (uint v = 0u; v < QG_VECS; ++v) {
    const uvec4 q = qg_vec(mat, i + v);
    gq[4u * v] = q.x; gq[4u * v + 1u] = q.y; gq[4u * v + 2u] = q.z; gq[4u * v + 3u] = q.w;
  }
#endif
}

#if defined(VKR_DTYPE_Q3_K)
// Scale i of a Q3_K super-block (scales[12] at bytes 96..107), minus 32 (quant.glsl: q3k_scale).
float qg_q3k_scale(QG_ARRAY, uint i) {
  const uint lo = (qg_byte(gq, 96u + (i & 7u)) >> ((i >> 3u) * 4u)) & 0xFu;
  const uint hi = (qg_byte(gq, 104u + (i & 3u)) >> (2u * (i >> 2u))) & 3u;
  return float(int(lo | (hi << 4u)) - 32);
}
#endif

#if defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
// 6-bit (scale, min) of sub-block j from scales[12] at bytes 4..15.
vec2 qg_scale_min_k4(QG_ARRAY, uint j) {
  if (j < 4u) return vec2(ivec2(qg_byte(gq, 4u + j) & 63u, qg_byte(gq, 8u + j) & 63u));
  const uint b = qg_byte(gq, 8u + j);
  return vec2(ivec2((b & 0xFu) | ((qg_byte(gq, j) >> 6u) << 4u),
              (b >> 4u) | ((qg_byte(gq, 4u + j) >> 6u) << 4u)));
}
#endif

#if defined(Q_HAS_GRID)
// The codebook i-quants decode through quant.glsl's dequant_unit() (grid lookups, sign and scale
// fields), its words read from the group in registers: the includer's qw(QG_REGS, i) returns
// qg_regs[i] (constant indices once dequant_unit is inlined and unrolled).
#define QG_REGS 2u
uint qg_regs[QG_WORDS];
#endif

// Block b (32 weights) of the group in `slot`: quants q[8] and scales sc (see the header).
void qg_block(QG_ARRAY, uint b, out vec4 q[8], out vec4 sc) {
#if defined(Q_HAS_GRID)
  qg_regs = gq;
  dequant_unit(QG_REGS, 0u, b, q);  // the weights themselves, scales applied
  sc = vec4(1.0, 1.0, 0.0, 0.0);
#elif defined(VKR_DTYPE_Q8_0)
  const uint o = 34u * b;  // {f16 d; i8 qs[32]}
  const float d = qg_half(gq, o);
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    const uint a = o + 2u + 4u * h;
    q[h] = vec4(qg_sbyte(gq, a), qg_sbyte(gq, a + 1u), qg_sbyte(gq, a + 2u), qg_sbyte(gq, a + 3u));
  }
  sc = vec4(d, d, 0.0, 0.0);
#elif defined(VKR_DTYPE_Q4_0)
  const uint o = 18u * b;  // {f16 d; u8 qs[16]}: low nibbles weights 0..15, high 16..31
  const float d = qg_half(gq, o);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uint v = qg_u32(gq, o + 2u + 4u * h);
    q[h] = qg_float(qg_fields(v, 0u, 0xFu));
    q[h + 4u] = qg_float(qg_fields(v, 4u, 0xFu));
  }
  sc = vec4(d, d, -8.0 * d, -8.0 * d);
#elif defined(VKR_DTYPE_Q5_0) || defined(VKR_DTYPE_Q5_1)
#if defined(VKR_DTYPE_Q5_0)
  const uint o = 22u * b;  // {f16 d; u32 qh; u8 qs[16]}
  const float d = qg_half(gq, o), mn = -16.0 * d;
  const uint qh = qg_u32(gq, o + 2u), qs = o + 6u;
#else
  const uint o = 24u * b;  // {f16 d; f16 m; u32 qh; u8 qs[16]}
  const float d = qg_half(gq, o), mn = qg_half(gq, o + 2u);
  const uint qh = qg_u32(gq, o + 4u), qs = o + 8u;
#endif
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uint v = qg_u32(gq, qs + 4u * h);
    const uvec4 bit = uvec4(0u, 1u, 2u, 3u) + 4u * h;  // weight index: bit of qh
    q[h] = qg_float(qg_fields(v, 0u, 0xFu) | (((uvec4(qh) >> bit) & 1u) << 4u));
    q[h + 4u] = qg_float(qg_fields(v, 4u, 0xFu) | (((uvec4(qh) >> (bit + 16u)) & 1u) << 4u));
  }
  sc = vec4(d, d, mn, mn);
#elif defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
  // {f16 d; f16 dmin; u8 scales[12]; (Q5_K: u8 qh[32];) u8 qs[128]}: sub-block b in the low (b
  // even) or high (b odd) nibbles of qs[32 * (b / 2), +32); x = d*sc*q - dmin*mn.
  const vec2 sm = qg_scale_min_k4(gq, b);
  const float d = qg_half(gq, 0u) * sm.x, dm = -qg_half(gq, 2u) * sm.y;
#if defined(VKR_DTYPE_Q5_K)
  const uint qs = 48u + 32u * (b / 2u);
#else
  const uint qs = 16u + 32u * (b / 2u);
#endif
  const uint shift = (b & 1u) * 4u;
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    uvec4 v = qg_fields(qg_u32(gq, qs + 4u * h), shift, 0xFu);
#if defined(VKR_DTYPE_Q5_K)
    v |= qg_fields(qg_u32(gq, 16u + 4u * h), b, 1u) << 4u;  // bit b of qh[4h + c]
#endif
    q[h] = qg_float(v);
  }
  sc = vec4(d, d, dm, dm);
#elif defined(VKR_DTYPE_Q6_K)
  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: half n = b / 4, run r = b % 4: low 4 bits from
  // ql[64n + 32(r & 1) + l] (nibble r / 2), high 2 bits from qh[32n + l] bits 2r, 2r+1; scale
  // scales[8n + 2r + l / 16]; x = d * sc * (q - 32).
  const uint n = b / 4u, r = b % 4u;
  const float d = qg_half(gq, 208u);
  const uint ql = 64u * n + 32u * (r & 1u), qh = 128u + 32u * n;
  const float s0 = d * float(qg_sbyte(gq, 192u + 8u * n + 2u * r));
  const float s1 = d * float(qg_sbyte(gq, 193u + 8u * n + 2u * r));
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    const uvec4 lo = qg_fields(qg_u32(gq, ql + 4u * h), (r / 2u) * 4u, 0xFu);
    const uvec4 hi = qg_fields(qg_u32(gq, qh + 4u * h), 2u * r, 3u);
    q[h] = qg_float(lo | (hi << 4u));
  }
  sc = vec4(s0, s1, -32.0 * s0, -32.0 * s1);
#elif defined(VKR_DTYPE_Q4_1)
  const uint o = 20u * b;  // {f16 d; f16 m; u8 qs[16]}: Q4_0's order, x = d * q + m
  const float d = qg_half(gq, o), mn = qg_half(gq, o + 2u);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uint v = qg_u32(gq, o + 4u + 4u * h);
    q[h] = qg_float(qg_fields(v, 0u, 0xFu));
    q[h + 4u] = qg_float(qg_fields(v, 4u, 0xFu));
  }
  sc = vec4(d, d, mn, mn);
#elif defined(VKR_DTYPE_IQ4_NL)
  const uint o = 18u * b;  // {f16 d; u8 qs[16]}: Q4_0's order through the non-linear code
  const float d = qg_half(gq, o);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uint v = qg_u32(gq, o + 2u + 4u * h);
    q[h] = iq4_values(qg_fields(v, 0u, 0xFu));
    q[h + 4u] = iq4_values(qg_fields(v, 4u, 0xFu));
  }
  sc = vec4(d, d, 0.0, 0.0);
#elif defined(VKR_DTYPE_IQ4_XS)
  // {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: run b from qs[16b, +16)
  const uint sh = (gq[0] >> 16u) >> (2u * b);
  const uint ls = ((qg_byte(gq, 4u + b / 2u) >> (4u * (b & 1u))) & 0xFu) | ((sh & 3u) << 4u);
  const float dl = qg_half(gq, 0u) * float(int(ls) - 32);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uint v = gq[2u + 4u * b + h];
    q[h] = iq4_values(qg_fields(v, 0u, 0xFu));
    q[h + 4u] = iq4_values(qg_fields(v, 4u, 0xFu));
  }
  sc = vec4(dl, dl, 0.0, 0.0);
#elif defined(VKR_DTYPE_Q2_K) || defined(VKR_DTYPE_Q3_K)
  // half n = b / 4, field f = b % 4: weight 32b + l is bits 2f of qs[32n + l], scale 8n + 2f +
  // l / 16 (quant.glsl's dequant_unit has the details)
  const uint n = b / 4u, f = b % 4u;
#if defined(VKR_DTYPE_Q2_K)
  const float d = qg_half(gq, 80u), dmin = qg_half(gq, 82u);
  const uint b0 = qg_byte(gq, 8u * n + 2u * f), b1 = qg_byte(gq, 8u * n + 2u * f + 1u);
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    q[h] = qg_float(qg_fields(gq[4u + 8u * n + h], 2u * f, 3u));
  }
  sc = vec4(d * float(b0 & 0xFu), d * float(b1 & 0xFu), -dmin * float(b0 >> 4u),
            -dmin * float(b1 >> 4u));
#else
  const float d = qg_half(gq, 108u);
  const float s0 = d * qg_q3k_scale(gq, 8u * n + 2u * f);
  const float s1 = d * qg_q3k_scale(gq, 8u * n + 2u * f + 1u);
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    q[h] = qg_float(qg_fields(gq[8u + 8u * n + h], 2u * f, 3u) |
                    (qg_fields(gq[h], 4u * n + f, 1u) << 2u));
  }
  sc = vec4(s0, s1, -4.0 * s0, -4.0 * s1);
#endif
#endif
}

#endif
