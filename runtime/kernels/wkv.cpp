// wkv.cpp: argument checks shared by wkv_decode / wkv_prefill, and the policy choosing between
// them.
#include "kernels/wkv.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/wkv_chunkpar.hpp"
#include "kernels/wkv_decode.hpp"
#include "kernels/wkv_prefill.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

float wkv_default_scale(WkvMode mode, uint32_t S) {
  return mode == WkvMode::Gla ? 1.0f / std::sqrt(static_cast<float>(S)) : 1.0f;
}

WkvDims check_wkv_args(const Context& ctx, const char* kernel, const WkvArgs& args) {
  const Shape& rs = args.r.shape;
  require(rs.rank() == 4, ErrorCode::ShapeMismatch, "{}: r must be (B, T, H, S), got {}", kernel,
          rs);
  WkvDims d{static_cast<uint32_t>(rs[0]), static_cast<uint32_t>(rs[1]),
            static_cast<uint32_t>(rs[2]), static_cast<uint32_t>(rs[3])};
  require(d.S >= 32 && d.S <= 256 && d.S % 32 == 0, ErrorCode::ShapeMismatch,
          "{}: head size S={} (r {}) unsupported: need a multiple of 32 in [32, 256]", kernel,
          rs[3], rs);
  const Capabilities& caps = ctx.caps();
  require(rs[0] >= 1 && rs[0] <= caps.max_workgroup_count[2] && rs[2] >= 1 &&
              rs[2] <= caps.max_workgroup_count[1] && rs[1] <= UINT32_MAX / 2,
          ErrorCode::ShapeMismatch, "{}: r shape {} out of range (B <= {}, H <= {})", kernel,
          rs, caps.max_workgroup_count[2], caps.max_workgroup_count[1]);
  require(args.r.dtype == DType::F32 || args.r.dtype == DType::F16, ErrorCode::ShapeMismatch,
          "{}: r dtype {} unsupported (f32 or f16)", kernel, dtype_name(args.r.dtype));
  require(args.r.dtype != DType::F16 || caps.fp16_storage, ErrorCode::DeviceUnsupported,
          "{}: f16 inputs need storageBuffer16BitAccess, which the device lacks", kernel);
  check_tensor(kernel, "r", args.r, rs, args.r.dtype);
  check_tensor(kernel, "k", args.k, rs, args.r.dtype);
  check_tensor(kernel, "v", args.v, rs, args.r.dtype);
  check_tensor(kernel, "logw", args.logw, rs, DType::F32);
  check_tensor(kernel, "y", args.y, rs, DType::F32);
  check_tensor(kernel, "state", args.state, Shape{rs[0], rs[2], rs[3], rs[3]}, DType::F32);
  if (args.mode == WkvMode::Rwkv6)
    check_tensor(kernel, "u", args.u, Shape{rs[2], rs[3]}, DType::F32);
  return d;
}

