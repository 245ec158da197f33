// test_json_arrays.cpp: JSON schema arrays beyond one item schema: tuples (prefixItems, or a list
// as items with additionalItems; false: no more items) and uniqueItems.
//  - SchemaPrefix vs the naive validator (json_validator.hpp) on every short array over an
//    alphabet, for each shape.
//  - uniqueItems over strings and numbers: repeats by value refused, against the validator.
//  - Compile errors name what cannot be enforced (uniqueItems over bounded strings, objects;
//    impossible counts).
//  - Constrained walks over the Qwen2 vocabulary (boosted towards repeats) never dead-end and
//    write each unique item once.
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
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

TEST(SchemaArrays, ShortArraysAgreeWithANaiveValidator) {
  const char* const shapes[] = {
      R"({"prefixItems": [{"const": 1}, {"type": "integer", "minimum": 2}], "items": false})",
      R"({"type": "array", "prefixItems": [{"const": 2}], "items": {"enum": [1, 12]},
          "minItems": 2})",
      R"({"items": [{"const": 1}], "additionalItems": {"enum": [2]}})",
      R"({"items": [{"const": 1}, {"const": 2}]})",
      R"({"type": "array", "items": {"enum": [1, 2, 12]}, "uniqueItems": true})",
      R"({"type": "array", "items": {"enum": [1, 2]}, "uniqueItems": true, "minItems": 1})",
      R"({"type": "array", "items": {"$ref": "#/$defs/d"}, "uniqueItems": true})",
  };
  for (const char* shape : shapes) {
    ojson s = ojson::parse(R"({"type": "object", "required": ["v"], "$defs": {"d":
        {"allOf": [{"enum": [1, 2]}]}}})");
    s["properties"]["v"] = ojson::parse(shape);
    // Without a type the validator lets other values pass; this writes arrays (narrower).
    s["properties"]["v"]["type"] = "array";
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    for (const std::string& v : all_texts("[]12,", 7)) {
      const std::string text = "{\"v\":" + v + "}";
      const bool a = ours(text, *schema), b = naive(text, s);
      ASSERT_EQ(a, b) << shape << " on " << text;
      (a ? accepted : refused)++;
    }
    EXPECT_GT(accepted, 0) << shape;
    EXPECT_GT(refused, 1000) << shape;
  }
}

// uniqueItems over strings, integers and numbers: repeats by value ("\u0061" is "a", 1.0 is 1,
// -0 is 0) are refused, after a fixed start so that short suffixes reach the second item.
TEST(SchemaArrays, UniqueValuesAgreeWithANaiveValidator) {
  const struct {
    const char* items;
    const char* start;
    const char* alphabet;
    size_t length;
  } cases[] = {
      {R"({"type": "integer"})", "[", "]10,-", 6},
      {R"({"type": "number"})", "[1,", "]1,.0e", 6},
      {R"({"type": "string"})", R"(["a",)", "\"ab],u0", 6},
      {R"({"type": "string", "minLength": 1})", R"(["a",)", "\"a],", 6},
  };
  for (const auto& k : cases) {
    ojson s = ojson::parse(R"({"type": "object", "required": ["v"]})");
    s["properties"]["v"] = {{"type", "array"}, {"uniqueItems", true}};
    s["properties"]["v"]["items"] = ojson::parse(k.items);
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    for (const std::string& v : all_texts(k.alphabet, k.length)) {
      const std::string text = std::string("{\"v\":") + k.start + v + "}";
      const bool a = ours(text, *schema), b = naive(text, s);
      ASSERT_EQ(a, b) << k.items << " on " << text;
      (a ? accepted : refused)++;
    }
    EXPECT_GT(accepted, 5) << k.items;
    EXPECT_GT(refused, 1000) << k.items;
  }
  // A repeated 0 cannot grow into another integer: refused at its first byte.
  const auto schema = JsonSchema::compile(ojson::parse(
      R"({"type":"object","properties":{"v":{"type":"array","items":{"type":"integer"},
          "uniqueItems":true}}})"));
  SchemaPrefix p(*schema);
  ASSERT_TRUE(p.push(R"({"v":[0,)"));
  SchemaPrefix q = p;
  EXPECT_FALSE(q.push("0"));
  q = p;
  EXPECT_FALSE(q.push("-0"));
  q = p;
  EXPECT_TRUE(q.push("-1,10"));
}

