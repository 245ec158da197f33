// quant_lane.glsl: gemv_q's GPU decoding of block-quantized weights (spec §6.3; quant.glsl is the
// general decoder, model/dequant.cpp the CPU twin) by LANE QUADS: the weights of a row are taken
// in chunks of 128, and lane l of a subgroup decodes weights [128c + 4l, +4) of chunk c. So the
// lanes of one load instruction read 128 consecutive x floats (one fully used 512-byte vec4 load)
// and neighbouring bytes of the quants. (Giving each lane whole 32-weight blocks instead makes
// every vec4 load of x touch 32 different 128-byte lines: measured on an H100, such a kernel was
// bound by those x loads, T = 8 as slow as 12 times T = 1.) A lane's 4 weights come from one
// 32-bit word of quants (and, for Q5_x / Q6_K, one word of high bits) plus its block's scales,
// which the 8 lanes of a block read at the same address (one transaction).
//   weight 4l + i of chunk c = sc.x * q[i] + sc.y
// Chunks past the row (K not a multiple of 128, legacy types only) are masked by the caller;
// ql_quad reads clamped addresses for them.
// The includer defines `uint qw(uint m, uint i)` (quant.glsl needs it too) and the w4 / wu4 uvec4
// views (linear_io.glsl); Q4_K / Q5_K headers are read as one uvec4 (16-byte aligned windows).
#ifndef VKR_QUANT_LANE_GLSL
#define VKR_QUANT_LANE_GLSL

// Last word of matrix m's binding (a realigned word may reach one word past a block's end).
uint ql_last(uint m) { return uint(m == 0u ? w.length() : wu.length()) - 1u; }

// 4 bytes at an even byte a, branch-free: lanes of one instruction sit at both parities.
uint ql_u32(uint m, uint a) {
  const uint i = a >> 2u;
  const uint lo = qw(m, i), hi = qw(m, min(i + 1u, ql_last(m)));
  return (a & 2u) == 0u ? lo : (lo >> 16u) | (hi << 16u);
}

uvec4 ql_vec(uint m, uint i) { return m == 0u ? w4[i] : wu4[i]; }

// The field `mask` at bit `shift` of each of the 4 bytes of word w.
uvec4 ql_fields(uint w, uint shift, uint mask) {
  return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & mask;
}
// Small unsigned fields (< 2^23) to float without a conversion instruction (GPUs convert ints at
// a fraction of the FMA rate, and this is the per-weight path): the bits of 2^23 + v, minus 2^23,
// both exact.
vec4 ql_float(uvec4 v) { return uintBitsToFloat(v | 0x4B000000u) - 8388608.0; }

#if defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
// 6-bit (scale, min) of sub-block j from the header (hdr.y, z, w = scales[0..3], [4..7], [8..11]).
vec2 ql_scale_min_k4(uvec4 hdr, uint j) {
  const uint sh = (j & 3u) * 8u;
  const uint b0 = (hdr.y >> sh) & 0xFFu, b1 = (hdr.z >> sh) & 0xFFu, b2 = (hdr.w >> sh) & 0xFFu;
  const uvec2 lo = uvec2(b0 & 63u, b1 & 63u);
  const uvec2 hi = uvec2((b2 & 0xFu) | ((b0 >> 6u) << 4u), (b2 >> 4u) | ((b1 >> 6u) << 4u));
  return vec2(j < 4u ? lo : hi);
}
#endif

