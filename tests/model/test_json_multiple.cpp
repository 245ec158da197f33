// test_json_multiple.cpp: "multipleOf" on integers: every prefix the recognizer takes can still
// end on a multiple in range (checked against the naive validator on every short text), the
// bounds and the multiple together, what is refused, and token walks over Qwen2's vocabulary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "gguf.hpp"
#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "json_test_util.hpp"
#include "json_validator.hpp"
#include "tokenizer.hpp"

namespace vkr::test {
namespace {

const char* const kMultiples[] = {
    R"({"type": "integer", "multipleOf": 7})",
    R"({"type": "integer", "multipleOf": 5, "minimum": -12, "maximum": 23})",
    R"({"type": "integer", "multipleOf": 3, "exclusiveMaximum": 0})",
    R"({"type": "array", "items": {"type": "integer", "multipleOf": 4.0, "minimum": 1}})",
};

TEST(SchemaMultiple, ShortTextsAgreeWithANaiveValidator) {
  const std::regex split("[0-9][eE.]|-0");  // numbers the two readers may read apart
  for (const char* text : kMultiples) {
    const ojson s = ojson::parse(text);
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    for (const std::string& t : all_texts("0123456789-[,]", 4)) {
      if (std::regex_search(t, split)) continue;
      const bool a = ours(t, *schema), b = naive(t, s);
      ASSERT_EQ(a, b) << text << " on " << t;
      (a ? accepted : refused)++;
    }
    EXPECT_GT(accepted, 3) << text;
    EXPECT_GT(refused, 1000) << text;
  }
}

TEST(SchemaMultiple, PrefixesThatCannotEndOnAMultipleAreRefused) {
  const auto bounded = JsonSchema::compile(ojson::parse(kMultiples[1]));
  struct Case {
    const char* text;
    bool takes, may_end;
  };
  const Case cases[] = {
      {"-", true, false},   {"-1", true, false}, {"-10", true, true},  {"-11", false, false},
      {"-2", false, false},  // -2x is below -12
      {"2", true, false},   {"20", true, true},  {"24", false, false}, {"0", true, true},
      {"15", true, true},   {"3", false, false},  // 3x > 23 and 3 itself is no multiple
  };
  for (const auto& c : cases) {
    SchemaPrefix p(*bounded);
    EXPECT_EQ(p.push(std::string(c.text)), c.takes) << c.text;
    if (c.takes) {
      EXPECT_EQ(p.may_end(), c.may_end) << c.text;
    }
  }
  // Unbounded: any digits can still become a multiple; 18 digits at most, no exponent.
  const auto free = JsonSchema::compile(ojson::parse(kMultiples[0]));
  EXPECT_TRUE(SchemaPrefix(*free).push("123456789012345"));
  EXPECT_FALSE(SchemaPrefix(*free).push("7e1"));
  EXPECT_TRUE(ours("999999999999999992", *free));  // a multiple of 7
  EXPECT_FALSE(ours("999999999999999993", *free));
  EXPECT_FALSE(SchemaPrefix(*free).push("1000000000000000000"));  // 19 digits
}

TEST(SchemaMultiple, WhatIsNotSupportedIsNamed) {
  expect_compile_errors({
      {R"({"type":"number","multipleOf":0.01})", "multipleOf is supported on integers only"},
      {R"({"type":"integer","multipleOf":0.5})", "multipleOf 0.5 on an integer: only a whole"},
      {R"({"type":"integer","multipleOf":0})", "multipleOf 0 on an integer"},
      {R"({"type":"integer","multipleOf":-3})", "multipleOf -3 on an integer"},
      {R"({"type":"integer","multipleOf":"3"})", "multipleOf \"3\" on an integer"},
      {R"({"type":"integer","multipleOf":10,"minimum":11,"maximum":19})",
       "no multiple of 10 lies in [11, 19]"},
      {R"({"multipleOf":3})", "'multipleOf' needs a \"type\""},
  });
}

TEST(SchemaMultipleConstraint, WalksNeverDeadEndAndSpellMultiples) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const auto boost = ids_of(tok, {"]", ",", "1", "5"});
  int ended = 0;
  for (const char* text : kMultiples) {
    ended += schema_walks(tok, ojson::parse(text), boost, 4, 40);
  }
  EXPECT_GE(ended, 4);
}

}  // namespace
}  // namespace vkr::test
