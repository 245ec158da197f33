// linear.cpp: shape checks and row/token windows shared by the gemv and gemm twins, and linear(),
// the single gemv-vs-gemm policy.
#include "kernels/linear.hpp"

#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

void linear(Context& ctx, Recorder& rec, const LinearArgs& args) {
  require(args.x.shape.rank() == 2, ErrorCode::ShapeMismatch, "linear: x must be (T, K), got {}",
          args.x.shape);
  // Decode (and small batches) are bandwidth-bound: one pass over the weights for all tokens.
  const uint64_t T = args.x.shape[0];
  if (T <= kGemvMaxTokens) {
    gemv(ctx, rec, args);
  } else if (T < kGemmMinTokens) {
    // Check everything once with the full shapes, so no window is recorded before an error.
    detail::check_linear("linear", args);
    for (uint64_t t0 = 0; t0 < T; t0 += kGemvMaxTokens) {
      const uint64_t n = std::min(kGemvMaxTokens, T - t0);
      LinearArgs w = args;
      w.x = args.x.rows(t0, n);
      w.y = args.y.rows(t0, n);
      if (args.residual.buffer != VK_NULL_HANDLE) w.residual = args.residual.rows(t0, n);
      gemv(ctx, rec, w);
    }
  } else {
    gemm(ctx, rec, args);
  }
}