// Weights [128c + 4l, +4) of the row starting at byte `row` of matrix m (K weights per row) as
// sc.x * q + sc.y.
void ql_quad(uint m, uint row, uint K, uint c, uint l, out vec4 q, out vec2 sc) {
#if defined(Q_HAS_GRID)
  // The codebook i-quants (quant.glsl's dequant_unit has the layouts): super-block c / 2, its
  // sub-block j = 4 (c & 1) + l / 8; the lane's 4 weights are half h of 8-weight group g (one grid
  // word of an 8-value entry), or 4-value entry k = 2g + h (IQ3).
  const uint s = min(c >> 1u, K / 256u - 1u), j = 4u * (c & 1u) + (l >> 3u);
  const uint o = 4u * (l & 7u), g = o >> 3u, h = (o >> 2u) & 1u, k = 2u * g + h;
  const uint a = row + Q_BLOCK_BYTES * s;
#if defined(VKR_DTYPE_IQ2_XXS)
  const uint aux = ql_u32(m, a + 6u + 8u * j), e = q_u8(m, a + 2u + 8u * j + g);
  q = iq_grid4(2u * e + h, (iq_signs((aux >> (7u * g)) & 127u) >> (4u * h)) & 0xFu);
  sc = vec2(q_half(m, a) * (0.5 + float(aux >> 28u)) * 0.25, 0.0);
#elif defined(VKR_DTYPE_IQ2_XS) || defined(VKR_DTYPE_IQ2_S)
#if defined(VKR_DTYPE_IQ2_XS)
  const uint v = q_u16(m, a + 2u + 8u * j + 2u * g), e = v & 511u, sg = iq_signs(v >> 9u);
  const uint sc4 = q_u8(m, a + 66u + j);
#else
  const uint e = q_u8(m, a + 2u + 4u * j + g) | (((q_u8(m, a + 66u + j) >> (2u * g)) & 3u) << 8u);
  const uint sg = q_u8(m, a + 34u + 4u * j + g), sc4 = q_u8(m, a + 74u + j);
#endif
  q = iq_grid4(2u * e + h, (sg >> (4u * h)) & 0xFu);
  sc = vec2(q_half(m, a) * (0.5 + float((sc4 >> (4u * (g >> 1u))) & 0xFu)) * 0.25, 0.0);
#elif defined(VKR_DTYPE_IQ3_XXS)
  const uint aux = ql_u32(m, a + 66u + 4u * j), e = q_u8(m, a + 2u + 8u * j + k);
  q = iq_grid4(e, (iq_signs((aux >> (7u * g)) & 127u) >> (4u * h)) & 0xFu);
  sc = vec2(q_half(m, a) * (0.5 + float(aux >> 28u)) * 0.5, 0.0);
#elif defined(VKR_DTYPE_IQ3_S)
  const uint e = q_u8(m, a + 2u + 8u * j + k) | (((q_u8(m, a + 66u + j) >> k) & 1u) << 8u);
  q = iq_grid4(e, (q_u8(m, a + 74u + 4u * j + g) >> (4u * h)) & 0xFu);
  const uint ls = (q_u8(m, a + 106u + j / 2u) >> (4u * (j & 1u))) & 0xFu;
  sc = vec2(q_half(m, a) * float(1u + 2u * ls), 0.0);
#else
  // IQ1_S / IQ1_M: signed entries plus a shift of +-1/8 (folded into q), times the scale
#if defined(VKR_DTYPE_IQ1_S)
  const uint qh = q_u16(m, a + 34u + 2u * j);
  const uint e = q_u8(m, a + 2u + 4u * j + g) | (((qh >> (3u * g)) & 7u) << 8u);
  const float dl = q_half(m, a) * float(2u * ((qh >> 12u) & 7u) + 1u);
  const bool neg = (qh & 0x8000u) != 0u;
#else
  const uint nib = (q_u16(m, a + 32u + 2u * j) >> (4u * g)) & 0xFu;
  const uint e = q_u8(m, a + 4u * j + g) | ((nib & 7u) << 8u);
  const uint ls = (q_u16(m, a + 48u + 2u * (j / 2u)) >> (6u * (j & 1u) + 3u * (g >> 1u))) & 7u;
  const float dl = iq1m_scale(m, a) * float(2u * ls + 1u);
  const bool neg = (nib & 8u) != 0u;
#endif
  q = vec4(q_sbytes(q_grid_word(Q_GRID_OFF + 2u * e + h))) + (neg ? -0.125 : 0.125);
  sc = vec2(dl, 0.0);
#endif
#elif defined(VKR_DTYPE_Q2_K) || defined(VKR_DTYPE_Q3_K) || defined(VKR_DTYPE_Q4_K) || \
    defined(VKR_DTYPE_Q5_K) || defined(VKR_DTYPE_Q6_K) || defined(VKR_DTYPE_IQ4_XS)
  // half c & 1 of super-block c / 2; lane l: 32-weight run l / 8 of the half, word l % 8 of it
  const uint s = min(c >> 1u, K / 256u - 1u), hf = c & 1u, r = l >> 3u, o = 4u * (l & 7u);
#if defined(VKR_DTYPE_Q2_K)
  // {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: bits 2r of qs[32hf + o..], scale byte
  // 8hf + 2r + o / 16 (low nibble scale, high nibble min)
  const uint a = row + 84u * s;
  const uint sb = q_u8(m, a + 8u * hf + 2u * r + o / 16u);
  q = ql_float(ql_fields(ql_u32(m, a + 16u + 32u * hf + o), 2u * r, 3u));
  sc = vec2(q_half(m, a + 80u) * float(sb & 0xFu), -q_half(m, a + 82u) * float(sb >> 4u));
#elif defined(VKR_DTYPE_Q3_K)
  // {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: bits 2r of qs[32hf + o..], bit 4hf + r of
  // hmask[o..] (q = low | high << 2, minus 4), scale 8hf + 2r + o / 16
  const uint a = row + 110u * s;
  const uvec4 lo = ql_fields(ql_u32(m, a + 32u + 32u * hf + o), 2u * r, 3u);
  const uvec4 hb = ql_fields(ql_u32(m, a + o), 4u * hf + r, 1u);
  q = ql_float(lo | (hb << 2u));
  const float scl = q_half(m, a + 108u) * q3k_scale(m, a + 96u, 8u * hf + 2u * r + o / 16u);
  sc = vec2(scl, -4.0 * scl);
#elif defined(VKR_DTYPE_IQ4_XS)
  // {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: run ib = 4hf + r takes the low (o < 16)
  // / high nibbles of qs[16ib + o % 16..]
  const uint a = row + 136u * s, ib = 4u * hf + r;
  const uint sh = (ql_u32(m, a) >> 16u) >> (2u * ib);
  const uint ls = ((q_u8(m, a + 4u + ib / 2u) >> (4u * (ib & 1u))) & 0xFu) | ((sh & 3u) << 4u);
  q = iq4_values(ql_fields(ql_u32(m, a + 8u + 16u * ib + (o & 15u)), (o >> 4u) * 4u, 0xFu));
  sc = vec2(q_half(m, a) * float(int(ls) - 32), 0.0);
#elif defined(VKR_DTYPE_Q6_K)
  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} at any even byte: run r of half hf takes the
  // low (r < 2) / high nibbles of ql[64hf + 32(r & 1) + o..], bits 2r of qh[32hf + o..],
  // scale scales[8hf + o / 16 + 2r].
  const uint a = row + 210u * s;
  const uint lq = ql_u32(m, a + 64u * hf + 32u * (r & 1u) + o);
  const uint hq = ql_u32(m, a + 128u + 32u * hf + o);
  const float d = q_half(m, a + 208u);
  const float scl = d * float(int(q_u8(m, a + 192u + 8u * hf + o / 16u + 2u * r) << 24u) >> 24);
  q = ql_float(ql_fields(lq, (r >> 1u) * 4u, 0xFu) | (ql_fields(hq, 2u * r, 3u) << 4u));
  sc = vec2(scl, -32.0 * scl);
