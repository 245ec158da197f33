// norm.cpp: shape checks, variant choice and recording for norm.comp.
#include "kernels/norm.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr KernelDesc kDesc{ShaderId::norm_f32, 5, sizeof(NormPush)};
constexpr KernelDesc kDescX8{ShaderId::norm_f32x8, 5, sizeof(NormPush)};
constexpr std::string_view kName = "norm";
}  // namespace

void norm(Context& ctx, Recorder& rec, const NormArgs& args) {
  require_subgroup_arith(ctx, kName);
  require_rank2(kName, "x", args.x);
  const uint64_t rows = args.x.shape[0], C = args.x.shape[1];
  check_tensor(kName, "x", args.x, args.x.shape, DType::F32);
  check_tensor(kName, "y", args.y, args.x.shape, DType::F32);
  check_tensor(kName, "gamma", args.gamma, Shape{C}, DType::F32);
  const bool layer = args.mode == NormMode::Layer;
  if (layer) {
    check_tensor(kName, "beta", args.beta, Shape{C}, DType::F32);
  } else {
    require(!present(args.beta), ErrorCode::ShapeMismatch, "norm: RMSNorm takes no beta");
  }
  const bool fuse = present(args.delta);
  if (fuse) check_tensor(kName, "delta", args.delta, args.x.shape, DType::F32);
  // In place (y = x) is safe without the fused add: each invocation reads its channels in every
  // pass before it writes them, and the passes are separated by the reductions' barriers.
  require(!fuse || args.x.buffer != args.y.buffer || args.x.offset != args.y.offset,
          ErrorCode::ShapeMismatch, "norm: y must not alias x when delta is fused");
  u32_dim(rows * C, kName, "rows * C");

  // GPUs: enough invocations to keep a wide row's loads in flight; small rows waste fewer lanes
  // at 64. CPU devices: one subgroup per row, so the reductions need no barrier (each is a
  // coroutine switch of every subgroup there; 256 invocations = 32 of them on lavapipe).
  const bool cpu = ctx.caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint32_t wg = std::min<uint32_t>(
      cpu ? std::max(ctx.caps().subgroup_size, 1u) : C >= 1024 ? 256 : 64,
      ctx.caps().max_workgroup_invocations);
  // Vector units of 8 or 4 channels where C and every binding allow (chunk_unit).
  // Unused bindings get a harmless valid range (never read by that pipeline).
  const Tensor& delta = fuse ? args.delta : args.x;
  const Tensor& beta = layer ? args.beta : args.gamma;
  const uint32_t unit = chunk_unit(ctx.caps(), C, {&args.x, &args.y, &args.gamma, &delta, &beta});
  const Kernel& k = ctx.pipelines().get(unit == 8 ? kDescX8 : kDesc,
                                        {wg, static_cast<uint32_t>(args.mode), fuse ? 1u : 0u,
                                         unit > 1 ? 1u : 0u});
  const NormPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(C), args.eps};
  rec.dispatch(k, {args.x.range(), delta.range(), args.gamma.range(), beta.range(), args.y.range()},
               push, grid_1d(rows, ctx.caps()));
}

}  // namespace vkr::kernels
