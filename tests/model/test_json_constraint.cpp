// test_json_constraint.cpp: JSON-object-constrained sampling (model/json_constraint.*).
//  - JsonPrefix against nlohmann::json's parser (an independent implementation): on valid texts,
//    every prefix is accepted and the whole is complete; on single-byte mutations of valid texts
//    (thousands, fixed seeds), "accepted and complete" equals "nlohmann parses it to an object";
//    accepted prefixes are extendable; hand-written invalid cases name what must fail.
//  - JsonConstraint over the real Qwen2 and RWKV World vocabularies: which ids are allowed at the
//    start and after completion; constrained draws from random logits always spell a JSON prefix
//    and, once ended, a JSON object; a model that "wants" a target JSON text writes exactly it.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "json_constraint.hpp"
#include "json_test_util.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using nlohmann::json;

// Whether `text` is accepted byte by byte and is complete at the end; `failed_at` gets the first
// refused byte (npos if none).
bool whole(const std::string& text, size_t* failed_at = nullptr) {
  JsonPrefix p;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!p.push(static_cast<unsigned char>(text[i]))) {
      if (failed_at) *failed_at = i;
      return false;
    }
  }
  if (failed_at) *failed_at = std::string::npos;
  return p.complete();
}

bool nlohmann_object(const std::string& text) {
  try {
    return json::parse(text).is_object();
  } catch (const json::exception&) {
    return false;
  }
}

// A random JSON object: nested objects / arrays, strings with escapes and multibyte characters,
// numbers of every form, literals.
json random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 4 : 6);
  switch (kind(rng)) {
    case 0: {
      const char* strings[] = {"",
                               "a",
                               "in the beginning",
                               "tab\there",
                               "quote\"in",
                               "back\\slash",
                               "caf\xc3\xa9",
                               "\xe2\x82\xac 5",
                               "\xf0\x9f\x98\x80",
                               "/",
                               "\n"};
      return strings[rng() % std::size(strings)];
    }
    case 1:
      return static_cast<int64_t>(rng() % 2000) - 1000;
    case 2:
      return std::ldexp(static_cast<double>(rng() % 100000) - 50000,
                        static_cast<int>(rng() % 80) - 40);
    case 3:
      return rng() % 2 == 0;
    case 4:
      return nullptr;
    case 5: {
      json a = json::array();
      for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i)
        a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) {
        o["k" + std::to_string(rng() % 10)] = random_value(rng, depth + 1);
      }
      return o;
    }
  }
}

std::string random_object_text(std::mt19937& rng) {
  json o = json::object();
  for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) {
    o["key" + std::to_string(i)] = random_value(rng, 1);
  }
  return o.dump(rng() % 2 == 0 ? -1 : 1);
}

TEST(JsonPrefix, ValidTextsAndEveryPrefix) {
  const std::string fixed[] = {
      "{}",
      " \n{ } \t",
      R"({"a":1,"b":[true,false,null],"c":{"d":-0.5e+10,"e":"x\"y\\z\/\b\f\n\r\t\u00e9"}})",
      R"({"n":[0,-0,1.25,1E5,2e-3,-12.5E+07,10]})",
      "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\x9f\xbf\xf4\x8f\xbf\xbf\"}",
      R"({"nested":[[[[{}]]],[],{"x":[]}]})",
  };
  std::mt19937 rng(7);
  std::vector<std::string> texts(std::begin(fixed), std::end(fixed));
  for (int i = 0; i < 300; ++i) texts.push_back(random_object_text(rng));
  for (const auto& t : texts) {
    ASSERT_TRUE(nlohmann_object(t)) << t;
    JsonPrefix p;
    for (size_t i = 0; i < t.size(); ++i) {
      ASSERT_TRUE(p.push(static_cast<unsigned char>(t[i]))) << "byte " << i << " of " << t;
      // Complete exactly once the closing brace of the top level is in (then only whitespace).
      const size_t close = t.find_last_of('}');
      EXPECT_EQ(p.complete(), i >= close) << "after byte " << i << " of " << t;
    }
  }
}