#else
  // {f16 d; f16 dmin; u8 scales[12]; (Q5_K: u8 qh[32];) u8 qs[128]}: sub-block j = 4hf + r, in
  // the low (j even) / high nibbles of qs[32 (j / 2) + o..]; Q5_K: bit j of qh[o..].
  const uint j = 4u * hf + r;
#if defined(VKR_DTYPE_Q5_K)
  const uint v0 = (row >> 4u) + 11u * s, qs0 = 12u;
#else
  const uint v0 = (row >> 4u) + 9u * s, qs0 = 4u;
#endif
  const uvec4 hdr = ql_vec(m, v0);
  const uint qs = qw(m, 4u * v0 + qs0 + 8u * (j >> 1u) + (l & 7u));
  uvec4 v = ql_fields(qs, (j & 1u) * 4u, 0xFu);
#if defined(VKR_DTYPE_Q5_K)
  v |= ql_fields(qw(m, 4u * v0 + 4u + (l & 7u)), j, 1u) << 4u;
#endif
  const vec2 dm = unpackHalf2x16(hdr.x), sm = ql_scale_min_k4(hdr, j);
  q = ql_float(v);
  sc = vec2(dm.x * sm.x, -dm.y * sm.y);
#endif
#else
  // legacy: block b = 4c + l / 8 (32 weights), lane quad j = l % 8 of it
  const uint b = min(4u * c + (l >> 3u), K / 32u - 1u), j = l & 7u;
