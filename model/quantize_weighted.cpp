// quantize_weighted.cpp: the importance-matrix (imatrix) path of ggml's quantizers, what
// llama-quantize runs given an imatrix: ggml_quantize_chunk with quant_weights, i.e.
// quantize_row_<t>_impl for Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q2_K..Q6_K and quantize_row_iq4_nl_impl
// with weights for IQ4_NL / IQ4_XS. Each value's fit weight becomes qw * sqrt(sigma2 + x^2) (Q6_K:
// qw alone), so the error is measured where the activations are large. The searches differ from
// the reference ones too (wider scale grids; the K-quants quantize their group scales by a
// weighted fit, make_qp_quants = fit_positive, instead of against the largest), so they are
// followed step by step as in quantize.cpp: same formulas, same float evaluation order, bit-exact
// bytes.
//
// Per type, where the sigma2 comes from (the API takes whole rows for that reason):
//   Q4_0 Q4_1 Q5_0 Q5_1   mean(x^2) over the row
//   Q2_K                  mean(x^2) over the 256-value super-block
//   Q3_K Q4_K Q5_K        2 mean(x^2) over the super-block
//   IQ4_NL / IQ4_XS       2 mean(x^2) over the 32 / 256-value block (quantize_iq4.cpp)
#include <algorithm>
#include <array>
#include <cmath>

#include "gguf_types.hpp"
#include "quantize_blocks.hpp"

