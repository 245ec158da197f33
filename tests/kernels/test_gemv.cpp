// test_gemv.cpp: gemv (decode, T <= 8) vs ref::gemm on the same rounded weights: every dtype, odd
// shapes, bias / residual / SwiGLU epilogues, unaligned tensors (scalar path), row windows (small
// forced limit and one weight larger than maxStorageBufferRange), and shape errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "support/compare.hpp"
#include "support/expect_error.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using kernels::Epilogue;
using test::LinearCase;
using test::LinearShape;

// f32 accumulation in a different order than the double reference: errors ~ sqrt(K) ulps of the
// row's magnitude (|y| ~ 1 here). Weights are compared after rounding, so dtype adds nothing.
constexpr double kAtol = 2e-5, kRtol = 2e-4;

std::string name(const LinearShape& s) {
  return fmt::format("{} T={} N={} K={} epilogue={} bias={}", dtype_name(s.dtype), s.T, s.N, s.K,
                     static_cast<uint32_t>(s.epilogue), s.bias);
}

// Weight / x reads: storage buffers (gemv.comp, or gemv_w64.comp on CPU devices) and texel
// buffers (gemv_tex.comp, CPU devices' default), forced so both run on every device.
constexpr uint32_t kStorage = 1, kTexel = 2;

class GemvTest : public test::GpuTest {
 protected:
  void check(const LinearShape& s, uint32_t seed, uint64_t max_binding_bytes = 0) {
    for (uint32_t loads : {kStorage, kTexel}) {
      SCOPED_TRACE(fmt::format("{} loads={}", name(s), loads));
      LinearCase c(ctx(), s, seed);
      auto args = c.args();
      args.max_binding_bytes = max_binding_bytes;
      args.reads = loads;
      size_t views = 0;
      auto got = c.run([&](Recorder& rec) { kernels::gemv(ctx(), rec, args); }, &views);
      EXPECT_TRUE(test::all_close(c.reference(), got, kAtol, kRtol, name(s)));
      // The texel variant takes every shape with whole texels; the others the storage path.
      EXPECT_EQ(views > 0, loads == kTexel && c.whole_texels()) << views << " texel views";
    }
  }
};

TEST_F(GemvTest, OddShapesEveryDtypeAndTokenCount) {
  const std::pair<uint64_t, uint64_t> nk[] = {{1, 1}, {7, 33}, {65, 257}, {257, 64}, {33, 1000}};
  uint32_t seed = 100;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (uint64_t T : {1, 2, 3, 7, 8}) {
      for (auto [N, K] : nk) check({T, N, K, dt, Epilogue::None, false}, ++seed);
    }
  }
}

TEST_F(GemvTest, Epilogues) {
  uint32_t seed = 200;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (uint64_t T : {1, 5, 8}) {
      for (auto [N, K] : {std::pair<uint64_t, uint64_t>{65, 256}, {33, 100}}) {
        check({T, N, K, dt, Epilogue::None, true}, ++seed);
        check({T, N, K, dt, Epilogue::Residual, false}, ++seed);
        check({T, N, K, dt, Epilogue::Residual, true}, ++seed);
        check({T, N, K, dt, Epilogue::SwiGlu, false}, ++seed);
      }
    }
  }
}

TEST_F(GemvTest, SeparateResidualTensor) {
  LinearShape s{3, 40, 64, DType::F16, Epilogue::Residual, false};
  LinearCase c(ctx(), s, 7);
  auto resid = test::Rng(8).uniform_vec(s.T * s.N, -1.0f, 1.0f);
  Buffer br = test::upload_floats(ctx(), resid);
  auto args = c.args();
  args.residual = Tensor::of(br, Shape{s.T, s.N}, DType::F32);
  auto got = c.run([&](Recorder& rec) { kernels::gemv(ctx(), rec, args); });
  // reference() adds the initial y; here the residual is `resid` instead.
  LinearShape plain = s;
  plain.epilogue = Epilogue::None;
  auto want = LinearCase(ctx(), plain, 7).reference();
  for (size_t i = 0; i < want.size(); ++i) want[i] += resid[i];
  EXPECT_TRUE(test::all_close(want, got, kAtol, kRtol, "separate residual"));
}

