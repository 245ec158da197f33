// test_json_combine.cpp: keywords that must hold together (schema_merge.hpp): allOf of several
// schemas, keywords beside anyOf / oneOf (applied to every alternative), beside enum / const (the
// values they refuse dropped) and beside $ref, OpenAPI's nullable, annotations.
//  - Every short text over an alphabet, for roots that combine them: SchemaPrefix agrees with
//    the naive validator (json_validator.hpp), which reads the keywords as JSON Schema does.
//  - Objects: "at least one of" (properties beside anyOf of required lists), inheritance by
//    allOf of a $ref and an extension, closed objects; hand-written cases and walks over the
//    Qwen2 vocabulary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "gguf.hpp"
#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "json_test_util.hpp"
#include "json_validator.hpp"
#include "tokenizer.hpp"

namespace vkr::test {
namespace {

struct Root {
  const char* schema;
  const char* alphabet;
  size_t max_len;
  int min_accepted;  // texts the schema takes among them (each counted once)
};

const Root kRoots[] = {
    // integers 5-7 from the first alternative; "a" and 9 from the enum ("bb": maxLength, 4:
    // minimum refuse them)
    {R"({"type": ["integer", "string"], "maxLength": 1, "minimum": 5,
         "anyOf": [{"type": "integer", "maximum": 7}, {"enum": ["a", "bb", 9, 4]}]})",
     "45679ab\"", 4, 5},
    {R"({"allOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 3},
                   {"items": {"minimum": 0, "maximum": 5}}, {"minItems": 1}]})",
     "[],0169-", 6, 6},
    {R"({"type": "integer", "nullable": true, "maximum": 3, "deprecated": true,
         "x-order": 2})",
     "nul39-", 4, 8},
    {R"({"type": "integer", "minimum": 0,
         "oneOf": [{"maximum": 3}, {"minimum": 10, "maximum": 12}, {"type": "string"}]})",
     "01239-", 3, 7},
    {R"({"$ref": "#/$defs/small", "$defs": {"small": {"type": "integer", "maximum": 20}},
         "allOf": [{"minimum": 18}, {"$ref": "#/$defs/small"}]})",
     "1289-", 3, 2},
};

TEST(SchemaCombine, ShortTextsAgreeWithANaiveValidator) {
  const std::regex split("[0-9][eE.]|-0");
  for (const Root& r : kRoots) {
    SCOPED_TRACE(r.schema);
    const ojson s = ojson::parse(r.schema);
    const auto schema = JsonSchema::compile(s);
    int accepted = 0, refused = 0;
    for (const std::string& t : all_texts(r.alphabet, r.max_len)) {
      if (std::regex_search(t, split)) continue;
      const bool a = ours(t, *schema), b = naive(t, s);
      ASSERT_EQ(a, b) << t;
      (a ? accepted : refused)++;
    }
    EXPECT_GE(accepted, r.min_accepted);
    EXPECT_GT(refused, 100);
  }
}

// "At least one of": the properties beside an anyOf of required lists.
const char* const kOneOfKeys = R"({"type": "object",
    "properties": {"email": {"type": "string", "format": "email"},
                   "phone": {"type": "string", "pattern": "^[0-9]{3,6}$"},
                   "name": {"type": "string", "maxLength": 8, "writeOnly": true}},
    "anyOf": [{"required": ["email"]}, {"required": ["phone"]}]})";

// Inheritance: a closed base extended through allOf (the base's additionalProperties refuses
// what the extension adds unless the base lists it), $ref with keywords beside it, nullable.
const char* const kInherit = R"({"type": "object",
    "properties": {
      "pet": {"allOf": [{"$ref": "#/$defs/animal"},
                        {"properties": {"lives": {"type": "integer", "minimum": 1,
                                                   "maximum": 9}},
                         "required": ["lives"]}]},
      "kind": {"$ref": "#/$defs/kind", "enum": ["cat", "owl", 3]},
      "note": {"type": "string", "nullable": true, "maxLength": 4}},
    "required": ["pet", "kind", "note"],
    "$defs": {
      "animal": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6},
                 "lives": {"type": "integer"}}, "required": ["name"],
                 "additionalProperties": false},
      "kind": {"type": "string", "enum": ["cat", "dog", "owl"]}}})";

TEST(SchemaCombine, ObjectCases) {
  const std::pair<const char*, std::vector<std::pair<std::string, bool>>> cases[] = {
      {kOneOfKeys,
       {{R"({"email":"a@b.io"})", true},
        {R"({"phone":"1234"})", true},
        {R"({"email":"a@b.io","phone":"123","name":"x"})", true},
        {R"({"name":"x"})", false},  // neither email nor phone
        {R"({})", false},
        {R"({"phone":"12"})", false},  // the pattern still holds
        {R"("a@b.io")", false}}},
      {kInherit,
       {{R"({"pet":{"name":"Tom","lives":9},"kind":"cat","note":null})", true},
        {R"({"pet":{"name":"Tom","lives":9},"kind":"owl","note":"ok"})", true},
        {R"({"pet":{"name":"Tom"},"kind":"cat","note":null})", false},  // lives required
        {R"({"pet":{"name":"Tom","lives":10},"kind":"cat","note":null})", false},
        {R"({"pet":{"name":"Tom","lives":0},"kind":"cat","note":null})", false},
        {R"({"pet":{"name":"Tom","lives":3},"kind":"dog","note":null})", false},  // enum AND
        {R"({"pet":{"name":"Tom","lives":3},"kind":3,"note":null})", false},      // $ref's type
        {R"({"pet":{"name":"Tom","lives":3},"kind":"cat","note":"toolong"})", false},
        {R"({"pet":{"name":"Tom","lives":3},"kind":"cat","note":1})", false}}},
  };
  for (const auto& [text, examples] : cases) {
    const ojson s = ojson::parse(text);
    const auto schema = JsonSchema::compile(s);
    for (const auto& [instance, want] : examples) {
      EXPECT_EQ(ours(instance, *schema), want) << instance;
      EXPECT_EQ(naive(instance, s, true), want) << instance << " (the validator)";
    }
  }
}

TEST(SchemaCombineConstraint, WalksNeverDeadEndAndSpellValidInstances) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const auto boost = ids_of(tok, {"}", "\"", "1", "@", ".io", "cat", "null", "Tom"});
  int ended = 0;
  for (const char* s : {kOneOfKeys, kInherit}) {
    ended += schema_walks(tok, ojson::parse(s), boost, 6, 200, true);
  }
  EXPECT_GE(ended, 2);
}

}  // namespace
}  // namespace vkr::test