#if defined(VKR_DTYPE_Q8_0)
  const uint a = row + 34u * b;  // {f16 d; i8 qs[32]}
  const float d = q_half(m, a);
  // signed bytes biased to unsigned (xor 0x80), then the exact float trick
  q = uintBitsToFloat(ql_fields(ql_u32(m, a + 2u + 4u * j) ^ 0x80808080u, 0u, 0xFFu) |
                      0x4B000000u) - 8388736.0;
  sc = vec2(d, 0.0);
#elif defined(VKR_DTYPE_Q4_0)
  const uint a = row + 18u * b;  // {f16 d; u8 qs[16]}: weights 0..15 low nibbles, 16..31 high
  const float d = q_half(m, a);
  q = ql_float(ql_fields(ql_u32(m, a + 2u + 4u * (j & 3u)), (j >> 2u) * 4u, 0xFu));
  sc = vec2(d, -8.0 * d);
#elif defined(VKR_DTYPE_Q4_1)
  const uint a = row + 20u * b;  // {f16 d; f16 m; u8 qs[16]}: Q4_0's order, x = d * q + m
  q = ql_float(ql_fields(ql_u32(m, a + 4u + 4u * (j & 3u)), (j >> 2u) * 4u, 0xFu));
  sc = vec2(q_half(m, a), q_half(m, a + 2u));
#elif defined(VKR_DTYPE_IQ4_NL)
  const uint a = row + 18u * b;  // {f16 d; u8 qs[16]}: Q4_0's order through the code
  q = iq4_values(ql_fields(ql_u32(m, a + 2u + 4u * (j & 3u)), (j >> 2u) * 4u, 0xFu));
  sc = vec2(q_half(m, a), 0.0);
#else
#if defined(VKR_DTYPE_Q5_0)
  const uint a = row + 22u * b;  // {f16 d; u32 qh; u8 qs[16]}
  const float d = q_half(m, a), mn = -16.0 * d;
  const uint qh = ql_u32(m, a + 2u), qs = a + 6u;
#else
  const uint a = row + 24u * b;  // {f16 d; f16 m; u32 qh; u8 qs[16]}
  const float d = q_half(m, a), mn = q_half(m, a + 2u);
  const uint qh = ql_u32(m, a + 4u), qs = a + 8u;
#endif
  // weights 4j + i: nibble j / 4 of qs[4 (j % 4) + i], 5th bit = bit 4j + i of qh
  const uvec4 hb = (uvec4(qh) >> (uvec4(0u, 1u, 2u, 3u) + 4u * j)) & 1u;
  q = ql_float(ql_fields(ql_u32(m, qs + 4u * (j & 3u)), (j >> 2u) * 4u, 0xFu) | (hb << 4u));
  sc = vec2(d, mn);
#endif
#endif
}


// ---- Whole blocks per lane (gemv_q LAYOUT 1 at T = 1) ----
// ql_unit: lane unit u = 32 weights of a row as two runs of 16 at row positions ql_runs(u):
// legacy types one block (quants fetched as realigned words), Q4_K / Q5_K 16 bytes of quants
// (lane u % 8 of super-block u / 8: one uvec4, plus the uvec4 header and, for Q5_K, a uvec4 of
// qh), Q6_K 16 bytes of ql and 16 of qh (realigned words). Fewer, wider loads per weight than
// ql_quad (measured faster at T = 1 on an H100: 76 vs 124 us for Q4_K 5120 x 5120), but each
// lane's x runs are 64-128 bytes apart from its neighbours', so every vec4 load of x touches
// many lines: at T = 8 it was 2-5x slower than ql_quad, which therefore takes T >= 2.
//   weight 4h + c of the unit (h < 4: first run, h >= 4: second) = sc.x|sc.y * q[h][c] + sc.z|sc.w.

