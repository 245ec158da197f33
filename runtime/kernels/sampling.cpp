// sampling.cpp: shape checks and recording for sampling.comp (argmax, softmax, nll) and topk.comp.
#include "kernels/sampling.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr KernelDesc kDesc{ShaderId::sampling, 2, sizeof(SamplingPush)};


struct TopkPush {
  uint32_t rows, V, K;
};
static_assert(sizeof(TopkPush) == 12);
constexpr KernelDesc kTopkDesc{ShaderId::topk, 3, sizeof(TopkPush)};

// A vocabulary row (~150k) is long: 256 invocations keep many loads in flight per row.
uint32_t workgroup(const Context& ctx) {
  return std::min<uint32_t>(256, ctx.caps().max_workgroup_invocations);
}
}  // namespace

void argmax(Context& ctx, Recorder& rec, const ArgmaxArgs& args) {
  constexpr std::string_view name = "argmax";
  require_subgroup_arith(ctx, name);
  require_rank2(name, "logits", args.logits);
  const uint64_t rows = args.logits.shape[0], V = args.logits.shape[1];
  check_tensor(name, "logits", args.logits, args.logits.shape, DType::F32);
  check_tensor(name, "ids", args.ids, Shape{rows}, DType::U32);
  u32_dim(rows * V, name, "rows * V");
  const Kernel& k = ctx.pipelines().get(kDesc, {workgroup(ctx), 0u});
  const SamplingPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V), 1.0f};
  rec.dispatch(k, {args.logits.range(), args.ids.range()}, push, grid_1d(rows, ctx.caps()));
}

void softmax(Context& ctx, Recorder& rec, const SoftmaxArgs& args) {
  constexpr std::string_view name = "softmax";
  require_subgroup_arith(ctx, name);
  require_rank2(name, "logits", args.logits);
  const uint64_t rows = args.logits.shape[0], V = args.logits.shape[1];
  check_tensor(name, "logits", args.logits, args.logits.shape, DType::F32);
  check_tensor(name, "probs", args.probs, args.logits.shape, DType::F32);
  require(std::isfinite(args.temperature) && args.temperature > 0.0f, ErrorCode::InvalidArgument,
          "softmax: temperature must be finite and > 0, got {}", args.temperature);
  u32_dim(rows * V, name, "rows * V");
  const Kernel& k = ctx.pipelines().get(kDesc, {workgroup(ctx), 1u});
  const SamplingPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V),
                          1.0f / args.temperature};
  rec.dispatch(k, {args.logits.range(), args.probs.range()}, push, grid_1d(rows, ctx.caps()));
}

void nll(Context& ctx, Recorder& rec, const NllArgs& args) {
  constexpr std::string_view name = "nll";
  require_subgroup_arith(ctx, name);
  require_rank2(name, "logits", args.logits);
  const uint64_t rows = args.logits.shape[0], V = args.logits.shape[1];
  check_tensor(name, "logits", args.logits, args.logits.shape, DType::F32);
  check_tensor(name, "target_nll", args.target_nll, Shape{rows}, DType::U32);
  u32_dim(rows * V, name, "rows * V");
  const Kernel& k = ctx.pipelines().get(kDesc, {workgroup(ctx), 2u});
  const SamplingPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V), 1.0f};
  rec.dispatch(k, {args.logits.range(), args.target_nll.range()}, push, grid_1d(rows, ctx.caps()));
}

void topk(Context& ctx, Recorder& rec, const TopkArgs& args) {
  constexpr std::string_view name = "topk";
  require_rank2(name, "logits", args.logits);
  const uint64_t rows = args.logits.shape[0], V = args.logits.shape[1];
  require_rank2(name, "ids", args.ids);
  const uint64_t K = args.ids.shape[1];
  check_tensor(name, "logits", args.logits, args.logits.shape, DType::F32);
  check_tensor(name, "ids", args.ids, Shape{rows, K}, DType::U32);
  check_tensor(name, "values", args.values, Shape{rows, K}, DType::F32);
  require(K >= 1 && K <= V, ErrorCode::ShapeMismatch, "topk: K = {} must be in [1, V = {}]", K, V);
  u32_dim(rows * V, name, "rows * V");
  u32_dim(rows * K, name, "rows * K");
  // The shader's per-invocation scan arrays hold 1024 entries.
  const uint32_t wg = std::min<uint32_t>(workgroup(ctx), 1024);
  const Kernel& k = ctx.pipelines().get(kTopkDesc, {wg});
  const TopkPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V),
                      static_cast<uint32_t>(K)};
  rec.dispatch(k, {args.logits.range(), args.ids.range(), args.values.range()}, push,
               grid_1d(rows, ctx.caps()));
}

}  // namespace vkr::kernels
