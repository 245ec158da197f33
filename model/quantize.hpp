// Weight quantization on the CPU: f32 rows -> the ggml block types the kernels read (spec §6.3),
// the inverse of dequant.hpp. Used by `vkrwkv quantize`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkr {

// True for the types quantize_row() encodes: every type dequantize_row() decodes (F32 F16 BF16
// Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K..Q6_K IQ4_NL IQ4_XS IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS
// IQ3_S).
bool quantize_supported(uint32_t ggml_type);
// True for the types that can only be encoded with importance weights (IQ1_S, IQ2_XXS, IQ2_XS):
// as in ggml, their 1-2-bit codes are placed by them; quantize_row() without them throws.
bool quantize_needs_importance(uint32_t ggml_type);

// Encodes `n` floats into `dst` (n / block_elems * block_bytes bytes). `n` must be a multiple of
// the type's block size (else vkr::Error InvalidArgument); an unsupported type throws
// InvalidArgument naming it. The searches and the rounding of every step are those of ggml's
// reference quantizers (what llama-quantize runs without an importance matrix), so the same f32
// values give the same bytes as llama.cpp, and requantizing a decoded Q8_0 / Q4_0 / Q5_0 / Q5_1
// block gives back its bytes. Inputs must be finite (callers check: a NaN would make a NaN scale).
//
// importance: null, or one weight per column of this row (n entries; `n` is then one whole
// row: several ggml quantizers derive a statistic such as sigma2 = mean(x^2) over the row). With
// it the bytes are those of ggml_quantize_chunk(type, src, dst, 0, 1, n, importance), what
// llama-quantize writes given an imatrix (the mean squared activation of each input column): the
// scales minimize the importance-weighted error instead. Weights must be finite and >= 0 (0 is
// allowed, also everywhere). F32, F16, BF16 and Q8_0 ignore it, as ggml does.
void quantize_row(uint32_t ggml_type, const float* src, std::byte* dst, uint64_t n,
                  const float* importance = nullptr);

}  // namespace vkr
