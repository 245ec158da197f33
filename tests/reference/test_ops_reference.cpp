// Proves the block-op references: small hand-computed cases per op plus invariants.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>
#include <vkr/error.hpp>

#include "reference/ops.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"

namespace vkr::ref {
namespace {

using test::all_close;
using test::Rng;

constexpr double kTol = 1e-6;

TEST(Gemm, HandComputedWithAndWithoutBias) {
  // x: (2, 3); w: (2, 3) = [out][in]; y[t][o] = sum_i x[t][i] w[o][i] (+ bias[o]).
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<float> w = {1, 0, -1, 2, 1, 0};
  std::vector<float> y(4);
  gemm(2, 3, 2, x, w, {}, y);
  // y[0] = [1-3, 2+2] ; y[1] = [4-6, 8+5]
  EXPECT_TRUE(all_close({{-2, 4, -2, 13}}, y, kTol, kTol, "gemm no bias"));
  const std::vector<float> bias = {0.5f, -1.0f};
  gemm(2, 3, 2, x, w, bias, y);
  EXPECT_TRUE(all_close({{-1.5f, 3, -1.5f, 12}}, y, kTol, kTol, "gemm bias"));
}

TEST(Gemm, SizeMismatchNamesTheArgument) {
  std::vector<float> x(6), w(5), y(4);
  try {
    gemm(2, 3, 2, x, w, {}, y);
    FAIL() << "expected vkr::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(e.message().find("w has 5 floats, expected 6"), std::string::npos) << e.message();
  }
}

TEST(Norms, RmsNormHandComputed) {
  // x = [3, 4]: mean(x^2) = 12.5, eps 0 -> x / 3.5355339 = [0.8485281, 1.1313708];
  // times gamma [1, 2].
  std::vector<float> y(2);
  rms_norm(1, 2, 0.0f, std::vector<float>{3, 4}, std::vector<float>{1, 2}, y);
  EXPECT_TRUE(all_close({{0.84852814f, 2.2627417f}}, y, kTol, kTol, "rms_norm"));
  // eps enters inside the root: x = [1, 1, 1, 1], eps 3 -> 1 / sqrt(1 + 3) = 0.5.
  std::vector<float> y4(4);
  rms_norm(1, 4, 3.0f, std::vector<float>(4, 1.0f), std::vector<float>{1, 2, 3, 4}, y4);
  EXPECT_TRUE(all_close({{0.5f, 1.0f, 1.5f, 2.0f}}, y4, kTol, kTol, "rms_norm eps"));
}

TEST(Norms, LayerNormHandComputed) {
  // x = [1, 2, 3, 4]: mean 2.5, biased var 1.25
  //   -> (x - 2.5) / 1.1180340 = [-1.342, -0.447, 0.447, 1.342]; then * gamma + beta.
  std::vector<float> y(4);
  layer_norm(1, 4, 0.0f, std::vector<float>{1, 2, 3, 4}, std::vector<float>{1, 1, 2, 2},
             std::vector<float>{0, 1, 0, -1}, y);
  EXPECT_TRUE(
      all_close({{-1.3416408f, 0.5527864f, 0.8944272f, 1.6832816f}}, y, kTol, kTol, "layer_norm"));
}

TEST(Norms, LayerNormRowsHaveZeroMeanUnitVariance) {
  Rng rng(11);
  SCOPED_TRACE(rng.trace());
  const int T = 5, C = 257;
  const auto x = rng.normal_vec(T * C, 3.0f, 7.0f);
  std::vector<float> y(x.size());
  layer_norm(T, C, 1e-5f, x, std::vector<float>(C, 1.0f), std::vector<float>(C, 0.0f), y);
  for (int t = 0; t < T; ++t) {
    double mean = 0.0, sq = 0.0;
    for (int c = 0; c < C; ++c) mean += y[t * C + c];
    mean /= C;
    for (int c = 0; c < C; ++c) sq += (y[t * C + c] - mean) * (y[t * C + c] - mean);
    EXPECT_NEAR(mean, 0.0, 1e-6) << "row " << t;
    EXPECT_NEAR(sq / C, 1.0, 1e-5) << "row " << t;  // var / (var + eps), var ~ 49
  }
}

TEST(Norms, GroupNormHandComputedPerHead) {
  // H = 2 heads of S = 2: head 0 [1, 3] (mean 2, var 1), head 1 [10, 30] (mean 20, var 100);
  // each normalizes to [-1, 1] on its own, then the full-width affine applies.
  std::vector<float> y(4);
  group_norm(1, 2, 2, 0.0f, std::vector<float>{1, 3, 10, 30}, std::vector<float>{1, 2, 3, 4},
             std::vector<float>{0, 0, 1, 1}, y);
  EXPECT_TRUE(all_close({{-1, 2, -2, 5}}, y, kTol, kTol, "group_norm"));
  // The default eps 64e-5: [1, 3] -> [-1, 1] / sqrt(1 + 64e-5).
  group_norm(1, 1, 2, kGroupNormEps, std::vector<float>{1, 3}, std::vector<float>{1, 1},
             std::vector<float>{0, 0}, std::span<float>(y).first(2));
  const float n = static_cast<float>(1.0 / std::sqrt(1.0 + 64e-5));
  EXPECT_TRUE(
      all_close({{-n, n}}, std::span<const float>(y).first(2), kTol, kTol, "group_norm eps"));
}

TEST(Norms, GroupNormEqualsLayerNormOfEachHead) {
  Rng rng(12);
  SCOPED_TRACE(rng.trace());
  const int T = 3, H = 4, S = 16, C = H * S;
  const auto x = rng.normal_vec(T * C, 0.0f, 2.0f);
  const auto gamma = rng.normal_vec(C), beta = rng.normal_vec(C);
  std::vector<float> y(x.size()), head(S);
  group_norm(T, H, S, kGroupNormEps, x, gamma, beta, y);
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      const auto at = static_cast<std::size_t>(t * C + h * S);
      const auto g = static_cast<std::size_t>(h * S);
      layer_norm(1, S, kGroupNormEps, std::span<const float>(x).subspan(at, S),
                 std::span<const float>(gamma).subspan(g, S),
                 std::span<const float>(beta).subspan(g, S), head);
      EXPECT_TRUE(all_close(head, std::span<const float>(y).subspan(at, S), 1e-6, 1e-6,
                            "head " + std::to_string(h) + " of token " + std::to_string(t)));
    }
  }
}

