// test_dispatch.cpp: a kernel dispatch vs a CPU loop, producer/consumer barriers, recorder reuse,
// timestamps, and interface errors caught before recording.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include <random>

#include "kernels/test_ops.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"
#include "vkr/gpu_timer.hpp"

namespace vkr {
namespace {

using kernels::TestOp;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

class DispatchTest : public test::GpuTest {};

TEST_F(DispatchTest, SaxpyMatchesCpuAtOddSizes) {
  for (size_t n : {size_t{1}, size_t{7}, size_t{64}, size_t{65}, size_t{100003}}) {
    SCOPED_TRACE(n);
    auto x = random_floats(n, 1);
    auto y = random_floats(n, 2);
    Buffer bx = make_buffer(x), by = make_buffer(y);
    Recorder rec(ctx());
    kernels::test_ops(ctx(), rec, {TestOp::Saxpy, Tensor::of(bx, Shape{n}, DType::F32),
                                   Tensor::of(by, Shape{n}, DType::F32), 2.5f});
    ctx().queue().submit(rec).wait();
    auto got = read(by);
    // Exact up to contraction: a GPU compiler may fuse a * x + y into one FMA (NVIDIA does) or
    // not (lavapipe), so either correctly rounded result passes and nothing else.
    for (size_t i = 0; i < n; ++i) {
      const volatile float prod = 2.5f * x[i];
      const float separate = prod + y[i], fused = std::fma(2.5f, x[i], y[i]);
      ASSERT_TRUE(got[i] == separate || got[i] == fused)
          << "first bad index " << i << ": got " << got[i] << ", want " << separate << " or "
          << fused;
    }
  }
}

TEST_F(DispatchTest, ProducerConsumerWithBarriers) {
  // Each stage reads what the previous one wrote; with a barrier between them the chain is exact.
  const size_t n = 300000;
  auto x = random_floats(n, 3);
  Buffer a = make_buffer(x), b = make_buffer(n);
  Tensor ta = Tensor::of(a, Shape{n}, DType::F32), tb = Tensor::of(b, Shape{n}, DType::F32);
  Recorder rec(ctx());
  for (int round = 0; round < 8; ++round) {
    kernels::test_ops(ctx(), rec, {TestOp::Scale, ta, tb, 1.0f, 1.0f});  // b = a + 1
    rec.barrier();
    kernels::test_ops(ctx(), rec, {TestOp::Scale, tb, ta, 1.0f, 1.0f});  // a = b + 1
    rec.barrier();
  }
  EXPECT_EQ(rec.dispatch_count(), 16u);
  ctx().queue().submit(rec).wait();
  auto got = read(a);
  for (size_t i = 0; i < n; ++i) {
    float want = x[i];
    for (int step = 0; step < 16; ++step) want = want + 1.0f;  // same f32 rounding as the GPU chain
    ASSERT_EQ(got[i], want) << "first bad index " << i;
  }

  // The same recorder records again after reset().
  rec.reset();
  kernels::test_ops(ctx(), rec, {TestOp::Scale, ta, tb, 0.0f, 5.0f});
  ctx().queue().submit(rec).wait();
  EXPECT_EQ(read(b)[n - 1], 5.0f);
}

// A Replay recorder runs its commands once per submission, refuses more commands once ended, and
// records anew after reset().
TEST_F(DispatchTest, ReplayRecorderRunsOncePerSubmission) {
  const size_t n = 1001;
  auto x = random_floats(n, 4);
  Buffer a = make_buffer(x), b = make_buffer(n);
  Tensor ta = Tensor::of(a, Shape{n}, DType::F32), tb = Tensor::of(b, Shape{n}, DType::F32);
  Recorder rec(ctx(), RecordMode::Replay);
  EXPECT_EQ(rec.mode(), RecordMode::Replay);
  kernels::test_ops(ctx(), rec, {TestOp::Scale, ta, tb, 1.0f, 1.0f});  // b = a + 1
  rec.barrier();
  kernels::test_ops(ctx(), rec, {TestOp::Scale, tb, ta, 1.0f, 0.0f});  // a = b
  rec.barrier();
  for (int i = 0; i < 3; ++i) ctx().queue().submit(rec);  // each waits for the previous one
  ctx().queue().wait_idle();
  auto got = read(a);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[i], ((x[i] + 1.0f) + 1.0f) + 1.0f) << "first bad index " << i;
  }
  EXPECT_THROW(rec.barrier(), Error);
  rec.reset();
  kernels::test_ops(ctx(), rec, {TestOp::Scale, ta, tb, 0.0f, 5.0f});
  ctx().queue().submit(rec).wait();
  EXPECT_EQ(read(b)[n - 1], 5.0f);
}