TEST(JsonPrefix, InvalidTextsFail) {
  const std::string cases[] = {
      "[1]",
      "1",
      "\"a\"",
      "null",
      "x",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{'a':1}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":-}",
      "{\"a\":.5}",
      "{\"a\":1e}",
      "{\"a\":+1}",
      "{\"a\":tru}",
      "{\"a\":True}",
      "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u12g4\"}",
      "{\"a\":\"raw\nnewline\"}",
      "{\"a\":\"\xc0\x80\"}",
      "{\"a\":\"\xed\xa0\x80\"}",
      "{\"a\":\"\xf5\x80\x80\x80\"}",
      "{\"a\":\"\xe2\x82\"}",
      "{\"a\":\"\x80\"}",
      "{\"a\":[1,]}",
      "{\"a\":[1 2]}",
      "{\"a\":1}}",
      "{\"a\":1} x",
      "{\"a\":1}{}",
      "{\"a\":[}",
      "{,}",
      "{\"a\"}",
      "{\"a\":1",
      "{\"a\":\"x",
      "{\"a\":nul}",
  };
  for (const auto& t : cases) {
    EXPECT_FALSE(whole(t)) << t;
    EXPECT_FALSE(nlohmann_object(t)) << "the case itself is wrong: " << t;
  }
  // The bounds: nesting and whitespace runs.
  std::string deep = "{\"a\":";
  for (size_t i = 1; i < JsonPrefix::kMaxDepth; ++i) deep += "[";
  EXPECT_TRUE(whole(deep + std::string(JsonPrefix::kMaxDepth - 1, ']') + "}"));
  size_t at = 0;
  EXPECT_FALSE(whole(deep + "[]" + std::string(JsonPrefix::kMaxDepth - 1, ']') + "}", &at));
  EXPECT_EQ(at, deep.size());
  EXPECT_TRUE(whole("{" + std::string(JsonPrefix::kMaxSpaces, ' ') + "}"));
  EXPECT_FALSE(whole("{" + std::string(JsonPrefix::kMaxSpaces + 1, ' ') + "}"));
  EXPECT_TRUE(whole("{\"" + std::string(200, ' ') + "\":1}")) << "spaces in strings are free";
  EXPECT_TRUE(whole("{\r\n  \"a\": [\n    1\n  ]\n}\n")) << "one line break per gap";
  EXPECT_FALSE(whole("{\n\n\"a\": 1}")) << "a blank line";
  EXPECT_FALSE(whole("{\"a\":\n \n 1}")) << "two line breaks in one gap";
}

// Single-byte mutations of valid texts: our verdict equals the parser's (an object, whole), and
// when the mutated text is refused part way, the parser refuses it too.
TEST(JsonPrefix, MutationsAgreeWithAParser) {
  std::mt19937 rng(11);
  const std::string alphabet = "{}[]:,\"\\ \t\n0123456789-+.eEtrufalsn\xc3\xa9\x80xu";
  int accepted = 0, refused = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string t = mutate(random_object_text(rng), rng, alphabet);
    // nlohmann refuses numbers out of double's range (a range error, not a syntax one): skip.
    if (std::regex_search(t, std::regex("[eE][+-]?[0-9]{3,}")) || breaks_twice(t)) continue;
    const bool ours = whole(t), theirs = nlohmann_object(t);
    ASSERT_EQ(ours, theirs) << "text: " << t;
    (ours ? accepted : refused)++;
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 1000);
}

const Tokenizer& vocab(const std::string& file) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[file];
  if (!t) {
    const auto f = gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/" + file);
    t = std::make_unique<Tokenizer>(vocab_from_gguf(f));
  }
  return *t;
}

class JsonConstraintTest : public ::testing::TestWithParam<const char*> {};

