// gemm_selfcheck.hpp: first-use verification of the tensor-core GEMM pipelines on this device.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/gemm.hpp"

namespace vkr::kernels {

// Why: gemm_coopmat.comp runs only where VK_NV_cooperative_matrix exists, which no CI machine has
// (lavapipe), and a wrong tensor-core result would be silent. So before gemm() first uses one of
// its pipelines (tiling x epilogue x bias x vector loads) with GemmPath::Auto, that pipeline runs
// once on a small problem whose answer is exact in f32 (values m/64, exactly representable in f16,
// with partial tiles in every direction) and is compared with a CPU result. The verdict is cached
// in the Context; false = gemm() takes the portable tiled path instead, after one warning on
// stderr naming the device and the mismatch. Forced paths (tests, benches) are not checked.
bool coopmat_pipeline_verified(Context& ctx, const CoopMatConfig& c, Epilogue epilogue, bool bias,
                               bool vec);

// The Context::self_check key of one coopmat pipeline (tests read or preset verdicts with it).
std::string coopmat_check_key(const CoopMatConfig& c, Epilogue epilogue, bool bias, bool vec);

// The check's problem: T = bm + 3, N = bn + 5, K = 2 bk + (vec ? 8 : 3) of a tiling (default
// CoopMatConfig when null), values m/64, and its expected output with a per-element tolerance.
struct GemmCheck {
  uint64_t T = 0, N = 0, K = 0;
  Epilogue epilogue = Epilogue::None;
  bool bias = false;
  std::vector<float> x, b, y0;    // y0: the residual (else poison) y starts from
  std::vector<uint16_t> w, w_up;  // f16 bits (w_up: SwiGLU only)
  std::vector<double> want, tol;  // (T, N)
  // "" when every y is within tol of want, else the first bad element.
  std::string compare(std::span<const float> y) const;
};
GemmCheck make_gemm_check(const CoopMatConfig* coop, Epilogue epilogue, bool bias, bool vec);

// Runs the check's problem through gemm() on `path` (with `coop`'s tiling on CoopMatNV); returns y.
std::vector<float> run_gemm_check(Context& ctx, GemmPath path, const CoopMatConfig* coop,
                                  const GemmCheck& check);

// make + run + compare. Tests run it on the portable paths to prove the problem and its reference.
std::string gemm_check_problem(Context& ctx, GemmPath path, const CoopMatConfig* coop,
                               Epilogue epilogue, bool bias, bool vec);

}  // namespace vkr::kernels
