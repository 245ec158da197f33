// linear_q.hpp: host twins of shaders/gemv_q.comp and shaders/gemm_q.comp, the linear layer over
// block-quantized weights (decoded in place). gemv() and gemm() forward here when the weight dtype
// is quantized; linear() keeps the one gemv-vs-gemm policy.
#pragma once

#include "kernels/gemm.hpp"

namespace vkr::kernels {

// The gemv_q / gemm_q / embed_q build variant of a quantized dtype (throws ShapeMismatch naming
// `kernel` for a non-quantized one).
enum class QuantFamily { Gemv, GemvTex, Gemm, Embed };  // GemvTex: gemv_q_tex.comp
ShaderId quant_shader(QuantFamily family, DType dtype, std::string_view kernel);

// y = epilogue(x·Wᵀ) for T <= kGemvMaxTokens with quantized W (and W_up). Shapes must already
// have passed detail::check_linear (d).
void gemv_q(Context& ctx, Recorder& rec, const LinearArgs& args, const detail::LinearDims& d);

// The same for any T: `direct` selects gemm_q's DIRECT path (CPU devices, no shared memory);
// otherwise `tiles` forces the tiled path's tiling (bk must be 32; tiled_config_error applies).
void gemm_q(Context& ctx, Recorder& rec, const LinearArgs& args, const detail::LinearDims& d,
            bool direct, const GemmTileConfig* tiles = nullptr);

}  // namespace vkr::kernels
