// test_gemm.cpp: gemm (prefill) vs ref::gemm on the same rounded weights: every dtype, odd shapes
// (T, N, K not multiples of the tiles), bias / residual / SwiGLU epilogues, token + row windows
// under a small forced binding limit, the linear() policy, the cooperative-matrix path where the
// device has one, and shape errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "support/compare.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using kernels::Epilogue;
using kernels::GemmPath;
using test::LinearCase;
using test::LinearShape;

// f32 accumulation in another order than the double reference (|y| ~ 1): ~sqrt(K) ulps.
constexpr double kAtol = 2e-5, kRtol = 2e-4;

std::string name(const LinearShape& s) {
  return fmt::format("{} T={} N={} K={} epilogue={} bias={}", dtype_name(s.dtype), s.T, s.N, s.K,
                     static_cast<uint32_t>(s.epilogue), s.bias);
}

class GemmTest : public test::GpuTest {
 protected:
  void check(const LinearShape& s, uint32_t seed, uint64_t max_binding_bytes = 0,
             GemmPath path = GemmPath::Tiled) {
    SCOPED_TRACE(name(s));
    LinearCase c(ctx(), s, seed);
    auto args = c.args();
    args.max_binding_bytes = max_binding_bytes;
    auto got = c.run([&](Recorder& rec) { kernels::gemm(ctx(), rec, args, path); });
    // The coopmat path rounds x to f16 (A operand); its reference does the same. Tensor cores
    // may accumulate with fewer guard bits than FMA: a looser bound.
    const bool coop = path == GemmPath::CoopMatNV;
    EXPECT_TRUE(
        test::all_close(c.reference(coop), got, coop ? 1e-3 : kAtol, coop ? 1e-3 : kRtol, name(s)));
  }
};

// Both portable paths run everywhere (Direct is the CPU choice, Tiled the GPU one); K = 64 / 256
// / 1000 take the vector loads, 1 / 33 / 65 / 257 the scalar ones.
constexpr GemmPath kPortable[] = {GemmPath::Tiled, GemmPath::Direct};

TEST_F(GemmTest, OddShapesEveryDtype) {
  const std::pair<uint64_t, uint64_t> nk[] = {{1, 1},    {7, 33},    {65, 257},
                                              {257, 65}, {33, 1000}, {9, 64}};
  for (GemmPath path : kPortable) {
    uint32_t seed = 100;
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      for (uint64_t T : {1, 9, 64, 130}) {
        for (auto [N, K] : nk) check({T, N, K, dt, Epilogue::None, false}, ++seed, 0, path);
      }
    }
  }
}

TEST_F(GemmTest, Epilogues) {
  // Tiled at both token counts; Direct (8x8 blocks: the slowest pipelines to compile on lavapipe)
  // at T = 70 for every dtype and at T = 20 (a 32-token tile) for f16 only.
  uint32_t seed = 200;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (uint64_t T : {20, 70}) {
      for (GemmPath path : kPortable) {
        if (path == GemmPath::Direct && T == 20 && dt != DType::F16) continue;
        check({T, 65, 96, dt, Epilogue::None, true}, ++seed, 0, path);
        check({T, 65, 96, dt, Epilogue::Residual, false}, ++seed, 0, path);
        check({T, 65, 96, dt, Epilogue::Residual, true}, ++seed, 0, path);
        check({T, 65, 96, dt, Epilogue::SwiGlu, false}, ++seed, 0, path);
      }
    }
  }
}

TEST_F(GemmTest, TokenAndRowWindowsUnderASmallBindingLimit) {
  // 4 KiB bindings: x and y need several token windows and W several row windows.
  for (GemmPath path : kPortable) {
    uint32_t seed = 300;
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      check({130, 100, 40, dt, Epilogue::None, true}, ++seed, 4096, path);
      check({70, 100, 40, dt, Epilogue::SwiGlu, false}, ++seed, 4096, path);
      check({70, 90, 24, dt, Epilogue::Residual, false}, ++seed, 4096, path);
    }
  }
}

