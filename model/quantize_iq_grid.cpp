// quantize_iq_grid.cpp: encoders of the codebook i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and
// IQ3_S, step by step as ggml's quantize_row_<type>_impl (what llama-quantize runs), so the bytes
// are llama-quantize's (tests/model/test_quantize_iq.cpp checks them against ggml's own).
//
// Every type works the same way on each sub-block (16 or 32 values of a 256-value block):
//   1. signs are stored apart; the search works on |x| (IQ2_XXS / IQ2_XS / IQ3_XXS store 7 sign
//      bits per 8 values, the 8th making the count of negatives even: with an odd count the
//      value that matters least, smallest weight * x^2, has its sign flipped);
//   2. for each of a fan of trial scales, every group of 8 (IQ2) or 4 (IQ3) values is rounded to
//      the nearest lattice point (iq_lattice.hpp); a point off the grid is replaced by the
//      nearest of its grid neighbours under that scale; the trial whose codes give the best
//      weighted least-squares fit wins;
//   3. the groups still off the grid (or all of them) are rounded again with the winning scale,
//      and the scale refitted;
//   4. the sub-block scales become 4-bit multiples of the block's f16 scale (max / 31, with
//      ggml's per-type fudge factor).
// The weights are importance * sqrt(sigma2 + x^2) given an importance vector, else x^2 (IQ2_S:
// sigma2 / 4 + x^2); IQ2_XXS and IQ2_XS require one (ggml asserts; so do we, with an error).
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vkr/error.hpp>

#include "gguf_types.hpp"
#include "iq_lattice.hpp"
#include "quantize_blocks.hpp"

