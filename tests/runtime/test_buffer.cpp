// test_buffer.cpp: buffer round-trips at odd sizes through both transfer paths (mapped and staged),
// a > maxStorageBufferRange tensor processed in windows, arena reuse.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "kernels/test_ops.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"
#include "vkr/memory.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xFF);
  return v;
}

void round_trip(Context& ctx, size_t n, MemoryUsage usage) {
  SCOPED_TRACE(testing::Message() << "size " << n << " usage " << static_cast<int>(usage));
  auto src = random_bytes(n, static_cast<uint32_t>(n));
  Buffer b = Buffer::create(ctx, Lifetime::Activations, n, usage, "roundtrip");
  ctx.staging().upload(b, 0, src);
  std::vector<std::byte> back(n);
  ctx.staging().download(b, 0, back);
  ASSERT_EQ(0, std::memcmp(src.data(), back.data(), n));
  // A window in the middle, at an odd offset.
  if (n > 8) {
    std::vector<std::byte> part(n / 2);
    ctx.staging().download(b, 3, part);
    ASSERT_EQ(0, std::memcmp(src.data() + 3, part.data(), part.size()));
  }
}

class BufferTest : public test::GpuTest {};

TEST_F(BufferTest, RoundTripOddSizesMapped) {
  for (size_t n : {size_t{1}, size_t{3}, size_t{4096}, (size_t{1} << 20) + 7}) {
    round_trip(ctx(), n, MemoryUsage::Device);
    round_trip(ctx(), n, MemoryUsage::Readback);
  }
}

TEST_F(BufferTest, RoundTripOddSizesThroughStaging) {
  // Device buffers without host pointers force the chunked staging copies (64 KiB chunks here so
  // a 1 MiB + 7 transfer takes many chunks and ends on a partial one).
  auto opt = test::test_options();
  opt.map_device_memory = false;
  auto staged = Context::create(opt);
  Staging small_chunks(*staged, 64 << 10);
  for (size_t n : {size_t{1}, size_t{3}, (size_t{1} << 20) + 7}) {
    SCOPED_TRACE(n);
    auto src = random_bytes(n, 7);
    Buffer b = Buffer::create(*staged, Lifetime::Activations, n, MemoryUsage::Device, "staged");
    ASSERT_FALSE(b.host_visible());
    small_chunks.upload(b, 0, src);
    std::vector<std::byte> back(n);
    small_chunks.download(b, 0, back);
    ASSERT_EQ(0, std::memcmp(src.data(), back.data(), n));
  }
  test::expect_no_validation_messages(*staged);
}

TEST_F(BufferTest, LargerThanMaxStorageBufferRangeInWindows) {
  const auto& caps = ctx().caps();
  // 1.5x the binding limit (capped so a GPU with a 4 GiB range still runs this quickly).
  const uint64_t range = std::min<uint64_t>(caps.max_storage_buffer_range, 256ull << 20);
  const uint64_t bytes = range + range / 2 + 4;
  const uint64_t n = bytes / 4;
  Buffer big = Buffer::create(ctx(), Lifetime::Weights, bytes, MemoryUsage::Device, "big");
  Tensor all = Tensor::of(big, Shape{n}, DType::F32);

  // Binding the whole tensor must be refused with a clear message...
  Recorder rec(ctx());
  try {
    kernels::test_ops(ctx(), rec, {kernels::TestOp::Iota, all, all});
    if (bytes > caps.max_storage_buffer_range) FAIL() << "expected a maxStorageBufferRange error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(std::string(e.what()).find("maxStorageBufferRange"), std::string::npos) << e.what();
  }
  // ...and processing it window by window works.
  const uint64_t window = (range / 2) / 4;  // elements, keeps offsets aligned
  for (uint64_t first = 0; first < n; first += window) {
    Tensor w = all.rows(first, std::min(window, n - first));
    kernels::test_ops(ctx(), rec, {kernels::TestOp::Iota, w, w, 1.0f, 0.0f,
                                   static_cast<uint32_t>(first)});
  }
  ctx().queue().submit(rec).wait();
  std::vector<uint32_t> back(n);
  ctx().staging().download(big, std::span<uint32_t>(back));
  for (uint64_t i = 0; i < n; ++i) {
    if (back[i] != i) {
      uint64_t bad = 0;
      for (uint64_t j = i; j < n; ++j) bad += back[j] != j;
      FAIL() << "first bad element " << i << " is " << back[i] << "; " << bad << " bad in all";
    }
  }
  // Host round trip of the whole large buffer too.
  std::vector<uint32_t> pattern(n);
  std::iota(pattern.begin(), pattern.end(), 12345u);
  ctx().staging().upload(big, std::span<const uint32_t>(pattern));
  ctx().staging().download(big, std::span<uint32_t>(back));
  EXPECT_EQ(pattern, back);
}

TEST_F(BufferTest, ArenaReusesFreedMemory) {
  auto& arena = ctx().arena(Lifetime::Activations);
  const uint64_t before = arena.used_bytes();
  for (int i = 0; i < 100; ++i) {
    Buffer b = Buffer::create(ctx(), Lifetime::Activations, 1 << 20);
  }
  EXPECT_EQ(arena.used_bytes(), before);
  Buffer a = Buffer::create(ctx(), Lifetime::Activations, 1000);
  Buffer moved = std::move(a);
  EXPECT_FALSE(static_cast<bool>(a));
  EXPECT_TRUE(static_cast<bool>(moved));
  EXPECT_GT(arena.used_bytes(), before);
}

TEST_F(BufferTest, BadSizesAreClearErrors) {
  try {
    Buffer::create(ctx(), Lifetime::Activations, 0, MemoryUsage::Device, "empty");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  // More than the device can hold: OutOfDeviceMemory, never a crash.
  const uint64_t too_big[] = {uint64_t{1} << 40, ctx().caps().heaps[0].size + (uint64_t{1} << 20)};
  for (uint64_t bytes : too_big) {
    try {
      Buffer::create(ctx(), Lifetime::Weights, bytes, MemoryUsage::Device, "huge");
      FAIL() << bytes;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::OutOfDeviceMemory) << e.what();
    }
  }
  Buffer small = Buffer::create(ctx(), Lifetime::Activations, 16);
  EXPECT_THROW(small.range(8, 16), Error);
  EXPECT_THROW(small.range(17), Error);
}

}  // namespace
}  // namespace vkr