// ddlerp with C = 2, Dm = 1, T = 2 (spec §3.1). Hand-computed shifts and mixes:
// x = [[1, 2], [3, 5]], shift = [0.5, -1], mu_x = [0.5, 0.25]
// t=0: sx = shift - x0 = [-0.5, -3]   xi = x0 + sx*mu_x = [0.75, 1.25]
// t=1: sx = x0 - x1    = [-2, -3]     xi = x1 + sx*mu_x = [2, 4.25]
TEST(TokenShift, DdlerpHandComputedDm1) {
  const std::vector<float> x = {1, 2, 3, 5};
  std::vector<float> shift = {0.5f, -1.0f};
  const std::vector<float> mu_x = {0.5f, 0.25f};
  const std::vector<float> lambda = {0, 0, 0.5f, 0.5f, 1, 0, 0, 1, 0.25f, 0.75f};  // (5, C)
  const std::vector<float> a = {0.1f, 0, 0, 0.1f, 0.1f, 0.1f, -0.1f, 0, 0, 0};     // (5*Dm, C)
  const std::vector<float> bm = {1, 2, 0, 1, 1, 0, 2, 2, 1, 1};                    // (5, C, Dm)
  std::vector<float> out(5 * 2 * 2);
  token_shift_ddlerp({2, 2, 1}, x, shift, mu_x, lambda, a, bm, out);

  const double sx[2][2] = {{-0.5, -3}, {-2, -3}};
  const double xi[2][2] = {{0.75, 1.25}, {2, 4.25}};
  std::vector<float> want(out.size());
  for (int g = 0; g < 5; ++g) {
    for (int t = 0; t < 2; ++t) {
      const double h = std::tanh(a[g * 2] * xi[t][0] + a[g * 2 + 1] * xi[t][1]);  // Dm = 1
      for (int c = 0; c < 2; ++c) {
        want[(g * 2 + t) * 2 + c] =
            static_cast<float>(x[t * 2 + c] + sx[t][c] * (lambda[g * 2 + c] + bm[g * 2 + c] * h));
      }
    }
  }
  // Group g (w): h = tanh(0.1*xi0): t=0 -> x0 + sx*(0 + [1,2]*tanh(0.075)).
  EXPECT_NEAR(want[0], 1 - 0.5 * std::tanh(0.075), 1e-7);
  // Group 4 (g) has a zero row in A, so h = 0 and x^g = x + sx*lambda exactly.
  EXPECT_TRUE(all_close({{0.875f, -0.25f, 2.5f, 2.75f}}, std::span<const float>(out).subspan(16, 4),
                        kTol, kTol, "ddlerp group g"));
  EXPECT_TRUE(all_close(want, out, kTol, kTol, "ddlerp (5, T, C)"));
  EXPECT_TRUE(all_close({{3, 5}}, shift, 0, 0, "shift state = x[T-1]"));
}

