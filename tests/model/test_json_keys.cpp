// test_json_keys.cpp: objects whose keys are constrained, without declared properties:
// "propertyNames" (a string schema: pattern, lengths, enum) and "patternProperties" with one
// pattern (what pydantic writes for a dict with constrained keys).
//  - SchemaPrefix vs the naive validator (json_validator.hpp) on every short text over an
//    alphabet, and hand-written cases;
//  - the compile errors of what is not supported;
//  - JsonConstraint over the Qwen2 vocabulary: random walks never dead-end and spell valid
//    objects.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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

const char* const kKeyed[] = {
    R"({"type": "object", "propertyNames": {"pattern": "^[a-z]{1,2}$"},
        "additionalProperties": {"type": "integer"}})",
    R"({"type": "object", "propertyNames": {"enum": ["a", "b1"]}, "maxProperties": 1})",
    R"({"type": "object", "propertyNames": {"maxLength": 1}})",
    R"({"type": "object", "patternProperties": {"^a[0-9]": {"type": "array", "maxItems": 1}}})",
};

TEST(SchemaKeys, ShortTextsAgreeWithANaiveValidator) {
  for (const char* text : kKeyed) {
    const ojson s = ojson::parse(text);
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    // Every byte that matters, short; then fewer bytes, long enough for a key and a value.
    for (const auto& [alphabet, n] : {std::pair<const char*, size_t>{"{}\":,aA1[", 5},
                                      std::pair<const char*, size_t>{"{}\":a1", 7}}) {
      for (const std::string& t : all_texts(alphabet, n)) {
        if (n > 5 && !t.starts_with("{\"")) continue;  // the long ones: objects with a key
        const bool a = ours(t, *schema), b = naive(t, s);
        ASSERT_EQ(a, b) << text << " on " << t;
        (a ? accepted : refused)++;
      }
    }
    EXPECT_GE(accepted, 1) << text;  // {"a1":[]} (schema 3) is longer: see the cases below
    EXPECT_GT(refused, 1000) << text;
  }
}

TEST(SchemaKeys, HandWrittenCases) {
  const std::pair<int, std::vector<std::pair<const char*, bool>>> cases[] = {
      {0,
       {{R"({"ab": 1, "c": -2})", true},
        {R"({"AB": 1})", false},
        {R"({"abc": 1})", false},
        {R"({"": 1})", false},
        {R"({"ab": "x"})", false}}},
      {1, {{R"({"b1": null})", true}, {R"({"b": 1})", false}, {R"({"a": 1, "b1": 2})", false}}},
      {3,
       {{R"({"a1": [], "a2x": [true]})", true},
        {R"({"b1": []})", false},
        {R"({"a1": [1, 2]})", false}}},
  };
  for (const auto& [which, list] : cases) {
    const ojson s = ojson::parse(kKeyed[which]);
    const auto schema = JsonSchema::compile(s);
    for (const auto& [text, ok] : list) {
      EXPECT_EQ(ours(text, *schema), ok) << kKeyed[which] << " on " << text;
      EXPECT_EQ(naive(text, s), ok) << kKeyed[which] << " on " << text;
    }
  }
  // A key the pattern cannot take is refused at its first byte.
  const auto lower = JsonSchema::compile(ojson::parse(kKeyed[0]));
  EXPECT_TRUE(SchemaPrefix(*lower).push("{\"a"));
  EXPECT_FALSE(SchemaPrefix(*lower).push("{\"A"));
}

TEST(SchemaKeys, WhatIsNotSupportedIsNamed) {
  expect_compile_errors({
      {R"({"type":"object","properties":{"a":{}},"propertyNames":{"maxLength":2}})",
       "'propertyNames' beside 'properties' is not supported"},
      {R"({"type":"object","properties":{"a":{}},"patternProperties":{"^a":{}}})",
       "'patternProperties' beside 'properties' is not supported"},
      {R"({"type":"object","patternProperties":{"^a":{},"^b":{}}})",
       "json schema at '/patternProperties': must hold one pattern"},
      {R"({"type":"object","propertyNames":{"type":"integer"}})",
       "json schema at '/propertyNames': must describe strings"},
      {R"({"type":"object","propertyNames":{"enum":["a", 1]}})", "must describe strings"},
      {R"({"type":"object","propertyNames":{"$ref":"#/$defs/k"},"$defs":{"k":{}}})",
       "'$ref' here is not supported"},
      {R"({"type":"object","propertyNames":{"maxLength":1},"patternProperties":{"a":{}}})",
       "'propertyNames' beside 'patternProperties' is not supported"},
      {R"j({"type":"object","patternProperties":{"(?=a)":{}}})j", "lookaround"},
      {R"({"type":"object","propertyNames":"a"})", "must be a schema object"},
  });
}

TEST(SchemaKeysConstraint, WalksNeverDeadEndAndSpellValidObjects) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const auto boost = ids_of(tok, {"}", "]", ",", "\"", "1", "a", ":", "[", "b"});
  int ended = 0;
  for (const char* text : kKeyed) ended += schema_walks(tok, ojson::parse(text), boost, 4, 60);
  EXPECT_GE(ended, 4);
}

}  // namespace
}  // namespace vkr::test
