// wkv.hpp: the WKV6 / GLA recurrence kernels (spec §3.4, §5): shared arguments, the one policy
// that picks the sequential (wkv_decode) or chunked (wkv_prefill) kernel, and wkv() dispatching it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vkr/capabilities.hpp"
#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr {
class Context;
}

namespace vkr::kernels {

// Rwkv6: bonus u, y reads M_{t-1}, scale 1. Gla (QRWKV6): k already scaled by (1 - w), y reads the
// updated M_t, scale S^-1/2, no bonus. Same values as MODE in the shaders.
enum class WkvMode : uint32_t { Rwkv6 = 0, Gla = 1 };

// B sequences of T tokens, H heads of size S, all in one dispatch. S must be a multiple of 32 in
// [32, 256]. T = 0 records nothing.
struct WkvArgs {
  WkvMode mode = WkvMode::Rwkv6;
  Tensor r;            // (B, T, H, S) f32 or f16 (r, k, v share one dtype)
  Tensor k;            // (B, T, H, S)
  Tensor v;            // (B, T, H, S)
  Tensor logw;         // (B, T, H, S) f32 log-decay, <= 0 (w = exp(logw))
  Tensor u;            // (H, S) f32 bonus; Rwkv6 only (ignored for Gla: may be left empty)
  Tensor state;        // (B, H, S, S) f32 in/out, [b][h][i][j], i = key row, j = value column
  Tensor y;            // (B, T, H, S) f32 out
  float scale = 1.0f;  // y multiplier: wkv_default_scale(mode, S)
  // f32 workspace of the chunk-parallel kernel (wkv_chunkpar_scratch_bytes() / 4 elements, 1-D;
  // clobbered). Optional: without one (or one too small for a single chunk) wkv() never picks
  // that kernel.
  Tensor scratch;
  // Largest activation binding in bytes before wkv_decode / wkv_prefill bind a call per sequence
  // and token window (record_wkv_windows); 0 = the device's maxStorageBufferRange. Tests lower it.
  uint64_t max_binding_bytes = 0;
};

// 1 for Rwkv6, S^-1/2 for Gla (spec §3.4.2).
float wkv_default_scale(WkvMode mode, uint32_t S);

struct WkvDims {
  uint32_t B = 0, T = 0, H = 0, S = 0;
};

// Mirrors `Params p` in shaders/common/wkv_io.glsl (both kernels).
struct WkvPush {
  uint32_t B, T, H;
  float scale;
  uint32_t t0, tn;  // token window [t0, t0 + tn) of this dispatch
};
static_assert(sizeof(WkvPush) == 24 && offsetof(WkvPush, t0) == 16);

// Records one dispatch per window of at most `window` tokens (a barrier between windows, which
// hand the state on through memory). Shared by wkv_decode and wkv_prefill. When y would exceed
// args.max_binding_bytes (0: the device's maxStorageBufferRange) each sequence's windows are
// bound as separate (1, tn, H, S) slices instead (grid z = 1), as many tokens per window as fit.
void record_wkv_windows(const Capabilities& caps, Recorder& rec, const Kernel& kernel,
                        const WkvArgs& args, const WkvDims& d, uint32_t window, Grid grid);

// Tokens one dispatch may cover so that no invocation runs more than ~60000 dynamic loop
// iterations (lavapipe's limiter stops loops at 65535, see common/wkv_io.glsl); unlimited on GPUs.
uint32_t wkv_window_tokens(const Capabilities& caps, uint32_t iterations_per_token);

// Checks every shape/dtype/limit of `args` for `kernel` (names it in the ShapeMismatch message)
// and that f16 storage is available when used (DeviceUnsupported). Returns the dimensions.
WkvDims check_wkv_args(const Context& ctx, const char* kernel, const WkvArgs& args);

// Decode: sequential (wkv_decode). Prefill: chunked, one workgroup walking a sequence's chunks
// (wkv_prefill). ChunkPar: chunk-parallel three-pass kernel (wkv_chunkpar, needs args.scratch).
enum class WkvKernel { Decode, Prefill, ChunkPar };

// CPU devices: always sequential; GPUs: sequential for short calls, chunk-parallel for long ones.
// See the measurements in wkv.cpp.
WkvKernel choose_wkv_kernel(const Capabilities& caps, int B, int H, int T, int S);

// Records the kernel choose_wkv_kernel() picks (the sequential one instead of ChunkPar when
// args.scratch cannot hold one chunk).
void wkv(Context& ctx, Recorder& rec, const WkvArgs& args);

}  // namespace vkr::kernels
