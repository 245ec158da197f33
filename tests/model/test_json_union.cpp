// test_json_union.cpp: JSON schema unions whose alternatives a text may begin alike (anyOf of two
// object shapes, integer or number, a string or a constant; oneOf told apart by a discriminator).
//  - SchemaPrefix vs the naive validator (json_validator.hpp) on every short value over an
//    alphabet, on random instances of a union-heavy schema and on thousands of mutations.
//  - Compile errors: oneOf alternatives that one value may match twice, too many alternatives.
//  - Nested ambiguous unions stay within SchemaPrefix::kBudget recognizers: deep texts still read.
//  - JsonConstraint walks over the Qwen2 vocabulary never dead-end and spell valid instances.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
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

const char* const kUnions = R"({
  "type": "object",
  "properties": {
    "shape": {"anyOf": [{"$ref": "#/$defs/circle"}, {"$ref": "#/$defs/rect"}]},
    "pet": {"oneOf": [{"$ref": "#/$defs/cat"}, {"$ref": "#/$defs/dog"}],
            "discriminator": {"propertyName": "pet_type"}},
    "n": {"type": ["integer", "number"]},
    "word": {"anyOf": [{"type": "string", "pattern": "^[a-z]+$"}, {"type": "string",
             "maxLength": 2}, {"const": "AB"}, {"type": "null"}]},
    "list": {"anyOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 2},
                       {"type": "array", "items": {"enum": ["a", 7]}}]},
    "code": {"anyOf": [{"type": "integer", "minimum": 10, "maximum": 99}, {"enum": [1, 12, "x"]}]}
  },
  "required": ["shape", "pet"],
  "$defs": {
    "circle": {"type": "object", "properties": {"kind": {"const": "c"}, "r": {"type": "number"}},
               "required": ["r"]},
    "rect": {"type": "object", "properties": {"w": {"type": "number"}, "h": {"type": "number"}},
             "required": ["w"]},
    "cat": {"type": "object", "properties": {"pet_type": {"const": "cat"},
            "lives": {"type": "integer"}}, "required": ["pet_type"]},
    "dog": {"type": "object", "properties": {"pet_type": {"const": "dog"},
            "bark": {"type": "boolean"}}, "required": ["pet_type"]}
  }
})";

ojson random_instance(const ojson& s, const ojson& root, std::mt19937& rng, int depth) {
  if (s.contains("$ref")) {
    return random_instance(root.at(ojson::json_pointer(s["$ref"].get<std::string>().substr(1))),
                           root, rng, depth + 1);
  }
  if (s.contains("const")) return s["const"];
  if (s.contains("enum")) return s["enum"][rng() % s["enum"].size()];
  for (const char* u : {"anyOf", "oneOf"}) {
    if (s.contains(u)) return random_instance(s[u][rng() % s[u].size()], root, rng, depth);
  }
  const ojson types = s["type"].is_string() ? ojson::array({s["type"]}) : s["type"];
  const std::string t = types[rng() % types.size()];
  if (t == "string") {
    const char* const texts[] = {"ab", "q", "", "zzz", "A\""};
    return std::string(texts[rng() % 5]);
  }
  if (t == "integer") {
    const int64_t lo = s.value("minimum", -500), hi = s.value("maximum", 500);
    return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  // Whole numbers: "1.5" would be left out of the mutation comparison below.
  if (t == "number") return static_cast<int64_t>(rng() % 2000) - 1000;
  if (t == "boolean") return rng() % 2 == 0;
  if (t == "null") return nullptr;
  if (t == "array") {
    ojson a = ojson::array();
    const size_t n = rng() % (s.value("maxItems", 3u) + 1);
    for (size_t i = 0; i < n; ++i) a.push_back(random_instance(s["items"], root, rng, depth + 1));
    return a;
  }
  ojson o = ojson::object();
  const auto required = s.value("required", ojson::array());
  for (const auto& [k, v] : s["properties"].items()) {
    const bool req = std::find(required.begin(), required.end(), k) != required.end();
    if (req || rng() % 2) o[k] = random_instance(v, root, rng, depth + 1);
  }
  return o;
}

// Every value of <= 5 bytes over an alphabet, in {"v": ...}: the two implementations agree.
TEST(SchemaUnion, ShortValuesAgreeWithANaiveValidator) {
  const ojson s = ojson::parse(R"({"type": "object", "properties": {"v": {"anyOf": [
      {"type": "integer", "minimum": 10, "maximum": 99}, {"type": "number"}, {"const": "x"},
      {"type": "string", "maxLength": 1}, {"enum": [1, 12, "xy"]}, {"type": "array",
      "items": {"type": "integer"}}, {"type": "array", "items": {"const": "x"}}]}},
      "required": ["v"]})");
  const auto schema = JsonSchema::compile(s);
  // nlohmann reads "1.0" as a float and "-0" as an integer: spellings whose reading by value
  // and by text could differ are left out, as in test_json_schema.cpp.
  const std::regex split("[0-9][eE.]|-0");
  int accepted = 0, refused = 0;
  for (const std::string& v : all_texts("12.e-\"xy[],", 5)) {
    const std::string text = "{\"v\":" + v + "}";
    if (std::regex_search(v, split)) continue;
    const bool a = ours(text, *schema), b = naive(text, s);
    ASSERT_EQ(a, b) << text;
    (a ? accepted : refused)++;
  }
  EXPECT_GT(accepted, 40);
  EXPECT_GT(refused, 1000);
}