TEST_F(GemvTest, UnalignedTensorsTakeTheScalarPath) {
  // Views that start 1 element into their buffers: offsets not on 16 bytes, so the twin must
  // bind aligned-down windows and fall back to scalar loads.
  const uint64_t T = 2, N = 37, K = 64;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dt));
    LinearShape s{T, N, K, dt, Epilogue::None, false};
    LinearCase c(ctx(), s, 300);  // provides y
    const uint64_t es = dtype_bytes(dt);
    test::Rng rng(301);
    auto w = test::make_weights(rng, N * K + 1, dt, 0.125f);
    auto x = rng.uniform_vec(T * K + 1, -1.0f, 1.0f);
    Buffer bw = test::upload_bytes(ctx(), w.bytes, Lifetime::Weights);
    Buffer bx = test::upload_floats(ctx(), x);
    auto args = c.args();
    args.w = Tensor::of(bw, Shape{N, K}, dt, es);
    args.x = Tensor::of(bx, Shape{T, K}, DType::F32, 4);
    auto got = c.run([&](Recorder& rec) { kernels::gemv(ctx(), rec, args); });
    std::vector<float> want(T * N);
    std::vector<float> wv(w.values.begin() + 1, w.values.end()), xv(x.begin() + 1, x.end());
    ref::gemm(static_cast<int>(T), static_cast<int>(K), static_cast<int>(N), xv, wv, {}, want);
    EXPECT_TRUE(test::all_close(want, got, kAtol, kRtol, "unaligned"));
  }
}

TEST_F(GemvTest, RowWindowsUnderASmallBindingLimit) {
  // 4 KiB bindings: W (300 x 64) is split into many row windows; y columns land at offsets.
  uint32_t seed = 400;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    check({5, 300, 64, dt, Epilogue::None, true}, ++seed, 4096);
    check({8, 300, 64, dt, Epilogue::SwiGlu, false}, ++seed, 4096);
    check({2, 131, 33, dt, Epilogue::Residual, true}, ++seed, 2048);
  }
}

TEST_F(GemvTest, WeightLargerThanMaxStorageBufferRange) {
  // 70000 x 512 f32 = 143 MB > lavapipe's 128 MiB: real windows at the device limit. On devices
  // with a larger limit this is a plain (still useful) big case.
  check({2, 70000, 512, DType::F32, Epilogue::None, false}, 500);
}

TEST_F(GemvTest, ShapeErrorsBeforeRecording) {
  LinearCase c(ctx(), {2, 16, 32, DType::F16, Epilogue::None, false}, 600);
  Recorder rec(ctx());
  auto expect_shape_error = [&](const kernels::LinearArgs& a, const char* what) {
    test::expect_linear_shape_error(
        [&](const kernels::LinearArgs& x) { kernels::gemv(ctx(), rec, x); }, "gemv", a, what);
  };
  const auto good = c.args();
  auto a = good;
  a.w.shape = Shape{16, 31};
  expect_shape_error(a, "K mismatch");
  a = good;
  a.y.shape = Shape{2, 15};
  expect_shape_error(a, "y shape");
  a = good;
  a.x.dtype = DType::F16;
  expect_shape_error(a, "x dtype");
  a = good;
  a.w.dtype = DType::I32;
  expect_shape_error(a, "w dtype");
  a = good;
  a.epilogue = Epilogue::SwiGlu;
  expect_shape_error(a, "SwiGLU without w_up");
  a.w_up = good.w;
  a.bias = good.y.rows(0, 1).rows(0, 1);
  a.bias.shape = Shape{16};
  expect_shape_error(a, "bias with SwiGLU");
  a = good;
  a.residual = good.y;
  expect_shape_error(a, "residual without the Residual epilogue");
  a = good;
  a.x.shape = Shape{9, 16};  // T = 9 > 8 (the buffer is big enough: 2 x 32 floats)
  a.y.shape = Shape{9, 16};
  expect_shape_error(a, "T > 8");
  a = good;
  a.reads = 3;  // no such read path
  test::expect_error([&] { kernels::gemv(ctx(), rec, a); }, ErrorCode::InvalidArgument,
                     {"reads = 3"});
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
