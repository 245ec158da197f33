// GrammarConstraint (model/grammar_constraint.hpp) over real vocabularies (Qwen2's 151k ids and
// RWKV World's 65k, ../shared/refmodels/tokenizer): the whole-row mask (ids in byte order, shared
// prefixes) equals allows() id by id; random constrained walks stay inside the grammar and end
// only where a text may end; control ids never print; and against llama.cpp's own grammar
// sampler on the bundled and micro models' vocabularies (tests/data/llama_grammar, made by
// model/tools/llama_grammar_refs.py): the same allowed ids and end ids at every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gguf.hpp"
#include "grammar_constraint.hpp"
#include "json_test_util.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

const Tokenizer& vocab_at(const std::string& path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[path];
  if (!t) t = std::make_unique<Tokenizer>(vocab_from_gguf(gguf::File::open(path)));
  return *t;
}

const Tokenizer& vocab(const std::string& file) {
  return vocab_at(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/" + file);
}

std::vector<uint8_t> mask_of(const TokenConstraint& c) {
  std::vector<uint8_t> m(static_cast<size_t>(c.n_vocab()), 0);
  c.allowed_ids(m);
  return m;
}

void expect_mask_is_allows(const Tokenizer& tok, const TokenConstraint& c, const std::string& at) {
  const auto m = mask_of(c);
  int n = 0;
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const bool a = c.allows(id);
    n += a ? 1 : 0;
    if (a != (m[static_cast<size_t>(id)] != 0)) {
      ADD_FAILURE() << "after '" << at << "': id " << id << " ('" << tok.token_bytes(id)
                    << "') allows " << a << ", mask " << int(m[static_cast<size_t>(id)]);
      return;
    }
  }
  EXPECT_GT(n, 0) << "after '" << at << "'";
}

const char* const kGrammars[] = {
    R"g(root ::= "The " ("answer" | "question") " is " [0-9]{1,4} "." )g",
    R"g(root ::= item ("," " "? item)*
item ::= [a-z]+ | "\"" [^"\n]* "\"")g",
    R"g(root ::= "(" expr ")"
expr ::= [0-9]+ | "(" expr ")" | expr-2
expr-2 ::= [0-9]+ ("+" | "*") "(" expr ")")g",
    R"g(root ::= ([A-Za-z ]{1,12} "\n"){2,3})g",
    "root ::= (\"\xC3\xA9t\xC3\xA9\" | \"\xE6\x97\xA5\xE6\x9C\xAC\" | [\xD0\xB0-\xD1\x8F]+ | "
    "\"\\U0001F600\") (\" \" root)?",
};

class GrammarVocabTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GrammarVocabTest, MaskEqualsAllowsAndWalksStayInside) {
  const Tokenizer& tok = vocab(GetParam());
  std::vector<int32_t> eogs;
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_eog(id)) eogs.push_back(id);
  }
  ASSERT_FALSE(eogs.empty());
  int ended = 0;
  for (size_t gi = 0; gi < std::size(kGrammars); ++gi) {
    SCOPED_TRACE(kGrammars[gi]);
    const auto g = Grammar::parse(kGrammars[gi]);
    GrammarConstraint c(tok, g);
    expect_mask_is_allows(tok, c, "");
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      auto walk = c.fresh();
      // End ids boosted a little: walks end where they may, and go on where they must.
      const auto w =
          test::random_walk(tok, *walk, seed * 7 + gi, 60, eogs, [&](const std::string& t) {
            GrammarPrefix p(g);
            return p.push(t);
          });
      GrammarPrefix p(g);
      ASSERT_TRUE(p.push(w.text));
      if (w.ended) {
        EXPECT_TRUE(p.complete()) << "ended inside the grammar: " << w.text;
        ++ended;
      }
      if (seed == 1) expect_mask_is_allows(tok, *walk, w.text);
    }
  }
  EXPECT_GT(ended, 3);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GrammarVocabTest,
                         ::testing::Values("vocab-qwen2.gguf", "vocab-rwkv-world.gguf"));

