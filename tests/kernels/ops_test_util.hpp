// ops_test_util.hpp: helpers shared by the block-op kernel tests (typed uploads/readbacks, f16/bf16
// rounding that matches the GPU widening, and a close-check that logs the NMSE of every case).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "support/half.hpp"
#include "support/compare.hpp"
#include "reference/ops.hpp"
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

// all_close plus one "[nmse]" log line per case, so a run documents how close each case was.
inline void expect_close(std::span<const float> ref, std::span<const float> got, double atol,
                         double rtol, const std::string& what) {
  EXPECT_TRUE(all_close(ref, got, atol, rtol, what));
  std::printf("[nmse] %-48s %.3g\n", what.c_str(), nmse(ref, got));
}

// ref::argmax with NaN skipped (the reference assumes NaN-free input): what the GPU argmax
// computes (NaN never wins; a row of only NaN / -inf gives 0).
inline uint32_t ref_argmax_skip_nan(std::span<const float> row) {
  std::vector<float> clean(row.begin(), row.end());
  for (float& v : clean) {
    if (std::isnan(v)) v = -std::numeric_limits<float>::infinity();
  }
  return static_cast<uint32_t>(ref::argmax(clean));
}

// softmax(logits / temp) of each of `rows` rows of V logits (ref::softmax per row).
inline std::vector<float> ref_softmax_rows(std::span<const float> logits, size_t rows, size_t V,
                                           float temp) {
  std::vector<float> out(rows * V), scaled(V);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < V; ++i) scaled[i] = logits[r * V + i] / temp;
    ref::softmax(scaled, std::span(out).subspan(r * V, V));
  }
  return out;
}

}  // namespace vkr::test
