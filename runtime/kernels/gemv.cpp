// gemv.cpp: configuration, shape checks, row windows and recording for shaders/gemv.comp.
#include "kernels/gemv.hpp"

#include "kernels/linear_q.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {

KernelDesc desc_for(DType w, bool w64, bool texel) {
  if (texel) {
    const ShaderId id = w == DType::F16    ? ShaderId::gemv_tex_f16
                        : w == DType::BF16 ? ShaderId::gemv_tex_bf16
                                           : ShaderId::gemv_tex_f32;
    return {id, 6, sizeof(LinearPush), 0b111};  // x, w, wu
  }
  if (w64) {
    const ShaderId id = w == DType::F16    ? ShaderId::gemv_w64_f16
                        : w == DType::BF16 ? ShaderId::gemv_w64_bf16
                                           : ShaderId::gemv_w64_f32;
    return {id, 6, sizeof(LinearPush)};
  }
  const ShaderId id = w == DType::F16    ? ShaderId::gemv_f16
                      : w == DType::BF16 ? ShaderId::gemv_bf16
                                         : ShaderId::gemv_f32;
  return {id, 6, sizeof(LinearPush)};
}

// Weight elements per vector load: uvec4 (gemv.comp) or u64vec4 (gemv_w64.comp).
uint32_t elements_per_chunk(DType w, bool w64) { return (w == DType::F32 ? 4 : 8) * (w64 ? 2 : 1); }

uint32_t shared_bytes(const GemvConfig& c, uint32_t tokens, uint32_t nw) {
  return c.max_subgroups == 1 ? 4 : c.max_subgroups * c.rows * tokens * nw * 4;
}

}  // namespace

GemvConfig gemv_config(const Capabilities& caps, uint32_t tokens, Epilogue epilogue) {
  const uint32_t sg = std::max(1u, caps.subgroup_size);
  const uint32_t min_sg = std::max(1u, caps.min_subgroup_size ? caps.min_subgroup_size : sg);
  const uint32_t nw = epilogue == Epilogue::SwiGlu ? 2 : 1;
  GemvConfig c;
  // GPUs: a few subgroups per workgroup stride over K together (enough loads in flight per row;
  // the cross-subgroup pass is one barrier per workgroup). CPU implementations (lavapipe) run a
  // workgroup's subgroups as coroutines and pay a context switch per barrier: one subgroup per
  // workgroup (no shared memory, no barrier when it is guaranteed: max_subgroups == 1).
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  c.w64 = cpu && caps.int64_arith;
  // llvmpipe: a 64 MiB read through uvec4 texel fetches ran 16-20 GB/s, through storage loads
  // 2.5 GB/s (u64vec4: ~8). GPUs keep storage buffers (texel fetches go through the texture
  // path there for nothing).
  c.texel = cpu;
  c.workgroup = cpu ? sg : std::clamp(4 * sg, 64u, 256u);
  c.workgroup = std::min(c.workgroup, caps.max_workgroup_invocations);
  c.workgroup = std::max(c.workgroup / sg, 1u) * sg;  // whole subgroups
  c.max_subgroups = (c.workgroup + min_sg - 1) / min_sg;
  if (cpu) {
    // llvmpipe pays per loaded component: each invocation's x chunk (NT x 16 floats) is shared
    // by all ROWS rows, so many rows amortize it (16 rows: x is ~1/8 of the loads at T = 1,
    // measured ~1.6x faster than 4 rows on 5120 x 5120); ROWS x NT x nw <= 32 partial sums.
    c.rows = std::clamp(32u / (tokens * nw), 2u, 16u);
  } else {
    // Rows per workgroup: more rows reuse each x load, fewer keep the register footprint small
    // when many tokens (or the SwiGLU pair) need partial sums.
    c.rows = tokens * nw <= 2 ? 4 : tokens * nw <= 8 ? 2 : 1;
  }
  while (c.rows > 1 && shared_bytes(c, tokens, nw) > caps.max_shared_memory) c.rows /= 2;
  return c;
}

void gemv(Context& ctx, Recorder& rec, const GemvArgs& args) {
  const auto d = detail::check_linear("gemv", args);
  require(d.T <= kGemvMaxTokens, ErrorCode::ShapeMismatch,
          "gemv: x has shape {}, at most {} tokens (use gemm or linear())", args.x.shape,
          kGemvMaxTokens);
  if (dtype_is_quant(args.w.dtype)) return gemv_q(ctx, rec, args, d);
  const auto& caps = ctx.caps();
  const uint32_t tokens = static_cast<uint32_t>(d.T);
  const GemvConfig cfg = gemv_config(caps, tokens, args.epilogue);
  const uint32_t nw = args.epilogue == Epilogue::SwiGlu ? 2 : 1;
  require(shared_bytes(cfg, tokens, nw) <= caps.max_shared_memory, ErrorCode::DeviceUnsupported,
          "gemv: {} bytes of shared memory needed, device has {}", shared_bytes(cfg, tokens, nw),
          caps.max_shared_memory);
  const auto plan = detail::plan_windows("gemv", caps, args, d, kGemvMaxTokens, UINT32_MAX);
  const bool texel_wanted = detail::texel_reads_wanted(args, cfg.texel);
  const bool w64 = cfg.w64 && args.reads != 2;
  detail::for_each_window(d, plan, [&](const detail::Window& win) {
    const auto b = detail::bind_window(caps, args, d, win);
    // Vector loads need every row start on a chunk boundary (x: 4 or 8 floats); the texel
    // variant needs them on a texel (uvec4) and bindings that can be texel bindings.
    const auto vec_with = [&](uint32_t ev, uint32_t xa) {
      return d.K % ev == 0 && b.push.w_off % ev == 0 && b.push.u_off % ev == 0 &&
             b.push.x_off % xa == 0;
    };
    const bool texel = texel_wanted && vec_with(elements_per_chunk(args.w.dtype, false), 4) &&
                       detail::texel_window_ok(ctx, b);
    const bool wide = w64 && !texel;
    const bool vec = texel || vec_with(elements_per_chunk(args.w.dtype, wide), wide ? 8 : 4);
    const KernelDesc desc = desc_for(args.w.dtype, wide, texel);
    const Kernel& k =
        ctx.pipelines().get(desc, {cfg.workgroup, cfg.rows, static_cast<uint32_t>(win.tn),
                                   static_cast<uint32_t>(args.epilogue), d.bias ? 1u : 0u,
                                   vec ? 1u : 0u, cfg.max_subgroups});
    rec.dispatch(k, std::span<const BufferRange>(b.ranges),
                 std::as_bytes(std::span<const LinearPush>(&b.push, 1)),
                 grid_1d((win.nn + cfg.rows - 1) / cfg.rows, caps));
  });
}

}  // namespace vkr::kernels
