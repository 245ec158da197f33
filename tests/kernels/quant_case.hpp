// quant_case.hpp: random block-quantized weights for the quantized-kernel tests and benches:
// valid blocks of every type (random integer fields, chosen f16 scales) with extreme scales,
// all-zero blocks and negative-zero scales mixed in, decoded on the CPU by model/dequant.cpp (the
// reference every GPU result is compared with).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dequant.hpp"
#include "gguf_types.hpp"
#include "support/half.hpp"
#include "support/random.hpp"
#include "vkr/tensor.hpp"

namespace vkr::test {

// The types every gemv_q layout decodes.
inline constexpr DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q5_0,   DType::Q5_1,
                                        DType::Q4_K, DType::Q5_K, DType::Q6_K,   DType::Q4_1,
                                        DType::Q2_K, DType::Q3_K, DType::IQ4_NL, DType::IQ4_XS};
// The codebook i-quants (quant.glsl units only: gemv_q's layout 0, gemm_q, embed_q).
inline constexpr DType kGridQuantTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S,
                                            DType::IQ3_XXS, DType::IQ3_S,  DType::IQ1_S,
                                            DType::IQ1_M};
inline constexpr auto kAllQuantTypes = [] {
  std::array<DType, std::size(kQuantTypes) + std::size(kGridQuantTypes)> all{};
  size_t i = 0;
  for (DType t : kQuantTypes) all[i++] = t;
  for (DType t : kGridQuantTypes) all[i++] = t;
  return all;
}();

inline gguf::GgmlType ggml_of(DType t) {
  switch (t) {
    case DType::Q8_0: return gguf::GgmlType::Q8_0;
    case DType::Q4_0: return gguf::GgmlType::Q4_0;
    case DType::Q5_0: return gguf::GgmlType::Q5_0;
    case DType::Q5_1: return gguf::GgmlType::Q5_1;
    case DType::Q4_K: return gguf::GgmlType::Q4_K;
    case DType::Q5_K: return gguf::GgmlType::Q5_K;
    case DType::Q4_1: return gguf::GgmlType::Q4_1;
    case DType::Q2_K: return gguf::GgmlType::Q2_K;
    case DType::Q3_K: return gguf::GgmlType::Q3_K;
    case DType::IQ4_NL: return gguf::GgmlType::IQ4_NL;
    case DType::IQ4_XS: return gguf::GgmlType::IQ4_XS;
    case DType::IQ2_XXS:
      return gguf::GgmlType::IQ2_XXS;
    case DType::IQ2_XS:
      return gguf::GgmlType::IQ2_XS;
    case DType::IQ2_S:
      return gguf::GgmlType::IQ2_S;
    case DType::IQ3_XXS:
      return gguf::GgmlType::IQ3_XXS;
    case DType::IQ3_S:
      return gguf::GgmlType::IQ3_S;
    case DType::IQ1_S:
      return gguf::GgmlType::IQ1_S;
    case DType::IQ1_M:
      return gguf::GgmlType::IQ1_M;
    default: return gguf::GgmlType::Q6_K;
  }
}

// Byte offsets of a block's f16 fields: the scale d and (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) the min /
// dmin.
struct HalfFields {
  uint32_t d, m;  // m == UINT32_MAX: none
};
inline HalfFields half_fields(DType t) {
  switch (t) {
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return {0, 2};
    case DType::Q6_K: return {208, UINT32_MAX};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108, UINT32_MAX};
    default: return {0, UINT32_MAX};
  }
}