namespace detail {

namespace {

bool bound(const Tensor& t) { return t.buffer != VK_NULL_HANDLE; }

// Quantized weights need an even start: the shaders read their halves from even byte addresses.
void check_offset(std::string_view kernel, std::string_view arg, const Tensor& t) {
  const uint64_t unit = dtype_is_quant(t.dtype) ? 2 : dtype_bytes(t.dtype);
  require(t.offset % unit == 0, ErrorCode::ShapeMismatch,
          "{}: {} starts at byte {}, not a multiple of {}", kernel, arg, t.offset, unit);
}

struct Bound {
  BufferRange range;
  uint32_t off = 0;  // elements from range.offset to the window's first element
};

// Elements [first, first + count) of t, bound from an aligned-down offset. The end is rounded up
// to 4 bytes (Buffer pads every VkBuffer to a multiple of 4, so this stays inside it).
Bound bind_elements(const Tensor& t, uint64_t first, uint64_t count, uint64_t align) {
  const uint64_t es = dtype_bytes(t.dtype);
  const uint64_t begin = t.offset + first * es, end = begin + count * es;
  const uint64_t base = begin / align * align;
  return {{t.buffer, base, (end - base + 3) / 4 * 4}, static_cast<uint32_t>((begin - base) / es)};
}

// Rows [first, first + count) of a (rows, K) weight: elements for float types, and for quantized
// ones whole rows of blocks with `off` in BYTES (the quantized shaders address bytes).
Bound bind_weight_rows(const Tensor& t, uint64_t first, uint64_t count, uint64_t K,
                       uint64_t align) {
  if (!dtype_is_quant(t.dtype)) return bind_elements(t, first * K, count * K, align);
  const uint64_t rb = dtype_row_bytes(t.dtype, K);
  const uint64_t begin = t.offset + first * rb, end = begin + count * rb;
  const uint64_t base = begin / align * align;
  return {{t.buffer, base, (end - base + 3) / 4 * 4}, static_cast<uint32_t>(begin - base)};
}

}  // namespace

uint64_t binding_align(const Capabilities& caps) {
  return std::max<uint64_t>(16, caps.min_storage_buffer_offset_alignment);
}

bool texel_reads_wanted(const LinearArgs& a, bool device_default) {
  return a.reads == 2 || (a.reads == 0 && device_default);
}

bool texel_window_ok(const Context& ctx, const WindowBinding& b) {
  for (int i = 0; i < 3; ++i) {
    if (!texel_bindable(ctx, b.ranges[i])) return false;
  }
  return true;
}

LinearDims check_linear(std::string_view kernel, const LinearArgs& a) {
  require(a.reads <= 2, ErrorCode::InvalidArgument,
          "{}: reads = {} (0 the device's choice, 1 storage, 2 texel)", kernel, a.reads);
  require(bound(a.x) && a.x.shape.rank() == 2 && a.x.dtype == DType::F32, ErrorCode::ShapeMismatch,
          "{}: x must be a bound (T, K) f32 tensor, got {} {}", kernel, a.x.shape,
          dtype_name(a.x.dtype));
  LinearDims d;
  d.T = a.x.shape[0];
  d.K = a.x.shape[1];
  require(bound(a.w) && a.w.shape.rank() == 2 && a.w.shape[1] == d.K, ErrorCode::ShapeMismatch,
          "{}: w has shape {}, expected (N, {}) to match x {}", kernel, a.w.shape, d.K,
          a.x.shape);
  require(a.w.dtype == DType::F32 || a.w.dtype == DType::F16 || a.w.dtype == DType::BF16 ||
              dtype_is_quant(a.w.dtype),
          ErrorCode::ShapeMismatch,
          "{}: w has dtype {}, expected f32, f16, bf16 or a quantized weight type", kernel,
          dtype_name(a.w.dtype));
  require(d.K % dtype_block(a.w.dtype).elems == 0, ErrorCode::ShapeMismatch,
          "{}: w {} {}: K = {} is not a multiple of the {}-element block", kernel,
          a.w.shape, dtype_name(a.w.dtype), d.K, dtype_block(a.w.dtype).elems);
  d.N = a.w.shape[0];
  require(
      d.T > 0 && d.N > 0 && d.K > 0 && d.T <= UINT32_MAX && d.N <= UINT32_MAX && d.K <= UINT32_MAX,
      ErrorCode::ShapeMismatch, "{}: empty or oversized problem T={} N={} K={}", kernel, d.T, d.N,
      d.K);
  check_tensor(kernel, "y", a.y, Shape{d.T, d.N}, DType::F32);
  check_offset(kernel, "x", a.x);
  check_offset(kernel, "w", a.w);
  check_offset(kernel, "y", a.y);
  d.bias = bound(a.bias);
  if (d.bias) {
    require(a.epilogue != Epilogue::SwiGlu, ErrorCode::ShapeMismatch,
            "{}: bias is not supported with the SwiGLU epilogue", kernel);
    check_tensor(kernel, "bias", a.bias, Shape{d.N}, DType::F32);
    check_offset(kernel, "bias", a.bias);
  }
  if (a.epilogue == Epilogue::Residual) {
    if (bound(a.residual)) {
      check_tensor(kernel, "residual", a.residual, Shape{d.T, d.N}, DType::F32);
      check_offset(kernel, "residual", a.residual);
    }
  } else {
    require(!bound(a.residual), ErrorCode::ShapeMismatch,
            "{}: residual {} given but the epilogue is not Residual", kernel,
            a.residual.shape);
  }
  if (a.epilogue == Epilogue::SwiGlu) {
    check_tensor(kernel, "w_up", a.w_up, a.w.shape, a.w.dtype);
    check_offset(kernel, "w_up", a.w_up);
  } else {
    require(!bound(a.w_up), ErrorCode::ShapeMismatch,
            "{}: w_up {} given but the epilogue is not SwiGLU", kernel, a.w_up.shape);
  }
  require(a.epilogue == Epilogue::None || a.epilogue == Epilogue::Residual ||
              a.epilogue == Epilogue::SwiGlu,
          ErrorCode::ShapeMismatch, "{}: unknown epilogue {}", kernel,
          static_cast<uint32_t>(a.epilogue));
  return d;
}

WindowPlan plan_windows(std::string_view kernel, const Capabilities& caps, const LinearArgs& a,
                        const LinearDims& d, uint64_t max_tokens, uint64_t max_rows) {
  uint64_t limit = caps.max_storage_buffer_range;
  if (a.max_binding_bytes) limit = std::min(limit, a.max_binding_bytes);
  // Aligning a window's start down adds up to align - 1 bytes; rounding its end adds up to 3.
  const uint64_t slack = binding_align(caps) + 4;
  const uint64_t w_row = dtype_row_bytes(a.w.dtype, d.K);
  const uint64_t usable = limit > slack ? limit - slack : 0;
  WindowPlan plan;
  // Rows: a window of W (nn x K) and of bias (nn); y's window is bounded by the tokens below.
  plan.rows = std::min({usable / w_row, usable / 4, max_rows, d.N});
  // Tokens: x (tn x K) and the y / residual span ((tn - 1) x N + nn <= tn x N).
  plan.tokens = std::min({usable / (d.K * 4), usable / (d.N * 4), max_tokens, d.T});
  if (plan.tokens == 0 && usable / (d.K * 4) > 0) plan.tokens = 1;  // one y row in column windows
  require(plan.rows > 0 && plan.tokens > 0, ErrorCode::ShapeMismatch,
          "{}: one row of x or W (K = {}) does not fit in a {}-byte binding", kernel, d.K, limit);
  return plan;
}

WindowBinding bind_window(const Capabilities& caps, const LinearArgs& a, const LinearDims& d,
                          const Window& win) {
  const uint64_t align = binding_align(caps);
  const Bound x = bind_elements(a.x, win.t0 * d.K, win.tn * d.K, align);
  const Bound w = bind_weight_rows(a.w, win.n0, win.nn, d.K, align);
  const Bound u = bound(a.w_up) ? bind_weight_rows(a.w_up, win.n0, win.nn, d.K, align) : w;
  const Bound b = d.bias ? bind_elements(a.bias, win.n0, win.nn, align) : x;
  // y / residual: row t0 column n0 through row t0 + tn - 1 column n0 + nn - 1 (row stride N).
  const uint64_t y_first = win.t0 * d.N + win.n0, y_count = (win.tn - 1) * d.N + win.nn;
  const Bound y = bind_elements(a.y, y_first, y_count, align);
  const Bound r = bound(a.residual) ? bind_elements(a.residual, y_first, y_count, align) : y;
  WindowBinding out;
  out.ranges = {x.range, w.range, u.range, b.range, r.range, y.range};
  out.push = {static_cast<uint32_t>(win.tn),
              static_cast<uint32_t>(d.N),
              static_cast<uint32_t>(d.K),
              static_cast<uint32_t>(win.nn),
              x.off,
              w.off,
              u.off,
              b.off,
              r.off,
              y.off};
  return out;
}

}  // namespace detail
}  // namespace vkr::kernels
