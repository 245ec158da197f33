// linear_case.hpp: one linear-layer case (x, weights in a storage dtype, bias / residual / SwiGLU)
// built on the host, uploaded, run through a kernel twin and checked against ref::gemm fed the SAME
// rounded weights. Shared by test_gemm, test_gemv and bench/bench_gemm.cpp.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/linear.hpp"
#include "reference/ops.hpp"
#include "support/half.hpp"
#include "support/random.hpp"
#include "vkr/buffer.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr::test {

// Weights in a storage dtype: the bytes to upload and the f32 values they decode to.
struct HostWeights {
  std::vector<std::byte> bytes;
  std::vector<float> values;
};
inline HostWeights make_weights(Rng& rng, size_t n, DType dtype, float scale) {
  HostWeights w;
  w.values = rng.uniform_vec(n, -scale, scale);
  w.bytes.resize(n * dtype_bytes(dtype));
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DType::F32) {
      std::memcpy(&w.bytes[i * 4], &w.values[i], 4);
      continue;
    }
    const uint16_t h =
        dtype == DType::F16 ? f32_to_f16_bits(w.values[i]) : f32_to_bf16_bits(w.values[i]);
    w.values[i] = dtype == DType::F16 ? f16_bits_to_f32(h) : bf16_bits_to_f32(h);
    std::memcpy(&w.bytes[i * 2], &h, 2);
  }
  return w;
}

inline Buffer upload_bytes(Context& ctx, const std::vector<std::byte>& bytes, Lifetime life) {
  Buffer b = Buffer::create(ctx, life, bytes.size());
  ctx.staging().upload(b, 0, std::span<const std::byte>(bytes));
  return b;
}
inline Buffer upload_floats(Context& ctx, const std::vector<float>& v) {
  Buffer b = Buffer::create(ctx, Lifetime::Activations, v.size() * 4);
  ctx.staging().upload(b, std::span<const float>(v));
  return b;
}

struct LinearShape {
  uint64_t T = 1, N = 1, K = 1;
  DType dtype = DType::F32;
  kernels::Epilogue epilogue = kernels::Epilogue::None;
  bool bias = false;
};

// Host data, device buffers and the reference output of one case.
class LinearCase {
 public:
  LinearCase(Context& ctx, const LinearShape& s, uint32_t seed) : ctx_(ctx), s_(s) {
    Rng rng(seed);
    const float wscale = 1.0f / std::sqrt(static_cast<float>(s.K));
    x_ = rng.uniform_vec(s.T * s.K, -1.0f, 1.0f);
    w_ = make_weights(rng, s.N * s.K, s.dtype, wscale);
    if (s.epilogue == kernels::Epilogue::SwiGlu)
      wu_ = make_weights(rng, s.N * s.K, s.dtype, wscale);
    if (s.bias) bias_ = rng.uniform_vec(s.N, -0.5f, 0.5f);
    y0_ = rng.uniform_vec(s.T * s.N, -1.0f, 1.0f);  // the residual stream (Residual: in place)
    bx_ = upload_floats(ctx, x_);
    bw_ = upload_bytes(ctx, w_.bytes, Lifetime::Weights);
    if (!wu_.bytes.empty()) bwu_ = upload_bytes(ctx, wu_.bytes, Lifetime::Weights);
    if (s.bias) bb_ = upload_floats(ctx, bias_);
    by_ = upload_floats(ctx, y0_);
  }

  kernels::LinearArgs args() const {
    kernels::LinearArgs a;
    a.x = Tensor::of(bx_, Shape{s_.T, s_.K}, DType::F32);
    a.w = Tensor::of(bw_, Shape{s_.N, s_.K}, s_.dtype);
    a.y = Tensor::of(by_, Shape{s_.T, s_.N}, DType::F32);
    if (bwu_) a.w_up = Tensor::of(bwu_, Shape{s_.N, s_.K}, s_.dtype);
    if (bb_) a.bias = Tensor::of(bb_, Shape{s_.N}, DType::F32);
    a.epilogue = s_.epilogue;
    return a;
  }

  // Records with `record` (into a fresh Recorder), submits, waits, reads y back. `texel_views`
  // (optional) receives how many texel-buffer views the recording made: > 0 iff a texel-reading
  // kernel build ran.
  std::vector<float> run(const std::function<void(Recorder&)>& record,
                         size_t* texel_views = nullptr) {
    ctx_.staging().upload(by_, std::span<const float>(y0_));  // reset the residual stream
    Recorder rec(ctx_);
    record(rec);
    if (texel_views) *texel_views = rec.texel_view_count();
    ctx_.queue().submit(rec).wait();
    std::vector<float> y(s_.T * s_.N);
    ctx_.staging().download(by_, std::span<float>(y));
    return y;
  }

  // Whether x and W rows are whole 16-byte texels (vector loads) in this case's aligned buffers.
  bool whole_texels() const { return s_.K % (s_.dtype == DType::F32 ? 4 : 8) == 0; }

  // ref::gemm on the decoded weights; `round_x` rounds x to f16 first (the coopmat path's A).
  std::vector<float> reference(bool round_x = false) const {
    const int T = static_cast<int>(s_.T), N = static_cast<int>(s_.N), K = static_cast<int>(s_.K);
    std::vector<float> x = x_;
    if (round_x) {
      for (float& v : x) v = f16_bits_to_f32(f32_to_f16_bits(v));
    }
    std::vector<float> y(s_.T * s_.N);
    ref::gemm(T, K, N, x, w_.values, bias_, y);
    if (s_.epilogue == kernels::Epilogue::SwiGlu) {
      std::vector<float> up(y.size());
      ref::gemm(T, K, N, x, wu_.values, {}, up);
      ref::swiglu(y, up, y);
    } else if (s_.epilogue == kernels::Epilogue::Residual) {
      for (size_t i = 0; i < y.size(); ++i) y[i] += y0_[i];
    }
    return y;
  }

  const LinearShape& shape() const { return s_; }
  const Buffer& y_buffer() const { return by_; }

 private:
  Context& ctx_;
  LinearShape s_;
  std::vector<float> x_, bias_, y0_;
  HostWeights w_, wu_;
  Buffer bx_, bw_, bwu_, bb_, by_;
};

// Runs `record(a)` (gemv or gemm on `a`) and expects a ShapeMismatch error that names `kernel`,
// thrown before anything is recorded.
template <typename Record>
void expect_linear_shape_error(Record&& record, std::string_view kernel,
                               const kernels::LinearArgs& a, const char* what) {
  try {
    record(a);
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(kernel), std::string::npos) << e.what();
  }
}

}  // namespace vkr::test