namespace vkr::qblocks {
namespace {

using gguf::GgmlType;

constexpr float kEpsIq3xxs = 1e-8f;  // ggml's GROUP_MAX_EPS_IQ3_XXS
constexpr float kEpsIq2s = 1e-8f;    // ggml's GROUP_MAX_EPS_IQ2_S

// ggml's MAX(a, b) (differs from std::max for -0 / +0 only, kept for exactness).
float max_of(float a, float b) { return a > b ? a : b; }

// The grid entry nearest (weighted squared distance at `scale`) to xval among the neighbours of
// lattice index `index`; L gets its levels. The first of equals wins, as in ggml.
uint32_t best_neighbour(const IqLattice& lat, uint32_t index, const float* xval, const float* w,
                        float scale, int8_t* L) {
  const uint16_t* nb = lat.neighbours_of(index);
  float best_d2 = FLT_MAX;
  uint32_t best = nb[1];  // ggml asserts that some d2 is below FLT_MAX; finite inputs ensure it
  for (uint32_t j = 1; j <= nb[0]; ++j) {
    const auto pg = lat.point(nb[j]);
    float d2 = 0;
    for (int i = 0; i < lat.dims; ++i) {
      const auto q = static_cast<float>(pg[static_cast<size_t>(i)]);
      const float diff = scale * q - xval[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = nb[j];
    }
  }
  const auto pg = lat.point(best);
  for (int i = 0; i < lat.dims; ++i)
    L[i] = static_cast<int8_t>((pg[static_cast<size_t>(i)] - 1) / 2);
  return best;
}

// One group rounded at inverse scale id to levels 0..kmax-1 (into L); returns its lattice index.
uint32_t round_group(const IqLattice& lat, float id, int kmax, const float* xval, int8_t* L) {
  uint32_t u = 0;
  for (int i = 0; i < lat.dims; ++i) {
    const int l = std::clamp(nearest(0.5f * (id * xval[i] - 1)), 0, kmax - 1);
    L[i] = static_cast<int8_t>(l);
    u |= static_cast<uint32_t>(l) << (lat.bits * i);
  }
  return u;
}

// sum w x q and sum w q^2 over n values with q = 2 L + 1.
void fit(const float* w, const float* xval, const int8_t* L, int n, float& sumqx, float& sumq2) {
  sumqx = 0;
  sumq2 = 0;
  for (int i = 0; i < n; ++i) {
    const auto q = static_cast<float>(2 * L[i] + 1);
    sumqx += w[i] * xval[i] * q;
    sumq2 += w[i] * q * q;
  }
}

// How a type runs steps 2 and 3 (the differences between ggml's five functions).
struct Search {
  int n = 32;                 // values per sub-block
  int kmax = 3;               // lattice levels
  int range = 9;              // trial steps -range..range
  float step = 0.1f;          // added to 2 kmax - 1 per step
  bool start_on_grid = true;  // groups count as on the grid before any trial wins
  bool redo_all = false;      // step 3 re-rounds every group, not only those off the grid
  bool redo_if_off = true;    // step 3 runs only when some group is off the grid
};

// Steps 2 and 3 for one sub-block of |values| xval: trial inverse scales (2 kmax - 1 + is * step)
// / top; `scale` is the fallback when no trial fits. Returns the scale; L gets the levels.
float search(const IqLattice& lat, const Search& s, const float* xval, const float* weight,
             const float* waux, float top, float scale, int8_t* L) {
  const int groups = s.n / lat.dims;
  std::array<int8_t, 32> aux{};
  std::array<bool, 8> on{};
  std::array<bool, 8> on_aux{};
  on.fill(s.start_on_grid);
  float best = 0;
  for (int is = -s.range; is <= s.range; ++is) {
    const float id = (static_cast<float>(2 * s.kmax - 1) + static_cast<float>(is) * s.step) / top;
    const float this_scale = 1 / id;
    for (int k = 0; k < groups; ++k) {
      const int o = lat.dims * k;
      const uint32_t u = round_group(lat, id, s.kmax, xval + o, aux.data() + o);
      on_aux[static_cast<size_t>(k)] = lat.map[u] >= 0;
      if (lat.map[u] < 0) best_neighbour(lat, u, xval + o, waux + o, this_scale, aux.data() + o);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, aux.data(), s.n, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(L, aux.data(), static_cast<size_t>(s.n));
      on = on_aux;
    }
  }
  int off = 0;
  for (int k = 0; k < groups; ++k) off += on[static_cast<size_t>(k)] ? 0 : 1;
  if ((off > 0 || !s.redo_if_off) && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < groups; ++k) {
      if (!s.redo_all && on[static_cast<size_t>(k)]) continue;
      const int o = lat.dims * k;
      const uint32_t u = round_group(lat, id, s.kmax, xval + o, L + o);
      if (lat.map[u] < 0) best_neighbour(lat, u, xval + o, waux + o, scale, L + o);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, L, s.n, sumqx, sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  return scale;
}

// Step 1 for 8 values: |x| into xval and the sign bits; with `even` the parity fix (7 bits kept).
uint8_t signs8(const float* xb, const float* weight, bool even, float* xval) {
  int nflip = 0;
  uint32_t s = 0;
  for (int i = 0; i < 8; ++i) {
    if (xb[i] >= 0) {
      xval[i] = xb[i];
    } else {
      xval[i] = -xb[i];
      ++nflip;
      s |= 1u << i;
    }
  }
  if (!even) return static_cast<uint8_t>(s);
  if (nflip % 2 != 0) {
    int imin = 0;
    float min = weight[0] * xb[0] * xb[0];
    for (int i = 1; i < 8; ++i) {
      const float ax = weight[i] * xb[i] * xb[i];
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    xval[imin] = -xval[imin];
    s ^= 1u << imin;
  }
  return static_cast<uint8_t>(s & 127);
}

// The level-index of L's group (must be a grid entry: the search only keeps grid points).
uint32_t entry_of(const IqLattice& lat, const int8_t* L) {
  uint32_t u = 0;
  for (int i = 0; i < lat.dims; ++i) u |= static_cast<uint32_t>(L[i]) << (lat.bits * i);
  require(lat.map[u] >= 0, ErrorCode::InvalidArgument,
          "quantize: i-quant search left a point off "
          "the grid (lattice index {})",
          u);
  return static_cast<uint32_t>(lat.map[u]);
}

// The 4-bit code of a sub-block scale against the block's d: scale ~ d (2 l + 1).
uint32_t scale_code(float id, float scale) {
  return static_cast<uint32_t>(std::clamp(nearest(0.5f * (id * scale - 1)), 0, 15));
}

// A sub-block's weights and their square roots.
void sub_weights(const float* xb, const float* qw, float sigma2, int n, float no_qw_sigma,
                 float* weight, float* waux) {
  if (qw != nullptr) {
    importance_weights(xb, qw, sigma2, n, weight);
  } else {
    for (int i = 0; i < n; ++i) weight[i] = no_qw_sigma * sigma2 + xb[i] * xb[i];
  }
  for (int i = 0; i < n; ++i) waux[i] = std::sqrt(weight[i]);
}

// Step 1 of one sub-block of n (16 or 32) values: the fit weights, |x| with the signs apart
// (`even`: 7 bits with the parity fix) and the largest |x|. qw: the sub-block's importance or
// null; no_qw_sigma as in sub_weights().
struct SubBlock {
  std::array<float, 32> weight{};
  std::array<float, 32> waux{};
  std::array<float, 32> xval{};
  std::array<int8_t, 32> L{};
  std::array<uint8_t, 4> signs{};
  float max = 0;
  int n = 0;
  bool even = false;

  SubBlock(const float* xb, const float* qw, float sigma2, int n_, float no_qw_sigma, bool even_)
      : n(n_), even(even_) {
    sub_weights(xb, qw, sigma2, n, no_qw_sigma, weight.data(), waux.data());
    for (int k = 0; k < n / 8; ++k) {
      signs[static_cast<size_t>(k)] =
          signs8(xb + 8 * k, weight.data() + 8 * k, even, xval.data() + 8 * k);
    }
    max = xval[0];
    for (int i = 1; i < n; ++i) max = max_of(max, xval[static_cast<size_t>(i)]);
  }
  float run(const IqLattice& lat, const Search& s, float top, float scale) {
    return search(lat, s, xval.data(), weight.data(), waux.data(), top, scale, L.data());
  }
  // A negative fitted scale (ggml guards against it; |x| >= 0 makes it unlikely) is made positive
  // by flipping every sign.
  float positive(float scale) {
    if (scale >= 0) return scale;
    for (int k = 0; k < n / 8; ++k) {
      auto& sg = signs[static_cast<size_t>(k)];
      sg = static_cast<uint8_t>(even ? ~sg & 127 : ~sg);
    }
    return -scale;
  }
};

}  // namespace

// IQ2_XXS {f16 d; u32 q2[16]}: per sub-block of 32, q2[2 ib] = 4 grid entries (bytes),
// q2[2 ib + 1] = four 7-bit sign sets | scale << 28. The search starts from make_qp_quants'
// scale (fit_positive) and re-rounds every group.
void block_iq2_xxs(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ2_XXS));
  std::array<uint32_t, 16> q2{};
  std::array<float, 8> scales{};
  float max_scale = 0;
  const float sigma2 = sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + 32 * ib;
    SubBlock b(xb, qw + 32 * ib, sigma2, 32, 0, true);
    if (b.max < kGroupMaxEps) continue;
    std::array<uint8_t, 32> Lqp{};
    float scale = fit_positive(32, 4, b.xval.data(), Lqp.data(), b.weight.data());
    const float eff_max = scale * 3;
    if (eff_max <= 0) continue;
    scale = b.run(lat, {32, 3, 6, 0.1f, true, true, false}, eff_max, scale);
    scale = b.positive(scale);
    for (int k = 0; k < 4; ++k) {
      q2[2 * ib] |= entry_of(lat, b.L.data() + 8 * k) << (8 * k);
      q2[2 * ib + 1] |= static_cast<uint32_t>(b.signs[k]) << (7 * k);
    }
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  std::memset(out, 0, 66);
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  store_half(out, d);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib) {
    q2[2 * ib + 1] |= scale_code(id, scales[ib]) << 28;
  }
  for (int j = 0; j < 16; ++j) store_u32(out + 2 + 4 * j, q2[j]);
}

// IQ2_XS {f16 d; u16 qs[32]; u8 scales[8]}: sub-blocks of 16, qs[2 ib + k] = 9-bit entry | 7-bit
// sign set << 9, a 4-bit scale per sub-block.
void block_iq2_xs(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ2_XS));
  std::array<uint16_t, 32> q2{};
  std::array<float, 16> scales{};
  float max_scale = 0;
  const float sigma2 = sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = x + 16 * ib;
    SubBlock b(xb, qw + 16 * ib, sigma2, 16, 0, true);
    if (b.max < kGroupMaxEps) continue;
    float scale = b.run(lat, {16, 3, 9, 0.1f, true, false, true}, b.max, b.max / 5);
    scale = b.positive(scale);
    for (int k = 0; k < 2; ++k) {
      q2[2 * ib + k] = static_cast<uint16_t>(entry_of(lat, b.L.data() + 8 * k) | (b.signs[k] << 9));
    }
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  std::memset(out, 0, 74);
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  store_half(out, d);
  const float id = 1 / d;
  for (int j = 0; j < 32; ++j) store_u16(out + 2 + 2 * j, q2[j]);
  for (int ib = 0; ib < 16; ++ib) {
    out[66 + ib / 2] |= b8(static_cast<int>(scale_code(id, scales[ib]) << (4 * (ib % 2))));
  }
}