TEST(SchemaUnion, HandWrittenCases) {
  const auto schema = JsonSchema::compile(ojson::parse(kUnions));
  const std::pair<std::string, bool> cases[] = {
      {R"({"shape":{"r":1},"pet":{"pet_type":"cat"}})", true},
      {R"({"shape":{"kind":"c","r":1.5},"pet":{"pet_type":"dog","bark":true}})", true},
      {R"({"shape":{"w":2,"h":3},"pet":{"pet_type":"cat","lives":9}})", true},
      {R"({"shape":{"kind":"c","w":2},"pet":{"pet_type":"cat"}})", false},  // neither shape
      {R"({"shape":{},"pet":{"pet_type":"cat"}})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"cat","bark":true}})", false},  // a dog's key
      {R"({"shape":{"r":1},"pet":{"pet_type":"cow"}})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"n":5})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"n":-5.25e3})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"word":"abc"})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"word":"A1"})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"word":"AB"})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"word":"ABC"})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"word":null})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":[1,2]})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":[1,2,3]})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":["a",7,7]})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":[7,"a"]})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":[1,"a"]})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"list":[]})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"code":1})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"code":12})", true},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"code":123})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"code":5})", false},
      {R"({"shape":{"r":1},"pet":{"pet_type":"dog"},"code":"x"})", true},
      {R"({"shape" : { "r" : 1 } , "pet" : {"pet_type" : "dog"} })", true},
  };
  const ojson s = ojson::parse(kUnions);
  for (const auto& [text, ok] : cases) {
    EXPECT_EQ(ours(text, *schema), ok) << text;
    EXPECT_EQ(naive(text, s), ok) << "the validator on " << text;
  }
  // Every prefix of an accepted text is accepted (the recognizer never refuses early).
  SchemaPrefix p(*schema);
  EXPECT_TRUE(p.push(R"({"shape":{"kind":"c","r":1},"pet":{"pet_type":"cat","lives":9})"));
  EXPECT_FALSE(p.complete());
  EXPECT_TRUE(p.push("}"));
  EXPECT_TRUE(p.complete());
}

TEST(SchemaUnion, RandomInstancesAndMutationsAgreeWithANaiveValidator) {
  const ojson s = ojson::parse(kUnions);
  const auto [accepted, refused] =
      instances_and_mutations(s, 11, "{}[]:,\" 0123456789-.eabcdgkrwxyz",
                              [&](std::mt19937& rng) { return random_instance(s, s, rng, 0); });
  EXPECT_GT(accepted, 50);
  EXPECT_GT(refused, 400);
}

