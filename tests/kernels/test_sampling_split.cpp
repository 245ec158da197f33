// test_sampling_split.cpp: sampling_split.comp (each row over many workgroups) forced on lavapipe
// with small and odd blocks: argmax must equal the one-workgroup path exactly (ties across block
// boundaries, NaN blocks, all -inf / all NaN rows), softmax and nll must match the CPU reference
// within sampling.comp's tolerances, vec4 and scalar loads both.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "kernels/ops_test_util.hpp"
#include "kernels/sampling.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {

using test::expect_close;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Vocabulary sizes: tiny, odd, around one default block (4100: vec4 loads, a 4-float last block),
// not a multiple of 4, QRWKV6's.
constexpr size_t kVs[] = {1, 7, 4095, 4097, 4100, 1002, 152064};

class SamplingSplitTest : public test::GpuTest {
 protected:
  Buffer scratch_for(size_t rows, size_t V, uint32_t block) {
    const uint64_t bytes = kernels::sampling_scratch_bytes_forced(rows, V, block);
    return Buffer::create(ctx(), Lifetime::Activations, bytes, MemoryUsage::Device, "partials");
  }
  static kernels::SamplingSplit split(const Buffer& scratch, uint32_t block) {
    return {Tensor::of(scratch, {scratch.size() / 4}, DType::U32), block};
  }

  // block 0 = the one-workgroup path (no scratch).
  std::vector<uint32_t> gpu_argmax(const std::vector<float>& logits, size_t rows, uint32_t block) {
    const size_t V = logits.size() / rows;
    Buffer bl = make_buffer(logits);
    Buffer bi = Buffer::create(ctx(), Lifetime::Activations, rows * 4, MemoryUsage::Device, "ids");
    Buffer bs = scratch_for(rows, V, block ? block : 1);
    Recorder rec(ctx());
    kernels::argmax(ctx(), rec,
                    {test::f32(bl, {rows, V}), Tensor::of(bi, {rows}, DType::U32),
                     block ? split(bs, block) : kernels::SamplingSplit{}});
    EXPECT_EQ(rec.dispatch_count(), block ? 2u : 1u);
    ctx().queue().submit(rec).wait();
    return test::download_vec<uint32_t>(ctx(), bi, rows);
  }

  void check_argmax(const std::vector<float>& logits, size_t rows, uint32_t block,
                    const std::string& what) {
    const auto want = gpu_argmax(logits, rows, 0);
    const auto got = gpu_argmax(logits, rows, block);
    for (size_t r = 0; r < rows; ++r) {
      EXPECT_EQ(got[r], want[r]) << what << " block=" << block << " row " << r;
    }
  }
};

TEST_F(SamplingSplitTest, ArgmaxTiesAcrossBlocksMatchOneWorkgroup) {
  uint32_t seed = 2600;
  for (size_t V : kVs) {
    for (uint32_t block : {4096u, 64u, 7u, 1000u}) {
      if (V == 152064 && block < 1000) continue;  // lavapipe time; the small blocks cover the rest
      const size_t rows = 3;
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      auto logits = rng.normal_vec(rows * V);
      for (size_t r = 0; r < rows; ++r) {  // equal maxima in different blocks, later one first
        const size_t a = std::min(V - 1, size_t{block} + 3 + r), b = std::min(V - 1, 2 + r);
        logits[r * V + a] = 50.0f;
        logits[r * V + b] = 50.0f;
        logits[r * V + V - 1] = 50.0f;
      }
      check_argmax(logits, rows, block, fmt::format("V={}", V));
      const auto got = gpu_argmax(logits, rows, block);
      for (size_t r = 0; r < rows; ++r) {
        EXPECT_EQ(got[r], test::ref_argmax_skip_nan(std::span(logits).subspan(r * V, V)))
            << "V=" << V << " block=" << block << " row " << r;
      }
    }
  }
}