TEST(SchemaArrays, HandWrittenCases) {
  // pydantic's tuple[int, str] and set[Literal["a", "b", "c"]].
  const ojson s = ojson::parse(R"({"type": "object", "properties": {
      "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
               "minItems": 2, "maxItems": 2},
      "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": true},
      "names": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
      "nums": {"type": "array", "items": {"type": "number"}, "uniqueItems": true}}})");
  const auto schema = JsonSchema::compile(s);
  const std::pair<std::string, bool> cases[] = {
      {R"({"pair":[1,"x"]})", true},
      {R"({"pair":[1]})", false},
      {R"({"pair":[1,"x",2]})", false},
      {R"({"pair":["x",1]})", false},
      {R"({"tags":["a","c","b"]})", true},
      {R"({"tags":["a","a"]})", false},
      {R"({"tags":[]})", true},
      {R"({"tags":["c","b","a","b"]})", false},
      {R"({"pair":[-7, ""],"tags":["b"]})", true},
      {R"({"names":["a","\u0061"]})", false},
      {R"({"names":["a","b","ab"]})", true},
      {R"({"nums":[1,1.0]})", false},
      {R"({"nums":[1,1e0]})", false},
      {R"({"nums":[1,10,100, 0.1]})", true},
      {R"({"nums":[[1]]})", false},
  };
  for (const auto& [text, ok] : cases) {
    EXPECT_EQ(ours(text, *schema), ok) << text;
    EXPECT_EQ(naive(text, s), ok) << "the validator on " << text;
  }
  // Every literal written: no ',' can follow (it would leave no item to write).
  SchemaPrefix p(*schema);
  ASSERT_TRUE(p.push(R"({"tags":["a","c","b")"));
  SchemaPrefix q = p;
  EXPECT_FALSE(q.push(","));
  EXPECT_TRUE(p.push("]}"));
  EXPECT_TRUE(p.complete());
}

TEST(SchemaArrays, CompileErrorsNameTheProblem) {
  expect_compile_errors({
      {R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"string",
          "maxLength":3},"uniqueItems":true}}})",
       "json schema at '/properties/a': uniqueItems is supported for items that are enum, const, "
       "boolean or null values, or strings / integers / numbers without maxLength"},
      {R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"object"},
          "uniqueItems":true}}})",
       "uniqueItems is supported for items that"},
      {R"({"type":"object","properties":{"a":{"type":"array","items":{"enum":[1,2]},
          "uniqueItems":true,"minItems":3}}})",
       "uniqueItems with minItems 3, but the items have only 2 distinct values"},
      {R"({"type":"object","properties":{"a":{"prefixItems":[{}],"items":false,"minItems":2}}})",
       "minItems is above the number of items allowed"},
      {R"({"type":"object","properties":{"a":{"prefixItems":{}}}})",
       "prefixItems must be an array of schemas"},
      {R"({"type":"object","properties":{"a":{"prefixItems":[{}],"items":[{}]}}})",
       "items must be one schema beside prefixItems"},
      {R"({"type":"object","properties":{"a":{"type":"array","uniqueItems":1}}})",
       "uniqueItems must be true or false"},
      {R"({"type":"object","properties":{"a":{"prefixItems":[{"const":1}],"uniqueItems":true}}})",
       "uniqueItems beside prefixItems is not supported"},
  });
}

TEST(SchemaArraysConstraint, WalksWriteEachUniqueItemOnce) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const ojson s = ojson::parse(R"({"type": "object", "properties": {
      "days": {"type": "array", "items": {"enum": ["Mon", "Tue", "Wed", "Thu", "Fri"]},
               "uniqueItems": true, "minItems": 3},
      "point": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}],
                "items": false, "minItems": 2},
      "words": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "minItems": 3},
      "ints": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true, "minItems": 3}},
      "required": ["days", "point", "words", "ints"]})");
  const auto boost = ids_of(tok, {"}", "]", ",", "\"", "1", "0", "Mon", "Tue", "a"});
  EXPECT_GE(schema_walks(tok, s, boost, 6, 300), 2);
}

}  // namespace
}  // namespace vkr::test
