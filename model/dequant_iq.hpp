// dequant_iq.hpp: CPU decoders of the codebook i-quants (dequant.cpp's twin for IQ1_S, IQ1_M,
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S; shaders/common/quant.glsl decodes them on the GPU).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkr::detail {

using IqBlockFn = void (*)(const std::byte* block, float* out256);

// The decoder of one 256-element block of `ggml_type`, or null for the other types. Arithmetic
// follows ggml's reference dequantizers, so results are bit-identical to them.
IqBlockFn iq_block_decoder(uint32_t ggml_type);

}  // namespace vkr::detail
