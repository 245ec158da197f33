// The sampler chain's own contracts (llama.cpp parity is test_sampler_llama.cpp): stage order
// parsing, logit bias, DRY by hand, mirostat's feedback, XTC's rate, the GPU-candidate rule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>
#include <vkr/error.hpp>

#include "sampler.hpp"

namespace vkr {
namespace {

std::vector<float> row(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> out(n);
  for (float& x : out) x = d(rng);
  return out;
}

SamplerParams off() {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

TEST(SamplerChain, ParsesLlamaNamesAndLetters) {
  using S = SamplerStage;
  EXPECT_EQ(parse_sampler_order("top_k;top_p;temperature"),
            (std::vector<S>{S::TopK, S::TopP, S::Temperature}));
  EXPECT_EQ(parse_sampler_order("penalties, dry typ_p"),
            (std::vector<S>{S::Penalties, S::Dry, S::Typical}));
  EXPECT_EQ(parse_sampler_order("Top-K;nucleus;temp"),
            (std::vector<S>{S::TopK, S::TopP, S::Temperature}));
  EXPECT_EQ(parse_sampler_order("kypmxt"),
            (std::vector<S>{S::TopK, S::Typical, S::TopP, S::MinP, S::Xtc, S::Temperature}));
  EXPECT_EQ(parse_sampler_order("edsk"),
            (std::vector<S>{S::Penalties, S::Dry, S::TopNSigma, S::TopK}));
  EXPECT_TRUE(parse_sampler_order("").empty());
  EXPECT_THROW(parse_sampler_order("top_k;bogus"), Error);
  EXPECT_THROW(parse_sampler_order("kq"), Error);
  SamplerParams twice = off();
  twice.order = parse_sampler_order("top_k;top_k");
  EXPECT_THROW(validate(twice), Error);
  for (S s : llama_sampler_order()) EXPECT_EQ(parse_sampler_order(stage_name(s))[0], s);
}

TEST(SamplerChain, LogitBiasBansForcesAndIsChecked) {
  auto logits = row(300, 3);
  SamplerParams p = off();
  p.temperature = 0.0f;
  const int32_t best =
      static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  p.logit_bias = {{best, -std::numeric_limits<float>::infinity()}};
  Sampler ban(p);
  for (int i = 0; i < 20; ++i) EXPECT_NE(ban.sample(logits), best);
  p.temperature = 1.0f;
  p.logit_bias = {{7, 50.0f}, {7, 50.0f}, {9, 60.0f}};  // 7 gets 100 in all
  Sampler force(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(force.sample(logits), 7);
  const auto adjusted = force.adjusted_logits(logits);
  EXPECT_FLOAT_EQ(adjusted[7], logits[7] + 100.0f);
  EXPECT_FLOAT_EQ(adjusted[9], logits[9] + 60.0f);
  p.logit_bias = {{300, 1.0f}};
  Sampler outside(p);
  EXPECT_THROW(outside.sample(logits), Error);
  p.logit_bias = {{-1, 1.0f}};
  EXPECT_THROW(Sampler{p}, Error);
  p.logit_bias = {{1, std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_THROW(Sampler{p}, Error);
}

// "a b c X a b c" + candidate X: the repeat "a b c" (3 > allowed 2) would go on with X.
TEST(SamplerChain, DryPenalizesTheIdThatExtendsARepeat) {
  SamplerParams p = off();
  p.dry_multiplier = 0.8f;
  p.dry_base = 1.75f;
  p.dry_allowed_length = 2;
  p.dry_sequence_breakers.clear();
  Sampler s(p);
  for (int32_t id : {1, 2, 3, 4, 1, 2, 3}) s.accept(id);
  const std::vector<float> zero(6, 0.0f);
  const auto got = s.adjusted_logits(zero);
  EXPECT_FLOAT_EQ(got[4], -0.8f * std::pow(1.75f, 1.0f));  // repeat length 3: exponent 1
  for (int id : {0, 1, 2, 3, 5}) EXPECT_EQ(got[static_cast<size_t>(id)], 0.0f) << id;
  // With a breaker token between, the repeat cannot reach back across it.
  SamplerParams q = p;
  q.dry_sequence_breakers = {"\n"};
  EXPECT_THROW(Sampler{q}, Error);  // breakers need a vocabulary
  auto br = std::make_shared<DryBreakers>();
  br->sequences = {{2, {}}};
  q.dry_breakers = br;
  Sampler t(q);
  for (int32_t id : {1, 2, 3, 4, 1, 2, 3}) t.accept(id);
  EXPECT_EQ(t.adjusted_logits(zero)[4], 0.0f);  // "2" breaks: only "3" repeats, too short
  SamplerParams greedy = p;
  greedy.temperature = 0.0f;
  Sampler g(greedy);
  for (int32_t id : {1, 2, 3, 4, 1, 2, 3}) g.accept(id);
  std::vector<float> prefer4(6, 0.0f);
  prefer4[4] = 1.0f;  // 1 - 1.4 < 0: greedy moves away from the repeat
  EXPECT_NE(g.sample(prefer4), 4);
}

TEST(SamplerChain, MirostatSteersTheSurpriseToTau) {
  for (int version : {1, 2}) {
    SamplerParams p;
    p.mirostat = version;
    p.mirostat_tau = 3.0f;
    p.mirostat_eta = 0.1f;
    p.temperature = 1.0f;
    p.seed = 5;
    Sampler s(p);
    EXPECT_FLOAT_EQ(s.mirostat_mu(), 6.0f);
    double surprise = 0.0;
    int n = 0;
    for (int step = 0; step < 400; ++step) {
      const auto logits = row(1000, 100 + static_cast<uint64_t>(step));
      const auto dist = s.distribution(logits);
      const int32_t id = s.sample(logits);
      if (step < 100) continue;
      for (const TokenProb& t : dist)
        if (t.id == id) surprise -= std::log2(t.p);
      ++n;
    }
    EXPECT_NEAR(surprise / n, 3.0, 0.6) << "mirostat " << version;
    EXPECT_THROW(s.observe(-5), Error);
    s.reset();
    EXPECT_FLOAT_EQ(s.mirostat_mu(), 6.0f);
    p.temperature = 0.0f;  // greedy wins over mirostat
    Sampler g(p);
    const auto logits = row(50, 9);
    EXPECT_EQ(g.sample(logits), std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
}

TEST(SamplerChain, XtcFiresAtItsRate) {
  std::vector<float> logits(10, 0.0f);
  logits[0] = logits[1] = 5.0f;  // two ids above the threshold: XTC leaves id 1 (the later) only
  SamplerParams p = off();
  p.xtc_probability = 0.5f;
  p.xtc_threshold = 0.2f;
  Sampler s(p);
  int zero = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) zero += s.sample(logits) == 0;
  // Without XTC id 0 has p ~ 0.497; with it half the time, ~0.25.
  EXPECT_NEAR(static_cast<double>(zero) / n, 0.25, 0.03);
}

TEST(SamplerChain, OrderMattersAndCandidatePathIsGuarded) {
  auto logits = row(400, 11);
  SamplerParams a = off();
  a.temperature = 2.5f;
  a.min_p = 0.2f;
  SamplerParams b = a;
  b.order = llama_sampler_order();  // min-p before the temperature: fewer survivors
  EXPECT_GT(Sampler(a).distribution(logits).size(), Sampler(b).distribution(logits).size());
  SamplerParams base;
  EXPECT_GT(Sampler(base).candidates_needed(400), 0u);
  SamplerParams bias = base;
  bias.logit_bias = {{1, -1.0f}};
  SamplerParams sigma = base;
  sigma.top_n_sigma = 1.0f;
  SamplerParams miro = base;
  miro.mirostat = 2;
  SamplerParams late = base;
  late.order = parse_sampler_order("top_p;top_k;temperature");
  for (const SamplerParams& q : {bias, sigma, miro, late})
    EXPECT_EQ(Sampler(q).candidates_needed(400), 0u);
}

TEST(SamplerChain, RejectsBadNewParams) {
  const auto bad = [](auto set) {
    SamplerParams p;
    set(p);
    EXPECT_THROW(validate(p), Error);
  };
  bad([](SamplerParams& p) { p.typical_p = 1.5f; });
  bad([](SamplerParams& p) { p.xtc_probability = -0.1f; });
  bad([](SamplerParams& p) { p.xtc_threshold = 2.0f; });
  bad([](SamplerParams& p) { p.dynatemp_range = -1.0f; });
  bad([](SamplerParams& p) { p.dynatemp_exponent = 0.0f; });
  bad([](SamplerParams& p) { p.min_keep = -1; });
  bad([](SamplerParams& p) { p.dry_multiplier = -1.0f; });
  bad([](SamplerParams& p) { p.dry_penalty_last_n = -2; });
  bad([](SamplerParams& p) { p.dry_allowed_length = -1; });
  bad([](SamplerParams& p) { p.mirostat = 3; });
  bad([](SamplerParams& p) { p.mirostat_tau = std::nanf(""); });
  bad([](SamplerParams& p) { p.top_n_sigma = std::numeric_limits<float>::infinity(); });
}

}  // namespace
}  // namespace vkr
