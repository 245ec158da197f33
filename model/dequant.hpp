// Weight dequantization to f32 for the ggml types our models use (spec §6.3), done on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf.hpp"

namespace vkr {

// IEEE binary16 bits -> float, by hand (subnormals, signed zeros, inf and NaN preserved).
float half_to_float(uint16_t bits);

// True for the types dequantize_row() decodes: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S.
bool dequantize_supported(uint32_t ggml_type);

// Decodes `n` consecutive elements starting at a block boundary of `src` into `dst`. `n` must be a
// multiple of the type's block size (else vkr::Error InvalidArgument); an unsupported type throws
// vkr::Error(BadModelFile) naming the type. Arithmetic order follows ggml's reference
// dequantizers so results are bit-identical to them.
void dequantize_row(uint32_t ggml_type, const std::byte* src, float* dst, uint64_t n);

// All elements of a tensor of `file`, ne0 fastest (row-major in math order). Throws
// vkr::Error(BadModelFile) naming the tensor and its type when the type is unsupported.
std::vector<float> dequantize_tensor(const gguf::File& file, const gguf::TensorInfo& tensor);

}  // namespace vkr