// n words of bytes [a, a + 4n) at an even byte a (n + 1 word loads, funnel-shifted by 16 bits
// when a % 4 == 2; a macro: the destination arrays differ in size).
#define QL_FETCH(m, a, dst, n)                            \
  {                                                       \
    const uint i0_ = (a) >> 2u, last_ = ql_last(m);       \
    const bool odd_ = ((a) & 2u) != 0u;                   \
    uint lo_ = qw(m, i0_);                                \
    [[unroll]] for (uint k_ = 0u; k_ < (n); ++k_) {       \
      const uint hi_ = qw(m, min(i0_ + k_ + 1u, last_));  \
      dst[k_] = odd_ ? (lo_ >> 16u) | (hi_ << 16u) : lo_; \
      lo_ = hi_;                                          \
    }                                                     \
  }

uvec2 ql_runs(uint u) {
#if defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
  // lane i of super-block s: qs[16i, +16) = sub-blocks 2p (low nibbles) and 2p + 1 (high) at
  // positions 16 (i & 1), p = i / 2
  const uint s = u >> 3u, i = u & 7u;
  const uint k = 256u * s + 64u * (i >> 1u) + 16u * (i & 1u);
  return uvec2(k, k + 32u);
#elif defined(VKR_DTYPE_Q6_K)
  // lane i = 4n + 2s2 + mm of super-block s: ql[64n + 32s2 + 16mm, +16) low nibbles -> weights
  // 128n + 32s2 + 16mm + l, high nibbles -> the same + 64
  const uint s = u >> 3u, i = u & 7u;
  const uint k = 256u * s + 128u * (i >> 2u) + 32u * ((i >> 1u) & 1u) + 16u * (i & 1u);
  return uvec2(k, k + 64u);
#elif defined(VKR_DTYPE_Q2_K) || defined(VKR_DTYPE_Q3_K)
  // lane i = 4n + 2hh + jj of super-block s: qs[32n + 16hh, +16), 2-bit fields 2jj (weights
  // 128n + 64jj + 16hh + l) and 2jj + 1 (the same + 32)
  const uint s = u >> 3u, i = u & 7u;
  const uint k = 256u * s + 128u * (i >> 2u) + 64u * (i & 1u) + 16u * ((i >> 1u) & 1u);
  return uvec2(k, k + 32u);
#elif defined(VKR_DTYPE_IQ4_XS)
  return uvec2(32u * u, 32u * u + 16u);  // run u % 8 of super-block u / 8: low, high nibbles
#else
  return uvec2(32u * u, 32u * u + 16u);  // block u: weights 0..15, 16..31
#endif
}

void ql_unit(uint m, uint row, uint u, out vec4 q[8], out vec4 sc) {
#if defined(Q_HAS_GRID)
  // the codebook i-quants: sub-block u (32 weights in order, ql_runs' default) decoded with its
  // scales by quant.glsl
  dequant_unit(m, row, u, q);
  sc = vec4(1.0, 1.0, 0.0, 0.0);
#elif defined(VKR_DTYPE_Q8_0)
  const uint a = row + 34u * u;  // {f16 d; i8 qs[32]}
  uint v[8];
  QL_FETCH(m, a + 2u, v, 8u);
  const float d = q_half(m, a);
  [[unroll]] for (uint h = 0u; h < 8u; ++h) {
    q[h] = uintBitsToFloat(ql_fields(v[h] ^ 0x80808080u, 0u, 0xFFu) | 0x4B000000u) - 8388736.0;
  }
  sc = vec4(d, d, 0.0, 0.0);
#elif defined(VKR_DTYPE_Q4_0)
  const uint a = row + 18u * u;  // {f16 d; u8 qs[16]}
  uint v[4];
  QL_FETCH(m, a + 2u, v, 4u);
  const float d = q_half(m, a);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = ql_float(ql_fields(v[h], 0u, 0xFu));
    q[h + 4u] = ql_float(ql_fields(v[h], 4u, 0xFu));
  }
  sc = vec4(d, d, -8.0 * d, -8.0 * d);