// The walk order of the masks: every id once, byte-wise ascending.
TEST(GrammarConstraint, IdsByBytesIsASortedPermutation) {
  for (const char* v : {"vocab-qwen2.gguf", "vocab-rwkv-world.gguf"}) {
    const Tokenizer& tok = vocab(v);
    const auto& order = tok.ids_by_bytes();
    ASSERT_EQ(order.size(), static_cast<size_t>(tok.n_vocab())) << v;
    std::vector<uint8_t> seen(order.size(), 0);
    for (size_t i = 0; i < order.size(); ++i) {
      ASSERT_FALSE(seen[static_cast<size_t>(order[i])]++) << v << ": id twice " << order[i];
      if (i > 0) {
        ASSERT_LE(tok.token_bytes(order[i - 1]), tok.token_bytes(order[i])) << v << i;
      }
    }
    EXPECT_EQ(&order, &tok.ids_by_bytes()) << "computed once";
  }
}

TEST(GrammarConstraint, EndsOnlyWhereTheTextMayEnd) {
  const Tokenizer& tok = vocab("vocab-qwen2.gguf");
  GrammarConstraint c(tok, Grammar::parse(R"(root ::= "yes" "!"?)"));
  const int32_t eos = tok.eos_id() ? *tok.eos_id() : *tok.eot_id();
  EXPECT_FALSE(c.allows(eos));
  EXPECT_FALSE(c.complete());
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_control(id)) {
      EXPECT_FALSE(c.allows(id)) << "control id " << id;
    }
  }
  for (int32_t id : tok.encode("yes", false)) c.accept(id);
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.allows(eos));
  const auto bang = tok.encode("!", false);
  ASSERT_EQ(bang.size(), 1u);
  EXPECT_TRUE(c.allows(bang[0]));
  c.accept(bang[0]);
  // Nothing may follow: end ids only.
  const auto m = mask_of(c);
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    EXPECT_EQ(m[static_cast<size_t>(id)] != 0, tok.is_eog(id)) << id;
  }
  EXPECT_THROW(c.accept(bang[0]), Error);
  // fresh() starts over.
  auto again = c.fresh();
  EXPECT_FALSE(again->complete());
  EXPECT_FALSE(again->allows(bang[0]));
}

TEST(GrammarConstraint, NoTokenCanContinueIsAnError) {
  // A grammar no text can start (an empty class): every id refused, and the error says why.
  const Tokenizer& tok = vocab("vocab-qwen2.gguf");
  GrammarConstraint c(tok, Grammar::parse("root ::= []"));
  std::vector<float> logits(static_cast<size_t>(tok.n_vocab()), 0.0f);
  Sampler sampler(SamplerParams{});
  try {
    c.sample(sampler, logits);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("no token of the vocabulary can continue the grammar's text"),
              std::string::npos)
        << e.message();
  }
}

// --- llama.cpp's grammar sampler on the same vocabularies -----------------------------------

const std::filesystem::path kDataDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests/data/llama_grammar";

nlohmann::json read_cases() {
  std::ifstream in(kDataDir / "cases.json");
  EXPECT_TRUE(in.good()) << "cannot read " << (kDataDir / "cases.json");
  return nlohmann::json::parse(in);
}

std::string model_path(const std::string& m) {
  if (m.rfind("refmodels/", 0) == 0) return std::string(VKR_SHARED_DIR) + "/" + m;
  return std::string(VKR_SOURCE_DIR) + "/" + m;
}

