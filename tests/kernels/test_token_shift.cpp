// test_token_shift.cpp: token_shift.comp (+ lora_down.comp): ddlerp (5-way LoRA) and plain lerp
// vs the CPU references, B sequences with distinct shift states, including the written state.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/lora_down.hpp"
#include "kernels/ops_test_util.hpp"
#include "kernels/token_shift.hpp"
#include "reference/ops.hpp"
#include "support/expect_error.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using test::expect_close;
using test::f32;

struct Case {
  int B, T, C, Dm;
};

class TokenShiftTest : public test::GpuTest {
 protected:
  void run_ddlerp(Case c, uint32_t seed) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    const size_t C = c.C, rows = static_cast<size_t>(c.B) * c.T, D5 = 5 * static_cast<size_t>(c.Dm);
    auto x = rng.normal_vec(rows * C), state = rng.normal_vec(c.B * C);
    auto mu_x = rng.uniform_vec(C, 0.0f, 1.0f), lambda = rng.uniform_vec(5 * C, 0.0f, 1.0f);
    // A scaled so A·xi is O(1) (tanh neither saturated nor linear), B small like trained weights.
    auto a = rng.normal_vec(D5 * C, 0.0f, 1.0f / std::sqrt(static_cast<float>(C)));
    auto bm = rng.normal_vec(5 * C * c.Dm, 0.0f, 0.1f);

    std::vector<float> want(5 * rows * C), want_state = state;
    for (int b = 0; b < c.B; ++b) {  // the reference handles one sequence at a time
      const size_t at = static_cast<size_t>(b) * c.T * C, n = static_cast<size_t>(c.T) * C;
      std::vector<float> out_b(5 * n);
      ref::token_shift_ddlerp({c.T, c.C, c.Dm}, std::span(x).subspan(at, n),
                              std::span(want_state).subspan(b * C, C), mu_x, lambda, a, bm, out_b);
      for (size_t g = 0; g < 5; ++g) {
        std::copy_n(out_b.begin() + static_cast<std::ptrdiff_t>(g * n), n,
                    want.begin() + static_cast<std::ptrdiff_t>(g * rows * C + at));
      }
    }
    const Shape scratch = kernels::lora_scratch_shape(rows, C, D5);
    Buffer bx = make_buffer(x), bs = make_buffer(state), bmu = make_buffer(mu_x),
           bl = make_buffer(lambda), ba = make_buffer(a), bb = make_buffer(bm),
           bscr = make_buffer(scratch.elements()), bo = make_buffer(5 * rows * C);
    kernels::TokenShiftDdlerpArgs args{f32(bx, {rows, C}),
                                       f32(bs, {static_cast<uint64_t>(c.B), C}),
                                       f32(bmu, {C}),
                                       f32(bl, {5, C}),
                                       f32(ba, {D5, C}),
                                       f32(bb, {5, C, static_cast<uint64_t>(c.Dm)}),
                                       f32(bscr, scratch),
                                       f32(bo, {5, rows, C}),
                                       static_cast<uint32_t>(c.B)};
    Recorder rec(ctx());
    kernels::token_shift_ddlerp(ctx(), rec, args);
    ctx().queue().submit(rec).wait();
    const std::string what = fmt::format("ddlerp B={} T={} C={} Dm={}", c.B, c.T, c.C, c.Dm);
    // f32 dot products over C (A·xi) and Dm (B·h) vs double: ~1e-6 relative.
    expect_close(want, read(bo), 1e-5, 1e-4, what);
    expect_close(want_state, read(bs), 0.0, 0.0, what + " state");
  }

  void run_lerp(int B, int T, int C, int G, uint32_t seed) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    const size_t rows = static_cast<size_t>(B) * T, Cs = C;
    auto x = rng.normal_vec(rows * Cs), state = rng.normal_vec(B * Cs);
    auto mu = rng.uniform_vec(G * Cs, 0.0f, 1.0f);
    std::vector<float> want(G * rows * Cs), want_state = state;
    for (int g = 0; g < G; ++g) {
      for (int b = 0; b < B; ++b) {
        const size_t at = static_cast<size_t>(b) * T * Cs, n = static_cast<size_t>(T) * Cs;
        std::vector<float> shift(state.begin() + static_cast<std::ptrdiff_t>(b * Cs),
                                 state.begin() + static_cast<std::ptrdiff_t>((b + 1) * Cs));
        ref::token_shift_lerp(T, C, std::span(x).subspan(at, n), shift,
                              std::span(mu).subspan(g * Cs, Cs),
                              std::span(want).subspan(g * rows * Cs + at, n));
        std::copy(shift.begin(), shift.end(),
                  want_state.begin() + static_cast<std::ptrdiff_t>(b * Cs));
      }
    }
    Buffer bx = make_buffer(x), bs = make_buffer(state), bmu = make_buffer(mu),
           bo = make_buffer(G * rows * Cs);
    const uint64_t g64 = static_cast<uint64_t>(G);
    Recorder rec(ctx());
    kernels::token_shift_lerp(
        ctx(), rec,
        {f32(bx, {rows, Cs}), f32(bs, {static_cast<uint64_t>(B), Cs}), f32(bmu, {g64, Cs}),
         f32(bo, {g64, rows, Cs}), static_cast<uint32_t>(B)});
    ctx().queue().submit(rec).wait();
    const std::string what = fmt::format("lerp B={} T={} C={} G={}", B, T, C, G);
    expect_close(want, read(bo), 1e-6, 1e-6, what);
    expect_close(want_state, read(bs), 0.0, 0.0, what + " state");
  }
};