#elif defined(VKR_DTYPE_Q5_0) || defined(VKR_DTYPE_Q5_1)
  uint v[5];  // qh, qs[16]
#if defined(VKR_DTYPE_Q5_0)
  const uint a = row + 22u * u;  // {f16 d; u32 qh; u8 qs[16]}
  QL_FETCH(m, a + 2u, v, 5u);
  const float d = q_half(m, a), mn = -16.0 * d;
#else
  const uint a = row + 24u * u;  // {f16 d; f16 m; u32 qh; u8 qs[16]}
  QL_FETCH(m, a + 4u, v, 5u);
  const float d = q_half(m, a), mn = q_half(m, a + 2u);
#endif
  const uint qh = v[0];
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    const uvec4 bit = uvec4(0u, 1u, 2u, 3u) + 4u * h;  // weight index: bit of qh
    q[h] = ql_float(ql_fields(v[h + 1u], 0u, 0xFu) | (((uvec4(qh) >> bit) & 1u) << 4u));
    q[h + 4u] = ql_float(ql_fields(v[h + 1u], 4u, 0xFu) | (((uvec4(qh) >> (bit + 16u)) & 1u) << 4u));
  }
  sc = vec4(d, d, mn, mn);
#elif defined(VKR_DTYPE_Q4_K) || defined(VKR_DTYPE_Q5_K)
  const uint s = u >> 3u, i = u & 7u, j = 2u * (i >> 1u);
#if defined(VKR_DTYPE_Q5_K)
  const uint v0 = (row >> 4u) + 11u * s;
  const uvec4 hdr = ql_vec(m, v0), qs = ql_vec(m, v0 + 3u + i), qh = ql_vec(m, v0 + 1u + (i & 1u));
#else
  const uint v0 = (row >> 4u) + 9u * s;
  const uvec4 hdr = ql_vec(m, v0), qs = ql_vec(m, v0 + 1u + i);
#endif
  const vec2 dm = unpackHalf2x16(hdr.x);
  const vec2 s0 = ql_scale_min_k4(hdr, j), s1 = ql_scale_min_k4(hdr, j + 1u);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    uvec4 lo = ql_fields(qs[h], 0u, 0xFu), hi = ql_fields(qs[h], 4u, 0xFu);
#if defined(VKR_DTYPE_Q5_K)
    lo |= ql_fields(qh[h], j, 1u) << 4u;  // bit j of qh[16 (i & 1) + 4h + c]
    hi |= ql_fields(qh[h], j + 1u, 1u) << 4u;
#endif
    q[h] = ql_float(lo);
    q[h + 4u] = ql_float(hi);
  }
  sc = vec4(dm.x * s0.x, dm.x * s1.x, -dm.y * s0.y, -dm.y * s1.y);
#elif defined(VKR_DTYPE_Q6_K)
  const uint s = u >> 3u, i = u & 7u, n = i >> 2u, s2 = (i >> 1u) & 1u, mm = i & 1u;
  const uint a = row + 210u * s;
  uint lq[4], hq[4];
  QL_FETCH(m, a + 64u * n + 32u * s2 + 16u * mm, lq, 4u);
  QL_FETCH(m, a + 128u + 32u * n + 16u * mm, hq, 4u);
  const uint so = a + 192u + 8u * n + mm + 2u * s2;
  const float d = q_half(m, a + 208u);
  const float sl = d * float(int(q_u8(m, so) << 24u) >> 24);
  const float sh = d * float(int(q_u8(m, so + 4u) << 24u) >> 24);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = ql_float(ql_fields(lq[h], 0u, 0xFu) | (ql_fields(hq[h], 2u * s2, 3u) << 4u));
    q[h + 4u] = ql_float(ql_fields(lq[h], 4u, 0xFu) | (ql_fields(hq[h], 4u + 2u * s2, 3u) << 4u));
  }
  sc = vec4(sl, sh, -32.0 * sl, -32.0 * sh);
