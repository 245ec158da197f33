// gemv.hpp: host twin of shaders/gemv.comp, the bandwidth-bound linear layer for T <= 8 tokens.
#pragma once

#include "kernels/linear.hpp"

namespace vkr::kernels {

using GemvArgs = LinearArgs;  // x (T, K) with T <= kGemvMaxTokens; see linear.hpp

// Records y = epilogue(x·Wᵀ) reading every weight once for all T tokens. Weights larger than the
// binding limit are split into row windows (one dispatch each). Throws ShapeMismatch (before
// recording anything) on inconsistent shapes or T > kGemvMaxTokens.
void gemv(Context& ctx, Recorder& rec, const GemvArgs& args);

// Launch configuration (spec constants) the twin picks from ctx.caps(); exposed for bench notes.
struct GemvConfig {
  uint32_t workgroup = 0, rows = 0, max_subgroups = 0;
  bool w64 = false;    // gemv_w64.comp (64-bit-word loads: CPU devices with shaderInt64)
  bool texel = false;  // gemv_tex.comp where the shape allows (CPU devices: vectorized fetches)
};
GemvConfig gemv_config(const Capabilities& caps, uint32_t tokens, Epilogue epilogue);

}  // namespace vkr::kernels