TEST_F(DispatchTest, TimestampsAreMonotonicAndNonZero) {
  const size_t n = 1 << 20;
  Buffer a = make_buffer(n), b = make_buffer(n);
  Tensor ta = Tensor::of(a, Shape{n}, DType::F32), tb = Tensor::of(b, Shape{n}, DType::F32);
  GpuTimer timer(ctx(), 3);
  Recorder rec(ctx());
  rec.reset_timer(timer);
  rec.timestamp(timer, 0);
  kernels::test_ops(ctx(), rec, {TestOp::Iota, ta, ta});
  rec.barrier();
  rec.timestamp(timer, 1);
  kernels::test_ops(ctx(), rec, {TestOp::Scale, ta, tb, 2.0f, 0.0f});
  rec.timestamp(timer, 2);
  ctx().queue().submit(rec).wait();
  auto ns = timer.read_ns(3);
  EXPECT_GT(ns[0], 0.0);
  EXPECT_GT(ns[1], ns[0]);
  EXPECT_GT(ns[2], ns[1]);
}

TEST_F(DispatchTest, InterfaceErrorsBeforeRecording) {
  Buffer a = make_buffer(16);
  Tensor t16 = Tensor::of(a, Shape{16}, DType::F32);
  Tensor t8 = Tensor::of(a, Shape{8}, DType::F32);
  Recorder rec(ctx());
  // Mismatched shapes, wrong dtype, wrong binding count, wrong push size.
  EXPECT_THROW(kernels::test_ops(ctx(), rec, {TestOp::Saxpy, t8, t16}), Error);
  Tensor as_f16 = Tensor::of(a, Shape{16}, DType::F16);
  EXPECT_THROW(kernels::test_ops(ctx(), rec, {TestOp::Saxpy, as_f16, as_f16}), Error);
  const Kernel& k = ctx().pipelines().get({ShaderId::test_ops, 2, 16}, {64, 0});
  kernels::TestOpsPush push{16, 0, 1.0f, 0.0f};
  try {
    rec.dispatch(k, {t16.range()}, push, {1, 1, 1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(std::string(e.what()).find("test_ops"), std::string::npos) << e.what();
  }
  uint32_t short_push = 0;
  EXPECT_THROW(rec.dispatch(k, {t16.range(), t16.range()}, short_push, {1, 1, 1}), Error);
  EXPECT_THROW(rec.dispatch(k, {t16.range(), t16.range()}, push, {1u << 31, 1, 1}), Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);  // nothing reached the command buffer
}

// Texel bindings (KernelDesc::texel_mask): bw_probe_tex XORs each invocation's texels (grid
// stride) into one word. Checks the values read through a buffer view at an offset, the view
// bookkeeping, texel_usable, and the texel-specific interface errors.
TEST_F(DispatchTest, TexelBindingsReadWholeTexels) {
  constexpr uint32_t kWg = 8, kUnroll = 1, kTexels = 37, kSkip = 3;  // view starts at texel 3
  std::vector<float> words(4 * (kTexels + kSkip) + 2);  // 2 trailing words: not a whole texel
  std::mt19937 rng(5);
  for (auto& w : words) w = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  Buffer src = make_buffer(words);
  Buffer dst = make_buffer(kWg);
  EXPECT_TRUE(ctx().texel_usable(src.handle()));
  const Kernel& k = ctx().pipelines().get({ShaderId::bw_probe_tex, 2, 4, 0b01}, {kWg, kUnroll});
  Recorder rec(ctx());
  // The range runs to the buffer's end: the view exposes its whole texels only (37 of them).
  const BufferRange view = src.range(kSkip * kTexelBytes);
  rec.dispatch(k, {view, dst.range()}, kTexels, {1, 1, 1});
  rec.dispatch(k, {view, dst.range()}, kTexels, {1, 1, 1});
  EXPECT_EQ(rec.texel_view_count(), 1u);  // one view, reused
  ctx().queue().submit(rec).wait();
  const auto got = read(dst);
  for (uint32_t lane = 0; lane < kWg; ++lane) {
    uint32_t want = 0;
    for (uint32_t t = lane; t < kTexels; t += kWg) {
      for (uint32_t c = 0; c < 4; ++c) want ^= std::bit_cast<uint32_t>(words[4 * (kSkip + t) + c]);
    }
    EXPECT_EQ(std::bit_cast<uint32_t>(got[lane]), want) << "lane " << lane;
  }
  rec.reset();
  EXPECT_EQ(rec.texel_view_count(), 0u);

  // Errors before recording: a texel binding off minTexelBufferOffsetAlignment, and one smaller
  // than a texel.
  const uint64_t align = ctx().caps().min_texel_buffer_offset_alignment;
  if (align > 4) {
    try {
      rec.dispatch(k, {src.range(4, 64), dst.range()}, 4u, {1, 1, 1});
      FAIL() << "expected a minTexelBufferOffsetAlignment error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
      EXPECT_NE(std::string(e.what()).find("minTexelBufferOffsetAlignment"), std::string::npos)
          << e.what();
    }
  }
  try {
    rec.dispatch(k, {src.range(0, 8), dst.range()}, 1u, {1, 1, 1});
    FAIL() << "expected a texel-count error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(std::string(e.what()).find("maxTexelBufferElements"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
  EXPECT_THROW(ctx().pipelines().get({ShaderId::bw_probe_tex, 2, 4, 0b100}, {kWg, kUnroll}),
               Error);  // mask past the bindings

  // A buffer vkr did not create (here: one already destroyed) is not texel-usable.
  const VkBuffer gone = src.handle();
  src = Buffer();
  EXPECT_FALSE(ctx().texel_usable(gone));
}

TEST_F(DispatchTest, TicketTimeoutIsAnError) {
  Ticket never(&ctx().queue(), ctx().queue().last_submitted() + 1000);
  try {
    never.wait(1000000);  // 1 ms
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Timeout);
  }
  EXPECT_FALSE(never.done());
}

TEST(ErrorCodes, VkResultsMapToDistinctCodes) {
  EXPECT_EQ(error_code_for(VK_ERROR_DEVICE_LOST), ErrorCode::DeviceLost);
  EXPECT_EQ(error_code_for(VK_ERROR_OUT_OF_DEVICE_MEMORY), ErrorCode::OutOfDeviceMemory);
  EXPECT_EQ(error_code_for(VK_ERROR_OUT_OF_HOST_MEMORY), ErrorCode::OutOfHostMemory);
  try {
    check_vk(VK_ERROR_DEVICE_LOST, "vkQueueSubmit");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::DeviceLost);
    EXPECT_EQ(e.vk_result(), VK_ERROR_DEVICE_LOST);
    std::string what = e.what();
    EXPECT_NE(what.find("vkQueueSubmit"), std::string::npos);
    EXPECT_NE(what.find("VK_ERROR_DEVICE_LOST"), std::string::npos);
    EXPECT_NE(what.find("test_dispatch.cpp:"), std::string::npos);  // file:line of the caller
  }
  EXPECT_NO_THROW(check_vk(VK_SUCCESS, "ok"));
}

}  // namespace
}  // namespace vkr