// IQ2_S {f16 d; u8 qs[32]; u8 signs[32]; u8 qh[8]; u8 scales[8]}: sub-blocks of 16, 10-bit
// entries (low byte in qs, 2 bits in qh), 8 explicit sign bits per 8 values.
void block_iq2_s(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ2_S));
  std::memset(out, 0, 82);
  std::array<float, 16> scales{};
  float max_scale = 0;
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = x + 16 * ib;
    SubBlock b(xb, qw != nullptr ? qw + 16 * ib : nullptr, sigma2, 16, 0.25f, false);
    if (b.max < kEpsIq2s) continue;
    float scale = b.run(lat, {16, 3, 9, 0.1f, true, false, true}, b.max, b.max / 5);
    scale = b.positive(scale);
    for (int k = 0; k < 2; ++k) {
      const uint32_t e = entry_of(lat, b.L.data() + 8 * k);
      const int i8 = 2 * ib + k;
      out[2 + i8] = b8(static_cast<int>(e & 255));
      out[66 + i8 / 4] |= b8(static_cast<int>((e >> 8) << (2 * (i8 % 4))));
      out[34 + i8] = b8(b.signs[k]);
    }
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  store_half(out, d * 0.9875f);
  const float id = 1 / d;
  for (int ib = 0; ib < 16; ++ib) {
    out[74 + ib / 2] |= b8(static_cast<int>(scale_code(id, scales[ib]) << (4 * (ib % 2))));
  }
}