TEST(SchemaUnion, CompileErrorsNameTheProblem) {
  expect_compile_errors({
      {R"({"type":"object","properties":{"a":{"oneOf":[{"type":"number"},{"type":"integer"}]}}})",
       "json schema at '/properties/a': oneOf alternatives 0 and 1 may both match one value"},
      {R"({"type":"object","properties":{"a":{"oneOf":[{"type":"null"},{"type":"object",
          "properties":{"x":{"type":"integer"}}},{"type":"object","properties":{"y":{}}}]}}})",
       "oneOf alternatives 1 and 2 may both match one value"},
      {R"({"type":"object","properties":{"a":{"oneOf":[{"$ref":"#/$defs/x"},{"$ref":"#/$defs/x"}]}},
          "$defs":{"x":{"type":"string"}}})",
       "oneOf alternatives 0 and 1 may both match"},
      {R"({"type":"object","properties":{"a":{"oneOf":[{"enum":[1,2]},{"enum":[3,2.0]}]}}})",
       "oneOf alternatives 0 and 1"},
      {R"({"type":"object","properties":{"a":{"anyOf":[]}}})", "anyOf must be a non-empty array"},
  });
  // A union that is its own alternative would recurse forever when read (it crashed once).
  expect_compile_errors({{R"({"type":"object","properties":{"a":{"$ref":"#/$defs/u"}},
      "$defs":{"u":{"anyOf":[{"type":"string"},{"allOf":[{"$ref":"#/$defs/u"}]}]}}})",
                          "json schema at '/$defs/u': the anyOf / oneOf / allOf is its own "
                          "alternative (through $ref): not supported"}});
  // Unions of unions fan out: two disjoint chains of 6 levels of 40 alternatives each; telling
  // them apart would take 40^12 steps, so the oneOf check gives up within its step budget.
  ojson fan = ojson::parse(R"({"type":"object","properties":{"a":{"oneOf":[
      {"$ref":"#/$defs/l0"},{"$ref":"#/$defs/m0"}]}}})");
  for (const char* chain : {"l", "m"}) {
    for (int level = 0; level < 6; ++level) {
      ojson alts = ojson::array();
      const std::string next = std::string("#/$defs/") + chain + std::to_string(level + 1);
      for (int k = 0; k < 40; ++k) {
        const int value = (chain[0] == 'l' ? 0 : 1000) + k;
        alts.push_back(level < 5 ? ojson{{"allOf", {{{"$ref", next}}}}} : ojson{{"const", value}});
      }
      fan["$defs"][chain + std::to_string(level)] = {{"anyOf", alts}};
    }
  }
  EXPECT_THROW(JsonSchema::compile(fan), Error);
  ojson many = ojson::parse(R"({"type":"object","properties":{"a":{"anyOf":[]}}})");
  for (int i = 0; i < 65; ++i) many["properties"]["a"]["anyOf"].push_back({{"const", i}});
  EXPECT_THROW(JsonSchema::compile(many), Error);
  // Told apart: by type, by values, by integer ranges, by a property one side refuses.
  for (const char* ok : {
           R"({"type":"object","properties":{"a":{"oneOf":[{"type":"string"},{"type":"null"}]}}})",
           R"({"type":"object","properties":{"a":{"oneOf":[{"enum":[1,"x"]},{"enum":[2,"y"]}]}}})",
           R"({"type":"object","properties":{"a":{"oneOf":[{"type":"integer","maximum":9},
               {"type":"integer","minimum":10}]}}})",
           R"({"type":"object","properties":{"a":{"oneOf":[{"type":"object","properties":
               {"x":{"type":"integer"}},"required":["x"]},{"type":"object","properties":
               {"y":{"type":"integer"}},"additionalProperties":false}]}}})",
       }) {
    EXPECT_NO_THROW(JsonSchema::compile(ojson::parse(ok))) << ok;
  }
}

// A recursive schema whose two object shapes both take every prefix of a deep text: the
// recognizers it spreads into stay within the budget, and the text still reads to its end.
TEST(SchemaUnion, NestedAmbiguityStaysWithinTheBudget) {
  const ojson s = ojson::parse(R"({"type": "object", "properties": {"t": {"$ref": "#/$defs/n"}},
      "$defs": {"n": {"anyOf": [
      {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/n"}},
       "a": {"type": "integer"}}},
      {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/n"}},
       "b": {"type": "integer"}}}]}}})");
  const auto schema = JsonSchema::compile(s);
  std::string text = R"({"t":)";
  for (int i = 0; i < 30; ++i) text += R"({"kids":[)";
  text += "{\"a\":1}";
  for (int i = 0; i < 30; ++i) text += "]}";
  text += "}";
  SchemaPrefix p(*schema);
  ASSERT_TRUE(p.push(text));
  EXPECT_TRUE(p.complete());
  // A copy per byte (as the vocabulary pass makes) stays cheap at the deepest point.
  SchemaPrefix q(*schema);
  ASSERT_TRUE(q.push(text.substr(0, 5 + 9 * 20)));  // {"t": and 20 levels
  for (int i = 0; i < 20000; ++i) {
    SchemaPrefix r = q;
    ASSERT_TRUE(r.push("{"));
  }
}

TEST(SchemaUnionConstraint, WalksNeverDeadEndAndSpellValidInstances) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const ojson s = ojson::parse(kUnions);
  const auto boost = ids_of(tok, {"}", "]", "\"", "1", "cat", "dog", "r", "w"});
  EXPECT_GE(schema_walks(tok, s, boost, 8, 160), 2);
}

}  // namespace
}  // namespace vkr::test
