// Proves the WKV references: hand-computed tiny cases, then sequential == chunked over modes,
// shapes, chunkings, decay regimes, initial states and split calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>
#include <vkr/error.hpp>

#include "reference/wkv6.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"

namespace vkr::ref {
namespace {

using test::all_close;
using test::Rng;

// ---------------------------------------------------------------------------------------------
// Hand-checked S = 2, T = 2, B = H = 1 cases. Any index-order bug (state transposed, decay applied
// before the Rwkv6 read, Gla reading the old state, bonus on the wrong side) changes the numbers.
//
// M0 = [[1, 2], [3, 4]]  (row i = key channel, column j = value channel)
// t=0: r=[1, 2]  k=[1, 2]  v=[1, -1]  w=[0.5, 0.25]
// t=1: r=[2, -1] k=[-1, 1] v=[3, 2]   w=[0.5, 0.5]
// Rwkv6 bonus u=[0.5, 1].
// M1 = diag(w0) M0 + k0 v0^T = [[0.5+1, 1-1], [0.75+2, 1-2]]          = [[1.5, 0], [2.75, -1]]
// M2 = diag(w1) M1 + k1 v1^T = [[0.75-3, 0-2], [1.375+3, -0.5+2]]     = [[-2.25, -2], [4.375, 1.5]]

struct HandCase {
  std::vector<float> r = {1, 2, 2, -1};
  std::vector<float> k = {1, 2, -1, 1};
  std::vector<float> v = {1, -1, 3, 2};
  std::vector<float> logw = {std::log(0.5f), std::log(0.25f), std::log(0.5f), std::log(0.5f)};
  std::vector<float> u = {0.5f, 1.0f};
  std::vector<float> m0 = {1, 2, 3, 4};
  std::vector<float> m2 = {-2.25f, -2.0f, 4.375f, 1.5f};
};

// Runs the sequential form and several chunkings of the same tiny case and checks each result.
void expect_hand_case(WkvMode mode, float scale, const std::vector<float>& want_y) {
  const HandCase hc;
  const WkvShape shape{1, 2, 1, 2};
  const std::vector<std::pair<int, int>> chunkings = {{1, 1}, {2, 1}, {2, 2}, {4, 2}, {64, 16}};
  for (int variant = -1; variant < static_cast<int>(chunkings.size()); ++variant) {
    std::vector<float> state = hc.m0;
    std::vector<float> y(4, 0.0f);
    std::string what = "sequential";
    if (variant < 0) {
      wkv_sequential(mode, shape, scale, hc.r, hc.k, hc.v, hc.logw, hc.u, state, y);
    } else {
      const auto [L, Lsub] = chunkings[static_cast<std::size_t>(variant)];
      what = "chunked L=" + std::to_string(L) + " Lsub=" + std::to_string(Lsub);
      wkv_chunked(mode, shape, scale, L, Lsub, hc.r, hc.k, hc.v, hc.logw, hc.u, state, y);
    }
    EXPECT_TRUE(all_close(want_y, y, 1e-5, 1e-6, what + " y"));
    EXPECT_TRUE(all_close(hc.m2, state, 1e-5, 1e-6, what + " state"));
  }
}

TEST(WkvHand, Rwkv6ReadsPreviousStatePlusBonus) {
  // y_t[j] = sum_i r_t[i] (M_{t-1}[i][j] + u[i] k_t[i] v_t[j]), scale 1:
  // y0[0] = 1*(1 + 0.5*1*1)  + 2*(3 + 1*2*1)    = 1.5 + 10   = 11.5
  // y0[1] = 1*(2 + 0.5*1*-1) + 2*(4 + 1*2*-1)   = 1.5 + 4    = 5.5
  // y1[0] = 2*(1.5 + 0.5*-1*3) - 1*(2.75 + 1*1*3) = 0 - 5.75 = -5.75
  // y1[1] = 2*(0 + 0.5*-1*2)   - 1*(-1 + 1*1*2)   = -2 - 1   = -3
  expect_hand_case(WkvMode::Rwkv6, 1.0f, {11.5f, 5.5f, -5.75f, -3.0f});
}

TEST(WkvHand, GlaReadsUpdatedStateTimesScale) {
  // y_t[j] = s * sum_i r_t[i] M_t[i][j], s = 0.5:
  // y0 = 0.5 * [1*1.5 + 2*2.75, 1*0 + 2*-1]          = 0.5 * [7, -2]         = [3.5, -1]
  // y1 = 0.5 * [2*-2.25 - 1*4.375, 2*-2 - 1*1.5]     = 0.5 * [-8.875, -5.5]  = [-4.4375, -2.75]
  expect_hand_case(WkvMode::Gla, 0.5f, {3.5f, -1.0f, -4.4375f, -2.75f});
}

TEST(WkvHand, Rwkv6ScaleMultipliesOutputOnly) {
  // The same Rwkv6 case with scale 2: every output doubles, the state does not change.
  expect_hand_case(WkvMode::Rwkv6, 2.0f, {23.0f, 11.0f, -11.5f, -6.0f});
}

// ---------------------------------------------------------------------------------------------
// Random inputs.

enum class Decay { Slow, Typical, Harsh, Mixed };

const char* mode_name(WkvMode mode) { return mode == WkvMode::Rwkv6 ? "rwkv6" : "gla"; }

const char* decay_name(Decay d) {
  switch (d) {
    case Decay::Slow:
      return "slow";
    case Decay::Typical:
      return "typical";
    case Decay::Harsh:
      return "harsh";
    case Decay::Mixed:
      return "mixed";
  }
  return "?";
}

// One log-decay: Slow gives w ~= 0.9999, Typical spans RWKV-6's usual -exp(-6..1), Harsh goes
// down to -60 per token (a 16-token span reaches -960: far past fp32's exp range if factored
// naively). Mixed draws from all three plus exact 0 (w = 1, the boundary of "exponent <= 0").
float draw_logw(Decay d, Rng& rng) {
  switch (d) {
    case Decay::Slow:
      return -rng.uniform(1e-5f, 2e-4f);
    case Decay::Typical:
      return -std::exp(rng.uniform(-6.0f, 1.0f));
    case Decay::Harsh:
      return -std::exp(rng.uniform(0.0f, std::log(60.0f)));
    case Decay::Mixed:
      break;
  }
  const int pick = rng.uniform_int(0, 3);
  return pick == 0 ? 0.0f
                   : draw_logw(pick == 1   ? Decay::Slow
                               : pick == 2 ? Decay::Typical
                                           : Decay::Harsh,
                               rng);
}

struct WkvInputs {
  WkvShape shape{};
  std::vector<float> r, k, v, logw;  // (B, T, H, S)
  std::vector<float> u;              // (H, S)
  std::vector<float> state;          // (B, H, S, S) initial state, non-zero
};

WkvInputs make_inputs(WkvShape s, Decay decay, Rng& rng) {
  const auto act = static_cast<std::size_t>(s.B) * s.T * s.H * s.S;
  WkvInputs in;
  in.shape = s;
  in.r = rng.normal_vec(act);
  in.k = rng.normal_vec(act);
  in.v = rng.normal_vec(act);
  in.logw.resize(act);
  for (float& x : in.logw) x = draw_logw(decay, rng);
  in.u = rng.normal_vec(static_cast<std::size_t>(s.H) * s.S, 0.0f, 0.5f);
  in.state = rng.normal_vec(static_cast<std::size_t>(s.B) * s.H * s.S * s.S);
  return in;
}

float mode_scale(WkvMode mode, int S) {
  return mode == WkvMode::Gla ? 1.0f / std::sqrt(static_cast<float>(S)) : 1.0f;
}

struct WkvResult {
  std::vector<float> y;      // (B, T, H, S)
  std::vector<float> state;  // (B, H, S, S) final
};

// L == 0 selects the sequential form.
WkvResult run(WkvMode mode, const WkvInputs& in, int L = 0, int Lsub = 0) {
  WkvResult out{std::vector<float>(in.r.size()), in.state};
  const float scale = mode_scale(mode, in.shape.S);
  if (L == 0) {
    wkv_sequential(mode, in.shape, scale, in.r, in.k, in.v, in.logw, in.u, out.state, out.y);
  } else {
    wkv_chunked(mode, in.shape, scale, L, Lsub, in.r, in.k, in.v, in.logw, in.u, out.state, out.y);
  }
  return out;
}

// Both forms accumulate in double, so they agree to the float rounding of the outputs (observed:
// NMSE <= 3e-15, at most 1 ulp); the bound below is ~16 ulp, far tighter than any real bug.
::testing::AssertionResult same_result(const WkvResult& ref, const WkvResult& got,
                                       const std::string& what) {
  auto max_abs = [](const std::vector<float>& x) {
    double m = 0.0;
    for (float f : x) m = std::max(m, static_cast<double>(std::fabs(f)));
    return m;
  };
  auto r1 = all_close(ref.y, got.y, 1e-6 * max_abs(ref.y), 1e-6, what + " y");
  if (!r1) return r1;
  return all_close(ref.state, got.state, 1e-6 * max_abs(ref.state), 1e-6, what + " state");
}

std::string describe(WkvMode mode, const WkvShape& s, int L, int Lsub) {
  return std::string(mode_name(mode)) + " B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
         " H=" + std::to_string(s.H) + " S=" + std::to_string(s.S) + " L=" + std::to_string(L) +
         " Lsub=" + std::to_string(Lsub);
}

// Compares the sequential form once against every chunking in `chunkings`.
void expect_chunked_matches(WkvMode mode, const WkvInputs& in,
                            const std::vector<std::pair<int, int>>& chunkings) {
  const WkvResult ref = run(mode, in);
  for (const auto& [L, Lsub] : chunkings) {
    EXPECT_TRUE(same_result(ref, run(mode, in, L, Lsub), describe(mode, in.shape, L, Lsub)));
  }
}

// ---------------------------------------------------------------------------------------------
// Sweep over the production head sizes: T around the chunk boundaries of every chunking, and long.

// Readable parameterized test names, e.g. ChunkedMatchesSequential/gla_S128.
std::string mode_and_size_name(const ::testing::TestParamInfo<std::tuple<WkvMode, int>>& info) {
  return std::string(mode_name(std::get<0>(info.param))) + "_S" +
         std::to_string(std::get<1>(info.param));
}

class WkvSweep : public ::testing::TestWithParam<std::tuple<WkvMode, int>> {};

TEST_P(WkvSweep, ChunkedMatchesSequential) {
  const auto [mode, S] = GetParam();
  Rng rng(1000u + static_cast<unsigned>(S) + (mode == WkvMode::Gla ? 1u : 0u));
  SCOPED_TRACE(rng.trace());
  const std::vector<std::pair<int, int>> chunkings = {{64, 16}, {16, 4}, {32, 8}, {64, 64}};
  for (int B : {1, 3}) {
    for (int T : {1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000}) {
      const WkvInputs in = make_inputs({B, T, 2, S}, Decay::Mixed, rng);
      expect_chunked_matches(mode, in, chunkings);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ProductionHeadSizes, WkvSweep,
                         ::testing::Combine(::testing::Values(WkvMode::Rwkv6, WkvMode::Gla),
                                            ::testing::Values(64, 128)),
                         mode_and_size_name);

// Odd head sizes and degenerate chunkings (L = Lsub = 1: one token per chunk; L = Lsub: only
// diagonal blocks; L > T: one partial chunk), with shorter T to stay fast.
class WkvOddShapes : public ::testing::TestWithParam<std::tuple<WkvMode, int>> {};

TEST_P(WkvOddShapes, ChunkedMatchesSequential) {
  const auto [mode, S] = GetParam();
  Rng rng(2000u + static_cast<unsigned>(S) + (mode == WkvMode::Gla ? 1u : 0u));
  SCOPED_TRACE(rng.trace());
  const std::vector<std::pair<int, int>> chunkings = {{1, 1},  {4, 2},   {8, 8},
                                                      {16, 4}, {64, 16}, {48, 16}};
  for (int T : {1, 2, 7, 33, 100}) {
    const WkvInputs in = make_inputs({3, T, 3, S}, Decay::Mixed, rng);
    expect_chunked_matches(mode, in, chunkings);
  }
}

INSTANTIATE_TEST_SUITE_P(OddHeadSizes, WkvOddShapes,
                         ::testing::Combine(::testing::Values(WkvMode::Rwkv6, WkvMode::Gla),
                                            ::testing::Values(1, 5, 32, 96)),
                         mode_and_size_name);

// Each decay regime on its own, so a failure names the regime (slow: state barely decays and
// grows with T; harsh: most factors underflow, exercising the "every exponent <= 0" argument).
std::string mode_and_decay_name(const ::testing::TestParamInfo<std::tuple<WkvMode, Decay>>& info) {
  return std::string(mode_name(std::get<0>(info.param))) + "_" +
         decay_name(std::get<1>(info.param));
}

class WkvDecay : public ::testing::TestWithParam<std::tuple<WkvMode, Decay>> {};

TEST_P(WkvDecay, ChunkedMatchesSequential) {
  const auto [mode, decay] = GetParam();
  Rng rng(3000u + static_cast<unsigned>(decay) * 2u + (mode == WkvMode::Gla ? 1u : 0u));
  SCOPED_TRACE(rng.trace() + " decay " + decay_name(decay));
  const WkvInputs in = make_inputs({2, 300, 2, 64}, decay, rng);
  expect_chunked_matches(mode, in, {{64, 16}, {16, 4}});
  const WkvResult got = run(mode, in, 64, 16);
  for (float f : got.y) ASSERT_TRUE(std::isfinite(f));
  for (float f : got.state) ASSERT_TRUE(std::isfinite(f));
}

INSTANTIATE_TEST_SUITE_P(Regimes, WkvDecay,
                         ::testing::Combine(::testing::Values(WkvMode::Rwkv6, WkvMode::Gla),
                                            ::testing::Values(Decay::Slow, Decay::Typical,
                                                              Decay::Harsh, Decay::Mixed)),
                         mode_and_decay_name);

// ---------------------------------------------------------------------------------------------
// Structural properties.

// Tokens [t0, t0 + n) of a (B, T, H, S) tensor, as a (B, n, H, S) tensor.
std::vector<float> slice_tokens(const std::vector<float>& x, const WkvShape& s, int t0, int n) {
  const auto row = static_cast<std::size_t>(s.H) * s.S;  // one token of one sequence
  std::vector<float> out;
  for (int b = 0; b < s.B; ++b) {
    const auto begin =
        x.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(b) * s.T + t0) * row);
    out.insert(out.end(), begin,
               begin + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(n) * row));
  }
  return out;
}

WkvInputs slice_inputs(const WkvInputs& in, int t0, int n, const std::vector<float>& state) {
  WkvInputs out;
  out.shape = {in.shape.B, n, in.shape.H, in.shape.S};
  out.r = slice_tokens(in.r, in.shape, t0, n);
  out.k = slice_tokens(in.k, in.shape, t0, n);
  out.v = slice_tokens(in.v, in.shape, t0, n);
  out.logw = slice_tokens(in.logw, in.shape, t0, n);
  out.u = in.u;
  out.state = state;
  return out;
}

// Two calls of T1 and T - T1 tokens with the state carried == one call of T tokens, for both
// forms; split points off the chunk grid so the second call's chunks are shifted.
TEST(WkvStructure, SplitCallsCarryState) {
  Rng rng(4000);
  SCOPED_TRACE(rng.trace());
  for (WkvMode mode : {WkvMode::Rwkv6, WkvMode::Gla}) {
    const WkvInputs in = make_inputs({3, 300, 2, 64}, Decay::Mixed, rng);
    const WkvResult whole = run(mode, in);
    for (int t1 : {150, 37, 64, 1, 299}) {
      for (int L : {0, 64}) {  // 0 = sequential
        const std::string what =
            describe(mode, in.shape, L, 16) + " split at " + std::to_string(t1);
        const WkvResult first = run(mode, slice_inputs(in, 0, t1, in.state), L, 16);
        const WkvResult second = run(mode, slice_inputs(in, t1, 300 - t1, first.state), L, 16);
        const WkvResult first_ref{slice_tokens(whole.y, in.shape, 0, t1), {}};
        const WkvResult second_ref{slice_tokens(whole.y, in.shape, t1, 300 - t1), whole.state};
        EXPECT_TRUE(all_close(first_ref.y, first.y, 1e-5, 1e-5, what + " first y"));
        EXPECT_TRUE(same_result(second_ref, second, what + " second"));
      }
    }
  }
}

// Every (sequence, head) pair is independent and laid out as documented: running one (b, h)
// slice alone (B = H = 1, where layout cannot be ambiguous) reproduces that slice of the full run.
TEST(WkvStructure, SequencesAndHeadsAreIndependentSlices) {
  Rng rng(5000);
  SCOPED_TRACE(rng.trace());
  const WkvShape s{2, 40, 3, 8};
  const WkvInputs in = make_inputs(s, Decay::Typical, rng);
  for (WkvMode mode : {WkvMode::Rwkv6, WkvMode::Gla}) {
    for (int L : {0, 16}) {
      const WkvResult full = run(mode, in, L, 4);
      for (int b = 0; b < s.B; ++b) {
        for (int h = 0; h < s.H; ++h) {
          WkvInputs one;
          one.shape = {1, s.T, 1, s.S};
          auto pick = [&](const std::vector<float>& x) {  // (B, T, H, S) -> (T, S) of (b, h)
            std::vector<float> out;
            for (int t = 0; t < s.T; ++t) {
              const auto at = ((static_cast<std::size_t>(b) * s.T + t) * s.H + h) * s.S;
              out.insert(out.end(), x.begin() + static_cast<std::ptrdiff_t>(at),
                         x.begin() + static_cast<std::ptrdiff_t>(at + s.S));
            }
            return out;
          };
          const auto st_at =
              static_cast<std::ptrdiff_t>((static_cast<std::size_t>(b) * s.H + h) * s.S * s.S);
          const auto st_len = static_cast<std::ptrdiff_t>(s.S * s.S);
          one.r = pick(in.r);
          one.k = pick(in.k);
          one.v = pick(in.v);
          one.logw = pick(in.logw);
          one.u.assign(in.u.begin() + h * s.S, in.u.begin() + (h + 1) * s.S);
          one.state.assign(in.state.begin() + st_at, in.state.begin() + st_at + st_len);
          const WkvResult alone = run(mode, one, L, 4);
          const WkvResult slice{pick(full.y),
                                {full.state.begin() + st_at, full.state.begin() + st_at + st_len}};
          EXPECT_TRUE(same_result(
              alone, slice,
              describe(mode, s, L, 4) + " b=" + std::to_string(b) + " h=" + std::to_string(h)));
        }
      }
    }
  }
}

TEST(WkvStructure, ZeroTokensLeaveStateUnchanged) {
  Rng rng(6000);
  const WkvInputs in = make_inputs({2, 0, 2, 4}, Decay::Mixed, rng);
  for (WkvMode mode : {WkvMode::Rwkv6, WkvMode::Gla}) {
    EXPECT_EQ(run(mode, in).state, in.state);
    EXPECT_EQ(run(mode, in, 16, 4).state, in.state);
  }
}

TEST(WkvStructure, GlaIgnoresBonus) {
  Rng rng(7000);
  WkvInputs in = make_inputs({1, 20, 2, 8}, Decay::Typical, rng);
  const WkvResult with_u = run(WkvMode::Gla, in, 8, 4);
  in.u.clear();  // Gla may be called without a bonus tensor at all
  EXPECT_TRUE(same_result(with_u, run(WkvMode::Gla, in, 8, 4), "gla without u (chunked)"));
  EXPECT_TRUE(same_result(with_u, run(WkvMode::Gla, in), "gla without u (sequential)"));
}

// ---------------------------------------------------------------------------------------------
// Argument checking.

TEST(WkvArguments, SizeMismatchThrowsShapeMismatchNamingTheArgument) {
  Rng rng(8000);
  WkvInputs in = make_inputs({1, 4, 1, 4}, Decay::Typical, rng);
  in.v.pop_back();
  try {
    run(WkvMode::Rwkv6, in, 4, 2);
    FAIL() << "expected vkr::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(e.message().find("v has 15 floats, expected 16"), std::string::npos) << e.message();
  }
  in = make_inputs({1, 4, 1, 4}, Decay::Typical, rng);
  in.u.clear();  // Rwkv6 needs u
  EXPECT_THROW(run(WkvMode::Rwkv6, in), Error);
  in.u.resize(4);
  in.state.resize(15);
  EXPECT_THROW(run(WkvMode::Gla, in), Error);
}

TEST(WkvArguments, BadChunkingAndPositiveLogDecayThrow) {
  Rng rng(9000);
  WkvInputs in = make_inputs({1, 8, 1, 4}, Decay::Typical, rng);
  for (auto [L, Lsub] : std::vector<std::pair<int, int>>{{16, 5}, {0, 1}, {4, 0}, {-4, 2}}) {
    try {
      run(WkvMode::Gla, in, L == 0 ? -1 : L, Lsub);
      FAIL() << "expected vkr::Error for L=" << L << " Lsub=" << Lsub;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    }
  }
  in.logw[5] = 0.25f;
  EXPECT_THROW(run(WkvMode::Rwkv6, in), Error);
  EXPECT_THROW(run(WkvMode::Rwkv6, in, 4, 2), Error);
}

}  // namespace
}  // namespace vkr::ref
