// Weight quantization on the CPU: f32 rows -> the ggml block types the kernels read (spec §6.3),
// the inverse of dequant.hpp. Used by `vkrwkv quantize`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkr {

// True for the types quantize_row() encodes: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K,
// Q6_K (every type dequantize_row() decodes).
bool quantize_supported(uint32_t ggml_type);

// Encodes `n` floats into `dst` (n / block_elems * block_bytes bytes). `n` must be a multiple of
// the type's block size (else vkr::Error InvalidArgument); an unsupported type throws
// InvalidArgument naming it. The searches and the rounding of every step are those of ggml's
// reference quantizers (what llama-quantize runs without an importance matrix), so the same f32
// values give the same bytes as llama.cpp, and requantizing a decoded Q8_0 / Q4_0 / Q5_0 / Q5_1
// block gives back its bytes. Inputs must be finite (callers check: a NaN would make a NaN scale).
void quantize_row(uint32_t ggml_type, const float* src, std::byte* dst, uint64_t n);

}  // namespace vkr
