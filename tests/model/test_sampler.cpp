// Host sampler: greedy, determinism, top-k/top-p/min-p filtering, penalties, empirical
// distribution vs softmax, non-finite logits and parameter validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>
#include <vkr/error.hpp>

#include "sampler.hpp"

namespace vkr {
namespace {

std::vector<float> random_logits(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

SamplerParams plain(float temperature, uint64_t seed = 1) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[s.sample(logits)];
  return counts;
}

TEST(Sampler, GreedyIsArgmax) {
  const auto logits = random_logits(5000, 7);
  Sampler greedy(plain(0.0f));
  EXPECT_EQ(greedy.sample(logits), argmax(logits));
  Sampler negative(plain(-1.0f));
  EXPECT_EQ(negative.sample(logits), argmax(logits));
  SamplerParams k1 = plain(1.0f);
  k1.top_k = 1;
  Sampler top1(k1);
  SamplerParams tiny_p = plain(1.0f);
  tiny_p.top_p = 1e-6f;
  Sampler nucleus(tiny_p);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(top1.sample(logits), argmax(logits));
    EXPECT_EQ(nucleus.sample(logits), argmax(logits));
  }
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedsDiffer) {
  const auto logits = random_logits(1000, 3);
  SamplerParams p;  // defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8
  p.temperature = 1.5f;
  p.seed = 42;
  Sampler a(p), b(p);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> da, db, dc;
  for (int i = 0; i < 200; ++i) {
    da.push_back(a.sample(logits));
    db.push_back(b.sample(logits));
    dc.push_back(c.sample(logits));
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
  a.reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(logits));
  EXPECT_EQ(again, da);
}

TEST(Sampler, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f};
  const float t = 0.7f;
  const int draws = 60000;
  Sampler s(plain(t, 2024));
  const auto counts = histogram(s, logits, draws);
  double z = 0.0;
  for (float l : logits) z += std::exp(l / t);
  double chi2 = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expected = draws * std::exp(logits[i] / t) / z;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  // 5 degrees of freedom: P(chi2 > 25) ~ 1.4e-4. Fixed seed, so this never flips.
  EXPECT_LT(chi2, 25.0) << "counts do not follow softmax(logits / T)";
}

TEST(Sampler, TopKRenormalizesOverTheKBest) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f};
  SamplerParams p = plain(1.0f, 5);
  p.top_k = 3;  // keeps ids 4, 0, 1
  Sampler s(p);
  const int draws = 30000;
  const auto counts = histogram(s, logits, draws);
  EXPECT_EQ(counts[2] + counts[3] + counts[5], 0);
  const double z = std::exp(2.0) + std::exp(1.0) + std::exp(0.5);
  EXPECT_NEAR(counts[4] / double(draws), std::exp(2.0) / z, 0.015);
  EXPECT_NEAR(counts[0] / double(draws), std::exp(1.0) / z, 0.015);
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0, 1}.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplerParams p = plain(1.0f, 9);
  p.top_p = 0.75f;
  Sampler s(p);
  const auto counts = histogram(s, logits, 5000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2] + counts[3], 0);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  // Relative probabilities 1, e^-1 = 0.37, e^-5 = 0.0067: min_p 0.1 drops id 2 only.
  const std::vector<float> logits = {0.0f, -1.0f, -5.0f};
  SamplerParams p = plain(1.0f, 11);
  p.min_p = 0.1f;
  Sampler s(p);
  const auto counts = histogram(s, logits, 5000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2], 0);
  p.min_p = 0.0f;
  Sampler all(p);
  EXPECT_GT(histogram(all, logits, 5000)[2], 0);
}

TEST(Sampler, RepetitionPenaltyShrinksBothSigns) {
  SamplerParams p = plain(0.0f);
  p.repetition_penalty = 1.5f;
  Sampler s(p);
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 1);    // 2 / 1.5 < 1.9
  EXPECT_EQ(s.sample(std::vector<float>{-1.0f, -1.2f}), 1);  // -1 * 1.5 < -1.2
  s.reset();
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 0);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplerParams p = plain(0.0f);
  p.presence_penalty = 0.5f;
  Sampler presence(p);
  presence.accept(0);
  EXPECT_EQ(presence.sample(std::vector<float>{1.0f, 0.8f}), 1);

  p = plain(0.0f);
  p.frequency_penalty = 0.15f;
  Sampler frequency(p);
  frequency.accept(0);
  EXPECT_EQ(frequency.sample(std::vector<float>{1.0f, 0.8f}), 0);  // 0.85 > 0.8
  frequency.accept(0);
  EXPECT_EQ(frequency.sample(std::vector<float>{1.0f, 0.8f}), 1);  // 0.70 < 0.8

  p.penalty_last_n = 2;
  Sampler window(p);
  window.accept(0);
  window.accept(0);
  window.accept(5);
  window.accept(6);  // both 0s have left the window of 2
  EXPECT_EQ(window.sample(std::vector<float>{1.0f, 0.8f}), 0);
}