namespace vkr::qblocks {

namespace {

// The weights of one group and their sum (ggml's sw[j], the weight of the group's scale when the
// scales themselves are fitted).
template <size_t N>
float group_weights(const float* x, const float* qw, float sigma2, std::array<float, N>& w) {
  importance_weights(x, qw, sigma2, static_cast<int>(N), w.data());
  float sum = 0;
  for (float v : w) sum += v;
  return sum;
}

}  // namespace

void q2_k_fit_weighted(const float* x, const float* qw, std::byte* out, uint8_t* L) {
  const float sigma2 = sum_squares(x, kQKK) / kQKK;
  std::array<float, 16> scales{};
  std::array<float, 16> mins{};
  std::array<float, 16> sw{};
  std::array<float, 16> w{};
  for (size_t j = 0; j < 16; ++j) {
    sw[j] = group_weights(x + 16 * j, qw + 16 * j, sigma2, w);
    scales[j] = fit_scale_min(16, 3, x + 16 * j, w.data(), L + 16 * j, &mins[j], -0.9f, 0.05f, 36);
  }
  std::array<uint8_t, 16> ls{};
  std::array<uint8_t, 16> lm{};
  store_half(out + 80, fit_positive(16, 15, scales.data(), ls.data(), sw.data()));
  store_half(out + 82, fit_positive(16, 15, mins.data(), lm.data(), sw.data()));
  for (size_t j = 0; j < 16; ++j) out[j] = b8(ls[j] | (lm[j] << 4));
}

float q3_k_fit_weighted(const float* x, const float* qw, uint8_t* l6, int8_t* L) {
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  std::array<float, 16> scales{};
  std::array<float, 16> sw{};
  std::array<float, 16> w{};
  for (size_t j = 0; j < 16; ++j) {
    sw[j] = group_weights(x + 16 * j, qw + 16 * j, sigma2, w);
    scales[j] = fit_symmetric(16, 4, x + 16 * j, L + 16 * j, w.data());
  }
  // the group scales as signed 6-bit codes (stored + 32) by the same symmetric fit, weighted by sw
  std::array<int8_t, 16> ls{};
  const float d_block = fit_symmetric(16, 32, scales.data(), ls.data(), sw.data());
  for (size_t j = 0; j < 16; ++j) l6[j] = static_cast<uint8_t>(ls[j]);
  return d_block;
}

void k_fit_weighted(const float* x, const float* qw, int nmax, uint8_t* ls, uint8_t* lm, float& d,
                    float& dmin, uint8_t* L) {
  const float sigma2 = 2 * sum_squares(x, kQKK) / kQKK;
  std::array<float, 8> scales{};
  std::array<float, 8> mins{};
  std::array<float, 8> sw{};
  std::array<float, 32> w{};
  for (size_t j = 0; j < 8; ++j) {
    sw[j] = group_weights(x + 32 * j, qw + 32 * j, sigma2, w);
    scales[j] =
        fit_scale_min(32, nmax, x + 32 * j, w.data(), L + 32 * j, &mins[j], -0.9f, 0.05f, 36);
  }
  d = fit_positive(8, 63, scales.data(), ls, sw.data());
  dmin = fit_positive(8, 63, mins.data(), lm, sw.data());
  if (nmax == 31) {
    // Q5_K's impl clamps the codes to 63 before packing them; Q4_K's packs them as they are (they
    // are <= 63 unless a group scale came out negative).
    for (int j = 0; j < 8; ++j) {
      ls[j] = std::min<uint8_t>(63, ls[j]);
      lm[j] = std::min<uint8_t>(63, lm[j]);
    }
  }
}

namespace {

std::array<uint8_t, kQK> as_codes(const std::array<int8_t, kQK>& L) {
  std::array<uint8_t, kQK> u{};
  for (size_t j = 0; j < kQK; ++j) u[j] = static_cast<uint8_t>(L[j]);
  return u;
}

// Q4_0 / Q5_0 (quantize_row_q4_0_impl / q5_0_impl): one symmetric weighted fit of the block; its
// codes are stored as found, not recomputed from the f16 scale (an all-zero block: d = 0, code 0,
// where the reference path writes code 8 / 16).
void block_q4_0_weighted(const float* x, const float* qw, float sigma2, std::byte* out) {
  std::array<float, kQK> w{};
  importance_weights(x, qw, sigma2, kQK, w.data());
  std::array<int8_t, kQK> L{};
  store_half(out, fit_symmetric(kQK, 8, x, L.data(), w.data()));
  pack_nibbles(as_codes(L).data(), out + 2);
}
void block_q5_0_weighted(const float* x, const float* qw, float sigma2, std::byte* out) {
  std::array<float, kQK> w{};
  importance_weights(x, qw, sigma2, kQK, w.data());
  std::array<int8_t, kQK> L{};
  store_half(out, fit_symmetric(kQK, 16, x, L.data(), w.data()));
  pack_q5(as_codes(L).data(), out + 2, out + 6);
}

// Q4_1 / Q5_1 (quantize_row_q4_1_impl / q5_1_impl): the K-quants' (scale, min) search with
// make_qkx3_quants' grid; m = the fitted minimum, codes as found.
template <int kNmax>  // 15: Q4_1, 31: Q5_1
void block_x_1_weighted(const float* x, const float* qw, float sigma2, std::byte* out) {
  std::array<float, kQK> w{};
  importance_weights(x, qw, sigma2, kQK, w.data());
  std::array<uint8_t, kQK> L{};
  float neg_min = 0;
  store_half(out, fit_scale_min(kQK, kNmax, x, w.data(), L.data(), &neg_min, -0.9f, 0.05f, 36));
  store_half(out + 2, -neg_min);
  if constexpr (kNmax == 15) {
    pack_nibbles(L.data(), out + 4);
  } else {
    pack_q5(L.data(), out + 4, out + 8);
  }
}

}  // namespace

bool quantize_row_weighted(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                           const float* qw) {
  using gguf::GgmlType;
  void (*legacy)(const float*, const float*, float, std::byte*) = nullptr;
  void (*block)(const float*, std::byte*, const float*) = nullptr;
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::Q4_0:
      legacy = block_q4_0_weighted;
      break;
    case GgmlType::Q4_1:
      legacy = block_x_1_weighted<15>;
      break;
    case GgmlType::Q5_0:
      legacy = block_q5_0_weighted;
      break;
    case GgmlType::Q5_1:
      legacy = block_x_1_weighted<31>;
      break;
    case GgmlType::Q2_K:
      block = block_q2_k;
      break;
    case GgmlType::Q3_K:
      block = block_q3_k;
      break;
    case GgmlType::Q4_K:
      block = block_q4_k;
      break;
    case GgmlType::Q5_K:
      block = block_q5_k;
      break;
    case GgmlType::Q6_K:
      block = block_q6_k;
      break;
    case GgmlType::IQ4_NL:
      block = block_iq4_nl;
      break;
    case GgmlType::IQ4_XS:
      block = block_iq4_xs;
      break;
    default:
      return false;  // F32, F16, BF16, Q8_0: ggml ignores the importance
  }
  const auto traits = *gguf::type_traits(ggml_type);
  const uint64_t be = traits.block_elems;
  const uint64_t bb = traits.block_bytes;
  if (legacy != nullptr) {
    const float sigma2 = sum_squares(x, static_cast<int64_t>(n)) / static_cast<float>(n);
    for (uint64_t b = 0; b < n / be; ++b) legacy(x + b * be, qw + b * be, sigma2, dst + b * bb);
  } else {
    for (uint64_t b = 0; b < n / be; ++b) block(x + b * be, dst + b * bb, qw + b * be);
  }
  return true;
}

}  // namespace vkr::qblocks
