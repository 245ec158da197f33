// test_sampling.cpp: sampling.comp argmax (ties, NaN, -inf) and temperature softmax vs the CPU
// references over odd vocabulary sizes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "kernels/ops_test_util.hpp"
#include "kernels/sampling.hpp"
#include "reference/ops.hpp"
#include "support/expect_error.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {

using test::expect_close;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class SamplingTest : public test::GpuTest {
 protected:
  // reads: ArgmaxArgs::reads (0 automatic, 1 storage, 2 texel: checked to be the path taken).
  std::vector<uint32_t> gpu_argmax(const std::vector<float>& logits, size_t rows,
                                   uint32_t reads = 0) {
    const size_t V = logits.size() / rows;
    Buffer bl = make_buffer(logits);
    Buffer bi = Buffer::create(ctx(), Lifetime::Activations, rows * 4, MemoryUsage::Device, "ids");
    Recorder rec(ctx());
    kernels::ArgmaxArgs a{test::f32(bl, {rows, V}), Tensor::of(bi, {rows}, DType::U32)};
    a.reads = reads;
    kernels::argmax(ctx(), rec, a);
    if (reads != 0) {
      EXPECT_EQ(rec.texel_view_count() > 0, reads == 2);
    }
    ctx().queue().submit(rec).wait();
    return test::download_vec<uint32_t>(ctx(), bi, rows);
  }
  // The read paths a row of V logits can take.
  static std::vector<uint32_t> read_paths(size_t V) {
    return V % 4 == 0 ? std::vector<uint32_t>{1, 2} : std::vector<uint32_t>{0, 1};
  }
};

TEST_F(SamplingTest, ArgmaxRandomRowsWithTies) {
  uint32_t seed = 1600;
  for (size_t V : {size_t{1}, size_t{7}, size_t{1000}, size_t{151937}, size_t{152064}}) {
    for (size_t rows : {size_t{1}, size_t{3}}) {
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      auto logits = rng.normal_vec(rows * V);
      if (V > 8) {  // plant a tie for the max, in different lanes/subgroups
        for (size_t r = 0; r < rows; ++r) {
          logits[r * V + V / 3 + r] = 50.0f;
          logits[r * V + V - 1 - r] = 50.0f;
        }
      }
      for (uint32_t reads : read_paths(V)) {
        auto got = gpu_argmax(logits, rows, reads);
        for (size_t r = 0; r < rows; ++r) {
          EXPECT_EQ(got[r], test::ref_argmax_skip_nan(std::span(logits).subspan(r * V, V)))
              << "V=" << V << " row " << r << " reads " << reads;
        }
      }
    }
  }
}

TEST_F(SamplingTest, ArgmaxIgnoresNaNAndHandlesInfinities) {
  const size_t V = 300;
  std::vector<float> logits(4 * V, -1.0f);
  logits[0] = kNaN;  // row 0: NaN first, max later
  logits[123] = 3.0f;
  logits[V + 5] = kInf;  // row 1: +inf wins over NaNs around it
  logits[V + 6] = kNaN;
  for (size_t i = 0; i < V; ++i) logits[2 * V + i] = -kInf;  // row 2: all -inf -> index 0
  for (size_t i = 0; i < V; ++i) logits[3 * V + i] = kNaN;   // row 3: all NaN -> 0
  for (uint32_t reads : read_paths(V)) {
    SCOPED_TRACE(reads);
    auto got = gpu_argmax(logits, 4, reads);
    EXPECT_EQ(got[0], 123u);
    EXPECT_EQ(got[1], 5u);
    EXPECT_EQ(got[2], 0u);
    EXPECT_EQ(got[3], 0u);
  }
}

TEST_F(SamplingTest, SoftmaxWithTemperature) {
  uint32_t seed = 1700;
  for (size_t V : {size_t{1}, size_t{7}, size_t{1000}, size_t{151937}, size_t{152064}}) {
    for (float temp : {1.0f, 0.7f}) {
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      const size_t rows = 2;
      auto logits = rng.normal_vec(rows * V, 0.0f, 5.0f);
      const auto want = test::ref_softmax_rows(logits, rows, V, temp);
      Buffer bl = make_buffer(logits);
      Recorder rec(ctx());  // in place: probs = logits
      kernels::softmax(ctx(), rec, {test::f32(bl, {rows, V}), test::f32(bl, {rows, V}), temp});
      ctx().queue().submit(rec).wait();
      // f32 exp + a long f32 sum: relative ~1e-6 per element, probabilities tiny in absolute terms.
      expect_close(want, read(bl), 1e-9, 1e-5, fmt::format("softmax V={} temp={}", V, temp));
    }
  }
}

TEST_F(SamplingTest, NllIsLogSumExpMinusTarget) {
  uint32_t seed = 1800;
  for (size_t V : {size_t{1}, size_t{7}, size_t{1000}, size_t{151937}, size_t{152064}}) {
    test::Rng rng(seed++);
    SCOPED_TRACE(rng.trace());
    const size_t rows = 3;
    auto logits = rng.normal_vec(rows * V, 0.0f, 5.0f);
    std::vector<uint32_t> targets(rows);
    std::vector<float> want(rows);
    for (size_t r = 0; r < rows; ++r) {
      targets[r] = static_cast<uint32_t>((r * 7919 + V / 2) % V);
      want[r] = static_cast<float>(
          ref::nll(std::span<const float>(logits).subspan(r * V, V), targets[r]));
    }
    Buffer bl = make_buffer(logits);
    Buffer bt = Buffer::create(ctx(), Lifetime::Activations, rows * 4, MemoryUsage::Device, "t");
    ctx().staging().upload(bt, std::span<const uint32_t>(targets));
    Recorder rec(ctx());
    kernels::nll(ctx(), rec, {test::f32(bl, {rows, V}), Tensor::of(bt, {rows}, DType::U32)});
    ctx().queue().submit(rec).wait();
    const auto bits = test::download_vec<uint32_t>(ctx(), bt, rows);
    std::vector<float> got(rows);
    for (size_t r = 0; r < rows; ++r) got[r] = std::bit_cast<float>(bits[r]);
    expect_close(want, got, 1e-4, 1e-5, fmt::format("nll V={}", V));
  }
}

TEST_F(SamplingTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  EXPECT_THROW(kernels::argmax(ctx(), rec, {test::f32(b, {2, 8}), Tensor::of(b, {3}, DType::U32)}),
               Error);
  EXPECT_THROW(kernels::argmax(ctx(), rec, {test::f32(b, {2, 8}), Tensor::of(b, {2}, DType::F32)}),
               Error);
  EXPECT_THROW(kernels::softmax(ctx(), rec, {test::f32(b, {2, 8}), test::f32(b, {2, 8}), 0.0f}),
               Error);
  kernels::ArgmaxArgs bad{test::f32(b, {2, 7}), Tensor::of(b, {2}, DType::U32)};
  bad.reads = 2;  // texel reads need V % 4 == 0
  test::expect_error([&] { kernels::argmax(ctx(), rec, bad); }, ErrorCode::InvalidArgument,
                     {"argmax", "texel reads need V % 4 == 0", "V = 7"});
  bad.logits = test::f32(b, {2, 8});
  bad.reads = 3;
  test::expect_error([&] { kernels::argmax(ctx(), rec, bad); }, ErrorCode::InvalidArgument,
                     {"argmax: reads must be", "got 3"});
  EXPECT_THROW(kernels::nll(ctx(), rec, {test::f32(b, {2, 8}), Tensor::of(b, {3}, DType::U32)}),
               Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
