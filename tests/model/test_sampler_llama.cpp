// The sampler chain vs llama.cpp's own samplers (tests/data/llama_sampling, made by
// model/tools/llama_sampling_refs.py through its library): for each chain, the candidates left
// for the draw and their probabilities; DRY's penalized logits with real vocabularies; mirostat's
// truncation step by step as mu moves (each step continues from the id llama drew).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dry_breakers.hpp"
#include "gguf.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr {
namespace {

using nlohmann::json;

const json& cases() {
  static const json doc = [] {
    const auto path =
        std::filesystem::path(VKR_SOURCE_DIR) / "tests/data/llama_sampling/cases.json";
    std::ifstream in(path);
    EXPECT_TRUE(in) << path;
    return json::parse(in);
  }();
  return doc;
}

const Tokenizer& vocab(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) {
    const std::string path = name == "kjv"
                                 ? std::string(VKR_SOURCE_DIR) + "/model/default/kjv-qrwkv6.gguf"
                                 : std::string(VKR_SHARED_DIR) + "/refmodels/micro-rwkv6-f32.gguf";
    t = std::make_unique<Tokenizer>(vocab_from_gguf(gguf::File::open(path)));
  }
  return *t;
}

float number(const json& v) {
  if (v.is_string()) {
    EXPECT_EQ(v.get<std::string>(), "-inf");
    return -std::numeric_limits<float>::infinity();
  }
  return v.get<float>();
}

// Everything off: the chain's samplers turn on what they name, in their order.
std::optional<SamplerParams> params_of(const json& samplers) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.penalty_last_n = 0;
  p.order.clear();
  std::set<int> min_keeps;
  for (const json& s : samplers) {
    const std::string type = s["type"];
    if (s.contains("min_keep")) min_keeps.insert(s["min_keep"].get<int>());
    if (type == "logit_bias") {
      for (const json& b : s["bias"]) p.logit_bias.push_back({b[0].get<int32_t>(), number(b[1])});
      continue;
    }
    if (type == "top_k") {
      p.top_k = s["k"];
      p.order.push_back(SamplerStage::TopK);
    } else if (type == "top_p") {
      p.top_p = s["p"];
      p.order.push_back(SamplerStage::TopP);
    } else if (type == "min_p") {
      p.min_p = s["p"];
      p.order.push_back(SamplerStage::MinP);
    } else if (type == "typical") {
      p.typical_p = s["p"];
      p.order.push_back(SamplerStage::Typical);
    } else if (type == "top_n_sigma") {
      p.top_n_sigma = s["n"];
      p.order.push_back(SamplerStage::TopNSigma);
    } else if (type == "xtc") {
      p.xtc_probability = s["p"];
      p.xtc_threshold = s["t"];
      p.order.push_back(SamplerStage::Xtc);
    } else if (type == "temp" || type == "temp_ext") {
      p.temperature = s["t"];
      if (type == "temp_ext") {
        p.dynatemp_range = s["delta"];
        p.dynatemp_exponent = s["exponent"];
      }
      p.order.push_back(SamplerStage::Temperature);
    } else if (type == "penalties") {
      p.penalty_last_n = std::max(0, s["last_n"].get<int>());  // llama: <= 0 is off
      p.repetition_penalty = s["repeat"];
      p.frequency_penalty = s["freq"];
      p.presence_penalty = s["present"];
      p.order.push_back(SamplerStage::Penalties);
    } else if (type == "dry") {
      p.dry_multiplier = s["multiplier"];
      p.dry_base = s["base"];
      p.dry_allowed_length = s["allowed_length"];
      // llama.cpp's newer DRY: last_n <= 0 is off (ours: -1 is the whole history, 0 off).
      p.dry_penalty_last_n = std::max(0, s["last_n"].get<int>());
      p.dry_sequence_breakers = s["breakers"].get<std::vector<std::string>>();
      resolve_dry_breakers(p, vocab(s["vocab"]));
      p.order.push_back(SamplerStage::Dry);
    } else {
      ADD_FAILURE() << "unknown sampler " << type;
    }
  }
  if (min_keeps.size() > 1) return std::nullopt;  // ours is one min_keep for every stage
  if (!min_keeps.empty()) p.min_keep = *min_keeps.begin();
  return p;
}

std::vector<float> floats(const json& v) { return v.get<std::vector<float>>(); }

