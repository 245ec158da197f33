// test_json_roots.cpp: JSON schemas whose root is not an object (a classifier's enum, a list, a
// number, a union), as llama-server and outlines take them.
//  - SchemaPrefix vs the naive validator (json_validator.hpp) on every short text over an
//    alphabet, for roots of every kind; may_end() where only a following byte would end the
//    value (a root number), complete() where nothing may follow.
//  - JsonConstraint over the Qwen2 vocabulary: the end comes exactly where the value may end,
//    nothing after a closed value, and random walks never dead-end.
//  - Tool parameters still need an object (test_tool_calls.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "json_test_util.hpp"
#include "json_validator.hpp"
#include "tokenizer.hpp"

namespace vkr::test {
namespace {

const char* const kRoots[] = {
    R"({"enum": ["y", "", 3, [2], null]})",
    R"({"type": "array", "items": {"type": "integer"}, "maxItems": 3})",
    R"({"type": "integer", "minimum": -5, "maximum": 120})",
    R"({"type": "number"})",
    R"({"type": ["string", "null"], "maxLength": 2})",
    R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}, {"const": [1]}]})",
    R"({})",
    R"({"type": "string", "pattern": "^[ye]+$"})",
    R"({"$ref": "#/$defs/t", "$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"},
        "maxItems": 2}}})",
};

// Every text of <= 5 bytes over an alphabet, for each root: the two implementations agree, and
// a number's end is a may_end() but not a complete().
TEST(SchemaRoots, ShortTextsAgreeWithANaiveValidator) {
  const std::regex split("[0-9][eE.]|-0");
  for (const char* text : kRoots) {
    const ojson s = ojson::parse(text);
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    for (const std::string& t : all_texts("1-2.e\"y[],n", 5)) {
      if (std::regex_search(t, split)) continue;
      const bool a = ours(t, *schema), b = naive(t, s);
      ASSERT_EQ(a, b) << text << " on " << t;
      (a ? accepted : refused)++;
    }
    EXPECT_GT(accepted, 0) << text;
    EXPECT_GT(refused, 1000) << text;
  }
}

TEST(SchemaRoots, NumbersMayEndButNeverComplete) {
  const auto integer = JsonSchema::compile(ojson::parse(kRoots[2]));
  struct Case {
    const char* text;
    bool takes, may_end;
  };
  const Case cases[] = {
      {"4", true, true},    {"12", true, true},   {"120", true, true},  {"121", false, false},
      {"-", true, false},   {"-5", true, true},   {"-6", false, false}, {"  7", true, true},
      {"7 ", false, false},  // nothing after a root number, not even a space
      {"0", true, true},    {"4.", false, false}, {"", true, false},
  };
  for (const auto& c : cases) {
    SchemaPrefix p(*integer);
    EXPECT_EQ(p.push(std::string(c.text)), c.takes) << c.text;
    if (!c.takes) continue;
    EXPECT_EQ(p.may_end(), c.may_end) << c.text;
    EXPECT_FALSE(p.complete()) << c.text << ": more digits could follow";
  }
  const auto number = JsonSchema::compile(ojson::parse(kRoots[3]));
  for (const char* t : {"1.5", "1e3", "-0.25E+2"}) {
    SchemaPrefix p(*number);
    ASSERT_TRUE(p.push(std::string(t))) << t;
    EXPECT_TRUE(p.may_end()) << t;
  }
  for (const char* t : {"1.", "1e", "1e+", "-"}) {
    SchemaPrefix p(*number);
    ASSERT_TRUE(p.push(std::string(t))) << t;
    EXPECT_FALSE(p.may_end()) << t;
  }
  // Closed values are complete: only whitespace may follow.
  const auto words = JsonSchema::compile(ojson::parse(kRoots[0]));
  for (const char* t : {"\"y\"", "null", " \"\"", "[2]"}) {
    SchemaPrefix p(*words);
    ASSERT_TRUE(p.push(std::string(t))) << t;
    EXPECT_TRUE(p.complete()) << t;
    EXPECT_TRUE(p.may_end()) << t;
  }
  SchemaPrefix three(*words);  // 3 is a literal: complete with its last byte
  ASSERT_TRUE(three.push("3"));
  EXPECT_TRUE(three.complete());
  EXPECT_FALSE(three.push("3"));
}

