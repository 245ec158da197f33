// ops_test_util.hpp: helpers shared by the block-op kernel tests (typed uploads/readbacks, f16/bf16
// rounding that matches the GPU widening, and a close-check that logs the NMSE of every case).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/gpu_env.hpp"
#include "vkr/staging.hpp"
#include "vkr/tensor.hpp"

namespace vkr::test {

template <typename T>
Buffer upload_vec(Context& ctx, std::span<const T> data) {
  Buffer b = Buffer::create(ctx, Lifetime::Activations, data.size_bytes(), MemoryUsage::Device,
                            "ops_test");
  ctx.staging().upload(b, data);
  return b;
}

template <typename T>
std::vector<T> download_vec(Context& ctx, const Buffer& b, size_t n, VkDeviceSize offset = 0) {
  std::vector<T> out(n);
  ctx.staging().download(b, std::span<T>(out), offset);
  return out;
}

inline Tensor f32(const Buffer& b, Shape s, VkDeviceSize offset = 0) {
  return Tensor::of(b, s, DType::F32, offset);
}

// IEEE half from float, round to nearest even (finite inputs within half range in tests).
inline uint16_t to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  int e = static_cast<int>((x >> 23) & 0xFF) - 127 + 15;
  uint32_t m = x & 0x7FFFFFu;
  if (e <= 0) {  // subnormal half
    if (e < -10) return static_cast<uint16_t>(sign);
    m |= 0x800000u;
    const int shift = 14 - e;
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (m >> 13);
  const uint32_t rem = m & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float from_f16(uint16_t h) {
  const float mag = std::ldexp(static_cast<float>(h & 0x3FFu) + ((h >> 10) & 0x1F ? 1024.0f : 0.0f),
                               std::max(1, (h >> 10) & 0x1F) - 25);
  return (h & 0x8000u) ? -mag : mag;
}

inline uint16_t to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

inline float from_bf16(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// all_close plus one "[nmse]" log line per case, so a run documents how close each case was.
inline void expect_close(std::span<const float> ref, std::span<const float> got, double atol,
                         double rtol, const std::string& what) {
  EXPECT_TRUE(all_close(ref, got, atol, rtol, what));
  std::printf("[nmse] %-48s %.3g\n", what.c_str(), nmse(ref, got));
}

}  // namespace vkr::test