TEST_F(TokenShiftTest, DdlerpOverOddShapes) {
  uint32_t seed = 500;
  for (int B : {1, 3}) {
    for (int T : {1, 3, 17}) {
      for (int C : {1, 7, 64, 255}) run_ddlerp({B, T, C, 32}, seed++);
    }
  }
  // C = 300: vec4 (not 8-float) loads in lora_down; Dm = 12: vec4 loads in the up GEMMs; T = 17
  // with B = 3: row tiles straddle sequence starts.
  for (Case c : {Case{1, 1, 256, 64}, Case{3, 17, 256, 64}, Case{2, 9, 300, 64},
                 Case{1, 1, 1000, 32}, Case{2, 11, 64, 12}, Case{1, 1, 255, 12}}) {
    run_ddlerp(c, seed++);
  }
}

TEST_F(TokenShiftTest, DdlerpLargeWidth) {
  // The QRWKV6-32B width: many K splits for decode, one for the longer call.
  run_ddlerp({1, 1, 5120, 64}, 600);
  run_ddlerp({1, 17, 5120, 32}, 601);
}

// lora_down alone with the tile lora_down_config picks for a GPU (several subgroups per workgroup
// and the shared-memory pass across them) as well as this device's own, over both load widths
// (C % 8 == 0: 8-float chunks, C % 4 == 0: vec4, odd C: guarded scalars) and both read paths
// (storage, texel), with the ddlerp decode input x + (s - x) * mu where C % 4 == 0, vs tanh(W·in)
// in double.
TEST_F(TokenShiftTest, LoraDownTilesAndLoadWidths) {
  uint32_t seed = 650;
  Capabilities gpu = ctx().caps();
  gpu.device_type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  struct Shape3 {
    size_t rows, C, D;
  };
  for (Shape3 s : {Shape3{1, 1000, 320}, Shape3{9, 256, 160}, Shape3{3, 7, 68},
                   Shape3{17, 300, 128}, Shape3{64, 64, 40}}) {
    test::Rng rng(seed++);
    SCOPED_TRACE(rng.trace());
    auto x = rng.normal_vec(s.rows * s.C);
    auto w = rng.normal_vec(s.D * s.C, 0.0f, 1.0f / std::sqrt(static_cast<float>(s.C)));
    auto sv = rng.normal_vec(s.rows * s.C), mu = rng.uniform_vec(s.C, 0.0f, 1.0f);
    // lerp: the ddlerp decode input x + (s - x) * mu (C % 4 == 0 only).
    const bool lerp = s.C % 4 == 0;
    std::vector<float> want(s.rows * s.D);
    for (size_t r = 0; r < s.rows; ++r) {
      for (size_t d = 0; d < s.D; ++d) {
        double acc = 0;
        for (size_t c = 0; c < s.C; ++c) {
          const float xv = x[r * s.C + c];
          const float in = lerp ? xv + (sv[r * s.C + c] - xv) * mu[c] : xv;
          acc += double(w[d * s.C + c]) * in;
        }
        want[r * s.D + d] = static_cast<float>(std::tanh(acc));
      }
    }
    Buffer bx = make_buffer(x), bw = make_buffer(w), bh = make_buffer(s.rows * s.D),
           bs = make_buffer(sv), bmu = make_buffer(mu);
    // reads 1: storage loads (8-float / vec4 / scalar by C), 2: texel reads where C % 4 == 0.
    for (uint32_t reads : {1u, 2u}) {
      for (bool gpu_tile : {false, true}) {
        kernels::LoraDownArgs a{f32(bx, {s.rows, s.C}), f32(bw, {s.D, s.C}),
                                f32(bh, {s.rows, s.D})};
        a.config = kernels::lora_down_config(gpu_tile ? gpu : ctx().caps(), s.rows);
        a.reads = reads;
        if (lerp) {
          a.s = f32(bs, {s.rows, s.C});
          a.mu = f32(bmu, {s.C});
        }
        Recorder rec(ctx());
        kernels::lora_down(ctx(), rec, a);
        EXPECT_EQ(rec.texel_view_count() > 0, reads == 2 && s.C % 4 == 0) << "C=" << s.C;
        ctx().queue().submit(rec).wait();
        expect_close(want, read(bh), 1e-5, 1e-4,
                     fmt::format("lora_down rows={} C={} D={} wg={} tile={}x{} reads={}", s.rows,
                                 s.C, s.D, a.config.workgroup, a.config.mr, a.config.nr, reads));
      }
    }
  }
  // An unknown read path is refused before anything is recorded.
  Buffer b = make_buffer(64 * 64);
  kernels::LoraDownArgs bad{f32(b, {1, 64}), f32(b, {8, 64}), f32(b, {1, 8})};
  bad.reads = 3;
  Recorder rec(ctx());
  test::expect_error([&] { kernels::lora_down(ctx(), rec, bad); }, ErrorCode::InvalidArgument,
                     {"reads = 3"});
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

TEST_F(TokenShiftTest, LerpOneAndTwoGroups) {
  uint32_t seed = 700;
  for (int B : {1, 3}) {
    for (int T : {1, 3, 17}) {
      for (int C : {1, 7, 256}) {
        const int G = 1 + static_cast<int>(seed % 2);
        run_lerp(B, T, C, G, seed++);
      }
    }
  }
  run_lerp(2, 5, 5120, 2, seed++);
  // Access units: C % 8 == 0 moves 8 channels (u64vec4, where the device has shaderInt64),
  // C % 4 == 0 four (vec4), other C one at a time (C = 7 above).
  run_lerp(2, 5, 12, 2, seed++);
  run_lerp(3, 3, 300, 1, seed++);
}

TEST_F(TokenShiftTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(4096);
  Recorder rec(ctx());
  // rows not a multiple of B; Dm not a multiple of 4.
  EXPECT_THROW(
      kernels::token_shift_lerp(
          ctx(), rec, {f32(b, {5, 8}), f32(b, {2, 8}), f32(b, {1, 8}), f32(b, {1, 5, 8}), 2}),
      Error);
  EXPECT_THROW(kernels::token_shift_ddlerp(
                   ctx(), rec,
                   {f32(b, {2, 8}), f32(b, {1, 8}), f32(b, {8}), f32(b, {5, 8}), f32(b, {15, 8}),
                    f32(b, {5, 8, 3}), f32(b, {1, 2, 15}), f32(b, {5, 2, 8}), 1}),
               Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
