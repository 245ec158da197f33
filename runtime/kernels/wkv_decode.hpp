// wkv_decode.hpp: host twin of shaders/wkv_decode.comp, the sequential WKV6 / GLA recurrence
// (decode and short prompts). Arguments, modes and the push block are shared with wkv_prefill
// (kernels/wkv.hpp).
#pragma once

#include "kernels/wkv.hpp"

namespace vkr::kernels {

// Tiling chosen for a device and head size (exposed for tests and benches).
struct WkvDecodeConfig {
  uint32_t wg = 0;  // invocations per workgroup, each owning 4 value columns; 4 * wg divides S
};
WkvDecodeConfig wkv_decode_config(const Capabilities& caps, uint32_t S);

void wkv_decode(Context& ctx, Recorder& rec, const WkvArgs& args);

}  // namespace vkr::kernels
