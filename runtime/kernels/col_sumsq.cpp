// col_sumsq.cpp: shape checks, vec4 choice and recording for col_sumsq.comp.
#include "kernels/col_sumsq.hpp"

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "col_sumsq";
constexpr KernelDesc kDesc{ShaderId::col_sumsq, 2, sizeof(ColSumsqPush)};
constexpr uint32_t kWg = 256;
}  // namespace

void col_sumsq(Context& ctx, Recorder& rec, const ColSumsqArgs& args) {
  require_rank2(kName, "x: (rows, K)", args.x);
  const uint64_t rows = args.x.shape[0], K = args.x.shape[1];
  check_tensor(kName, "x", args.x, args.x.shape, DType::F32);
  check_tensor(kName, "acc", args.acc, Shape{K}, DType::F32);
  u32_dim(rows * K, kName, "rows x K");
  const bool vec4 = K % 4 == 0 && args.x.offset % 16 == 0 && args.acc.offset % 16 == 0;
  const uint64_t items = vec4 ? K / 4 : K;
  const Kernel& k = ctx.pipelines().get(kDesc, {kWg, vec4 ? 1u : 0u});
  const ColSumsqPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(K)};
  rec.dispatch(k, {args.x.range(), args.acc.range()}, push,
               grid_1d(ceil_div(items, kWg), ctx.caps()));
}

}  // namespace vkr::kernels
