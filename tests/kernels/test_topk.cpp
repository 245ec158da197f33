// test_topk.cpp: topk.comp and topk_split.comp (GPU top-K selection for the sampler) vs a CPU
// reference over odd vocabulary sizes, heavy ties, NaN, infinities and signed zeros; ids must
// match exactly.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/ops_test_util.hpp"
#include "kernels/sampling.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// The first K ids in the order (value descending, id ascending; NaN last), sorted by id.
std::vector<uint32_t> ref_topk(std::span<const float> row, size_t K) {
  std::vector<uint32_t> ids(row.size());
  std::iota(ids.begin(), ids.end(), 0u);
  std::stable_sort(ids.begin(), ids.end(), [&](uint32_t a, uint32_t b) {
    const bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
    if (na || nb) return !na && nb;
    return row[a] > row[b];  // stable: equal values keep ascending ids
  });
  ids.resize(K);
  std::sort(ids.begin(), ids.end());
  return ids;
}

class TopkTest : public test::GpuTest {
 protected:
  uint32_t force_block_ = 0;  // > 0: topk_split.comp with this many logits per block

  void check(const std::vector<float>& logits, size_t rows, size_t K, const std::string& what) {
    const size_t V = logits.size() / rows;
    Buffer bl = make_buffer(logits);
    Buffer bi = Buffer::create(ctx(), Lifetime::Activations, rows * K * 4, MemoryUsage::Device, "i");
    Buffer bv = make_buffer(rows * K);
    const uint32_t block = force_block_;
    Buffer bs = Buffer::create(ctx(), Lifetime::Activations,
                               kernels::topk_scratch_bytes_forced(rows, V, block ? block : 1),
                               MemoryUsage::Device, "partials");
    kernels::SamplingSplit split;
    if (block) split = {Tensor::of(bs, {bs.size() / 4}, DType::U32), block};
    Recorder rec(ctx());
    kernels::topk(ctx(), rec, {test::f32(bl, {rows, V}), Tensor::of(bi, {rows, K}, DType::U32),
                               test::f32(bv, {rows, K}), split});
    EXPECT_EQ(rec.dispatch_count(), block ? 10u : 1u);
    ctx().queue().submit(rec).wait();
    const auto ids = test::download_vec<uint32_t>(ctx(), bi, rows * K);
    const auto vals = read(bv);
    for (size_t r = 0; r < rows; ++r) {
      const auto row = std::span(logits).subspan(r * V, V);
      const auto want = ref_topk(row, K);
      for (size_t i = 0; i < K; ++i) {
        const uint32_t got = ids[r * K + i];
        ASSERT_EQ(got, want[i]) << what << ": row " << r << " entry " << i << " (V=" << V
                                << " K=" << K << ")";
        const float v = vals[r * K + i];
        ASSERT_TRUE(std::bit_cast<uint32_t>(v) == std::bit_cast<uint32_t>(row[got]) ||
                    (std::isnan(v) && std::isnan(row[got])))
            << what << ": value of id " << got;
      }
    }
  }
};

TEST_F(TopkTest, RandomRowsOddSizes) {
  uint32_t seed = 2100;
  for (size_t V : {size_t{1}, size_t{7}, size_t{1000}, size_t{151937}}) {
    for (size_t K : {size_t{1}, size_t{5}, size_t{40}, size_t{104}, V}) {
      if (K > V || (V > 2000 && K == V)) continue;
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      const size_t rows = V > 2000 ? 1 : 3;
      check(rng.normal_vec(rows * V, 0.0f, 3.0f), rows, K, fmt::format("normal V={} K={}", V, K));
    }
  }
}

TEST_F(TopkTest, TiesAreTakenLowestIdFirst) {
  test::Rng rng(2200);
  const size_t V = 5003, rows = 2;
  auto logits = rng.normal_vec(rows * V);
  for (float& l : logits) l = std::round(l * 2.0f);  // ~13 distinct values: ties everywhere
  for (size_t K : {size_t{1}, size_t{40}, size_t{777}, size_t{5003}}) {
    check(logits, rows, K, fmt::format("rounded K={}", K));
  }
  std::vector<float> flat(V, 0.25f);  // one value: the K lowest ids
  check(flat, 1, 64, "constant row");
}