TEST(TokenShift, DdlerpSplitCallsCarryShift) {
  Rng rng(13);
  SCOPED_TRACE(rng.trace());
  const int T = 5, C = 8, Dm = 3;
  const auto x = rng.normal_vec(T * C);
  const auto mu_x = rng.uniform_vec(C, 0, 1), lambda = rng.uniform_vec(5 * C, 0, 1);
  const auto a = rng.normal_vec(5 * Dm * C, 0, 0.3f), bm = rng.normal_vec(5 * C * Dm, 0, 0.3f);
  const auto shift0 = rng.normal_vec(C);
  std::vector<float> whole(5 * T * C), shift = shift0;
  token_shift_ddlerp({T, C, Dm}, x, shift, mu_x, lambda, a, bm, whole);
  const std::vector<float> shift_whole = shift;

  shift = shift0;
  const int t1 = 2;
  std::vector<float> p1(5 * t1 * C), p2(5 * (T - t1) * C);
  const std::span<const float> xs(x);
  token_shift_ddlerp({t1, C, Dm}, xs.first(t1 * C), shift, mu_x, lambda, a, bm, p1);
  token_shift_ddlerp({T - t1, C, Dm}, xs.subspan(t1 * C), shift, mu_x, lambda, a, bm, p2);
  for (int g = 0; g < 5; ++g) {
    const std::span<const float> w(whole);
    EXPECT_TRUE(all_close(w.subspan((g * T) * C, t1 * C),
                          std::span<const float>(p1).subspan(g * t1 * C, t1 * C), 0, 0,
                          "first call"));
    EXPECT_TRUE(all_close(w.subspan((g * T + t1) * C, (T - t1) * C),
                          std::span<const float>(p2).subspan(g * (T - t1) * C, (T - t1) * C), 0, 0,
                          "second call"));
  }
  EXPECT_EQ(shift, shift_whole);
}

TEST(TokenShift, LerpHandComputed) {
  // x = [[1, 2], [3, 4]], shift = [0, 10], mu = [0.5, 1]: out = x + (x_prev - x) * mu.
  std::vector<float> shift = {0, 10}, out(4);
  token_shift_lerp(2, 2, std::vector<float>{1, 2, 3, 4}, shift, std::vector<float>{0.5f, 1.0f},
                   out);
  EXPECT_TRUE(all_close({{0.5f, 10, 2, 2}}, out, kTol, kTol, "lerp"));
  EXPECT_TRUE(all_close({{3, 4}}, shift, 0, 0, "lerp shift"));
}

TEST(Decay, HandComputedDd1) {
  // xw = [1, 2], d0 = [0, -1], P = [[0.5, 0.25]] -> P xw = 1; Q = [[1], [-2]]:
  // logw = -exp(d0 + Q tanh(1)) = [-exp(tanh 1), -exp(-1 - 2 tanh 1)]
  std::vector<float> logw(2);
  decay(1, 2, 1, std::vector<float>{1, 2}, std::vector<float>{0, -1},
        std::vector<float>{0.5f, 0.25f}, std::vector<float>{1, -2}, logw);
  const double th = std::tanh(1.0);
  EXPECT_TRUE(
      all_close({{static_cast<float>(-std::exp(th)), static_cast<float>(-std::exp(-1 - 2 * th))}},
                logw, kTol, kTol, "decay"));
  // P xw = 0 gives logw = -exp(d0) exactly.
  decay(1, 2, 1, std::vector<float>{1, 2}, std::vector<float>{0, -1},
        std::vector<float>{0.5f, -0.25f}, std::vector<float>{1, -2}, logw);
  EXPECT_TRUE(
      all_close({{-1.0f, static_cast<float>(-std::exp(-1.0))}}, logw, kTol, kTol, "decay 0"));
}