// Policy (the one place choosing among the three kernels).
// CPU devices (lavapipe): the sequential kernel gives each invocation 4 contiguous state columns
// (vec4 state loads) and reads r / k / logw as uniform vec4 loads, with no shared memory and no
// barriers; it runs at ~20-25% of the probed FMA peak and beats the chunked kernel at every T.
// Measured with bench_wkv --quick on lavapipe (llvmpipe 15, 2 cores shared with other builds, so
// +-30%; B=1, H=40, S=128, Gla, f32, median us; sequential before -> after this kernel, chunked):
//   T=1     7000 ->   1400 (chunked   25000)   T=16   45700 ->   5200 (chunked   26000)
//   T=64  175000 ->  19500 (chunked   96000)   T=1024 2900000 -> 305000 (chunked 1500000)
// So CPU devices always take the sequential kernel. Since then the sequential kernel reads its
// inputs through texel buffers on CPU devices (wkv_decode f32tex / f16tex): T=1024 305000 ->
// ~100000-141000, and with 8 columns per invocation (each row fetch feeding 8 columns) 85000-88600.
// A token-blocked two-pass form (per block of L tokens: decay-weighted r and k,
// block decay and the L x L intra-block matrix in a parallel pass, then 2 FMAs per channel and
// column per token in a sequential pass) was correct on every test shape but ran 0.2-0.45x the
// sequential kernel on lavapipe (L = 4..16; bench/README.md), so it was not kept.
// GPUs (H100, B=1 H=40 S=128, median us, sequential / chunked): T=1 52/293, T=16 168/336,
// T=64 541/1234, T=1024 8832/19879: the one-workgroup-per-head chunked kernel (wkv_prefill) has no
// more parallelism than the sequential one and loses everywhere, so GPUs never pick it. The
// chunk-parallel kernel (wkv_chunkpar) spreads a call over (chunk, head, sequence) workgroups; it
// costs 3 dispatches + 2 barriers per call, so short calls stay sequential.
// Measured (H100, 2026-11-23, vkr_bench_kernels --filter wkv, calls timed back to back in one
// submission; bench/results/h100-2026-11-23/call3_b4.jsonl), H = 40, chunk_par / sequential:
//   T = 1:  0.13-0.35x at every B, S and chunk length (3 dispatches, 2 barriers: launch-bound).
//   T = 16: L = 16 1.05-1.82x (B 1/8, S 64/128); L = 32 0.68-1.19x.
//   T = 64: L = 32 1.85-4.23x; L = 16 1.44-3.29x.
//   T >= 256: L = 32 1.88-23.6x except two shapes whose scratch spans > 128 MB (B=8 S=128
//   T=1024: 1.00x, B=8 S=64 T=4096: 1.03x; see bench/README.md). L = 64 never won.
// So GPUs take the chunk-parallel kernel from T = 16 on, with L = 16 below T = 64
// (wkv_chunkpar_default_length).
WkvKernel choose_wkv_kernel(const Capabilities& caps, int B, int H, int T, int S) {
  (void)B;
  (void)H;
  (void)S;
  if (caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU) return WkvKernel::Decode;
  constexpr int kMinChunkParTokens = 16;
  return T >= kMinChunkParTokens ? WkvKernel::ChunkPar : WkvKernel::Decode;
}

void wkv(Context& ctx, Recorder& rec, const WkvArgs& args) {
  const Shape& rs = args.r.shape;
  const bool ranked = rs.rank() == 4;
  WkvKernel which =
      ranked ? choose_wkv_kernel(ctx.caps(), static_cast<int>(rs[0]), static_cast<int>(rs[2]),
                                 static_cast<int>(rs[1]), static_cast<int>(rs[3]))
             : WkvKernel::Decode;  // the kernel's own check reports the bad rank
  using Choice = ContextOptions::WkvKernelChoice;
  switch (ctx.options().wkv_kernel) {
    case Choice::Sequential:
      return wkv_decode(ctx, rec, args);
    case Choice::ChunkParallel:  // forced: no fallback, a missing scratch is an error
      return wkv_chunkpar(ctx, rec, args);
    case Choice::Auto:
      break;
  }
  if (which == WkvKernel::ChunkPar) {
    const bool room =
        args.scratch.buffer != VK_NULL_HANDLE && args.scratch.dtype == DType::F32 &&
        args.scratch.bytes() >= wkv_chunkpar_chunk_bytes(static_cast<uint32_t>(rs[0]),
                                                         static_cast<uint32_t>(rs[2]),
                                                         static_cast<uint32_t>(rs[3]));
    if (!room) which = WkvKernel::Decode;  // no workspace: the faster of the other two on GPUs
  }
  switch (which) {
    case WkvKernel::ChunkPar:
      wkv_chunkpar(ctx, rec, args);
      break;
    case WkvKernel::Prefill:
      wkv_prefill(ctx, rec, args);
      break;
    case WkvKernel::Decode:
      wkv_decode(ctx, rec, args);
      break;
  }
}

}  // namespace vkr::kernels

