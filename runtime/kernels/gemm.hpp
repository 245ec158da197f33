// gemm.hpp: host twin of shaders/gemm.comp (portable tiled path) and shaders/gemm_coopmat.comp
// (VK_NV_cooperative_matrix path), the prefill linear layer; the path choice lives here only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kernels/linear.hpp"

namespace vkr::kernels {

using GemmArgs = LinearArgs;  // any T; see linear.hpp

enum class GemmPath : uint32_t {
  Auto = 0,   // choose_gemm_path()
  Tiled,      // gemm.comp: shared-memory tiles + register blocking, every device and dtype
  CoopMatNV,  // gemm_coopmat.comp: f16 weights, tensor cores (a KHR path would be added here)
  Direct,     // gemm.comp DIRECT: 8x8 register blocks straight from memory, no shared memory and
              // no barrier: CPU implementations (llvmpipe), every dtype
};

// The one selection rule: CoopMatNV when the weights are f16 and the device offers
// VK_NV_cooperative_matrix with a 16x16x16 or 16x8x16 f16 -> f32 subgroup shape, shaderFloat16
// and enough shared memory for `epilogue`'s tiles; else Direct on CPU devices (lavapipe: shared
// memory costs as much as global memory there, and barriers are context switches); Tiled on
// every other device.
GemmPath choose_gemm_path(const Capabilities& caps, DType w_dtype, Epilogue epilogue);

// Why CoopMatNV cannot run here (empty when it can): for test skips and bench notes.
std::string coopmat_unavailable_reason(const Capabilities& caps, DType w_dtype, Epilogue epilogue);

// gemm_coopmat.comp's tiling (spec constants 1..7 and 10; see the shader's header): a workgroup of
// wm x wn x ks subgroups of sg invocations owns a bm() x bn() tile of y; each subgroup holds
// fm x fn accumulator fragments of 16 x cn, and K advances bk columns per step (ks subgroups
// split each step's columns, their partial sums are added in the epilogue).
struct CoopMatConfig {
  uint32_t wm = 2, wn = 4, ks = 1, fm = 4, fn = 2, cn = 16, bk = 64, sg = 32;
  uint32_t subgroups() const { return wm * wn * ks; }
  uint32_t invocations() const { return subgroups() * sg; }
  uint32_t bm() const { return 16 * fm * wm; }
  uint32_t bn() const { return cn * fn * wn; }
  // Shared memory with `nw` weight matrices (2 for SwiGLU): padded f16 tiles + f32 staging.
  uint32_t shared_bytes(uint32_t nw) const {
    const uint32_t row = (bk / 8 + 1) * 16;  // bytes per padded tile row
    return bm() * row + nw * bn() * row + subgroups() * nw * 16 * cn * 4;
  }
  bool operator==(const CoopMatConfig&) const = default;
};

// The N of the 16 x N x 16 f16 x f16 -> f32 VK_NV_cooperative_matrix shape gemm_coopmat uses (16
// preferred, else 8), or 0 when the device has no such shape, no extension or no shaderFloat16.
uint32_t coopmat_nv_f16_n(const Capabilities& caps);

// Why `c` cannot run on this device with this epilogue (empty when it can): shared memory,
// workgroup size, subgroup size, fragment shape, bk not a multiple of 16 * ks.
std::string coopmat_config_error(const Capabilities& caps, const CoopMatConfig& c,
                                 Epilogue epilogue);

// Every tiling pick_coopmat_config chooses from on this device (largest first, bk already fitted):
// for tests and bench sweeps.
std::vector<CoopMatConfig> coopmat_ladder(const Capabilities& caps, Epilogue epilogue);

// The tiling gemm() uses on the CoopMatNV path for T tokens and N outputs: the largest tile that
// still gives the GPU enough workgroups (short prompts: 16-token tiles with K split across the
// subgroups), bk halved until the tiles fit in shared memory. nullopt when nothing fits.
std::optional<CoopMatConfig> pick_coopmat_config(const Capabilities& caps, uint64_t T, uint64_t N,
                                                 Epilogue epilogue);

// gemm.comp's tiling on the Tiled path (spec constants 1..5; see the shader's header): a workgroup
// of (bm / tm) x (bn / tn) invocations owns a bm x bn tile of y, each invocation a tm x tn
// register block (tm, tn multiples of 4: the block is read from shared memory as vec4s), and K
// advances bk columns per step (a multiple of 8).
struct GemmTileConfig {
  uint32_t bm = 128, bn = 128, bk = 16, tm = 8, tn = 8;
  uint32_t invocations() const { return (bm / tm) * (bn / tn); }
  // f32 tiles with rows padded by a vec4, `nw` weight matrices (2 for SwiGLU).
  uint32_t shared_bytes(uint32_t nw) const { return (bk * (bm + 4) + nw * bk * (bn + 4)) * 4; }
  bool operator==(const GemmTileConfig&) const = default;
};

// Why `c` cannot run on the Tiled path of this device with this epilogue (empty when it can).
std::string tiled_config_error(const Capabilities& caps, const GemmTileConfig& c,
                               Epilogue epilogue);

// Every tiling pick_tiled_config chooses from on this device, largest first: for tests and bench
// sweeps. `quant`: block-quantized weights (gemm_q.comp), whose K step is one 32-weight unit
// (bk = 32).
std::vector<GemmTileConfig> tiled_ladder(const Capabilities& caps, Epilogue epilogue,
                                         bool quant = false);

// The Tiled path's tiling for T tokens and N outputs: the largest tile no taller than the prompt
// (rounded up) that still gives the GPU enough workgroups (one per compute unit where the device
// reports its count, Capabilities::compute_units; else 128), else the one with the most.
// Throws DeviceUnsupported when no tiling fits the device.
GemmTileConfig pick_tiled_config(const Capabilities& caps, uint64_t T, uint64_t N,
                                 Epilogue epilogue, bool quant = false);

// Records y = epilogue(x·Wᵀ) for any T, N, K (row/token windows when a binding would exceed the
// limit). `path` forces a path for tests and benches; forcing CoopMatNV where it cannot run throws
// DeviceUnsupported before any pipeline is created. `coop` forces the CoopMatNV tiling (benches
// sweep it; checked with coopmat_config_error, DeviceUnsupported when it cannot run); `tiles` the
// Tiled path's tiling (checked with tiled_config_error; bk = 32 for quantized weights). Either
// forced tiling with another path throws InvalidArgument. Shape errors throw ShapeMismatch
// before recording.
void gemm(Context& ctx, Recorder& rec, const GemmArgs& args, GemmPath path = GemmPath::Auto,
          const CoopMatConfig* coop = nullptr, const GemmTileConfig* tiles = nullptr);

}  // namespace vkr::kernels