// IQ3_XXS {f16 d; u8 qs[64]; u32 scales_signs[8]}: 4-value entries (8 per sub-block of 32), four
// 7-bit sign sets | scale << 28 per sub-block.
void block_iq3_xxs(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ3_XXS));
  std::memset(out, 0, 98);
  std::array<uint32_t, 8> sas{};
  std::array<float, 8> scales{};
  float max_scale = 0;
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + 32 * ib;
    SubBlock b(xb, qw != nullptr ? qw + 32 * ib : nullptr, sigma2, 32, 0, true);
    if (b.max < kEpsIq3xxs) continue;
    float scale = b.run(lat, {32, 8, 15, 0.2f, true, false, true}, b.max, b.max / 15);
    scale = b.positive(scale);
    for (int k = 0; k < 8; ++k) {
      out[2 + 8 * ib + k] = b8(static_cast<int>(entry_of(lat, b.L.data() + 4 * k)));
    }
    sas[ib] = b.signs[0] | (b.signs[1] << 7) | (b.signs[2] << 14) | (b.signs[3] << 21);
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) {
    std::memset(out, 0, 98);
    return;
  }
  const float d = max_scale / 31;
  store_half(out, d * 1.0125f);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib)
    store_u32(out + 66 + 4 * ib, sas[ib] | scale_code(id, scales[ib]) << 28);
}

