// gemm.hpp: host twin of shaders/gemm.comp (portable tiled path) and shaders/gemm_coopmat.comp
// (VK_NV_cooperative_matrix path), the prefill linear layer; the path choice lives here only.
#pragma once

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

// Records y = epilogue(x·Wᵀ) for any T, N, K (row/token windows when a binding would exceed the
// limit). `path` forces a path for tests and benches; forcing CoopMatNV where it cannot run throws
// DeviceUnsupported before any pipeline is created. Shape errors throw ShapeMismatch before
// recording.
void gemm(Context& ctx, Recorder& rec, const GemmArgs& args, GemmPath path = GemmPath::Auto);

}  // namespace vkr::kernels