struct Vocab {
  Vocab()
      : tok(vocab_from_gguf(gguf::File::open(std::string(VKR_SHARED_DIR) +
                                             "/refmodels/tokenizer/vocab-qwen2.gguf"))) {}
  Tokenizer tok;
};

const Tokenizer& qwen2() {
  static const Vocab v;
  return v.tok;
}

// The mask over a real vocabulary: an end id where the value may end, digits still after "12",
// only the end after a closed value.
TEST(SchemaRootsConstraint, EndComesWhereTheValueMayEnd) {
  const Tokenizer& tok = qwen2();
  ASSERT_TRUE(tok.eos_id().has_value());
  const int32_t eog = *tok.eos_id();
  JsonConstraint number(tok, JsonSchema::compile(ojson::parse(kRoots[2])));
  EXPECT_FALSE(number.allows(eog)) << "nothing written yet";
  EXPECT_FALSE(number.complete());
  number.accept(ids_of(tok, {"1"}).front());
  EXPECT_TRUE(number.allows(eog));
  EXPECT_TRUE(number.complete());
  EXPECT_TRUE(number.allows(ids_of(tok, {"2"}).front())) << "12 is within the bounds";
  EXPECT_FALSE(number.allows(ids_of(tok, {" "}).front())) << "no space after a root number";
  std::vector<uint8_t> allowed(static_cast<size_t>(tok.n_vocab()));
  number.allowed_ids(allowed);
  EXPECT_EQ(allowed[static_cast<size_t>(eog)], 1);
  EXPECT_EQ(allowed[static_cast<size_t>(ids_of(tok, {"0"}).front())], 1);
  EXPECT_EQ(allowed[static_cast<size_t>(ids_of(tok, {"."}).front())], 0) << "an integer";

  JsonConstraint words(tok, JsonSchema::compile(ojson::parse(kRoots[0])));
  for (int32_t id : tok.encode("\"y\"", false)) words.accept(id);
  std::fill(allowed.begin(), allowed.end(), 0);
  words.allowed_ids(allowed);
  int n_allowed = 0;
  for (size_t id = 0; id < allowed.size(); ++id) {
    if (allowed[id]) {
      ++n_allowed;
      EXPECT_TRUE(tok.is_eog(static_cast<int32_t>(id))) << id;
    }
  }
  EXPECT_GE(n_allowed, 1);
}

TEST(SchemaRootsConstraint, WalksNeverDeadEndAndSpellValidValues) {
  const Tokenizer& tok = qwen2();
  const auto boost = ids_of(tok, {"]", "\"", "1", "y", "null", "e"});
  int ended = 0;
  for (const char* text : kRoots) {
    // A free number's walk may write an exponent of many digits, which the validator's reader
    // (nlohmann, doubles) refuses as out of range: its texts are checked by the test above.
    if (std::string(text) == kRoots[3]) continue;
    ended += schema_walks(tok, ojson::parse(text), boost, 4, 60);
  }
  EXPECT_GE(ended, 8);
}

// A list of the formats added for pydantic's types, as a root: walks never dead-end, and the
// values that end pass the validator's own checks of each format.
TEST(SchemaRootsConstraint, FormatWalksSpellValidValues) {
  const Tokenizer& tok = qwen2();
  const ojson s = ojson::parse(R"({"type": "array", "prefixItems": [
      {"type": "string", "format": "base64"}, {"type": "string", "format": "base64url"},
      {"type": "string", "format": "json-pointer"}, {"type": "string", "format": "ipvanyaddress"},
      {"type": "string", "format": "password", "maxLength": 3}], "items": false,
      "minItems": 5})");
  const auto boost = ids_of(tok, {"]", "\"", "=", "/", ",", "1", ":", "."});
  EXPECT_GE(schema_walks(tok, s, boost, 8, 200), 1);
}

}  // namespace
}  // namespace vkr::test
