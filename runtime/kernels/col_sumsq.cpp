// col_sumsq.cpp: shape checks, vec4 choice and recording for col_sumsq.comp.
#include "kernels/col_sumsq.hpp"

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "col_sumsq";
constexpr KernelDesc kDesc{ShaderId::col_sumsq, 2, sizeof(ColSumsqPush)};
// CPU devices (lavapipe): one row lane of 256 columns, no barrier (a context switch there).
// GPUs: 32 column lanes x 8 row lanes, so a 5120-wide input gives 40 workgroups of 256 threads
// each summing an eighth of the rows, not 5 workgroups each walking every row.
struct Layout {
  uint32_t wg, lanes;
};
Layout layout_for(const Capabilities& caps) {
  return caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU ? Layout{256, 1} : Layout{32, 8};
}
}  // namespace

void col_sumsq(Context& ctx, Recorder& rec, const ColSumsqArgs& args) {
  require_rank2(kName, "x: (rows, K)", args.x);
  const uint64_t rows = args.x.shape[0], K = args.x.shape[1];
  check_tensor(kName, "x", args.x, args.x.shape, DType::F32);
  check_tensor(kName, "acc", args.acc, Shape{K}, DType::F32);
  u32_dim(rows * K, kName, "rows x K");
  const bool vec4 = K % 4 == 0 && args.x.offset % 16 == 0 && args.acc.offset % 16 == 0;
  const uint64_t items = vec4 ? K / 4 : K;
  require(
      args.lanes == 0 || args.lanes == 1 || args.lanes == 2 || args.lanes == 4 || args.lanes == 8,
      ErrorCode::InvalidArgument, "col_sumsq: {} row lanes (0, 1, 2, 4 or 8)", args.lanes);
  Layout l = layout_for(ctx.caps());
  if (args.lanes != 0) l = args.lanes == 1 ? Layout{256, 1} : Layout{256 / args.lanes, args.lanes};
  const Kernel& k = ctx.pipelines().get(kDesc, {l.wg, vec4 ? 1u : 0u, l.lanes});
  const ColSumsqPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(K)};
  rec.dispatch(k, {args.x.range(), args.acc.range()}, push,
               grid_1d(ceil_div(items, l.wg), ctx.caps()));
}

}  // namespace vkr::kernels
