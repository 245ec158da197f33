// test_norm.cpp: norm.comp (LayerNorm / RMSNorm, fused residual add) and group_norm.comp (ln_x,
// fused gate) vs the CPU references over random and odd shapes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/group_norm.hpp"
#include "kernels/norm.hpp"
#include "kernels/ops_test_util.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using kernels::NormMode;
using test::expect_close;
using test::f32;

class NormTest : public test::GpuTest {
 protected:
  // One case: x (T, C) with a non-zero mean (LayerNorm must subtract it), optional delta.
  void run(NormMode mode, int T, int C, bool fuse, uint32_t seed) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    const size_t n = static_cast<size_t>(T) * C;
    auto x = rng.normal_vec(n, 0.5f, 2.0f), delta = rng.normal_vec(n, 0.0f, 1.0f);
    auto gamma = rng.uniform_vec(C, 0.5f, 1.5f), beta = rng.uniform_vec(C, -0.5f, 0.5f);
    const float eps = 1e-5f;
    std::vector<float> xin = x;
    if (fuse) {
      for (size_t i = 0; i < n; ++i) xin[i] = x[i] + delta[i];  // the same f32 add as the GPU
    }
    std::vector<float> want(n);
    if (mode == NormMode::Layer) {
      ref::layer_norm(T, C, eps, xin, gamma, beta, want);
    } else {
      ref::rms_norm(T, C, eps, xin, gamma, want);
    }
    Buffer bx = make_buffer(x), bd = make_buffer(delta), bg = make_buffer(gamma),
           bb = make_buffer(beta), by = make_buffer(n);
    const Shape s{static_cast<uint64_t>(T), static_cast<uint64_t>(C)}, sc{static_cast<uint64_t>(C)};
    kernels::NormArgs a{mode,
                        f32(bx, s),
                        fuse ? f32(bd, s) : Tensor{},
                        f32(bg, sc),
                        mode == NormMode::Layer ? f32(bb, sc) : Tensor{},
                        f32(by, s),
                        eps};
    Recorder rec(ctx());
    kernels::norm(ctx(), rec, a);
    ctx().queue().submit(rec).wait();
    const std::string what = fmt::format(
        "{} T={} C={} fuse={}", mode == NormMode::Layer ? "layer_norm" : "rms_norm", T, C, fuse);
    // f32 statistics over <= 5120 values vs a double reference: ~1e-6 relative.
    expect_close(want, read(by), 2e-5, 2e-5, what);
    if (fuse) expect_close(xin, read(bx), 0.0, 0.0, what + " residual");
  }
};

TEST_F(NormTest, LayerAndRmsOverOddShapes) {
  uint32_t seed = 100;
  for (NormMode mode : {NormMode::Layer, NormMode::Rms}) {
    for (int C : {1, 7, 64, 255, 256, 5120}) {
      for (int T : {1, 3, 17}) {
        if (C == 5120 && T == 17) continue;  // keep lavapipe time down; T=3 covers the big row
        run(mode, T, C, false, seed++);
      }
    }
  }
}

TEST_F(NormTest, FusedResidualAdd) {
  uint32_t seed = 200;
  for (NormMode mode : {NormMode::Layer, NormMode::Rms}) {
    for (int C : {7, 256, 5120}) run(mode, 3, C, true, seed++);
  }
}

TEST_F(NormTest, InPlaceWithoutFusion) {
  test::Rng rng(7);
  const int T = 5, C = 300;
  auto x = rng.normal_vec(T * C, 0.0f, 1.0f), gamma = rng.uniform_vec(C, 0.5f, 1.5f);
  std::vector<float> want(x.size());
  ref::rms_norm(T, C, 1e-6f, x, gamma, want);
  Buffer bx = make_buffer(x), bg = make_buffer(gamma);
  Recorder rec(ctx());
  kernels::norm(ctx(), rec,
                {NormMode::Rms, f32(bx, {T, C}), {}, f32(bg, {C}), {}, f32(bx, {T, C}), 1e-6f});
  ctx().queue().submit(rec).wait();
  expect_close(want, read(bx), 2e-5, 2e-5, "rms_norm in place");
}