TEST(Elementwise, Activations) {
  const float l3 = std::log(3.0f);
  std::vector<float> y(4);
  sigmoid(std::vector<float>{0, l3, -l3, -100}, y);
  EXPECT_TRUE(all_close({{0.5f, 0.75f, 0.25f, 0}}, y, kTol, kTol, "sigmoid"));
  silu(std::vector<float>{0, l3, -l3, -100}, y);
  EXPECT_TRUE(all_close({{0, 0.75f * l3, -0.25f * l3, 0}}, y, kTol, kTol, "silu"));
  relu_sq(std::vector<float>{-2, 0, 3, 0.5f}, y);
  EXPECT_TRUE(all_close({{0, 0, 9, 0.25f}}, y, 0, 0, "relu_sq"));
  swiglu(std::vector<float>{0, l3, -l3, 100}, std::vector<float>{5, 2, 4, 3}, y);
  EXPECT_TRUE(all_close({{0, 1.5f * l3, -l3, 300}}, y, kTol, kTol, "swiglu = silu(g) * u"));
}

TEST(Embedding, GathersRowsAndRejectsBadIds) {
  const std::vector<float> table = {0, 1, 10, 11, 20, 21};  // (V=3, C=2)
  std::vector<float> out(6);
  embedding(3, 2, std::vector<std::int32_t>{2, 0, 2}, table, out);
  EXPECT_TRUE(all_close({{20, 21, 0, 1, 20, 21}}, out, 0, 0, "embedding"));
  std::vector<float> one(2);
  EXPECT_THROW(embedding(3, 2, std::vector<std::int32_t>{3}, table, one), Error);
  EXPECT_THROW(embedding(3, 2, std::vector<std::int32_t>{-1}, table, one), Error);
}

TEST(Gqa, RepeatKvMapsHeadToHeadDivNrep) {
  // Hkv = 2, n_rep = 3: query heads 0,1,2 read kv head 0 and 3,4,5 read kv head 1 (not h % Hkv).
  std::vector<float> out(12);
  repeat_kv(1, 2, 3, 2, std::vector<float>{1, 2, 3, 4}, out);
  EXPECT_TRUE(all_close({{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}}, out, 0, 0, "repeat_kv"));

  Rng rng(14);
  SCOPED_TRACE(rng.trace());
  const int T = 3, Hkv = 4, n_rep = 5, S = 7, H = Hkv * n_rep;
  const auto kv = rng.normal_vec(T * Hkv * S);
  std::vector<float> rep(static_cast<std::size_t>(T * H * S));
  repeat_kv(T, Hkv, n_rep, S, kv, rep);
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < S; ++i) {
        ASSERT_EQ(rep[(t * H + h) * S + i], kv[(t * Hkv + h / n_rep) * S + i])
            << t << " " << h << " " << i;
      }
    }
  }
}

TEST(Gqa, KeyScaleUsesExpm1) {
  // 1 - w for w = 0.25 is 0.75; for logw = -1e-7, 1 - exp(logw) computed naively in float is 0 or
  // ~1.19e-7, while -expm1 gives 1e-7 to full precision.
  std::vector<float> out(3);
  scale_keys_one_minus_w(std::vector<float>{2, 1, 4},
                         std::vector<float>{std::log(0.25f), -1e-7f, 0}, out);
  EXPECT_TRUE(all_close({{1.5f, 1e-7f, 0}}, out, 1e-12, 1e-6, "k * (1 - w)"));
}

TEST(Softmax, HandComputedAndStable) {
  std::vector<float> p(3);
  softmax(std::vector<float>{0, std::log(2.0f), std::log(3.0f)}, p);
  EXPECT_TRUE(all_close({{1.0f / 6, 1.0f / 3, 0.5f}}, p, kTol, kTol, "softmax"));
  std::vector<float> q(2);
  softmax(std::vector<float>{1000, 1000}, q);  // would overflow without the max subtraction
  EXPECT_TRUE(all_close({{0.5f, 0.5f}}, q, kTol, kTol, "softmax large"));

  Rng rng(15);
  const auto x = rng.normal_vec(1000, 0, 10);
  std::vector<float> px(x.size());
  softmax(x, px);
  double sum = 0.0;
  for (float f : px) sum += f;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(argmax(px), argmax(x));  // softmax is monotone
}

TEST(Argmax, FirstMaximumWins) {
  EXPECT_EQ(argmax(std::vector<float>{1, 5, 5, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{-3}), 0);
  EXPECT_EQ(argmax(std::vector<float>{-3, -1, -2}), 1);
  EXPECT_THROW(argmax(std::span<const float>()), Error);
}

}  // namespace
}  // namespace vkr::ref
