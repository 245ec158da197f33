// quantize_kquants.cpp: the K-quant block encoders (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), step by step
// as ggml's reference quantizers (see quantize.cpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "quantize_blocks.hpp"

namespace vkr::qblocks {
namespace {

// ---- K-quant helpers ---------------------------------------------------------------------------

// Scale and minimum of one group of `n` values with codes 0..nmax, fitted by weighted least
// squares over a grid of trial scales (ggml's make_qkx2_quants): first the plain min / max fit,
// then for each trial inverse scale (rmin + rdelta * is + nmax) / (max - min) the codes are
// rounded and the best (scale, min) for those codes solved in closed form; the trial with the
// smallest weighted squared (use_mad: absolute) error wins. Returns the scale; *neg_min gets -min
// (>= 0).
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    float rmin, float rdelta, int nstep, bool use_mad = false) {
  // The error of one value: squared, or absolute (Q2_K, whose 2-bit codes a few outliers would
  // otherwise dominate).
  const auto err = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest(iscale * (x[i] - min)), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    const float diff = err(scale * static_cast<float>(l) + min - x[i]);
    best_error += w[i] * diff;
  }
  std::array<uint8_t, 32> trial{};
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest(iscale * (x[i] - min)), 0, nmax);
      trial[static_cast<size_t>(i)] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff =
            err(this_scale * static_cast<float>(trial[static_cast<size_t>(i)]) + this_min - x[i]);
        cur_error += w[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(trial.begin(), trial.begin() + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric scale of one group with codes -nmax..nmax-1 stored as 0..2 nmax - 1, weights x^2
// (ggml's make_qx_quants, rmse_type 1): the scale from the extreme value, then 18 trial scales
// around it, keeping the one with the best weighted least-squares fit. Returns the scale
// (negative when the extreme value is positive: code 0 is the extreme).
float fit_symmetric(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto codes = [&](float iscale, float& sumlx, float& suml2, bool store) {
    sumlx = 0;
    suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(l);
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
  };
  float sumlx = 0;
  float suml2 = 0;
  codes(static_cast<float>(-nmax) / max, sumlx, suml2, true);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    codes(iscale, sumlx, suml2, false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      codes(iscale, sumlx, suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

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
void unpack_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Shared part of Q4_K and Q5_K: per group of 32 a (scale, min) fit with weights |x| + rms, the
// scales and mins quantized to 6 bits against the super-block's largest, then every code
// recomputed from the stored (f16, 6-bit) values. Writes d, dmin, scales; returns codes in L.
void k_scale_min(const float* x, int nmax, float rmin, float rdelta, int nstep, std::byte* out,
                 uint8_t* L) {
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
        32, nmax, xg, w.data(), L + 32 * j, &mins[static_cast<size_t>(j)], rmin, rdelta, nstep);
    max_scale = std::max(max_scale, scales[static_cast<size_t>(j)]);
    max_min = std::max(max_min, mins[static_cast<size_t>(j)]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::array<uint8_t, 8> ls{};
  std::array<uint8_t, 8> lm{};
  for (size_t j = 0; j < 8; ++j) {
    // ggml stores nearest_int into a uint8_t before the clamp to 63.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest(inv_min * mins[j])));
  }
  std::array<uint8_t, 12> packed{};
  pack_scale_mins(ls.data(), lm.data(), packed.data());
  store_half(out, max_scale / 63.f);
  store_half(out + 2, max_min / 63.f);
  std::memcpy(out + 4, packed.data(), packed.size());
  const float d_all = as_stored_half(max_scale / 63.f);
  const float m_all = as_stored_half(max_min / 63.f);
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
void block_q4_k(const float* x, std::byte* out) {
  std::array<uint8_t, kQKK> L{};
  k_scale_min(x, 15, -1.f, 0.1f, 20, out, L.data());
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
void block_q5_k(const float* x, std::byte* out) {
  std::array<uint8_t, kQKK> L{};
  k_scale_min(x, 31, -0.5f, 0.1f, 15, out, L.data());
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
void block_q6_k(const float* x, std::byte* out) {
  std::array<int8_t, kQKK> L{};
  std::array<float, 16> scales{};
  float max_scale = 0;
  float max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const float scale = fit_symmetric(16, 32, x + 16 * ib, L.data() + 16 * ib);
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

// Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: per 16 values a (scale, min) fit with weights
// |x| and absolute errors, both quantized to 4 bits against the super-block's largest (low nibble
// scale, high nibble min), codes recomputed from the stored values.
void block_q2_k(const float* x, std::byte* out) {
  std::array<uint8_t, kQKK> L{};
  std::array<float, 16> scales{};
  std::array<float, 16> mins{};
  std::array<float, 16> w{};
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) w[static_cast<size_t>(l)] = std::fabs(x[16 * j + l]);
    const auto js = static_cast<size_t>(j);
    scales[js] = fit_scale_min(16, 3, x + 16 * j, w.data(), L.data() + 16 * j, &mins[js], -0.5f,
                               0.1f, 15, /*use_mad=*/true);
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
  const float d_all = half_to_float(load_u16(out + 80));
  const float m_all = half_to_float(load_u16(out + 82));
  for (int j = 0; j < 16; ++j) {
    out[j] = b8(sc[static_cast<size_t>(j)]);
    const float d = d_all * static_cast<float>(sc[static_cast<size_t>(j)] & 0xF);
    if (d == 0.0f) continue;
    const float dm = m_all * static_cast<float>(sc[static_cast<size_t>(j)] >> 4);
    for (int i = 0; i < 16; ++i) {
      L[static_cast<size_t>(16 * j + i)] =
          static_cast<uint8_t>(std::clamp(nearest((x[16 * j + i] + dm) / d), 0, 3));
    }
  }
  pack_2bit(L.data(), out + 16);
}

namespace {

// Symmetric 3-bit fit of one group of 16 (ggml's make_q3_quants with do_rmse): codes from the
// extreme value, then up to 5 passes that move single codes while the weighted (x^2) least-squares
// fit improves. Returns the scale; L gets codes 0..7 (value + 4).
float fit_q3(const float* x, int8_t* L) {
  constexpr int n = 16;
  constexpr int nmax = 4;
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0) {
        float sl2 = suml2 - w * li * li;
        const int nl = std::clamp(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          const float fl = static_cast<float>(nl);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

}  // namespace

// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: per 16 values a symmetric 3-bit fit, the
// scales quantized to signed 6 bits against the largest (low nibbles in bytes 0..7, 2 high bits in
// bytes 8..11), codes recomputed from the stored values; the third bit of value j is bit j / 32 of
// hmask[j % 32], the low two bits go to qs as for Q2_K.
void block_q3_k(const float* x, std::byte* out) {
  std::array<int8_t, kQKK> L{};
  std::array<float, 16> scales{};
  float max_scale = 0;
  float amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[static_cast<size_t>(j)] = fit_q3(x + 16 * j, L.data() + 16 * j);
    const float a = std::fabs(scales[static_cast<size_t>(j)]);
    if (a > amax) {
      amax = a;
      max_scale = scales[static_cast<size_t>(j)];
    }
  }
  std::array<uint8_t, 12> sb{};
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      // ggml keeps the rounded value in an int8_t before the clamp (|value| <= 32 here)
      const auto r = static_cast<int8_t>(nearest(iscale * scales[static_cast<size_t>(j)]));
      const int l = std::clamp<int>(r, -32, 31) + 32;
      if (j < 8) {
        sb[static_cast<size_t>(j)] = static_cast<uint8_t>(l & 0xF);
      } else {
        sb[static_cast<size_t>(j - 8)] |= static_cast<uint8_t>((l & 0xF) << 4);
      }
      sb[static_cast<size_t>(8 + j % 4)] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    store_half(out + 108, 1 / iscale);
  } else {
    store_half(out + 108, 0.f);
  }
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
