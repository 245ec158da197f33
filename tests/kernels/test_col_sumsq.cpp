// test_col_sumsq.cpp: col_sumsq.comp (imatrix column statistics) vs the CPU reference: vec4 and
// scalar paths, odd shapes, accumulation over several calls, views at row offsets, shape errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/col_sumsq.hpp"
#include "kernels/ops_test_util.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using test::expect_close;
using test::f32;

class ColSumsqTest : public test::GpuTest {
 protected:
  // `calls` accumulations of fresh (rows, K) inputs into one accumulator that starts random.
  void run(uint64_t rows, uint64_t K, int calls, uint32_t seed, uint32_t lanes = 0) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    std::vector<float> acc = rng.uniform_vec(K, 0.0f, 10.0f);
    std::vector<float> want = acc;
    Buffer bacc = make_buffer(acc);
    for (int c = 0; c < calls; ++c) {
      auto x = rng.normal_vec(rows * K, 0.0f, 3.0f);
      ref::col_sumsq(static_cast<int>(rows), static_cast<int>(K), x, want);
      Buffer bx = make_buffer(x);
      Recorder rec(ctx());
      kernels::col_sumsq(ctx(), rec, {f32(bx, {rows, K}), f32(bacc, {K}), lanes});
      ctx().queue().submit(rec).wait();
    }
    // f32 sums of up to a few hundred positive terms: a few ulps per add.
    expect_close(want, read(bacc), 1e-5, 1e-5,
                 fmt::format("rows={} K={} calls={} lanes={}", rows, K, calls, lanes));
  }
};

// Both layouts on every device: the CPU one (one row lane, no barrier) and the GPUs' (row lanes
// meeting in shared memory), whichever this device would pick.
TEST_F(ColSumsqTest, RandomAndOddShapes) {
  uint32_t seed = 3100;
  for (uint32_t lanes : {1u, 8u}) {
    for (uint64_t rows : {1u, 3u, 64u, 257u}) {
      for (uint64_t K : {1u, 7u, 64u, 1001u, 5120u}) run(rows, K, 1, seed++, lanes);
    }
  }
  run(100, 130, 1, seed++, 2);
  run(9, 36, 1, seed++, 4);
}

TEST_F(ColSumsqTest, AccumulatesOverCalls) {
  run(17, 96, 3, 3200);
  run(17, 96, 3, 3201, 8);
}

// A view that starts at a later row of a bigger buffer (how the forward hands it a group of the
// ddlerp outputs) and one whose offset breaks 16-byte alignment where the device allows it.
TEST_F(ColSumsqTest, ViewsAtOffsets) {
  test::Rng rng(3300);
  const uint64_t rows = 5, K = 12;
  auto x = rng.normal_vec(3 * rows * K + 1);
  for (uint64_t off : {rows * K, uint64_t{1}}) {
    if (off % 4 != 0 && ctx().caps().min_storage_buffer_offset_alignment > 4) continue;
    std::vector<float> want(K, 0.0f);
    ref::col_sumsq(int(rows), int(K), std::span<const float>(x).subspan(off, rows * K), want);
    Buffer bx = make_buffer(x), bacc = make_buffer(std::vector<float>(K, 0.0f));
    Recorder rec(ctx());
    kernels::col_sumsq(ctx(), rec,
                       {Tensor::of(bx, Shape{rows, K}, DType::F32, off * 4), f32(bacc, {K})});
    ctx().queue().submit(rec).wait();
    expect_close(want, read(bacc), 1e-6, 1e-6, fmt::format("offset {}", off));
  }
}

TEST_F(ColSumsqTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  EXPECT_THROW(kernels::col_sumsq(ctx(), rec, {f32(b, {4, 8}), f32(b, {7})}), Error);
  EXPECT_THROW(kernels::col_sumsq(ctx(), rec, {f32(b, {32}), f32(b, {32})}), Error);
  EXPECT_THROW(kernels::col_sumsq(ctx(), rec, {f32(b, {4, 8}), {}}), Error);
  EXPECT_THROW(kernels::col_sumsq(ctx(), rec, {f32(b, {4, 8}), f32(b, {8}), 3}), Error);
}

}  // namespace
}  // namespace vkr
