// iq_grids.hpp: the codebooks of ggml's i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S), whose blocks store indices into fixed grids of 4 or 8 small values. The grids are part
// of the file format (every decoder needs the same values), kept as data in
// runtime/data/iq_grids.bin: extracted from ggml's own dequantizers by
// model/tools/llama_iquant_refs.py, which also checks them against ggml on random blocks.
#pragma once

#include <cstdint>
#include <span>

namespace vkr::iq {

// Word offsets of each grid in grid_words() (shaders/common/quant.glsl's Q_GRID_OFF agree).
// 8-value grids take 2 words an entry (byte j = value j), 4-value grids one word.
inline constexpr uint32_t kIq2xxsGrid = 0;     // 256 entries of 8 unsigned values (8, 25, 43)
inline constexpr uint32_t kIq2xsGrid = 512;    // 512 entries of 8
inline constexpr uint32_t kIq2sGrid = 1536;    // 1024 entries of 8
inline constexpr uint32_t kIq3xxsGrid = 3584;  // 256 entries of 4 unsigned values
inline constexpr uint32_t kIq3sGrid = 3840;    // 512 entries of 4
inline constexpr uint32_t kIq1sGrid = 4352;    // 2048 entries of 8 signed values (-1, 0, 1)
inline constexpr uint32_t kGridWords = 8448;

// All grids, kGridWords little-endian words.
std::span<const uint32_t> grid_words();

// The 8 sign bits (bit j set: value j negative) of a 7-bit sign index of IQ2_XXS / IQ2_XS /
// IQ3_XXS: the 8th bit makes the number of negative values even.
constexpr uint32_t signs_of(uint32_t index) {
  uint32_t parity = 0;
  for (uint32_t v = index; v != 0; v >>= 1) parity ^= v & 1u;
  return index | (parity << 7);
}

}  // namespace vkr::iq