// IQ3_S {f16 d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]}: 9-bit 4-value entries (bit 8
// of entry k of sub-block ib is bit k of qh[ib]), 8 explicit sign bits per 8 values, 4-bit
// scales in pairs. ggml leaves a sub-block of all zeros without advancing its qs / signs
// pointers, so the following sub-blocks land one place early (a block then decodes wrongly);
// here every sub-block keeps its place, so such blocks differ from ggml's (and decode right).
void block_iq3_s(const float* x, std::byte* out, const float* qw) {
  const IqLattice& lat = iq_lattice(static_cast<uint32_t>(GgmlType::IQ3_S));
  std::memset(out, 0, 110);
  std::array<float, 8> scales{};
  float max_scale = 0;
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + 32 * ib;
    SubBlock b(xb, qw != nullptr ? qw + 32 * ib : nullptr, sigma2, 32, 0, false);
    if (b.max == 0) continue;
    float scale = b.run(lat, {32, 8, 9, 0.2f, false, true, true}, b.max, b.max / 15);
    scale = b.positive(scale);
    for (int k = 0; k < 8; ++k) {
      const uint32_t e = entry_of(lat, b.L.data() + 4 * k);
      out[2 + 8 * ib + k] = b8(static_cast<int>(e & 255));
      out[66 + ib] |= b8(static_cast<int>((e >> 8) << k));
    }
    for (int k = 0; k < 4; ++k) out[74 + 4 * ib + k] = b8(b.signs[k]);
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  store_half(out, d * 1.033f);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ib += 2) {
    out[106 + ib / 2] =
        b8(static_cast<int>(scale_code(id, scales[ib]) | (scale_code(id, scales[ib + 1]) << 4)));
  }
}

bool quantize_row_iq_grid(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                          const float* qw) {
  void (*block)(const float*, std::byte*, const float*) = nullptr;
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::IQ2_XXS:
      block = block_iq2_xxs;
      break;
    case GgmlType::IQ2_XS:
      block = block_iq2_xs;
      break;
    case GgmlType::IQ2_S:
      block = block_iq2_s;
      break;
    case GgmlType::IQ3_XXS:
      block = block_iq3_xxs;
      break;
    case GgmlType::IQ3_S:
      block = block_iq3_s;
      break;
    default:
      return false;
  }
  require(qw != nullptr || !iq_grid_needs_importance(ggml_type), ErrorCode::InvalidArgument,
          "quantize: {} needs importance weights (an imatrix): its 2-bit codes are chosen by "
          "them",
          gguf::type_name(ggml_type));
  const auto bb = gguf::type_traits(ggml_type)->block_bytes;
  for (uint64_t b = 0; b < n / kQKK; ++b) {
    block(x + kQKK * b, dst + bb * b, qw != nullptr ? qw + kQKK * b : nullptr);
  }
  return true;
}

bool iq_grid_needs_importance(uint32_t ggml_type) {
  const auto t = static_cast<GgmlType>(ggml_type);
  return t == GgmlType::IQ2_XXS || t == GgmlType::IQ2_XS;
}

}  // namespace vkr::qblocks
