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

namespace {
// sampling.comp's modes share one interface: logits (rows, V) f32 and a second binding whose
// shape and dtype depend on the mode (`out_shape` of `out_dtype`).
enum Mode : uint32_t { kArgmax = 0, kSoftmax = 1, kNll = 2 };
void record_mode(Context& ctx, Recorder& rec, std::string_view name, Mode mode,
                 const Tensor& logits, std::string_view out_name, const Tensor& out,
                 bool out_is_row, DType out_dtype, float inv_temp) {
  require_subgroup_arith(ctx, name);
  require_rank2(name, "logits", logits);
  const uint64_t rows = logits.shape[0], V = logits.shape[1];
  check_tensor(name, "logits", logits, logits.shape, DType::F32);
  check_tensor(name, out_name, out, out_is_row ? logits.shape : Shape{rows}, out_dtype);
  u32_dim(rows * V, name, "rows * V");
  const Kernel& k = ctx.pipelines().get(kDesc, {workgroup(ctx), uint32_t{mode}});
  const SamplingPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V), inv_temp};
  rec.dispatch(k, {logits.range(), out.range()}, push, grid_1d(rows, ctx.caps()));
}
}  // namespace

void argmax(Context& ctx, Recorder& rec, const ArgmaxArgs& args) {
  record_mode(ctx, rec, "argmax", kArgmax, args.logits, "ids", args.ids, false, DType::U32, 1.0f);
}

void softmax(Context& ctx, Recorder& rec, const SoftmaxArgs& args) {
  require(std::isfinite(args.temperature) && args.temperature > 0.0f, ErrorCode::InvalidArgument,
          "softmax: temperature must be finite and > 0, got {}", args.temperature);
  record_mode(ctx, rec, "softmax", kSoftmax, args.logits, "probs", args.probs, true, DType::F32,
              1.0f / args.temperature);
}

void nll(Context& ctx, Recorder& rec, const NllArgs& args) {
  record_mode(ctx, rec, "nll", kNll, args.logits, "target_nll", args.target_nll, false,
              DType::U32, 1.0f);
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
