// wkv_chunkpar.hpp: host twin of the chunk-parallel WKV6 / GLA recurrence (spec §5), three passes
// per token window: wkv_chunkpar_states.comp (per chunk D_c and decay, parallel over chunks),
// wkv_chunkpar_scan.comp (M_in of every chunk and the final state, parallel over state entries,
// sequential over chunks) and wkv_chunkpar_output.comp (per chunk Y, parallel over chunks).
// Arguments, modes and the push block are shared with wkv_decode / wkv_prefill (kernels/wkv.hpp);
// the per-chunk states live in the caller's WkvArgs::scratch.
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/wkv.hpp"

namespace vkr::kernels {

// Tiling of the three passes for a device and head size (exposed for tests and benches).
struct WkvChunkParConfig {
  uint32_t l = 0;  // chunk length L (power of two, 16..64)
  // states pass: value tile, row groups, token block, workgroup size (rg * vt / 4)
  uint32_t vt = 0, rg1 = 0, ts = 0, wg1 = 0;
  // output pass: channel slice, row groups, cumsum segments, workgroup size (rg * S / 4)
  uint32_t ks = 0, rg3 = 0, seg = 0, wg3 = 0;
  uint32_t wg2 = 0;  // scan pass workgroup size
  // Passes recorded (bit 0 states, 1 scan, 2 output): benches time one pass alone with a single
  // bit; anything but 7 leaves y and the state incomplete.
  uint32_t passes = 7;
};
// The chunk length calls of T tokens use by default: 16 on GPUs below 64 tokens (one or a few
// chunks: fewer wasted rows; measured, see choose_wkv_kernel), else 32.
uint32_t wkv_chunkpar_default_length(const Capabilities& caps, uint32_t T);

// `l` = 0: 32 (see wkv_chunkpar_default_length for the per-call choice). Throws DeviceUnsupported
// when the shared arrays do not fit the device.
WkvChunkParConfig wkv_chunkpar_config(const Capabilities& caps, uint32_t S, uint32_t l = 0);

// Scratch bytes one chunk of every (sequence, head) needs: a window of w chunks needs w times this.
uint64_t wkv_chunkpar_chunk_bytes(uint32_t B, uint32_t H, uint32_t S);

// Scratch bytes for a whole call of (B, T, H, S) with the default chunk length for T, capped
// (the kernel then splits the call into token windows carrying the state) at the smaller of
// 64 MiB (the largest window the kernel uses) and maxStorageBufferRange, but never below one
// chunk. Callers allocate WkvArgs::scratch (f32, 1-D) with at least this many bytes / 4
// elements, or any size holding one chunk.
uint64_t wkv_chunkpar_scratch_bytes(const Capabilities& caps, uint32_t B, uint32_t T, uint32_t H,
                                    uint32_t S);

// Records the three passes per window. Needs args.scratch (f32) holding at least one chunk
// (ShapeMismatch otherwise). `config` overrides the device's tiling and the default chunk length
// (tests, benches).
void wkv_chunkpar(Context& ctx, Recorder& rec, const WkvArgs& args,
                  const std::optional<WkvChunkParConfig>& config = std::nullopt);

}  // namespace vkr::kernels
