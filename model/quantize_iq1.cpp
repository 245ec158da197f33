// quantize_iq1.cpp: encoders of the 1.56 / 1.75-bit codebook i-quants IQ1_S and IQ1_M, step by
// step as ggml's quantize_row_iq1_{s,m}_impl (what llama-quantize runs), so the bytes are
// llama-quantize's (tests/model/test_quantize_iq.cpp checks them against ggml's own).
//
// Each group of 8 values is one of 2048 grid entries of levels {-1, 0, 1}, shifted by +-delta
// (1/8) and times the sub-block's scale. Unlike the IQ2 / IQ3 searches (quantize_iq_grid.cpp) no
// scale is guessed: with three levels the best assignment is a split of the sorted values into
// three runs, so every split (i1, i2) is scored exactly (weighted least squares, the best scale
// in closed form), for both shifts (IQ1_S: one per 32-value sub-block; IQ1_M: one per 8-value
// group, so four combinations per 16-value sub-block). Groups whose levels are not a grid entry
// take the nearest of their grid neighbours (iq_lattice.hpp), and the scale is refitted.
// Weights are importance * sqrt(sigma2 + x^2); IQ1_M also runs without importance (weights x^2),
// IQ1_S requires it (ggml asserts; so do we, with an error).
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vkr/error.hpp>

#include "gguf_types.hpp"
#include "iq_lattice.hpp"
#include "quantize_blocks.hpp"