TEST(SamplerLlama, ChainsLeaveLlamasCandidatesAndProbabilities) {
  size_t checked = 0;
  for (const json& c : cases()["chains"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    bool bias_later = false;  // ours is always applied first: no such chain here
    for (size_t i = 1; i < c["samplers"].size(); ++i)
      bias_later |= c["samplers"][i]["type"] == "logit_bias";
    const auto params = params_of(c["samplers"]);
    if (bias_later || !params) continue;
    Sampler s(*params);
    for (const json& id : c["history"]) s.accept(id.get<int32_t>());
    const std::vector<float> logits = floats(c["logits"]);
    const json& out = c["out"];
    if (c.value("changed_only", false)) {
      // DRY on zero logits: exactly the ids llama penalized, by llama's amounts.
      const std::vector<float> got = s.adjusted_logits(logits);
      std::map<int32_t, float> want;
      for (size_t i = 0; i < out["ids"].size(); ++i)
        want[out["ids"][i].get<int32_t>()] = out["logits"][i].get<float>();
      for (size_t id = 0; id < got.size(); ++id) {
        const auto it = want.find(static_cast<int32_t>(id));
        const float expect = it == want.end() ? logits[id] : it->second;
        ASSERT_NEAR(got[id], expect, 1e-5f * std::max(1.0f, std::abs(expect))) << "id " << id;
      }
      ++checked;
      continue;
    }
    // llama's survivors (the -inf ones are out), and what its draw would use: their softmax.
    std::map<int32_t, double> want;
    double max = -std::numeric_limits<double>::infinity(), total = 0.0;
    for (size_t i = 0; i < out["ids"].size(); ++i)
      max = std::max(max, out["logits"][i].get<double>());
    for (size_t i = 0; i < out["ids"].size(); ++i) {
      const double w = std::exp(out["logits"][i].get<double>() - max);
      want[out["ids"][i].get<int32_t>()] = w;
      total += w;
    }
    const std::vector<TokenProb> got = s.distribution(logits);
    ASSERT_EQ(got.size(), want.size());
    for (const TokenProb& t : got) {
      const auto it = want.find(t.id);
      ASSERT_NE(it, want.end()) << "id " << t.id << " is not among llama's";
      const double p = it->second / total;
      EXPECT_NEAR(t.p, p, 1e-6 + 1e-4 * p) << "id " << t.id;
    }
    ++checked;
  }
  EXPECT_GE(checked, 40u);
}

TEST(SamplerLlama, MirostatFollowsLlamaStepByStep) {
  size_t steps = 0;
  for (const json& m : cases()["mirostat"]) {
    SCOPED_TRACE(m["name"].get<std::string>());
    SamplerParams p;
    p.mirostat = m["version"];
    p.mirostat_tau = m["tau"];
    p.mirostat_eta = m["eta"];
    p.temperature = m["temp"];
    Sampler s(p);
    for (const json& st : m["steps"]) {
      SCOPED_TRACE("step " + std::to_string(steps));
      const std::vector<float> logits = floats(st["logits"]);
      ASSERT_EQ(logits.size(), m["n_vocab"].get<size_t>());
      const std::vector<TokenProb> got = s.distribution(logits);
      ASSERT_EQ(got.size(), st["kept"].size()) << "mu " << s.mirostat_mu();
      std::map<int32_t, float> want;
      for (size_t i = 0; i < st["kept"].size(); ++i)
        want[st["kept"][i].get<int32_t>()] = st["p"][i].get<float>();
      for (const TokenProb& t : got) {
        ASSERT_TRUE(want.count(t.id)) << "id " << t.id;
        EXPECT_NEAR(t.p, want[t.id], 1e-6 + 1e-4 * want[t.id]);
      }
      s.observe(st["selected"].get<int32_t>());
      ++steps;
    }
  }
  EXPECT_GE(steps, 80u);
}

// The breakers as tokens, on the bundled model's vocabulary: "\n" alone breaks, and a token that
// ends with the start of a longer breaker needs the rest to follow.
TEST(SamplerLlama, DryBreakersFromAVocabulary) {
  const Tokenizer& tok = vocab("kjv");
  const std::vector<std::string> nl{"\n"};
  const auto b = dry_sequence_breakers(tok, nl);
  ASSERT_FALSE(b->sequences.empty());
  for (const auto& [head, tail] : b->sequences) {
    const int32_t one[] = {head};
    EXPECT_NE(tok.decode(one, true).find('\n'), std::string::npos);
    EXPECT_TRUE(tail.empty());
  }
  const std::vector<std::string> two{"Lord God"};
  const auto lg = dry_sequence_breakers(tok, two);
  bool with_tail = false;
  for (const auto& [head, tail] : lg->sequences) {
    if (tail.empty()) continue;
    with_tail = true;
    const int32_t one[] = {head};
    const std::string text = tok.decode(one, true) + tok.decode(tail, true);
    EXPECT_NE(text.find("Lord God"), std::string::npos) << text;
  }
  EXPECT_TRUE(with_tail);
  const std::vector<std::string> none{"", ""};
  EXPECT_TRUE(dry_sequence_breakers(tok, none)->sequences.empty());
}

}  // namespace
}  // namespace vkr
