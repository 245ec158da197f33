// wkv_decode.hpp: host twin of shaders/wkv_decode.comp, the sequential WKV6 / GLA recurrence
// (decode and short prompts). Arguments, modes and the push block are shared with wkv_prefill
// (kernels/wkv.hpp).
#pragma once

#include <optional>

#include "kernels/wkv.hpp"

namespace vkr::kernels {

// Tiling chosen for a device and head size (exposed for tests and benches).
struct WkvDecodeConfig {
  uint32_t cols = 4;  // value columns per invocation: 1, 4, 8 or 16 (CPU devices 8, GPUs 1)
  uint32_t wg = 0;    // invocations per workgroup; cols * wg divides S
  // r, k, v, logw and u through texel buffers (the f32tex / f16tex builds): CPU devices, where
  // texel fetches are vector loads. Taken only where every tensor allows it (vkr-owned buffer,
  // offset on minTexelBufferOffsetAlignment), else the storage build runs.
  bool texel = false;
};
WkvDecodeConfig wkv_decode_config(const Capabilities& caps, uint32_t S);

// `config` overrides the device's choice (tests run both layouts on any device).
void wkv_decode(Context& ctx, Recorder& rec, const WkvArgs& args,
                const std::optional<WkvDecodeConfig>& config = std::nullopt);

}  // namespace vkr::kernels