namespace vkr::qblocks {
namespace {

using gguf::GgmlType;

constexpr float kEpsIq1s = 1e-12f;  // ggml's GROUP_MAX_EPS_IQ1_S
constexpr float kEpsIq1m = 1e-7f;   // ggml's GROUP_MAX_EPS_IQ1_M
constexpr float kDelta = 0.125f;    // IQ1S_DELTA = IQ1M_DELTA

// What levels 0, 1, 2 stand for under the + and - shift (ggml's x_p, x_m).
using Values = std::array<float, 3>;
constexpr Values kPlus = {-1 + kDelta, kDelta, 1 + kDelta};
constexpr Values kMinus = {-1 - kDelta, -kDelta, 1 - kDelta};

float max_of(float a, float b) { return a > b ? a : b; }

float abs_max(const float* x, int n) {
  float m = std::fabs(x[0]);
  for (int i = 1; i < n; ++i) m = max_of(m, std::fabs(x[i]));
  return m;
}

// The positions of x in ascending order of value, equal values by position: ggml sorts (value,
// position) pairs with qsort by value only, and glibc's qsort is a stable merge sort (for arrays
// this small it never falls back to quicksort), so ties keep their order.
std::array<int, 32> sorted_positions(const float* x, int n) {
  std::array<int, 32> idx{};
  std::iota(idx.begin(), idx.begin() + n, 0);
  std::stable_sort(idx.begin(), idx.begin() + n, [x](int a, int b) { return x[a] < x[b]; });
  return idx;
}

// Levels of the split: the i1 smallest values 0, the next i2 - i1 values 1, the rest 2; with a
// negative scale mirrored (2 - L) so the scale is positive.
void split_levels(const std::array<int, 32>& idx, int n, int i1, int i2, bool mirror, int8_t* L) {
  for (int j = 0; j < n; ++j) {
    const int8_t l = j < i1 ? 0 : j < i2 ? 1 : 2;
    L[idx[static_cast<size_t>(j)]] = mirror ? static_cast<int8_t>(2 - l) : l;
  }
}

// The grid entry of an 8-value group's levels, or, off the grid, the neighbour nearest to xb
// (weighted squared distance of scale * values[level]; the first of equals, as ggml). Sets
// `on_grid` false for the latter.
uint32_t group_entry(const IqLattice& lat, const int8_t* L, const float* xb, const float* w,
                     float scale, const Values& values, bool& on_grid) {
  uint32_t u = 0;
  for (int j = 0; j < 8; ++j) u |= static_cast<uint32_t>(L[j]) << (2 * j);
  if (lat.map[u] >= 0) return static_cast<uint32_t>(lat.map[u]);
  on_grid = false;
  const uint16_t* nb = lat.neighbours_of(u);
  float best_d2 = FLT_MAX;
  uint32_t best = nb[1];  // ggml asserts some d2 is below FLT_MAX; finite inputs ensure it
  for (uint32_t j = 1; j <= nb[0]; ++j) {
    const auto pg = lat.point(nb[j]);
    float d2 = 0;
    for (int i = 0; i < 8; ++i) {
      const float q = values[static_cast<size_t>((pg[static_cast<size_t>(i)] - 1) / 2)];
      const float diff = scale * q - xb[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = nb[j];
    }
  }
  return best;
}

// sum w q x and sum w q^2 of one 8-value group coded as grid entry e (q = values[level] * mult).
void fit_entry(const IqLattice& lat, uint32_t e, const Values& values, float mult, const float* xb,
               const float* w, float& sumqx, float& sumq2) {
  const auto pg = lat.point(e);
  for (int j = 0; j < 8; ++j) {
    const float q = values[static_cast<size_t>((pg[static_cast<size_t>(j)] - 1) / 2)] * mult;
    sumqx += w[j] * q * xb[j];
    sumq2 += w[j] * q * q;
  }
}

void weights_of(const float* xb, const float* qw, float sigma2, int n, float* w) {
  if (qw != nullptr) {
    importance_weights(xb, qw, sigma2, n, w);
  } else {
    for (int i = 0; i < n; ++i) w[i] = xb[i] * xb[i];
  }
}

// IQ1_S {f16 d; u8 qs[32]; u16 qh[8]}: per 32-value sub-block ib four entries (low bytes in qs,
// high 3 bits in qh[ib] bits 3k..3k+2), a 3-bit scale at bit 12 and the shift's sign at bit 15.
void block_iq1_s(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ1_S));
  constexpr int n = 32;
  std::memset(out, 0, 50);
  std::array<float, 8> scales{};
  std::array<int, 8> shifts{};
  std::array<uint16_t, 8> qh{};
  float max_scale = 0;
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + n * ib;
    std::array<float, n> w{};
    importance_weights(xb, qw + n * ib, sigma2, n, w.data());
    const float max = abs_max(xb, n);
    shifts[static_cast<size_t>(ib)] = 1;
    if (max < kEpsIq1s) continue;
    const auto idx = sorted_positions(xb, n);
    std::array<float, n + 1> sumx{};
    std::array<float, n + 1> sumw{};
    for (size_t j = 0; j < n; ++j) {
      const auto i = static_cast<size_t>(idx[j]);
      sumx[j + 1] = sumx[j] + w[i] * xb[i];
      sumw[j + 1] = sumw[j] + w[i];
    }
    float best = -FLT_MAX;
    float scale = max;
    int besti1 = -1;
    int besti2 = -1;
    int best_shift = 0;
    for (size_t i1 = 0; i1 <= n; ++i1) {
      for (size_t i2 = i1; i2 <= n; ++i2) {
        for (const int shift : {1, -1}) {
          const Values& v = shift == 1 ? kPlus : kMinus;
          const float sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] +
                              (sumx[n] - sumx[i2]) * v[2];
          const float sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] +
                              (sumw[i2] - sumw[i1]) * v[1] * v[1] +
                              (sumw[n] - sumw[i2]) * v[2] * v[2];
          if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            besti1 = static_cast<int>(i1);
            besti2 = static_cast<int>(i2);
            best_shift = shift;
          }
        }
      }
    }
    if (besti1 < 0 || besti2 < 0 || best_shift == 0) continue;
    std::array<int8_t, n> L{};
    split_levels(idx, n, besti1, besti2, scale < 0, L.data());
    if (scale < 0) {
      scale = -scale;
      best_shift = -best_shift;
    }
    const Values& v = best_shift == 1 ? kPlus : kMinus;
    bool on_grid = true;
    std::array<uint32_t, 4> e{};
    for (int k = 0; k < 4; ++k) {
      e[static_cast<size_t>(k)] =
          group_entry(lat, L.data() + 8 * k, xb + 8 * k, w.data() + 8 * k, scale, v, on_grid);
    }
    if (!on_grid) {
      float sumqx = 0;
      float sumq2 = 0;
      for (int k = 0; k < 4; ++k) {
        fit_entry(lat, e[static_cast<size_t>(k)], v, 1.0f, xb + 8 * k, w.data() + 8 * k, sumqx,
                  sumq2);
      }
      if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
    }
    for (int k = 0; k < 4; ++k) {
      out[2 + 4 * ib + k] = b8(static_cast<int>(e[static_cast<size_t>(k)] & 255));
      qh[static_cast<size_t>(ib)] |=
          static_cast<uint16_t>((e[static_cast<size_t>(k)] >> 8) << (3 * k));
    }
    scales[static_cast<size_t>(ib)] = scale;
    shifts[static_cast<size_t>(ib)] = best_shift;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale != 0) {
    const float d = max_scale / 15;
    store_half(out, d * 1.125f);  // ggml's fudge factor
    const float id = 1 / d;
    for (size_t ib = 0; ib < 8; ++ib) {
      int l = std::clamp(nearest(0.5f * (id * scales[ib] - 1)), 0, 7);
      if (shifts[ib] == -1) l |= 8;
      qh[ib] = static_cast<uint16_t>(qh[ib] | (l << 12));
    }
  }
  for (size_t ib = 0; ib < 8; ++ib) store_u16(out + 34 + 2 * ib, qh[ib]);
}

