// Block encoders for F32/F16/BF16 and the legacy ggml types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, and the
// dispatch to the K-quant (quantize_kquants.cpp), IQ4 (quantize_iq4.cpp) and codebook i-quant
// (quantize_iq_grid.cpp, quantize_iq1.cpp) ones, or with an importance vector to the weighted path
// (quantize_weighted.cpp). Each follows the
// arithmetic of ggml's reference quantizer step by step (same scale formulas, same search grids,
// same evaluation order of every float expression), because a quantizer that merely "looks like" it
// makes different files: llama.cpp users compare file hashes and perplexities across tools, and the
// tests check our bytes against llama-quantize's.
#include "quantize.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vkr/error.hpp>

#include "gguf_types.hpp"
#include "quantize_blocks.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;
using namespace qblocks;  // NOLINT(google-build-using-namespace): the shared block helpers

// The smallest and largest value of a block (Q4_1 / Q5_1 code the range between them).
void min_max(const float* x, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

// ---- legacy 32-element blocks ------------------------------------------------------------------

// Q8_0 {f16 d; i8 qs[32]}: d = amax / 127, q = round(x / d) (half away from zero).
void block_q8_0(const float* x, std::byte* out) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  for (int j = 0; j < kQK; ++j) out[2 + j] = b8(static_cast<int>(std::round(x[j] * id)));
}

// Q4_0 {f16 d; u8 qs[16]}: d = max / -8 so the extreme value lands exactly on code 0; elements
// 0..15 in the low nibbles, 16..31 in the high ones.
void block_q4_0(const float* x, std::byte* out) {
  const float d = signed_absmax(x, kQK) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  std::array<uint8_t, kQK> L{};
  for (size_t j = 0; j < kQK; ++j) {
    const auto q = static_cast<int8_t>(x[j] * id + 8.5f);  // ggml truncates to int8_t, then clamps
    L[j] = static_cast<uint8_t>(std::min<int>(15, q));
  }
  pack_nibbles(L.data(), out + 2);
}

// Q5_0 {f16 d; u32 qh; u8 qs[16]}: d = max / -16, 5-bit codes, the 5th bit of element j in bit j
// of qh.
void block_q5_0(const float* x, std::byte* out) {
  const float d = signed_absmax(x, kQK) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  std::array<uint8_t, kQK> L{};
  for (size_t j = 0; j < kQK; ++j) {
    const auto q = static_cast<int8_t>(x[j] * id + 16.5f);
    L[j] = static_cast<uint8_t>(std::min<int>(31, q));
  }
  pack_q5(L.data(), out + 2, out + 6);
}

// Q5_1 {f16 d; f16 m; u32 qh; u8 qs[16]}: x = d * q + m with m the block minimum.
void block_q5_1(const float* x, std::byte* out) {
  float min = 0;
  float max = 0;
  min_max(x, min, max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  store_half(out + 2, min);
  std::array<uint8_t, kQK> L{};
  for (size_t j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
  pack_q5(L.data(), out + 4, out + 8);
}

// Q4_1 {f16 d; f16 m; u8 qs[16]}: Q5_1 with 4 bits, no qh.
void block_q4_1(const float* x, std::byte* out) {
  float min = 0;
  float max = 0;
  min_max(x, min, max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  store_half(out + 2, min);
  std::array<uint8_t, kQK> L{};
  for (size_t j = 0; j < kQK; ++j) {
    const auto q = static_cast<int8_t>((x[j] - min) * id + 0.5f);
    L[j] = static_cast<uint8_t>(std::min<int>(15, q));
  }
  pack_nibbles(L.data(), out + 4);
}

// The K-quant / IQ4 encoders' reference path (no importance weights).
template <void (*Encode)(const float*, std::byte*, const float*)>
void reference(const float* x, std::byte* out) {
  Encode(x, out, nullptr);
}

}  // namespace

// Every decodable type has an encoder.
bool quantize_supported(uint32_t ggml_type) { return dequantize_supported(ggml_type); }

bool quantize_needs_importance(uint32_t ggml_type) {
  return iq_grid_needs_importance(ggml_type) || static_cast<GgmlType>(ggml_type) == GgmlType::IQ1_S;
}

void quantize_row(uint32_t ggml_type, const float* src, std::byte* dst, uint64_t n,
                  const float* importance) {
  const auto traits = gguf::type_traits(ggml_type);
  require(traits.has_value() && quantize_supported(ggml_type), ErrorCode::InvalidArgument,
          "quantize_row: cannot encode {}", gguf::type_name(ggml_type));
  require(n % traits->block_elems == 0, ErrorCode::InvalidArgument,
          "quantize_row: {} elements are not a whole number of {} blocks of {}", n, traits->name,
          traits->block_elems);
  if (quantize_row_iq_grid(ggml_type, src, dst, n, importance)) return;
  if (quantize_row_iq1(ggml_type, src, dst, n, importance)) return;
  if (importance != nullptr && quantize_row_weighted(ggml_type, src, dst, n, importance)) return;
  const uint64_t blocks = n / traits->block_elems;
  const uint64_t bb = traits->block_bytes;
  void (*block)(const float*, std::byte*) = nullptr;
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::F32:
      for (uint64_t i = 0; i < n; ++i) store_u32(dst + 4 * i, std::bit_cast<uint32_t>(src[i]));
      return;
    case GgmlType::F16:
      for (uint64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, gguf::float_to_half(src[i]));
      return;
    case GgmlType::BF16:
      for (uint64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, gguf::float_to_bf16(src[i]));
      return;
    case GgmlType::Q8_0:
      block = block_q8_0;
      break;
    case GgmlType::Q4_0:
      block = block_q4_0;
      break;
    case GgmlType::Q5_0:
      block = block_q5_0;
      break;
    case GgmlType::Q5_1:
      block = block_q5_1;
      break;
    case GgmlType::Q4_K:
      block = reference<block_q4_k>;
      break;
    case GgmlType::Q5_K:
      block = reference<block_q5_k>;
      break;
    case GgmlType::Q6_K:
      block = reference<block_q6_k>;
      break;
    case GgmlType::Q4_1:
      block = block_q4_1;
      break;
    case GgmlType::Q2_K:
      block = reference<block_q2_k>;
      break;
    case GgmlType::Q3_K:
      block = reference<block_q3_k>;
      break;
    case GgmlType::IQ4_NL:
      block = reference<block_iq4_nl>;
      break;
    case GgmlType::IQ4_XS:
      block = reference<block_iq4_xs>;
      break;
    default:
      break;
  }
  // Every type quantize_supported() names has an encoder above; a new decoder without one is a
  // programming error, not a null call.
  require(block != nullptr, ErrorCode::InvalidArgument, "quantize_row: no encoder for {}",
          traits->name);
  for (uint64_t b = 0; b < blocks; ++b) block(src + b * traits->block_elems, dst + b * bb);
}

}  // namespace vkr