TEST_F(SamplingSplitTest, ArgmaxNaNBlocksAndInfiniteRows) {
  const size_t V = 4097;
  const uint32_t block = 256;
  std::vector<float> logits(6 * V, -1.0f);
  for (size_t i = 0; i < 2 * block; ++i) logits[i] = kNaN;  // row 0: two NaN blocks, max later
  logits[3 * block + 1] = 3.0f;
  for (size_t i = 0; i < V; ++i) logits[V + i] = i < block ? kNaN : -kInf;  // row 1: NaN block,
  for (size_t i = 0; i < V; ++i) logits[2 * V + i] = -kInf;  // then -inf; row 2: all -inf -> 0
  for (size_t i = 0; i < V; ++i) logits[3 * V + i] = kNaN;   // row 3: all NaN -> 0
  logits[4 * V + V - 1] = kInf;                              // row 4: +inf in the last (short) block
  logits[4 * V + 2] = kNaN;
  for (size_t i = 0; i < V; ++i) logits[5 * V + i] = i < V - 1 ? kNaN : -kInf;  // row 5
  check_argmax(logits, 6, block, "nan");
  const auto got = gpu_argmax(logits, 6, block);
  EXPECT_EQ(got[0], 3 * block + 1);
  EXPECT_EQ(got[1], block);  // the first non-NaN entry
  EXPECT_EQ(got[2], 0u);
  EXPECT_EQ(got[3], 0u);
  EXPECT_EQ(got[4], V - 1);
  EXPECT_EQ(got[5], V - 1);
}

TEST_F(SamplingSplitTest, SoftmaxWithTemperature) {
  uint32_t seed = 2700;
  for (size_t V : kVs) {
    for (uint32_t block : {4096u, 100u, 7u}) {
      if (V == 152064 && block < 4096) continue;
      for (bool in_place : {true, false}) {
        const float temp = in_place ? 0.7f : 1.0f;
        test::Rng rng(seed++);
        SCOPED_TRACE(rng.trace());
        const size_t rows = 2;
        auto logits = rng.normal_vec(rows * V, 0.0f, 5.0f);
        for (size_t i = 0; i < std::min<size_t>(block, V - 1); ++i) logits[i] = -kInf;  // a dead block
        const auto want = test::ref_softmax_rows(logits, rows, V, temp);
        Buffer bl = make_buffer(logits);
        Buffer bp = make_buffer(rows * V);
        Buffer bs = scratch_for(rows, V, block);
        Recorder rec(ctx());
        const Tensor probs = in_place ? test::f32(bl, {rows, V}) : test::f32(bp, {rows, V});
        kernels::softmax(ctx(), rec, {test::f32(bl, {rows, V}), probs, temp, split(bs, block)});
        EXPECT_EQ(rec.dispatch_count(), 2u);
        ctx().queue().submit(rec).wait();
        expect_close(want, read(in_place ? bl : bp), 1e-9, 1e-5,
                     fmt::format("split softmax V={} block={} in_place={}", V, block, in_place));
      }
    }
  }
}