TEST_F(GemmTest, LinearPicksGemvUpTo8TokensAndGemmAbove) {
  uint32_t seed = 400;
  for (uint64_t T : {1, 8, 9, 15, 16, 33}) {
    LinearShape s{T, 48, 64, DType::F16, Epilogue::Residual, true};
    SCOPED_TRACE(name(s));
    LinearCase c(ctx(), s, ++seed);
    auto args = c.args();
    auto got = c.run([&](Recorder& rec) { kernels::linear(ctx(), rec, args); });
    EXPECT_TRUE(test::all_close(c.reference(), got, kAtol, kRtol, name(s)));
  }
}

TEST_F(GemmTest, CoopMatNvWhereAvailable) {
  const auto& caps = ctx().caps();
  if (kernels::choose_gemm_path(caps, DType::F16, Epilogue::SwiGlu) != GemmPath::CoopMatNV) {
    // Forcing the path must fail cleanly, before any CooperativeMatrixNV pipeline exists.
    LinearCase c(ctx(), {16, 16, 16, DType::F16, Epilogue::None, false}, 1);
    Recorder rec(ctx());
    try {
      kernels::gemm(ctx(), rec, c.args(), GemmPath::CoopMatNV);
      ADD_FAILURE() << "forcing CoopMatNV on a device without it must throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::DeviceUnsupported) << e.what();
    }
    EXPECT_EQ(rec.dispatch_count(), 0u);
    GTEST_SKIP() << "cooperative-matrix path not available on " << caps.device_name << ": "
                 << kernels::coopmat_unavailable_reason(caps, DType::F16, Epilogue::SwiGlu);
  }
  uint32_t seed = 500;
  for (uint64_t T : {9, 64, 130}) {
    for (auto [N, K] : {std::pair<uint64_t, uint64_t>{7, 33}, {65, 257}, {257, 64}}) {
      check({T, N, K, DType::F16, Epilogue::None, false}, ++seed, 0, GemmPath::CoopMatNV);
    }
  }
  check({70, 65, 96, DType::F16, Epilogue::None, true}, ++seed, 0, GemmPath::CoopMatNV);
  check({70, 65, 96, DType::F16, Epilogue::Residual, true}, ++seed, 0, GemmPath::CoopMatNV);
  check({70, 65, 96, DType::F16, Epilogue::SwiGlu, false}, ++seed, 0, GemmPath::CoopMatNV);
  check({130, 100, 40, DType::F16, Epilogue::None, true}, ++seed, 4096, GemmPath::CoopMatNV);
}

TEST_F(GemmTest, ShapeErrorsBeforeRecording) {
  LinearCase c(ctx(), {20, 16, 32, DType::BF16, Epilogue::None, false}, 600);
  Recorder rec(ctx());
  auto expect_shape_error = [&](const kernels::LinearArgs& a, const char* what) {
    test::expect_linear_shape_error(
        [&](const kernels::LinearArgs& x) { kernels::gemm(ctx(), rec, x); }, "gemm", a, what);
  };
  const auto good = c.args();
  auto a = good;
  a.w.shape = Shape{16, 33};
  expect_shape_error(a, "K mismatch");
  a = good;
  a.y.shape = Shape{19, 16};
  expect_shape_error(a, "y tokens");
  a = good;
  a.epilogue = Epilogue::Residual;
  a.residual = good.x;  // (20, 32), not (20, 16)
  expect_shape_error(a, "residual shape");
  a = good;
  a.epilogue = Epilogue::SwiGlu;
  a.w_up = good.w;
  a.w_up.dtype = DType::F16;
  expect_shape_error(a, "w_up dtype");
  a = good;
  a.w_up = good.w;
  expect_shape_error(a, "w_up without SwiGLU");
  a = good;
  a.x.shape = Shape{20, 32, 1};
  expect_shape_error(a, "x rank");
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
