// wkv_prefill.hpp: host twin of shaders/wkv_prefill.comp, the chunked-parallel WKV6 / GLA
// recurrence (spec §5) for prompts. Arguments, modes and the push block are shared with wkv_decode
// (kernels/wkv.hpp).
#pragma once

#include "kernels/wkv.hpp"

namespace vkr::kernels {

// Tiling chosen for a device and head size (exposed for tests and benches).
struct WkvPrefillConfig {
  uint32_t l = 0;    // chunk length L
  uint32_t vpt = 0;  // value columns per invocation
  uint32_t wg = 0;   // invocations per workgroup; the value tile is wg * vpt columns (divides S)
  uint32_t u = 0;    // state rows per dynamic row-loop iteration (divides S)
};
// Throws DeviceUnsupported when even L = 8 does not fit the device's shared memory.
WkvPrefillConfig wkv_prefill_config(const Capabilities& caps, uint32_t S);

void wkv_prefill(Context& ctx, Recorder& rec, const WkvArgs& args);

}  // namespace vkr::kernels