TEST_F(SamplingSplitTest, NllIsLogSumExpMinusTarget) {
  uint32_t seed = 2800;
  for (size_t V : kVs) {
    for (uint32_t block : {4096u, 64u, 7u}) {
      if (V == 152064 && block < 4096) continue;
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      const size_t rows = 3;
      auto logits = rng.normal_vec(rows * V, 0.0f, 5.0f);
      if (V > block) {
        for (size_t i = 0; i < block; ++i) logits[V + i] = -kInf;  // row 1: a dead first block
      }
      std::vector<uint32_t> targets(rows);
      std::vector<float> want(rows);
      for (size_t r = 0; r < rows; ++r) {
        targets[r] = static_cast<uint32_t>((r * 7919 + V / 2) % V);
        if (r == 1 && V > block && targets[r] < block) targets[r] = static_cast<uint32_t>(V - 1);
        want[r] = static_cast<float>(
            ref::nll(std::span<const float>(logits).subspan(r * V, V), targets[r]));
      }
      Buffer bl = make_buffer(logits);
      Buffer bt = Buffer::create(ctx(), Lifetime::Activations, rows * 4, MemoryUsage::Device, "t");
      ctx().staging().upload(bt, std::span<const uint32_t>(targets));
      Buffer bs = scratch_for(rows, V, block);
      Recorder rec(ctx());
      kernels::nll(ctx(), rec,
                   {test::f32(bl, {rows, V}), Tensor::of(bt, {rows}, DType::U32), split(bs, block)});
      ctx().queue().submit(rec).wait();
      const auto bits = test::download_vec<uint32_t>(ctx(), bt, rows);
      std::vector<float> got(rows);
      for (size_t r = 0; r < rows; ++r) got[r] = std::bit_cast<float>(bits[r]);
      expect_close(want, got, 1e-4, 1e-5, fmt::format("split nll V={} block={}", V, block));
    }
  }
}

TEST_F(SamplingSplitTest, AllInfiniteRowsGiveNaNLikeOneWorkgroup) {
  const size_t V = 300, rows = 1;
  std::vector<float> logits(V, -kInf);
  Buffer bl = make_buffer(logits);
  Buffer bs = scratch_for(rows, V, 64);
  Recorder rec(ctx());
  kernels::softmax(ctx(), rec, {test::f32(bl, {rows, V}), test::f32(bl, {rows, V}), 1.0f,
                                split(bs, 64)});
  ctx().queue().submit(rec).wait();
  for (float v : read(bl)) EXPECT_TRUE(std::isnan(v));
}

TEST_F(SamplingSplitTest, AutomaticChoiceAndScratchChecks) {
  const bool cpu = ctx().caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const size_t V = 152064;
  const uint64_t bytes = kernels::sampling_scratch_bytes(ctx(), 1, V);
  EXPECT_EQ(bytes == 0, cpu);  // CPU devices keep one workgroup per row
  EXPECT_EQ(kernels::topk_scratch_bytes(ctx(), 1, V) == 0, cpu);
  EXPECT_GE(kernels::sampling_scratch_bytes(ctx(), 100000, V),
            kernels::sampling_scratch_bytes(ctx(), 100, V));
  Buffer bl = make_buffer(V * 2);
  Buffer bi = Buffer::create(ctx(), Lifetime::Activations, 8, MemoryUsage::Device, "ids");
  Buffer bs = Buffer::create(ctx(), Lifetime::Activations, 64, MemoryUsage::Device, "scratch");
  const Tensor ids = Tensor::of(bi, {2}, DType::U32);
  const Tensor scratch = Tensor::of(bs, {16}, DType::U32);
  {
    Recorder rec(ctx());  // automatic: one dispatch on CPU devices, two with a split
    if (cpu) {
      kernels::argmax(ctx(), rec, {test::f32(bl, {2, V}), ids, {scratch, 0}});
      EXPECT_EQ(rec.dispatch_count(), 1u);
    } else {  // 64 bytes are too few for 2 x 38 blocks
      EXPECT_THROW(kernels::argmax(ctx(), rec, {test::f32(bl, {2, V}), ids, {scratch, 0}}), Error);
    }
  }
  Recorder rec(ctx());
  EXPECT_THROW(kernels::argmax(ctx(), rec, {test::f32(bl, {2, V}), ids, {Tensor{}, 4096}}), Error);
  EXPECT_THROW(kernels::argmax(ctx(), rec, {test::f32(bl, {2, V}), ids, {scratch, 4096}}), Error);
  EXPECT_THROW(kernels::softmax(ctx(), rec, {test::f32(bl, {2, V}), test::f32(bl, {2, V}), 1.0f,
                                             {Tensor::of(bs, {16}, DType::F32), 1u << 20}}),
               Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
