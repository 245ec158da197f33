// test_ops.cpp: shape checks, grid and recording for test_ops.comp.
#include "kernels/test_ops.hpp"

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
constexpr uint32_t kWorkgroup = 64;
constexpr KernelDesc kDesc{ShaderId::test_ops, 2, sizeof(TestOpsPush)};
}  // namespace

void test_ops(Context& ctx, Recorder& rec, const TestOpsArgs& args) {
  const uint64_t n = args.y.shape.elements();
  require(args.y.shape.rank() == 1 && n > 0 && n <= UINT32_MAX, ErrorCode::ShapeMismatch,
          "test_ops: y must be a non-empty 1-D tensor, got {}", args.y.shape);
  check_tensor("test_ops", "y", args.y, args.y.shape, DType::F32);
  if (args.op != TestOp::Iota) check_tensor("test_ops", "x", args.x, args.y.shape, DType::F32);
  const Tensor& x = args.op == TestOp::Iota ? args.y : args.x;
  const Kernel& k = ctx.pipelines().get(kDesc, {kWorkgroup, static_cast<uint32_t>(args.op)});
  TestOpsPush push{static_cast<uint32_t>(n), args.first, args.a, args.base};
  rec.dispatch(k, {x.range(), args.y.range()}, push,
               grid_1d((n + kWorkgroup - 1) / kWorkgroup, ctx.caps()));
}

}  // namespace vkr::kernels