TEST_P(JsonConstraintTest, AllowedIdsAtTheEdges) {
  const Tokenizer& tok = vocab(GetParam());
  JsonConstraint c(tok);
  const auto brace = tok.encode("{", false);
  ASSERT_EQ(brace.size(), 1u);
  EXPECT_TRUE(c.allows(brace[0]));
  for (const char* word : {"In", "[", "\"", "1"}) {
    for (int32_t id : tok.encode(word, false)) EXPECT_FALSE(c.allows(id)) << word;
  }
  const int32_t eos = tok.eos_id() ? *tok.eos_id() : *tok.eot_id();
  EXPECT_FALSE(c.allows(eos)) << "nothing written yet";
  for (int32_t id : tok.encode("{\"a\": [1, 2]", false)) {
    ASSERT_TRUE(c.allows(id));
    c.accept(id);
  }
  EXPECT_FALSE(c.allows(eos));
  EXPECT_FALSE(c.complete());
  for (int32_t id : tok.encode("}", false)) c.accept(id);
  EXPECT_TRUE(c.complete());
  int allowed = 0;
  for (int32_t id = 0; id < tok.n_vocab(); ++id) allowed += c.allows(id) ? 1 : 0;
  EXPECT_GE(allowed, 1);
  EXPECT_TRUE(c.allows(eos));
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (c.allows(id)) {
      EXPECT_TRUE(tok.is_eog(id)) << "after the object only an end: " << id;
    }
  }
  EXPECT_THROW(c.accept(brace[0]), Error);
}

// Random logits, temperature 1 (no truncation: every id possible): each constrained draw keeps
// the text a JSON prefix; a walk that ends (an end id) spells one JSON object.
TEST_P(JsonConstraintTest, RandomDrawsSpellJson) {
  const Tokenizer& tok = vocab(GetParam());
  const auto closers = ids_of(tok, {"}", "]", ","});  // favoured, so walks end
  int ended = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    JsonConstraint c(tok);
    const Walk w = random_walk(tok, c, seed, 150, closers, [](const std::string& t) {
      JsonPrefix check;
      return check.push(t);
    });
    if (w.ended) {
      ++ended;
      EXPECT_TRUE(nlohmann_object(w.text)) << w.text;
    }
  }
  EXPECT_GE(ended, 1) << "no walk ended";
}

// A "model" whose logits favour the next token of a target text (greedy): the constrained draw
// writes the target exactly, then ends; and one that favours prose writes JSON anyway.
TEST_P(JsonConstraintTest, GreedyFollowsAValidTargetAndOverridesProse) {
  const Tokenizer& tok = vocab(GetParam());
  const auto V = static_cast<size_t>(tok.n_vocab());
  SamplerParams greedy;
  greedy.temperature = 0;
  Sampler sampler(greedy);
  const std::string target = R"({"name": "Noah", "sons": ["Shem", "Ham", "Japheth"], "age": 600})";
  const auto ids = tok.encode(target, false);
  JsonConstraint c(tok);
  std::vector<float> logits(V);
  std::string text;
  for (size_t i = 0; i <= ids.size(); ++i) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    if (i < ids.size()) logits[static_cast<size_t>(ids[i])] = 10;
    const int32_t id = c.sample(sampler, logits);
    if (i == ids.size()) {
      EXPECT_TRUE(tok.is_eog(id)) << "the object is complete: an end id is the only choice";
      break;
    }
    EXPECT_EQ(id, ids[i]);
    c.accept(id);
    text += tok.token_bytes(id);
  }
  EXPECT_EQ(text, target);
  JsonConstraint prose(tok);
  const auto words = tok.encode("In the beginning God created", false);
  std::string out;
  for (int step = 0; step < 40; ++step) {  // whitespace runs end after kMaxSpaces bytes
    std::fill(logits.begin(), logits.end(), 0.0f);
    logits[static_cast<size_t>(words[static_cast<size_t>(step) % words.size()])] = 10;
    const int32_t id = prose.sample(sampler, logits);
    if (tok.is_eog(id)) break;
    prose.accept(id);
    out += tok.token_bytes(id);
  }
  JsonPrefix check;
  EXPECT_TRUE(check.push(out)) << out;
  EXPECT_NE(out.find('{'), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, JsonConstraintTest,
                         ::testing::Values("vocab-qwen2.gguf", "vocab-rwkv-world.gguf"));

}  // namespace
}  // namespace vkr::test