// Where llama.cpp's sampler and this one differ on purpose, each difference is checked to be one
// of these, by the recognizer of any UTF-8 text (`.*`) after the text so far:
//  - llama allows ids that make the text invalid UTF-8 (lead bytes F5..FF, overlong forms such
//    as F0 86 97 A5 for U+65E5): refused here;
//  - under a negated class llama refuses a token ending inside a character when one of the
//    characters it may become is excluded (so "É" cannot be written under [^\u00e0-\u00ff]);
//    here it is allowed when one of them fits: an "only ours" id ends inside a character.
// Ids that print nothing here (llama's World vocabulary prints "[PAD839]" for padding ids, and
// control ids by their names) are left out of both sides.
TEST(GrammarVsLlama, SameAllowedIdsAtEveryStep) {
  const auto data = read_cases();
  ASSERT_GE(data["cases"].size(), 10u);
  const auto any_text = Grammar::parse("root ::= .*");
  size_t steps = 0, invalid_utf8 = 0, partial = 0;
  for (const auto& c : data["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const Tokenizer& tok = vocab_at(model_path(c["model"]));
    GrammarConstraint gc(tok, Grammar::parse(c["grammar"].get<std::string>()));
    const auto& tokens = c["tokens"];
    const auto& want = c["steps"];
    ASSERT_EQ(want.size(), tokens.size() + 1);
    std::string text;
    for (size_t i = 0; i < want.size(); ++i) {
      const auto m = mask_of(gc);
      auto prints = [&](int32_t id) {
        return !tok.is_eog(id) && !tok.is_control(id) && !tok.token_bytes(id).empty();
      };
      std::vector<int32_t> got, expected;
      bool eog = false;
      for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        if (!m[static_cast<size_t>(id)]) continue;
        if (tok.is_eog(id)) eog = true;
        if (prints(id)) got.push_back(id);
      }
      for (int32_t id : want[i]["allowed"].get<std::vector<int32_t>>()) {
        if (prints(id)) expected.push_back(id);
      }
      EXPECT_EQ(eog, want[i]["eog"].get<bool>()) << "step " << i;
      std::vector<int32_t> only_ours, only_theirs;
      std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                          std::back_inserter(only_ours));
      std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                          std::back_inserter(only_theirs));
      GrammarPrefix utf8(any_text);
      ASSERT_TRUE(utf8.push(text));
      std::vector<int32_t> unexplained;
      for (int32_t id : only_theirs) {
        GrammarPrefix p = utf8;
        if (p.push(tok.token_bytes(id))) {
          unexplained.push_back(id);
        } else {
          ++invalid_utf8;
        }
      }
      for (int32_t id : only_ours) {
        GrammarPrefix p = utf8;
        if (p.push(tok.token_bytes(id)) && !p.complete()) {
          ++partial;
        } else {
          unexplained.push_back(id);
        }
      }
      if (!unexplained.empty()) {
        std::string s;
        for (size_t k = 0; k < unexplained.size() && k < 8; ++k) {
          s += fmt::format(" {}:'{}'", unexplained[k], tok.token_bytes(unexplained[k]));
        }
        ADD_FAILURE() << "step " << i << ": " << got.size() << " allowed vs llama's "
                      << expected.size() << "; differing:" << s;
        break;
      }
      ++steps;
      if (i < tokens.size()) {
        const auto id = tokens[i].get<int32_t>();
        if (tok.token_bytes(id).empty()) break;  // a walk llama took through a padding id
        gc.accept(id);
        text += tok.token_bytes(id);
      }
    }
  }
  EXPECT_GT(steps, 700u);
  // The differences above do occur in the data (so their checks are exercised).
  EXPECT_GT(invalid_utf8, 0u);
  EXPECT_GT(partial, 0u);
}

TEST(GrammarVsLlama, GrammarsLlamaRefusesAreRefused) {
  const auto data = read_cases();
  ASSERT_GE(data["invalid"].size(), 5u);
  // Accepted here on purpose: {,n} (at most n) and counts above llama's 2000 (up to 100000).
  const std::set<std::string> extensions = {"root ::= \"a\"{,2}\n", "root ::= \"a\"{2001}\n"};
  size_t refused = 0;
  for (const auto& c : data["invalid"]) {
    const std::string g = c["grammar"];
    if (extensions.count(g)) {
      EXPECT_NO_THROW(Grammar::parse(g)) << g;
      continue;
    }
    ++refused;
    EXPECT_THROW(Grammar::parse(g), Error) << g << " (" << c["why"].get<std::string>() << ")";
  }
  EXPECT_GE(refused, 15u);
}

}  // namespace
}  // namespace vkr
