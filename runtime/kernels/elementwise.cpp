// elementwise.cpp: shape checks, vec4 choice and recording for elementwise.comp.
#include "kernels/elementwise.hpp"

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "elementwise";
constexpr KernelDesc kDesc{ShaderId::elementwise, 3, sizeof(ElementwisePush)};
constexpr uint32_t kWg = 256;
}  // namespace

bool ew_uses_b(EwOp op) {
  const auto v = static_cast<uint32_t>(op);
  return v >= static_cast<uint32_t>(EwOp::Add) && v <= static_cast<uint32_t>(EwOp::ResidSigmoidMul);
}

void elementwise(Context& ctx, Recorder& rec, const ElementwiseArgs& args) {
  require(static_cast<uint32_t>(args.op) <= static_cast<uint32_t>(EwOp::Scale),
          ErrorCode::InvalidArgument, "elementwise: unknown op {}", static_cast<uint32_t>(args.op));
  require(present(args.a) && args.a.shape.elements() > 0, ErrorCode::ShapeMismatch,
          "elementwise: a must be a non-empty tensor");
  check_tensor(kName, "a", args.a, args.a.shape, DType::F32);
  check_tensor(kName, "out", args.out, args.a.shape, DType::F32);
  const bool uses_b = ew_uses_b(args.op);
  if (uses_b) check_tensor(kName, "b", args.b, args.a.shape, DType::F32);
  const uint64_t n = args.a.shape.elements();
  u32_dim(n, kName, "elements");

  // vec4 loads when every view is 16-byte aligned and n % 4 == 0 (then no tail is left over).
  const Tensor& b = uses_b ? args.b : args.a;
  const bool vec4 =
      n % 4 == 0 && args.a.offset % 16 == 0 && b.offset % 16 == 0 && args.out.offset % 16 == 0;
  const uint64_t items = vec4 ? n / 4 : n;
  const Kernel& k =
      ctx.pipelines().get(kDesc, {kWg, static_cast<uint32_t>(args.op), vec4 ? 1u : 0u});
  const ElementwisePush push{static_cast<uint32_t>(n), args.alpha};
  rec.dispatch(k, {args.a.range(), b.range(), args.out.range()}, push,
               grid_1d(ceil_div(items, kWg), ctx.caps()));
}

}  // namespace vkr::kernels