TEST_F(NormTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  // gamma of the wrong width, beta given to RMSNorm, fused delta aliasing y.
  EXPECT_THROW(
      kernels::norm(
          ctx(), rec,
          {NormMode::Layer, f32(b, {4, 8}), {}, f32(b, {7}), f32(b, {8}), f32(b, {4, 8}, 128)}),
      Error);
  EXPECT_THROW(
      kernels::norm(
          ctx(), rec,
          {NormMode::Rms, f32(b, {4, 8}), {}, f32(b, {8}), f32(b, {8}), f32(b, {4, 8}, 128)}),
      Error);
  EXPECT_THROW(
      kernels::norm(
          ctx(), rec,
          {NormMode::Rms, f32(b, {4, 8}), f32(b, {4, 8}, 128), f32(b, {8}), {}, f32(b, {4, 8})}),
      Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

class GroupNormTest : public test::GpuTest {};

// gate 0: none, 1: o = GN(y) * g, 2: o = GN(y) * silu(g) (RWKV-6's fused gate activation).
TEST_F(GroupNormTest, PerHeadWithAndWithoutGate) {
  uint32_t seed = 300;
  struct Case {
    int T, H, S;
  };
  // S = 64 / 128: 8-channel units (u64vec4, with shaderInt64), S = 12: vec4, S = 1 / 7: scalar.
  for (Case c : {Case{1, 1, 1}, Case{3, 2, 7}, Case{17, 4, 64}, Case{3, 40, 64}, Case{2, 3, 128},
                 Case{2, 3, 12}}) {
    for (int gate : {0, 1, 2}) {
      test::Rng rng(seed++);
      SCOPED_TRACE(rng.trace());
      const int C = c.H * c.S;
      const size_t n = static_cast<size_t>(c.T) * C;
      auto y = rng.normal_vec(n, 0.3f, 1.5f), g = rng.normal_vec(n, 0.0f, 1.0f);
      auto gamma = rng.uniform_vec(C, 0.5f, 1.5f), beta = rng.uniform_vec(C, -0.5f, 0.5f);
      std::vector<float> want(n);
      ref::group_norm(c.T, c.H, c.S, ref::kGroupNormEps, y, gamma, beta, want);
      std::vector<float> gact = g;
      if (gate == 2) ref::silu(g, gact);
      if (gate) {
        for (size_t i = 0; i < n; ++i) want[i] *= gact[i];
      }
      Buffer by = make_buffer(y), bg = make_buffer(g), bga = make_buffer(gamma),
             bb = make_buffer(beta), bo = make_buffer(n);
      const Shape s{static_cast<uint64_t>(c.T), static_cast<uint64_t>(C)};
      const Shape sc{static_cast<uint64_t>(C)};
      Recorder rec(ctx());
      kernels::GroupNormArgs a{f32(by, s),  f32(bga, sc), f32(bb, sc), gate ? f32(bg, s) : Tensor{},
                               f32(bo, s), static_cast<uint32_t>(c.H), ref::kGroupNormEps};
      a.gate_silu = gate == 2;
      kernels::group_norm(ctx(), rec, a);
      ctx().queue().submit(rec).wait();
      expect_close(want, read(bo), 2e-5, 2e-5,
                   fmt::format("group_norm T={} H={} S={} gate={}", c.T, c.H, c.S, gate));
    }
  }
}

TEST_F(GroupNormTest, HeadsMustDivideC) {
  Buffer b = make_buffer(64);
  Recorder rec(ctx());
  EXPECT_THROW(
      kernels::group_norm(ctx(), rec,
                          {f32(b, {2, 10}), f32(b, {10}), f32(b, {10}), {}, f32(b, {2, 10}), 3}),
      Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
