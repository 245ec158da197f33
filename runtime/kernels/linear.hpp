// linear.hpp: the linear layer y = epilogue(x·Wᵀ) shared by the gemv and gemm twins (Args, Push,
// shape checks, row windows), and linear(), the one place that picks gemv (decode) or gemm.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// Epilogue modes, the shaders' MODE spec constant (common/linear_io.glsl). A bias composes with
// None and Residual.
enum class Epilogue : uint32_t {
  None = 0,      // y = x·Wᵀ (+ bias)
  Residual = 1,  // y = residual + x·Wᵀ (+ bias); residual may be y itself (in place)
  SwiGlu = 2,    // y = silu(x·W_gateᵀ) * (x·W_upᵀ), both matrices in one pass over K
};

// SwiGLU takes two weight tensors (w = W_gate, w_up = W_up, as the checkpoints store them) rather
// than one stacked (2F, K) tensor: no repacking at load time, and each binds its own window.
struct LinearArgs {
  Tensor x;         // (T, K) f32 activations
  Tensor w;         // (N, K) f32 | f16 | bf16 | quantized (K whole blocks), [out][in];
                    // SwiGLU: W_gate (F, K), N = F
  Tensor y;         // (T, N) f32 output
  Tensor bias;      // (N) f32, optional (unbound: buffer == VK_NULL_HANDLE); not with SwiGLU
  Tensor residual;  // (T, N) f32, Residual only; unbound = y (in place: y += x·Wᵀ)
  Tensor w_up;      // (N, K) same dtype as w, SwiGLU only
  Epilogue epilogue = Epilogue::None;
  // Largest binding a dispatch may use; 0 = the device's maxStorageBufferRange. Weights larger
  // than this (the 152064 x 5120 lm head) are processed in windows of rows; tests lower it to
  // exercise the windows on small shapes.
  uint64_t max_binding_bytes = 0;
  // Quantized gemv decoding layout (shaders/gemv_q.comp LAYOUT): 0 = chosen by device; tests
  // force 1 (GPUs' subgroup rows over lane units) or 2 (CPU devices' rows per lane) to run both
  // on any device. Shapes a layout cannot take (2: K not a whole number of groups or unaligned
  // rows; 1: Q4_K / Q5_K windows not 16-byte aligned) take the general per-unit path.
  uint32_t gemv_q_layout = 0;
  // How float gemv / gemm (Direct path) read x and the weights: 0 = chosen by device (texel
  // fetches on CPU devices), 1 = storage buffers, 2 = uniform texel buffers (gemv_tex.comp,
  // gemm.comp's *tex builds) where the call allows (vector loads: K and the row / x starts
  // aligned; vkr-owned buffers; binding offsets on the texel alignment), else 1.
  uint32_t reads = 0;
};

// Mirrors `Params p` in shaders/common/linear_io.glsl. Offsets are in elements of each binding,
// except w_off / u_off for quantized weights: bytes (gemv_q.comp, gemm_q.comp).
struct LinearPush {
  uint32_t T, N, K, nw;
  uint32_t x_off, w_off, u_off, b_off, r_off, y_off;
};
static_assert(sizeof(LinearPush) == 40);
static_assert(offsetof(LinearPush, nw) == 12 && offsetof(LinearPush, y_off) == 36);

// Token counts up to this go to gemv (weights read once for all tokens), larger ones to gemm.
inline constexpr uint64_t kGemvMaxTokens = 8;

// Below this many tokens linear() runs gemv over windows of kGemvMaxTokens tokens instead of gemm.
// Measured on lavapipe (bench "gemm" family, 1024 x 5120 f16): gemv T=8 6.5 ms; gemm (Direct,
// 8-token register blocks in 16-token tiles) T=9 13.5 ms, T=16 13.4 ms, T=32 26.3 ms: gemm pays
// for a whole 16-token tile from T=9 on, so 9..15 tokens are faster as two gemv passes, and from
// 16 on gemm matches or beats gemv-per-8 (the runs were on a shared, noisy machine: +-30%).
// GPUs were not measured; gemv there reads the weights once per 8 tokens too.
inline constexpr uint64_t kGemmMinTokens = 16;

// The decode/prefill policy: gemv for T < kGemmMinTokens (in windows of kGemvMaxTokens tokens),
// else gemm (which picks its own tensor-core or portable path, see gemm.hpp). Checks every shape
// before recording.
void linear(Context& ctx, Recorder& rec, const LinearArgs& args);

namespace detail {

struct LinearDims {
  uint64_t T = 0, N = 0, K = 0;
  bool bias = false;
};

// Throws ShapeMismatch naming `kernel`, the argument and both shapes unless `a` is consistent.
LinearDims check_linear(std::string_view kernel, const LinearArgs& a);

// One dispatch: tokens [t0, t0 + tn) x output rows [n0, n0 + nn).
struct Window {
  uint64_t t0 = 0, tn = 0, n0 = 0, nn = 0;
};

// Largest tokens / rows per dispatch so that every binding fits the binding limit, capped by the
// kernel's own limits (max_tokens for gemv's spec constant, max_rows for grid limits).
struct WindowPlan {
  uint64_t tokens = 0, rows = 0;
};
WindowPlan plan_windows(std::string_view kernel, const Capabilities& caps, const LinearArgs& a,
                        const LinearDims& d, uint64_t max_tokens, uint64_t max_rows);

// Bindings (x, w, w_up, bias, residual, y: the shaders' order) and push constants of a window.
// Each range starts at its window aligned down to minStorageBufferOffsetAlignment (>= 16 bytes);
// the push offsets say where the window starts inside it.
struct WindowBinding {
  std::array<BufferRange, 6> ranges;
  LinearPush push{};
};
// Alignment of every binding's offset (windows start there and address from x_off / w_off ...).
uint64_t binding_align(const Capabilities& caps);

// Texel reads of x, w and w_up (bindings 0..2): whether `a.reads` (with `device_default` for 0)
// asks for them, and whether one window's three bindings can be texel bindings.
bool texel_reads_wanted(const LinearArgs& a, bool device_default);
bool texel_window_ok(const Context& ctx, const WindowBinding& b);

WindowBinding bind_window(const Capabilities& caps, const LinearArgs& a, const LinearDims& d,
                          const Window& w);

// Calls fn(window) for every window of the plan, tokens outer, rows inner.
template <typename Fn>
void for_each_window(const LinearDims& d, const WindowPlan& plan, Fn&& fn) {
  for (uint64_t t0 = 0; t0 < d.T; t0 += plan.tokens) {
    for (uint64_t n0 = 0; n0 < d.N; n0 += plan.rows) {
      fn(Window{t0, std::min(plan.tokens, d.T - t0), n0, std::min(plan.rows, d.N - n0)});
    }
  }
}

}  // namespace detail
}  // namespace vkr::kernels