TEST(Sampler, NonFiniteLogits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Sampler greedy(plain(0.0f));
  EXPECT_EQ(greedy.sample(std::vector<float>{nan, 1.0f, nan}), 1);
  EXPECT_EQ(greedy.sample(std::vector<float>{1.0f, inf, 2.0f, inf}), 1);
  Sampler random(plain(1.0f));
  const auto counts = histogram(random, {nan, 0.0f, -inf, 0.0f}, 2000);
  EXPECT_EQ(counts[0] + counts[2], 0);
  EXPECT_EQ(random.sample(std::vector<float>{0.0f, inf}), 1);
  try {
    random.sample(std::vector<float>{nan, -inf});
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  EXPECT_THROW(random.sample(std::vector<float>{}), Error);
}

TEST(Sampler, RejectsInvalidParams) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto with = [](auto edit) {
    SamplerParams p;
    edit(p);
    return p;
  };
  const std::vector<SamplerParams> bad = {
      with([&](SamplerParams& p) { p.temperature = nan; }),
      with([](SamplerParams& p) { p.temperature = std::numeric_limits<float>::infinity(); }),
      with([](SamplerParams& p) { p.top_k = -1; }),
      with([](SamplerParams& p) { p.top_p = 0.0f; }),
      with([](SamplerParams& p) { p.top_p = 1.5f; }),
      with([&](SamplerParams& p) { p.top_p = nan; }),
      with([](SamplerParams& p) { p.min_p = -0.1f; }),
      with([](SamplerParams& p) { p.min_p = 1.1f; }),
      with([](SamplerParams& p) { p.repetition_penalty = 0.0f; }),
      with([&](SamplerParams& p) { p.presence_penalty = nan; }),
      with([](SamplerParams& p) { p.penalty_last_n = -1; }),
  };
  for (const SamplerParams& p : bad) {
    try {
      Sampler s(p);
      ADD_FAILURE() << "accepted invalid params";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    }
  }
  EXPECT_NO_THROW(Sampler{SamplerParams{}});
}

TEST(Sampler, FullVocabularyDefaultsStayInTopK) {
  const auto logits = random_logits(152064, 99);
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + 39, sorted.end(), std::greater<>());
  const float kth = sorted[39];
  SamplerParams p;
  p.temperature = 5.0f;  // flatten, so the top-k cut is what limits the choice
  p.seed = 123;
  Sampler s(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t id = s.sample(logits);
    EXPECT_GE(logits[id], kth);
    s.accept(id);
  }
}

// The first n entries of a row in the order (value descending, id ascending), as kernels::topk
// returns them (in id order).
void top_entries(const std::vector<float>& row, size_t n, std::vector<int32_t>& ids,
                 std::vector<float>& vals) {
  std::vector<int32_t> order(row.size());
  for (size_t i = 0; i < row.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  order.resize(n);
  std::sort(order.begin(), order.end());
  ids = order;
  vals.clear();
  for (int32_t id : order) vals.push_back(row[id]);
}

// The GPU path (top-K candidates read back) must pick exactly what the whole-row path picks,
// penalties included, step after step with the same random stream.
TEST(Sampler, CandidatePathMatchesWholeRow) {
  struct Case {
    float temp;
    int top_k;
    float top_p, min_p, rep, presence, frequency;
  };
  const Case cases[] = {{0.8f, 40, 0.95f, 0.05f, 1.0f, 0.0f, 0.0f},
                        {1.0f, 5, 1.0f, 0.0f, 1.3f, 0.0f, 0.0f},
                        {0.7f, 20, 0.9f, 0.0f, 1.1f, 0.5f, 0.25f},
                        {0.0f, 0, 1.0f, 0.0f, 1.5f, 1.0f, 0.0f},  // greedy with penalties
                        {1.2f, 1, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f}};
  for (const Case& c : cases) {
    SamplerParams p;
    p.temperature = c.temp;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.repetition_penalty = c.rep;
    p.presence_penalty = c.presence;
    p.frequency_penalty = c.frequency;
    p.penalty_last_n = 16;
    p.seed = 77;
    Sampler whole(p), cand(p);
    std::vector<int32_t> ids;
    std::vector<float> vals;
    for (int step = 0; step < 60; ++step) {
      // Few distinct values: the penalized ids keep landing on the top-k boundary.
      auto row = random_logits(500, 1000 + step);
      for (float& x : row) x = std::round(x);
      const size_t n = cand.candidates_needed(row.size());
      ASSERT_GT(n, 0u);
      top_entries(row, n, ids, vals);
      const int32_t a = whole.sample(row), b = cand.sample_candidates(ids, vals);
      ASSERT_EQ(a, b) << "step " << step << " top_k " << c.top_k << " temp " << c.temp;
      whole.accept(a);
      cand.accept(b);
      whole.accept(step % 7);  // prompt-like ids that are often not among the candidates
      cand.accept(step % 7);
    }
  }
  SamplerParams raise;
  raise.repetition_penalty = 0.9f;  // raises logits: the whole row is needed
  EXPECT_EQ(Sampler(raise).candidates_needed(100), 0u);
  SamplerParams no_k;
  no_k.top_k = 0;
  EXPECT_EQ(Sampler(no_k).candidates_needed(100), 0u);
  SamplerParams small;
  small.top_k = 400;
  EXPECT_EQ(Sampler(small).candidates_needed(100), 100u);
  Sampler s(small);
  const std::vector<int32_t> dup_ids{1, 1};
  const std::vector<float> dup_vals{0.5f, 0.25f};
  EXPECT_THROW(s.sample_candidates(dup_ids, dup_vals), Error);
  EXPECT_THROW(s.sample_candidates(dup_ids, std::span(dup_vals).first(1)), Error);
}

}  // namespace
}  // namespace vkr
