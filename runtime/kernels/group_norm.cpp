// group_norm.cpp: shape checks, variant choice and recording for group_norm.comp.
#include "kernels/group_norm.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr KernelDesc kDesc{ShaderId::group_norm_f32, 5, sizeof(GroupNormPush)};
constexpr KernelDesc kDescX8{ShaderId::group_norm_f32x8, 5, sizeof(GroupNormPush)};
constexpr std::string_view kName = "group_norm";
}  // namespace

void group_norm(Context& ctx, Recorder& rec, const GroupNormArgs& args) {
  require_subgroup_arith(ctx, kName);
  require_rank2(kName, "y", args.y);
  const uint64_t rows = args.y.shape[0], C = args.y.shape[1];
  require(args.heads > 0 && C % args.heads == 0, ErrorCode::ShapeMismatch,
          "group_norm: C = {} is not a multiple of heads = {}", C, args.heads);
  check_tensor(kName, "y", args.y, args.y.shape, DType::F32);
  check_tensor(kName, "out", args.out, args.y.shape, DType::F32);
  check_tensor(kName, "gamma", args.gamma, Shape{C}, DType::F32);
  check_tensor(kName, "beta", args.beta, Shape{C}, DType::F32);
  const bool gate = present(args.gate);
  if (gate) check_tensor(kName, "gate", args.gate, args.y.shape, DType::F32);
  u32_dim(rows * C, kName, "rows * C");
  const uint32_t S = static_cast<uint32_t>(C / args.heads);

  // One workgroup per (row, head): S is 64 for RWKV-6, so 64 invocations (32 for smaller heads).
  // CPU devices: one subgroup, so the reductions run no barrier (a coroutine switch of every
  // subgroup on lavapipe: 8 per workgroup at 64 invocations).
  const bool cpu = ctx.caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint32_t wg = std::min<uint32_t>(
      cpu ? std::max(ctx.caps().subgroup_size, 1u) : S >= 64 ? 64 : 32,
      ctx.caps().max_workgroup_invocations);
  const uint32_t gate_mode = !gate ? 0u : args.gate_silu ? 2u : 1u;
  // Vector units of 8 or 4 channels where S and every binding allow (chunk_unit).
  const Tensor& g = gate ? args.gate : args.y;  // bound (unused) without a gate
  const uint32_t unit =
      chunk_unit(ctx.caps(), S, {&args.y, &args.gamma, &args.beta, &args.out, &g});
  const Kernel& k =
      ctx.pipelines().get(unit == 8 ? kDescX8 : kDesc, {wg, gate_mode, unit > 1 ? 1u : 0u});
  const GroupNormPush push{static_cast<uint32_t>(rows), args.heads, S, args.eps};
  rec.dispatch(k,
               {args.y.range(), args.gamma.range(), args.beta.range(), g.range(), args.out.range()},
               push, grid_1d(rows * args.heads, ctx.caps()));
}

}  // namespace vkr::kernels