#elif defined(VKR_DTYPE_Q4_1) || defined(VKR_DTYPE_IQ4_NL)
#if defined(VKR_DTYPE_Q4_1)
  const uint a = row + 20u * u;  // {f16 d; f16 m; u8 qs[16]}
  uint v[4];
  QL_FETCH(m, a + 4u, v, 4u);
  const float d = q_half(m, a);
  sc = vec4(d, d, q_half(m, a + 2u), q_half(m, a + 2u));
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = ql_float(ql_fields(v[h], 0u, 0xFu));
    q[h + 4u] = ql_float(ql_fields(v[h], 4u, 0xFu));
  }
#else
  const uint a = row + 18u * u;  // {f16 d; u8 qs[16]}
  uint v[4];
  QL_FETCH(m, a + 2u, v, 4u);
  const float d = q_half(m, a);
  sc = vec4(d, d, 0.0, 0.0);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = iq4_values(ql_fields(v[h], 0u, 0xFu));
    q[h + 4u] = iq4_values(ql_fields(v[h], 4u, 0xFu));
  }
#endif
#elif defined(VKR_DTYPE_IQ4_XS)
  const uint s = u >> 3u, i = u & 7u, a = row + 136u * s;
  uint v[4];
  QL_FETCH(m, a + 8u + 16u * i, v, 4u);
  const uint sh = (ql_u32(m, a) >> 16u) >> (2u * i);
  const uint ls = ((q_u8(m, a + 4u + i / 2u) >> (4u * (i & 1u))) & 0xFu) | ((sh & 3u) << 4u);
  const float dl = q_half(m, a) * float(int(ls) - 32);
  sc = vec4(dl, dl, 0.0, 0.0);
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = iq4_values(ql_fields(v[h], 0u, 0xFu));
    q[h + 4u] = iq4_values(ql_fields(v[h], 4u, 0xFu));
  }
#elif defined(VKR_DTYPE_Q2_K) || defined(VKR_DTYPE_Q3_K)
  // see ql_runs: fields f0 = 2jj and f0 + 1 of qs[32n + 16hh, +16); scales 8n + 2f0 + hh, + 2
  const uint s = u >> 3u, i = u & 7u, n = i >> 2u, hh = (i >> 1u) & 1u, f0 = 2u * (i & 1u);
  const uint i0 = 8u * n + 2u * f0 + hh;
  uint v[4];
#if defined(VKR_DTYPE_Q2_K)
  const uint a = row + 84u * s;
  QL_FETCH(m, a + 16u + 32u * n + 16u * hh, v, 4u);
  const float d = q_half(m, a + 80u), dmin = q_half(m, a + 82u);
  const uint b0 = q_u8(m, a + i0), b1 = q_u8(m, a + i0 + 2u);
  sc = vec4(d * float(b0 & 0xFu), d * float(b1 & 0xFu), -dmin * float(b0 >> 4u),
            -dmin * float(b1 >> 4u));
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = ql_float(ql_fields(v[h], 2u * f0, 3u));
    q[h + 4u] = ql_float(ql_fields(v[h], 2u * f0 + 2u, 3u));
  }
#else
  const uint a = row + 110u * s;
  uint hv[4];
  QL_FETCH(m, a + 32u + 32u * n + 16u * hh, v, 4u);
  QL_FETCH(m, a + 16u * hh, hv, 4u);
  const float d = q_half(m, a + 108u);
  const float s0 = d * q3k_scale(m, a + 96u, i0), s1 = d * q3k_scale(m, a + 96u, i0 + 2u);
  sc = vec4(s0, s1, -4.0 * s0, -4.0 * s1);
  const uint hb = 4u * n + f0;
  [[unroll]] for (uint h = 0u; h < 4u; ++h) {
    q[h] = ql_float(ql_fields(v[h], 2u * f0, 3u) | (ql_fields(hv[h], hb, 1u) << 2u));
    q[h + 4u] = ql_float(ql_fields(v[h], 2u * f0 + 2u, 3u) | (ql_fields(hv[h], hb + 1u, 1u) << 2u));
  }
#endif
#endif
}

#endif
