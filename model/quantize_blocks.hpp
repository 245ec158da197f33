// quantize_blocks.hpp: what the block encoders of model/quantize*.cpp share (byte stores, ggml's
// rounding, the signed extreme of a group) and the encoders quantize.cpp dispatches to. Internal
// to vkr_quantize.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dequant.hpp"
#include "gguf_writer.hpp"

namespace vkr::qblocks {

inline constexpr int kQK = 32;    // elements per block of the legacy types
inline constexpr int kQKK = 256;  // elements per K-quant super-block
// Below this a group counts as all zeros (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even: what ggml's nearest_int computes with its 1.5 * 2^23 trick
// (valid there for |v| < 2^22, which every caller's value is).
inline int nearest(float v) { return static_cast<int>(std::lrintf(v)); }

inline void store_u16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v & 0xFF);
  p[1] = static_cast<std::byte>(v >> 8);
}
inline void store_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}
inline void store_half(std::byte* p, float v) { store_u16(p, gguf::float_to_half(v)); }
inline uint16_t load_u16(const std::byte* p) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(p[0]) |
                               (std::to_integer<uint16_t>(p[1]) << 8));
}
// The value a scale has once stored as f16 (the later steps use the stored one, as decode does).
inline float as_stored_half(float v) { return half_to_float(gguf::float_to_half(v)); }
inline std::byte b8(int v) { return static_cast<std::byte>(static_cast<uint8_t>(v)); }

// The element of largest magnitude, with its sign (the first one on ties).
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// One block of `x` (32 or 256 values) into `out`, as ggml's reference quantizers write it.
// quantize_kquants.cpp:
void block_q2_k(const float* x, std::byte* out);
void block_q3_k(const float* x, std::byte* out);
void block_q4_k(const float* x, std::byte* out);
void block_q5_k(const float* x, std::byte* out);
void block_q6_k(const float* x, std::byte* out);
// quantize_iq4.cpp:
void block_iq4_nl(const float* x, std::byte* out);
void block_iq4_xs(const float* x, std::byte* out);

}  // namespace vkr::qblocks
