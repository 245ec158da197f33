// test_embed.cpp: embed.comp vs ref::embedding for f32 / f16 / bf16 tables (reference fed the same
// rounded values, so results must match exactly), out-of-range ids, and windowed tables.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/embed.hpp"
#include "kernels/ops_test_util.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using test::expect_close;

class EmbedTest : public test::GpuTest {
 protected:
  // Uploads `table` (already representable in dtype) in that dtype.
  Buffer upload_table(const std::vector<float>& table, DType dtype) {
    if (dtype == DType::F32) return make_buffer(table);
    std::vector<uint16_t> bits(table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      bits[i] = dtype == DType::F16 ? test::f32_to_f16_bits(table[i]) : test::f32_to_bf16_bits(table[i]);
    }
    return test::upload_vec<uint16_t>(ctx(), bits);
  }

  // ids may hold out-of-range values (rows expected to be zero).
  void run(int V, int C, const std::vector<int32_t>& ids, DType dtype, uint64_t window,
           uint32_t seed) {
    if (dtype != DType::F32 && !ctx().caps().fp16_storage) GTEST_SKIP() << "no 16-bit storage";
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    const size_t elements = static_cast<size_t>(V) * C;
    std::vector<float> table;
    if (elements < (1u << 22)) {
      table = rng.normal_vec(elements);
    } else {  // large tables: a cheap hash instead of Box-Muller keeps the test fast
      table.resize(elements);
      for (size_t i = 0; i < elements; ++i) {
        table[i] =
            static_cast<float>((static_cast<uint32_t>(i) * 2654435761u) >> 8) * 0x1p-23f - 1.0f;
      }
    }
    for (float& v : table) {  // round to the storage type first: the reference sees the same values
      if (dtype == DType::F16) v = test::f16_bits_to_f32(test::f32_to_f16_bits(v));
      if (dtype == DType::BF16) v = test::bf16_bits_to_f32(test::f32_to_bf16_bits(v));
    }
    const size_t T = ids.size();
    std::vector<float> want(T * C, 0.0f);
    for (size_t t = 0; t < T; ++t) {
      if (ids[t] < 0 || ids[t] >= V) continue;  // zeros
      ref::embedding(V, C, std::span(&ids[t], 1), table, std::span(want).subspan(t * C, C));
    }
    Buffer bt = upload_table(table, dtype);
    Buffer bi = test::upload_vec<int32_t>(ctx(), ids);
    std::vector<float> junk(T * C, 7.0f);  // proves every element is written
    Buffer bo = make_buffer(junk);
    Recorder rec(ctx());
    kernels::embed(ctx(), rec,
                   {Tensor::of(bi, {T}, DType::I32),
                    Tensor::of(bt, {static_cast<uint64_t>(V), static_cast<uint64_t>(C)}, dtype),
                    test::f32(bo, {T, static_cast<uint64_t>(C)})},
                   window);
    ctx().queue().submit(rec).wait();
    expect_close(
        want, read(bo), 0.0, 0.0,
        fmt::format("embed {} V={} C={} T={} window={}", dtype_name(dtype), V, C, T, window));
  }
};

std::vector<int32_t> random_ids(test::Rng& rng, int T, int V) {
  std::vector<int32_t> ids(T);
  for (auto& id : ids) id = rng.uniform_int(0, V - 1);
  return ids;
}

TEST_F(EmbedTest, AllDtypesOddShapes) {
  uint32_t seed = 1200;
  test::Rng ids_rng(1);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (int C : {1, 7, 64, 255}) {
      for (int T : {1, 3, 17}) run(1000, C, random_ids(ids_rng, T, 1000), dt, 0, seed++);
    }
  }
}

TEST_F(EmbedTest, OutOfRangeIdsGiveZeroRows) {
  // V, -1 (huge as u32), INT32_MAX, and valid ids at both ends.
  const std::vector<int32_t> ids{0, 500, -1, 499, 2147483647, 500, 17};
  run(500, 33, ids, DType::F32, 0, 1300);
  run(500, 33, ids, DType::BF16, 64, 1301);  // windowed: only window 0 writes the zero rows
  // Rows of whole 16-byte word groups take the vector path (8 halves / 4 floats per invocation).
  run(500, 72, ids, DType::F16, 0, 1302);
  run(500, 12, ids, DType::F32, 64, 1303);
}

TEST_F(EmbedTest, WindowedTable) {
  test::Rng ids_rng(2);
  uint32_t seed = 1400;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    // 37 rows per window (rounded down to the offset alignment), ids spread over every window.
    run(1000, 64, random_ids(ids_rng, 17, 1000), dt, 37, seed++);
    run(1001, 7, random_ids(ids_rng, 17, 1001), dt, 100, seed++);
  }
}

TEST_F(EmbedTest, LargerThanMaxStorageBufferRange) {
  // One moderately large bf16 table over the binding limit, so the real window size is used.
  const uint64_t range = ctx().caps().max_storage_buffer_range;
  if (range > (512ull << 20)) GTEST_SKIP() << "maxStorageBufferRange too large to exceed cheaply";
  const int C = 1024;
  const int V = static_cast<int>(range / (2 * C)) + 3000;
  std::vector<int32_t> ids{0, V - 1, V / 2, static_cast<int32_t>(range / (2 * C)), 1, V - 2};
  run(V, C, ids, DType::BF16, 0, 1500);
}

TEST_F(EmbedTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(1024);
  Recorder rec(ctx());
  const Tensor table = test::f32(b, {100, 8});
  EXPECT_THROW(
      kernels::embed(ctx(), rec, {Tensor::of(b, {4}, DType::F32), table, test::f32(b, {4, 8})}),
      Error);
  EXPECT_THROW(
      kernels::embed(ctx(), rec, {Tensor::of(b, {4}, DType::U32), table, test::f32(b, {4, 7})}),
      Error);
  EXPECT_THROW(kernels::embed(ctx(), rec,
                              {Tensor::of(b, {4}, DType::U32), Tensor::of(b, {100, 8}, DType::I32),
                               test::f32(b, {4, 8})}),
               Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