TEST_F(TopkTest, NaNInfinitiesAndSignedZeros) {
  const size_t V = 300;
  std::vector<float> row(V, -1.0f);
  for (size_t i = 0; i < V; i += 3) row[i] = kNaN;
  row[10] = kInf;
  row[11] = -kInf;
  row[20] = 0.0f;
  row[21] = -0.0f;
  row[22] = 0.0f;
  row[200] = kInf;
  for (size_t K : {size_t{1}, size_t{3}, size_t{5}, size_t{199}, size_t{250}, V}) {
    check(row, 1, K, fmt::format("special K={}", K));
  }
  std::vector<float> nan_row(50, kNaN);
  nan_row[17] = -kInf;
  check(nan_row, 1, 4, "mostly NaN");
}

// topk_split.comp forced on lavapipe: blocks of odd and default sizes, ties and specials spread
// over many blocks, several rows.
TEST_F(TopkTest, SplitRowsMatchTheReference) {
  uint32_t seed = 2900;
  for (uint32_t block : {97u, 4096u}) {
    force_block_ = block;
    for (size_t V : {size_t{1}, size_t{7}, size_t{1000}, size_t{4097}, size_t{152064}}) {
      if (V > 5000 && block < 4096) continue;  // lavapipe time
      for (size_t K : {size_t{1}, size_t{40}, size_t{104}, V}) {
        if (K > V || (V > 2000 && K == V)) continue;
        test::Rng rng(seed++);
        SCOPED_TRACE(rng.trace());
        const size_t rows = V > 5000 ? 1 : 3;
        check(rng.normal_vec(rows * V, 0.0f, 3.0f), rows, K,
              fmt::format("split block={} V={} K={}", block, V, K));
      }
    }
  }
  force_block_ = 61;
  test::Rng rng(2999);
  const size_t V = 5003, rows = 2;
  auto logits = rng.normal_vec(rows * V);
  for (float& l : logits) l = std::round(l * 2.0f);  // ties everywhere, across blocks
  for (size_t K : {size_t{1}, size_t{40}, size_t{777}, size_t{5003}}) {
    check(logits, rows, K, fmt::format("split rounded K={}", K));
  }
  std::vector<float> row(300, -1.0f);
  for (size_t i = 0; i < row.size(); i += 3) row[i] = kNaN;
  for (size_t i = 120; i < 183; ++i) row[i] = kNaN;  // a whole NaN block
  row[10] = kInf;
  row[11] = -kInf;
  row[20] = 0.0f;
  row[21] = -0.0f;
  row[200] = kInf;
  for (size_t K : {size_t{1}, size_t{3}, size_t{5}, size_t{199}, size_t{250}, row.size()}) {
    check(row, 1, K, fmt::format("split special K={}", K));
  }
  Buffer b = make_buffer(64);
  Recorder rec(ctx());  // forced without scratch / too little scratch
  const auto u32 = [&](Shape s) { return Tensor::of(b, s, DType::U32); };
  EXPECT_THROW(kernels::topk(ctx(), rec, {test::f32(b, {2, 8}), u32({2, 4}), test::f32(b, {2, 4}),
                                          {Tensor{}, 4}}),
               Error);
  EXPECT_THROW(kernels::topk(ctx(), rec, {test::f32(b, {2, 8}), u32({2, 4}), test::f32(b, {2, 4}),
                                          {u32({16}), 4}}),
               Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

TEST_F(TopkTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  const auto u32 = [&](Shape s) { return Tensor::of(b, s, DType::U32); };
  // K > V
  EXPECT_THROW(kernels::topk(ctx(), rec, {test::f32(b, {2, 8}), u32({2, 9}), test::f32(b, {2, 9})}),
               Error);
  // rows mismatch, wrong dtypes
  EXPECT_THROW(kernels::topk(ctx(), rec, {test::f32(b, {2, 8}), u32({1, 4}), test::f32(b, {2, 4})}),
               Error);
  EXPECT_THROW(
      kernels::topk(ctx(), rec, {test::f32(b, {2, 8}), test::f32(b, {2, 4}), test::f32(b, {2, 4})}),
      Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