namespace vkr::kernels {

uint32_t wkv_window_tokens(const Capabilities& caps, uint32_t iterations_per_token) {
  // Only CPU drivers (lavapipe) have the loop limiter; GPUs get the whole call in one dispatch.
  if (caps.device_type != VK_PHYSICAL_DEVICE_TYPE_CPU) return UINT32_MAX;
  constexpr uint32_t kBudget = 60000;  // of 65535, leaving room for per-call loops
  return std::max<uint32_t>(1, kBudget / std::max<uint32_t>(1, iterations_per_token));
}

void record_wkv_windows(const Capabilities& caps, Recorder& rec, const Kernel& kernel,
                        const WkvArgs& args, const WkvDims& d, uint32_t window, Grid grid) {
  const Tensor& u = args.mode == WkvMode::Rwkv6 ? args.u : args.logw;  // Gla: any bound f32 buffer
  const uint64_t limit =
      args.max_binding_bytes
          ? std::min<uint64_t>(args.max_binding_bytes, caps.max_storage_buffer_range)
          : caps.max_storage_buffer_range;
  // A kernel with an 8th binding (wkv_decode's texel builds) reads the state through it: the same
  // range again, as a texel binding.
  const bool state_texel = kernel.desc().bindings == 8;
  auto dispatch = [&](std::array<BufferRange, 7> ranges, const WkvPush& push, Grid g) {
    std::array<BufferRange, 8> all{};
    std::copy(ranges.begin(), ranges.end(), all.begin());
    all[7] = ranges[5];
    rec.dispatch(kernel, std::span<const BufferRange>(all.data(), state_texel ? 8 : 7),
                 std::as_bytes(std::span<const WkvPush>(&push, 1)), g);
  };
  // y (f32) is the largest activation; the state is bound per sequence below.
  if (args.y.bytes() <= limit && args.state.bytes() <= caps.max_storage_buffer_range) {
    for (uint32_t t0 = 0; t0 < d.T; t0 += window) {
      if (t0 > 0) rec.barrier();  // the previous window's state is this one's input
      const WkvPush push{d.B, d.T, d.H, args.scale, t0, std::min(window, d.T - t0)};
      dispatch({args.r.range(), args.k.range(), args.v.range(), args.logw.range(), u.range(),
                args.state.range(), args.y.range()},
               push, grid);
    }
    return;
  }
  // Too large to bind whole (lavapipe's maxStorageBufferRange is 128 MiB: y alone is 320 MiB at
  // B=8 T=4096 H=40 S=128): each sequence's token windows are bound as their own (1, tn, H, S)
  // tensors, with that sequence's state, so every binding is at most `limit` bytes.
  const uint64_t token_bytes = uint64_t{d.H} * d.S * 4;
  const uint64_t seq_state_bytes = uint64_t{d.H} * d.S * d.S * 4;
  require(token_bytes <= limit && seq_state_bytes <= caps.max_storage_buffer_range,
          ErrorCode::ShapeMismatch,
          "{}: one token's (H={}, S={}) activations ({} bytes) or one sequence's state ({} bytes) "
          "exceed the binding limit ({} bytes, maxStorageBufferRange {})",
          kernel.name(), d.H, d.S, token_bytes, seq_state_bytes, limit,
          caps.max_storage_buffer_range);
  window = static_cast<uint32_t>(std::min<uint64_t>(window, limit / token_bytes));
  auto slice = [&](const Tensor& t, uint32_t b, uint32_t t0, uint32_t tn) {
    const uint64_t row = uint64_t{d.H} * d.S * dtype_bytes(t.dtype);
    return BufferRange{t.buffer, t.offset + (uint64_t{b} * d.T + t0) * row, tn * row};
  };
  bool first = true;
  for (uint32_t b = 0; b < d.B; ++b) {
    const BufferRange state{args.state.buffer, args.state.offset + b * seq_state_bytes,
                            seq_state_bytes};
    for (uint32_t t0 = 0; t0 < d.T; t0 += window) {
      const uint32_t tn = std::min(window, d.T - t0);
      if (!first) rec.barrier();  // windows of one sequence hand the state on through memory
      first = false;
      const WkvPush push{1, tn, d.H, args.scale, 0, tn};
      const BufferRange ur = args.mode == WkvMode::Rwkv6 ? args.u.range() : slice(u, b, t0, tn);
      dispatch({slice(args.r, b, t0, tn), slice(args.k, b, t0, tn), slice(args.v, b, t0, tn),
                slice(args.logw, b, t0, tn), ur, state, slice(args.y, b, t0, tn)},
               push, Grid{grid.x, grid.y, 1});
    }
  }
}

}  // namespace vkr::kernels
