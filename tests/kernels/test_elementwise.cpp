// test_elementwise.cpp: every elementwise.comp op vs the CPU references, vec4 and scalar paths,
// odd sizes and in-place use.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/elementwise.hpp"
#include "kernels/ops_test_util.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using kernels::EwOp;
using test::expect_close;
using test::f32;

// CPU expectation for one op (references where they exist; the rest are single f32 operations).
std::vector<float> expected(EwOp op, const std::vector<float>& a, const std::vector<float>& b,
                            const std::vector<float>& out0, float alpha) {
  const size_t n = a.size();
  std::vector<float> r(n), sig(n);
  ref::sigmoid(a, sig);
  switch (op) {
    case EwOp::Sigmoid:
      return sig;
    case EwOp::Silu:
      ref::silu(a, r);
      return r;
    case EwOp::ReluSq:
      ref::relu_sq(a, r);
      return r;
    case EwOp::SiluMul:
      ref::swiglu(a, b, r);
      return r;
    default:
      break;
  }
  for (size_t i = 0; i < n; ++i) {
    switch (op) {
      case EwOp::Add:
        r[i] = a[i] + alpha * b[i];
        break;
      case EwOp::Mul:
        r[i] = a[i] * b[i];
        break;
      case EwOp::SigmoidMul:
        r[i] = sig[i] * b[i];
        break;
      case EwOp::ResidSigmoidMul:
        r[i] = out0[i] + sig[i] * b[i];
        break;
      default:
        r[i] = alpha * a[i];
        break;  // Scale
    }
  }
  return r;
}

class ElementwiseTest : public test::GpuTest {
 protected:
  // offset_floats != 0 shifts every view off 16-byte alignment, forcing the scalar path.
  void run(EwOp op, size_t n, size_t offset_floats, uint32_t seed) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    auto a = rng.normal_vec(n + offset_floats, 0.0f, 4.0f), b = rng.normal_vec(n + offset_floats);
    auto o = rng.normal_vec(n + offset_floats);
    const float alpha = op == EwOp::Scale ? 0.5f : -1.5f;
    const auto sub = [&](const std::vector<float>& v) {
      return std::vector<float>(v.begin() + static_cast<std::ptrdiff_t>(offset_floats), v.end());
    };
    auto want = expected(op, sub(a), sub(b), sub(o), alpha);
    Buffer ba = make_buffer(a), bb = make_buffer(b), bo = make_buffer(o);
    const VkDeviceSize off = offset_floats * 4;
    Recorder rec(ctx());
    kernels::elementwise(ctx(), rec,
                         {op, f32(ba, {n}, off), f32(bb, {n}, off), f32(bo, {n}, off), alpha});
    ctx().queue().submit(rec).wait();
    auto got = sub(read(bo));
    // exp-based ops: f32 exp vs double, ~1e-6 relative; the rest are exact or one rounding.
    expect_close(want, got, 1e-6, 1e-5,
                 fmt::format("op {} n={} offset={}", static_cast<int>(op), n, offset_floats));
  }
};

TEST_F(ElementwiseTest, EveryOpVec4AndScalar) {
  uint32_t seed = 1000;
  for (uint32_t op = 0; op <= static_cast<uint32_t>(EwOp::Scale); ++op) {
    for (size_t n : {size_t{1}, size_t{7}, size_t{64}, size_t{1001}, size_t{4096}, size_t{4098}}) {
      run(static_cast<EwOp>(op), n, 0, seed++);
    }
    // Views off 16-byte alignment (possible where minStorageBufferOffsetAlignment is 4, e.g. AMD)
    // also take the scalar path; elsewhere the recorder rejects such offsets anyway.
    if (ctx().caps().min_storage_buffer_offset_alignment <= 4)
      run(static_cast<EwOp>(op), 4096, 1, seed++);
  }
}

TEST_F(ElementwiseTest, ResidualAddInPlace) {
  test::Rng rng(1100);
  const size_t n = 5120 * 3;
  auto x = rng.normal_vec(n), d = rng.normal_vec(n);
  std::vector<float> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = x[i] + d[i];
  Buffer bx = make_buffer(x), bd = make_buffer(d);
  Recorder rec(ctx());
  kernels::elementwise(ctx(), rec,
                       {EwOp::Add, f32(bx, {3, 5120}), f32(bd, {3, 5120}), f32(bx, {3, 5120})});
  ctx().queue().submit(rec).wait();
  expect_close(want, read(bx), 0.0, 0.0, "residual add in place");
}

TEST_F(ElementwiseTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  EXPECT_THROW(kernels::elementwise(ctx(), rec, {EwOp::Add, f32(b, {8}), f32(b, {7}), f32(b, {8})}),
               Error);
  EXPECT_THROW(kernels::elementwise(ctx(), rec, {EwOp::Silu, f32(b, {8}), {}, f32(b, {2, 4})}),
               Error);
  EXPECT_THROW(
      kernels::elementwise(ctx(), rec, {static_cast<EwOp>(99), f32(b, {8}), {}, f32(b, {8})}),
      Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