// Typical |scale| giving weights of about `mag`: the largest quantized magnitude per type.
inline float typical_scale(DType t, float mag) {
  switch (t) {
    case DType::Q8_0: return mag / 127.0f;
    case DType::Q4_0: return mag / 8.0f;
    case DType::Q5_0: return mag / 16.0f;
    case DType::Q5_1: return mag / 31.0f;
    case DType::Q4_K: return mag / (15.0f * 63.0f);
    case DType::Q5_K: return mag / (31.0f * 63.0f);
    case DType::Q4_1: return mag / 15.0f;
    case DType::Q2_K: return mag / (3.0f * 15.0f);
    case DType::Q3_K: return mag / (4.0f * 32.0f);
    case DType::IQ4_NL: return mag / 127.0f;
    case DType::IQ4_XS: return mag / (127.0f * 32.0f);
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
      return mag / (43.0f * 15.5f * 0.25f);
    case DType::IQ3_XXS:
      return mag / (62.0f * 15.5f * 0.5f);
    case DType::IQ3_S:
      return mag / (15.0f * 31.0f);
    case DType::IQ1_S:
    case DType::IQ1_M:
      return mag / (1.125f * 15.0f);
    default: return mag / (32.0f * 127.0f);
  }
}

struct QuantWeights {
  std::vector<std::byte> bytes;  // as the GGUF file stores them
  std::vector<float> values;     // dequantize_row() of the bytes
};

// rows x k weights (k a multiple of the block). `extremes`: some blocks get scales of 65504 (f16
// max), the smallest subnormal, +0 or -0, and some are all zero bytes.
inline QuantWeights make_quant_weights(Rng& rng, DType t, uint64_t rows, uint64_t k, float mag,
                                       bool extremes) {
  const BlockLayout bl = dtype_block(t);
  const uint64_t nblocks = rows * k / bl.elems;
  QuantWeights w;
  w.bytes.resize(nblocks * bl.bytes);
  std::vector<float> noise = rng.uniform_vec(w.bytes.size(), 0.0f, 256.0f);
  for (size_t i = 0; i < w.bytes.size(); ++i) {
    w.bytes[i] = static_cast<std::byte>(static_cast<uint32_t>(noise[i]) & 0xFFu);
  }
  const HalfFields hf = half_fields(t);
  const float base = typical_scale(t, mag);
  std::vector<float> u = rng.uniform_vec(2 * nblocks, -1.0f, 1.0f);
  auto put = [&](uint64_t b, uint32_t off, uint16_t h) {
    std::memcpy(&w.bytes[b * bl.bytes + off], &h, 2);
  };
  for (uint64_t b = 0; b < nblocks; ++b) {
    const float d = base * (0.25f + std::abs(u[2 * b])) * (u[2 * b] < 0 ? -1.0f : 1.0f);
    uint16_t dh = f32_to_f16_bits(d), mh = f32_to_f16_bits(base * u[2 * b + 1] * 4.0f);
    if (extremes) {
      switch (b % 13) {
        case 3: dh = 0x7BFF; break;  // 65504
        case 5: dh = 0x0001; break;  // 2^-24
        case 7: dh = 0x8000; mh = 0x8000; break;  // -0
        case 9: dh = 0x0000; break;
        case 11: mh = 0xFBFF; break;  // min / dmin -65504
        default: break;
      }
    }
    if (t == DType::IQ1_M) {
      // no d field: its 16 bits are the top nibbles of the four u16 scale words at byte 48
      for (uint32_t i = 0; i < 4; ++i) {
        uint16_t word = 0;
        std::memcpy(&word, &w.bytes[b * bl.bytes + 48 + 2 * i], 2);
        put(b, 48 + 2 * i,
            static_cast<uint16_t>((word & 0x0FFF) | (((dh >> (4 * i)) & 0xF) << 12)));
      }
    } else {
      put(b, hf.d, dh);
    }
    if (hf.m != UINT32_MAX) put(b, hf.m, mh);
    if (extremes && b % 17 == 8) {
      std::memset(&w.bytes[b * bl.bytes], 0, bl.bytes);
    }
  }
  w.values.resize(rows * k);
  dequantize_row(static_cast<uint32_t>(ggml_of(t)), w.bytes.data(), w.values.data(), rows * k);
  return w;
}

}  // namespace vkr::test
