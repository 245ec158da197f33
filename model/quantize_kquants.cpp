// quantize_kquants.cpp: the K-quant block encoders (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), step by step
// as ggml's reference quantizers (see quantize.cpp), and with an importance matrix as its
// quantize_row_<t>_impl: those choose the group scales differently (quantize_weighted.cpp) but
// store, requantize and pack the block as the reference path does, so both share that here.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "quantize_blocks.hpp"

namespace vkr::qblocks {

// The 12-byte scales field of Q4_K / Q5_K: eight 6-bit (scale, min) pairs. Pairs 0..3 take the
// low 6 bits of bytes 0..3 / 4..7; pairs 4..7 put their low 4 bits in bytes 8..11 and their top
// 2 bits in the spare top bits of bytes 0..7.
void pack_scale_mins(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls[j] >> 4) << 6));
      s[j] = static_cast<uint8_t>(s[j] | ((lm[j] >> 4) << 6));
    }
  }
}

namespace {

void unpack_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The reference scale choice of Q4_K (nmax 15) and Q5_K (nmax 31): per group of 32 a (scale, min)
// fit with weights |x| + rms, the scales and mins quantized to 6 bits against the super-block's
// largest. Returns the 6-bit codes, d and dmin; the group codes in L.
void k_fit_reference(const float* x, int nmax, uint8_t* ls, uint8_t* lm, float& d, float& dmin,
                     uint8_t* L) {
  const float rmin = nmax == 15 ? -1.f : -0.5f;
  const int nstep = nmax == 15 ? 20 : 15;
  std::array<float, 8> scales{};
  std::array<float, 8> mins{};
  std::array<float, 32> w{};
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xg = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[static_cast<size_t>(l)] = av_x + std::fabs(xg[l]);
    scales[static_cast<size_t>(j)] = fit_scale_min(
        32, nmax, xg, w.data(), L + 32 * j, &mins[static_cast<size_t>(j)], rmin, 0.1f, nstep);
    max_scale = std::max(max_scale, scales[static_cast<size_t>(j)]);
    max_min = std::max(max_min, mins[static_cast<size_t>(j)]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (size_t j = 0; j < 8; ++j) {
    // ggml stores nearest_int into a uint8_t before the clamp to 63.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest(inv_min * mins[j])));
  }
  d = max_scale / 63.f;
  dmin = max_min / 63.f;
}

// Shared part of Q4_K and Q5_K: the scales chosen (by the reference fit, or with importance
// weights), then d, dmin and the packed 6-bit pairs stored and every code recomputed from the
// stored (f16, 6-bit) values. Returns codes in L.
void k_scale_min(const float* x, const float* qw, int nmax, std::byte* out, uint8_t* L) {
  std::array<uint8_t, 8> ls{};
  std::array<uint8_t, 8> lm{};
  float d_block = 0;
  float m_block = 0;
  if (qw != nullptr) {
    k_fit_weighted(x, qw, nmax, ls.data(), lm.data(), d_block, m_block, L);
  } else {
    k_fit_reference(x, nmax, ls.data(), lm.data(), d_block, m_block, L);
  }
  std::array<uint8_t, 12> packed{};
  pack_scale_mins(ls.data(), lm.data(), packed.data());
  store_half(out, d_block);
  store_half(out + 2, m_block);
  std::memcpy(out + 4, packed.data(), packed.size());
  const float d_all = as_stored_half(d_block);
  const float m_all = as_stored_half(m_block);
  for (int j = 0; j < 8; ++j) {
    int sc = 0;
    int m = 0;
    unpack_scale_min(packed.data(), j, sc, m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = m_all * static_cast<float>(m);
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<uint8_t>(std::clamp(nearest((x[32 * j + i] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

// Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: x = d * sc * q - dmin * m; each 64 values
// share 32 bytes, the first 32 in the low nibbles.
void block_q4_k(const float* x, std::byte* out, const float* qw) {
  std::array<uint8_t, kQKK> L{};
  k_scale_min(x, qw, 15, out, L.data());
  std::byte* q = out + 16;
  for (int j = 0; j < kQKK; j += 64) {
    for (int l = 0; l < 32; ++l) {
      q[l] = b8(L[static_cast<size_t>(j + l)] | (L[static_cast<size_t>(j + l + 32)] << 4));
    }
    q += 32;
  }
}

// Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: as Q4_K with a 5th bit per value;
// value (64 c + l) puts it in bit 2c of qh[l], value (64 c + 32 + l) in bit 2c + 1.
void block_q5_k(const float* x, std::byte* out, const float* qw) {
  std::array<uint8_t, kQKK> L{};
  k_scale_min(x, qw, 31, out, L.data());
  std::array<uint8_t, 32> qh{};
  std::byte* ql = out + 48;
  for (int c = 0; c < 4; ++c) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[static_cast<size_t>(64 * c + j)];
      int l2 = L[static_cast<size_t>(64 * c + j + 32)];
      if (l1 > 15) {
        l1 -= 16;
        qh[static_cast<size_t>(j)] |= static_cast<uint8_t>(1u << (2 * c));
      }
      if (l2 > 15) {
        l2 -= 16;
        qh[static_cast<size_t>(j)] |= static_cast<uint8_t>(2u << (2 * c));
      }
      ql[j] = b8(l1 | (l2 << 4));
    }
    ql += 32;
  }
  std::memcpy(out + 16, qh.data(), qh.size());
}

// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: 16 groups of 16 with 8-bit scales,
// x = d * scale * (q - 32). Per 128 values: ql holds the low nibbles (values l and l + 64 in
// byte l, l + 32 and l + 96 in byte l + 32), qh the top 2 bits of l, l + 32, l + 64, l + 96.
// With importance, ggml's group fit weighs by qw alone (not qw * sqrt(sigma2 + x^2)).
void block_q6_k(const float* x, std::byte* out, const float* qw) {
  std::array<int8_t, kQKK> L{};
  std::array<float, 16> scales{};
  float max_scale = 0;
  float max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const float scale = fit_symmetric(16, 32, x + 16 * ib, L.data() + 16 * ib,
                                      qw != nullptr ? qw + 16 * ib : nullptr);
    scales[static_cast<size_t>(ib)] = scale;
    if (std::fabs(scale) > max_abs_scale) {
      max_abs_scale = std::fabs(scale);
      max_scale = scale;
    }
  }
  std::memset(out, 0, 210);
  if (max_abs_scale < kGroupMaxEps) return;  // all zeros: d = 0 and zero codes
  const float iscale = -128.f / max_scale;
  store_half(out + 208, 1 / iscale);
  const float d_all = as_stored_half(1 / iscale);
  std::array<int8_t, 16> sc{};
  for (size_t ib = 0; ib < 16; ++ib) {
    sc[ib] = static_cast<int8_t>(std::min(127, nearest(iscale * scales[ib])));
    out[192 + ib] = static_cast<std::byte>(sc[ib]);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(sc[static_cast<size_t>(j)]);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      const int l = std::clamp(nearest(x[16 * j + i] / d), -32, 31);
      L[static_cast<size_t>(16 * j + i)] = static_cast<int8_t>(l + 32);
    }
  }
  std::byte* ql = out;
  std::byte* qh = out + 128;
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const auto at = [&](int k) { return static_cast<int>(L[static_cast<size_t>(j + l + k)]); };
      ql[l] = b8((at(0) & 0xF) | ((at(64) & 0xF) << 4));
      ql[l + 32] = b8((at(32) & 0xF) | ((at(96) & 0xF) << 4));
      qh[l] = b8((at(0) >> 4) | ((at(32) >> 4) << 2) | ((at(64) >> 4) << 4) | ((at(96) >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

namespace {

// The 2-bit fields of Q2_K / Q3_K: per 128 values, value j + l + 32 f goes to bits 2f of byte
// j / 4 + l (l < 32).
void pack_2bit(const uint8_t* L, std::byte* qs) {
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const auto at = [&](int k) { return static_cast<int>(L[static_cast<size_t>(j + l + k)]); };
      qs[j / 4 + l] = b8(at(0) | (at(32) << 2) | (at(64) << 4) | (at(96) << 6));
    }
  }
}

}  // namespace

namespace {

// The reference scale choice of Q2_K: per 16 values a (scale, min) fit with weights |x| and
// absolute errors, both quantized to 4 bits against the super-block's largest (low nibble scale,
// high nibble min). Writes scales[16], d, dmin; the group codes into L.
void q2_k_fit_reference(const float* x, std::byte* out, uint8_t* L) {
  std::array<float, 16> scales{};
  std::array<float, 16> mins{};
  std::array<float, 16> w{};
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) w[static_cast<size_t>(l)] = std::fabs(x[16 * j + l]);
    const auto js = static_cast<size_t>(j);
    scales[js] = fit_scale_min(16, 3, x + 16 * j, w.data(), L + 16 * j, &mins[js], -0.5f, 0.1f, 15,
                               /*use_mad=*/true);
    max_scale = std::max(max_scale, scales[js]);
    max_min = std::max(max_min, mins[js]);
  }
  std::array<uint8_t, 16> sc{};
  if (max_scale > 0) {
    const float iscale = 15.f / max_scale;
    for (size_t j = 0; j < 16; ++j) sc[j] = static_cast<uint8_t>(nearest(iscale * scales[j]));
  }
  store_half(out + 80, max_scale > 0 ? max_scale / 15.f : 0.f);
  if (max_min > 0) {
    const float iscale = 15.f / max_min;
    for (size_t j = 0; j < 16; ++j) {
      sc[j] = static_cast<uint8_t>(sc[j] | (nearest(iscale * mins[j]) << 4));
    }
  }
  store_half(out + 82, max_min > 0 ? max_min / 15.f : 0.f);
  for (size_t j = 0; j < 16; ++j) out[j] = b8(sc[j]);
}

}  // namespace

// Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: the scales chosen (see q2_k_fit_reference and,
// with importance, q2_k_fit_weighted), then every code recomputed from the stored values.
void block_q2_k(const float* x, std::byte* out, const float* qw) {
  std::array<uint8_t, kQKK> L{};
  if (qw != nullptr) {
    q2_k_fit_weighted(x, qw, out, L.data());
  } else {
    q2_k_fit_reference(x, out, L.data());
  }
  const float d_all = half_to_float(load_u16(out + 80));
  const float m_all = half_to_float(load_u16(out + 82));
  for (int j = 0; j < 16; ++j) {
    const int sc = std::to_integer<int>(out[j]);
    const float d = d_all * static_cast<float>(sc & 0xF);
    if (d == 0.0f) continue;
    const float dm = m_all * static_cast<float>(sc >> 4);
    for (int i = 0; i < 16; ++i) {
      L[static_cast<size_t>(16 * j + i)] =
          static_cast<uint8_t>(std::clamp(nearest((x[16 * j + i] + dm) / d), 0, 3));
    }
  }
  pack_2bit(L.data(), out + 16);
}

namespace {

// The reference scale choice of Q3_K: per 16 values a symmetric 3-bit fit, the scales quantized to
// signed 6 bits (stored + 32) against the largest. Returns the block scale (0: all zero).
float q3_k_fit_reference(const float* x, uint8_t* l6, int8_t* L) {
  std::array<float, 16> scales{};
  float max_scale = 0;
  float amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[static_cast<size_t>(j)] = fit_q3(x + 16 * j, L + 16 * j);
    const float a = std::fabs(scales[static_cast<size_t>(j)]);
    if (a > amax) {
      amax = a;
      max_scale = scales[static_cast<size_t>(j)];
    }
  }
  if (max_scale == 0.0f) return 0.f;  // l6 stay 0
  const float iscale = -32.f / max_scale;
  for (size_t j = 0; j < 16; ++j) {
    // ggml keeps the rounded value in an int8_t before the clamp (|value| <= 32 here)
    const auto r = static_cast<int8_t>(nearest(iscale * scales[j]));
    l6[j] = static_cast<uint8_t>(std::clamp<int>(r, -32, 31) + 32);
  }
  return 1 / iscale;
}

}  // namespace

// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: the 16 group scales as 6-bit codes (see
// q3_k_fit_reference and, with importance, q3_k_fit_weighted; low nibbles in bytes 0..7, 2 high
// bits in bytes 8..11), codes recomputed from the stored values; the third bit of value j is bit
// j / 32 of hmask[j % 32], the low two bits go to qs as for Q2_K.
void block_q3_k(const float* x, std::byte* out, const float* qw) {
  std::array<int8_t, kQKK> L{};
  std::array<uint8_t, 16> l6{};
  const float d_block = qw != nullptr ? q3_k_fit_weighted(x, qw, l6.data(), L.data())
                                      : q3_k_fit_reference(x, l6.data(), L.data());
  std::array<uint8_t, 12> sb{};
  for (int j = 0; j < 16; ++j) {
    const int l = l6[static_cast<size_t>(j)];
    if (j < 8) {
      sb[static_cast<size_t>(j)] = static_cast<uint8_t>(l & 0xF);
    } else {
      sb[static_cast<size_t>(j - 8)] |= static_cast<uint8_t>((l & 0xF) << 4);
    }
    sb[static_cast<size_t>(8 + j % 4)] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
  }
  store_half(out + 108, d_block);
  std::memcpy(out + 96, sb.data(), sb.size());
  const float d_all = half_to_float(load_u16(out + 108));
  for (int j = 0; j < 16; ++j) {
    const int lo = j < 8 ? sb[static_cast<size_t>(j)] & 0xF : sb[static_cast<size_t>(j - 8)] >> 4;
    const int sc = (lo | (((sb[static_cast<size_t>(8 + j % 4)] >> (2 * (j / 4))) & 3) << 4)) - 32;
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      const int l = std::clamp(nearest(x[16 * j + i] / d), -4, 3);
      L[static_cast<size_t>(16 * j + i)] = static_cast<int8_t>(l + 4);
    }
  }
  std::array<uint8_t, kQKK> low{};
  std::array<uint8_t, 32> hmask{};
  for (int j = 0; j < kQKK; ++j) {
    int l = L[static_cast<size_t>(j)];
    if (l > 3) {
      hmask[static_cast<size_t>(j % 32)] |= static_cast<uint8_t>(1u << (j / 32));
      l -= 4;
    }
    low[static_cast<size_t>(j)] = static_cast<uint8_t>(l);
  }
  std::memcpy(out, hmask.data(), hmask.size());
  pack_2bit(low.data(), out + 32);
}

}  // namespace vkr::qblocks