// IQ1_M {u8 qs[32]; u8 qh[16]; u16 scales[4]}: per 16-value sub-block ib two entries (low bytes
// in qs, high 3 bits in the nibbles of qh[ib] whose bit 3 is the group's shift sign), 3-bit
// scales in bits 3 (ib % 4) of scales[ib / 4], the f16 d in the four words' top nibbles.
void block_iq1_m(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ1_M));
  constexpr int n = 16;
  // The group shifts of a sub-block as one code k: group 0 takes - when k >= 2, group 1 when k is
  // odd; the qh bits that say so.
  const auto values_of = [](int k, int group) -> const Values& {
    const bool minus = group == 0 ? k >= 2 : k % 2 == 1;
    return minus ? kMinus : kPlus;
  };
  constexpr std::array<uint8_t, 4> kMasks = {0x00, 0x80, 0x08, 0x88};
  std::memset(out, 0, 56);
  std::array<float, 16> scales{};
  std::array<int, 16> shifts{};
  float max_scale = 0;
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  // Per-value weights, used by the search and again by the final refit of d.
  std::array<float, kQKK> weights{};
  weights_of(x, qw, sigma2, kQKK, weights.data());
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = x + n * ib;
    const float* w = weights.data() + n * ib;
    const float max = abs_max(xb, n);
    if (max < kEpsIq1m) continue;
    const auto idx = sorted_positions(xb, n);
    float best = -FLT_MAX;
    float scale = max;
    int besti1 = -1;
    int besti2 = -1;
    int best_k = -1;
    // Prefix sums of w x and w over the sorted values, one pair per 8-value group (the groups'
    // shifts differ). With levels one apart (v1 - v0 = v2 - v1 = 1) a split's sum of w x q over
    // a group is T v2 - px[i1] - px[i2], and its sum of w q^2 is W v2^2 + pw[i1] (v0^2 - v1^2) +
    // pw[i2] (v1^2 - v2^2): every split in O(1), evaluated in ggml's order.
    std::array<std::array<float, n + 1>, 2> px{};
    std::array<std::array<float, n + 1>, 2> pw{};
    for (size_t j = 0; j < n; ++j) {
      const auto i = static_cast<size_t>(idx[j]);
      const size_t h = i < n / 2 ? 0 : 1;
      px[h][j + 1] = px[h][j] + w[i] * xb[i];
      px[1 - h][j + 1] = px[1 - h][j];
      pw[h][j + 1] = pw[h][j] + w[i];
      pw[1 - h][j + 1] = pw[1 - h][j];
    }
    const float p2 = kPlus[2];
    const float m2 = kMinus[2];
    const float cp1 = kPlus[0] * kPlus[0] - kPlus[1] * kPlus[1];
    const float cp2 = kPlus[1] * kPlus[1] - kPlus[2] * kPlus[2];
    const float cm1 = kMinus[0] * kMinus[0] - kMinus[1] * kMinus[1];
    const float cm2 = kMinus[1] * kMinus[1] - kMinus[2] * kMinus[2];
    for (size_t i1 = 0; i1 <= n; ++i1) {
      for (size_t i2 = i1; i2 <= n; ++i2) {
        std::array<float, 2> qx_p{};
        std::array<float, 2> qx_m{};
        std::array<float, 2> q2_p{};
        std::array<float, 2> q2_m{};
        for (size_t h = 0; h < 2; ++h) {
          const float sx = px[h][i1] + px[h][i2];
          qx_p[h] = px[h][n] * p2 - sx;
          qx_m[h] = px[h][n] * m2 - sx;
          q2_p[h] = pw[h][n] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
          q2_m[h] = pw[h][n] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
        }
        // k: group 0 takes - for k = 2, 3; group 1 for k = 1, 3
        const std::array<float, 4> sumqx = {qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1],
                                            qx_m[0] + qx_m[1]};
        const std::array<float, 4> sumq2 = {q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1],
                                            q2_m[0] + q2_m[1]};
        for (size_t k = 0; k < 4; ++k) {
          if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
            scale = sumqx[k] / sumq2[k];
            best = scale * sumqx[k];
            besti1 = static_cast<int>(i1);
            besti2 = static_cast<int>(i2);
            best_k = static_cast<int>(k);
          }
        }
      }
    }
    if (besti1 < 0 || besti2 < 0 || best_k < 0) continue;
    std::array<int8_t, n> L{};
    split_levels(idx, n, besti1, besti2, scale < 0, L.data());
    if (scale < 0) {
      scale = -scale;
      best_k = 3 - best_k;  // both groups' shifts flip with the levels
    }
    bool on_grid = true;
    std::array<uint32_t, 2> e{};
    for (int k = 0; k < 2; ++k) {
      e[static_cast<size_t>(k)] = group_entry(lat, L.data() + 8 * k, xb + 8 * k, w + 8 * k, scale,
                                              values_of(best_k, k), on_grid);
    }
    if (!on_grid) {
      float sumqx = 0;
      float sumq2 = 0;
      for (int k = 0; k < 2; ++k) {
        fit_entry(lat, e[static_cast<size_t>(k)], values_of(best_k, k), 1.0f, xb + 8 * k, w + 8 * k,
                  sumqx, sumq2);
      }
      if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
    }
    out[2 * ib] = b8(static_cast<int>(e[0] & 255));
    out[2 * ib + 1] = b8(static_cast<int>(e[1] & 255));
    out[32 + ib] = b8(static_cast<int>((e[0] >> 8) | ((e[1] >> 8) << 4)));
    scales[static_cast<size_t>(ib)] = scale;
    shifts[static_cast<size_t>(ib)] = best_k;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) return;
  // 3-bit sub-block scales against d = max / 15, then d itself refitted to the coded values
  std::array<uint16_t, 4> sc{};
  float d = max_scale / 15;
  const float id = 1 / d;
  float sumqx = 0;
  float sumq2 = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const auto b = static_cast<size_t>(ib);
    const int l = std::clamp(nearest(0.5f * (id * scales[b] - 1)), 0, 7);
    sc[b / 4] = static_cast<uint16_t>(sc[b / 4] | (l << (3 * (ib % 4))));
    const auto qh =
        static_cast<uint32_t>(std::to_integer<uint8_t>(out[32 + ib]) | kMasks[shifts[b]]);
    out[32 + ib] = b8(static_cast<int>(qh));
    const float* xb = x + n * ib;
    const float* w = weights.data() + n * ib;
    for (int k = 0; k < 2; ++k) {
      const uint32_t e = std::to_integer<uint32_t>(out[2 * ib + k]) | ((qh << (8 - 4 * k)) & 0x700);
      fit_entry(lat, e, values_of(shifts[b], k), static_cast<float>(2 * l + 1), xb + 8 * k,
                w + 8 * k, sumqx, sumq2);
    }
  }
  if (sumq2 > 0) d = sumqx / sumq2;
  const uint16_t s = gguf::float_to_half(d * 1.1125f);  // ggml's fudge factor
  sc[0] = static_cast<uint16_t>(sc[0] | ((s & 0x000F) << 12));
  sc[1] = static_cast<uint16_t>(sc[1] | ((s & 0x00F0) << 8));
  sc[2] = static_cast<uint16_t>(sc[2] | ((s & 0x0F00) << 4));
  sc[3] = static_cast<uint16_t>(sc[3] | (s & 0xF000));
  for (size_t i = 0; i < 4; ++i) store_u16(out + 48 + 2 * i, sc[i]);
}

}  // namespace

bool quantize_row_iq1(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                      const float* qw) {
  const auto t = static_cast<GgmlType>(ggml_type);
  if (t != GgmlType::IQ1_S && t != GgmlType::IQ1_M) return false;
  require(qw != nullptr || t != GgmlType::IQ1_S, ErrorCode::InvalidArgument,
          "quantize: IQ1_S needs importance weights (an imatrix): its 1-bit codes are chosen by "
          "them");
  const uint64_t bb = t == GgmlType::IQ1_S ? 50 : 56;
  for (uint64_t b = 0; b < n / kQKK; ++b) {
    const float* w = qw != nullptr ? qw + kQKK * b : nullptr;
    if (t == GgmlType::IQ1_S) {
      block_iq1_s(x + kQKK * b, dst + bb * b, w);
    } else {
      block_iq1_m(x + kQKK * b, dst + bb * b, w);
    }
  }
  return true;
}

}  // namespace vkr::qblocks
