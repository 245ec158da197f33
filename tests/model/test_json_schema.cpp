// test_json_schema.cpp: JSON-schema-constrained sampling (model/json_schema.*).
//  - Compile errors name the unsupported keyword or bad value and where.
//  - SchemaPrefix against a second, naive implementation (json_validator.hpp: a recursive
//    validator of parsed instances, with nlohmann's parser for the syntax): random instances of a
//    schema with optional keys, unions, enums, bounded arrays, integers and recursive $refs are
//    accepted at every prefix; thousands of single-byte mutations get the same verdict from both.
//  - JsonConstraint with a schema over the Qwen2 vocabulary: constrained random walks that end
//    spell valid instances.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "gguf.hpp"
#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "json_test_util.hpp"
#include "json_validator.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using ojson = nlohmann::ordered_json;

const char* const kSchema = R"({
  "type": "object",
  "title": "a person",
  "properties": {
    "name": {"type": "string", "description": "ignored"},
    "age": {"type": "integer"},
    "score": {"type": ["number", "null"]},
    "tags": {"type": "array", "items": {"enum": ["a", "b", 3]}, "minItems": 1, "maxItems": 3},
    "ok": {"type": "boolean"},
    "child": {"$ref": "#/$defs/node"},
    "extra": {"type": "object"},
    "mode": {"const": "fast"},
    "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "code": {"type": "string", "minLength": 2, "maxLength": 4},
    "level": {"type": "integer", "minimum": -5, "exclusiveMaximum": 120},
    "big": {"type": ["integer", "null"], "exclusiveMinimum": 999, "maximum": 100000,
            "minLength": 3},
    "node": {"allOf": [{"$ref": "#/$defs/node"}], "description": "a node"},
    "zip": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"},
    "when": {"type": "string", "format": "date-time"},
    "price": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 99.95}
  },
  "required": ["name", "age", "tags"],
  "additionalProperties": false,
  "$defs": {
    "node": {
      "type": "object",
      "properties": {"v": {"type": "integer"},
                     "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
      "required": ["v"]
    }
  }
})";

ojson random_instance(const ojson& s, const ojson& root, std::mt19937& rng, int depth) {
  if (s.contains("$ref")) {
    return random_instance(root.at(ojson::json_pointer(s["$ref"].get<std::string>().substr(1))),
                           root, rng, depth + 1);
  }
  if (s.contains("const")) return s["const"];
  if (s.contains("enum")) return s["enum"][rng() % s["enum"].size()];
  if (s.contains("anyOf"))
    return random_instance(s["anyOf"][rng() % s["anyOf"].size()], root, rng, depth);
  if (s.contains("allOf")) return random_instance(s["allOf"][0], root, rng, depth);
  const ojson types = s["type"].is_string() ? ojson::array({s["type"]}) : s["type"];
  const std::string t = types[rng() % types.size()];
  if (t == "string" && s.contains("pattern")) return std::string(rng() % 2 ? "AB123" : "ZZ000");
  if (t == "string" && s.contains("format")) {
    return std::string(rng() % 2 ? "2024-02-28T23:59:59Z" : "1999-12-31T00:00:00.25+05:30");
  }
  if (t == "string") {
    // Texts of 0, 2, 3, 4 and 16 characters (escapes and UTF-8 among them) within the bounds.
    const char* const texts[] = {"", "\xc3\xa9l", "N\"\xf0\x9f\x98\x80", "ab\nc",
                                 "Noah \"the\" \xc3\xa9lder"};
    const size_t lens[] = {0, 2, 3, 4, 16};
    std::vector<const char*> fit;
    for (size_t k = 0; k < 5; ++k) {
      if (lens[k] >= s.value("minLength", 0u) && lens[k] <= s.value("maxLength", 99u)) {
        fit.push_back(texts[k]);
      }
    }
    return std::string(fit[rng() % fit.size()]);
  }
  if (t == "integer") {
    int64_t lo = -1000, hi = 1000;
    if (s.contains("minimum")) lo = s["minimum"];
    if (s.contains("exclusiveMinimum")) lo = s["exclusiveMinimum"].get<int64_t>() + 1;
    if (s.contains("maximum")) hi = s["maximum"];
    if (s.contains("exclusiveMaximum")) hi = s["exclusiveMaximum"].get<int64_t>() - 1;
    return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  if (t == "number" && s.contains("minimum")) return 0.5 + static_cast<double>(rng() % 6000) / 64.0;
  if (t == "number") return static_cast<double>(rng() % 10000) / 64.0 - 50;
  if (t == "boolean") return rng() % 2 == 0;
  if (t == "null") return nullptr;
  if (t == "array") {
    const size_t lo = s.value("minItems", 0u), hi = std::min<size_t>(s.value("maxItems", 3u), 3);
    ojson a = ojson::array();
    const size_t n = depth > 3 ? lo : lo + rng() % (hi - lo + 1);
    for (size_t i = 0; i < n; ++i) a.push_back(random_instance(s["items"], root, rng, depth + 1));
    return a;
  }
  ojson o = ojson::object();
  if (!s.contains("properties")) {
    if (rng() % 2) o["free"] = ojson::array({1, "x", nullptr});
    return o;
  }
  const auto required = s.value("required", ojson::array());
  for (const auto& [k, v] : s["properties"].items()) {
    const bool req = std::find(required.begin(), required.end(), k) != required.end();
    if (req || (depth < 3 && rng() % 2)) o[k] = random_instance(v, root, rng, depth + 1);
  }
  return o;
}

TEST(JsonSchema, CompileErrorsNameTheProblem) {
  expect_compile_errors({
      {R"j({"type":"object","properties":{"a":{"type":"string","pattern":"(?=x)"}}})j",
       "json schema at '/properties/a': pattern '(?=x)': lookaround assertions are not "
       "supported at offset 0"},
      {R"({"type":"object","properties":{"a":{"type":"string","format":"regex"}}})",
       "format 'regex' is not supported (supported: date, time, date-time, duration, email, "
       "idn-email, hostname, idn-hostname, ipv4, ipv6, ipvanyaddress, uuid, uri"},
      {R"({"type":"object","properties":{"a":{"type":"string","format":"uuid","pattern":"a"}}})",
       "'pattern' beside 'format' is not supported"},
      {R"({"type":"object","properties":{"a":{"format":"date"}}})", "'format' needs a \"type\""},
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"^[0-9]{128}$"}}})",
       "more than 127 character positions"},
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"^a[]b$"}}})",
       "matches no text"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})",
       "json schema at '/required': 'b' is not in properties"},
      {R"({"type":"object","properties":{"a":{"$ref":"#/$defs/none"}}})",
       "$ref '#/$defs/none' points at nothing"},
      {R"({"type":"object","properties":{"a":{"enum":[]}}})", "enum must be a non-empty array"},
      {R"({"type":"object","properties":{"a":{"type":"float"}}})", "type 'float' is not one of"},
      {R"({"type":"object","properties":{"a":{"type":"array","minItems":3,"maxItems":2}}})",
       "minItems is above maxItems"},
      {R"({"type":"object","properties":{"a":false}})", "the schema false matches nothing"},
      {R"({"type":"object","properties":{"a":{"type":"number","minimum":1,"maximum":0.5}}})",
       "json schema at '/properties/a': no number of at most 15 digits satisfies the bounds"},
      {R"({"type":"object","properties":{"a":{"type":"number","maximum":[1]}}})",
       "maximum must be a number"},
      {R"({"type":"object","properties":{"a":{"maxLength":3}}})", "'maxLength' needs a \"type\""},
      {R"({"type":"object","properties":{"a":{"type":"integer","minimum":4.5,"maximum":4.9}}})",
       "no integer of at most 18 digits satisfies the bounds"},
      {R"({"type":"object","properties":{"a":{"type":"integer","exclusiveMinimum":1e30}}})",
       "no integer of at most 18 digits"},
      {R"({"type":"object","properties":{"a":{"type":"string","format":"date","maxLength":9}}})",
       "no text of the format has between 0 and 9 characters"},
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"^a{1,3}$",
          "minLength":4}}})",
       "no text of the pattern has 4 characters or more"},
      {R"({"type":"object","properties":{"a":{"type":"string","minLength":5,"maxLength":4}}})",
       "minLength is above maxLength"},
      {R"({"type":"object","properties":{"a":{"type":"string","maxLength":-1}}})",
       "maxLength must be an integer in [0, 1048576]"},
      {R"({"type":"object","properties":{"a":{"type":"integer","minimum":"1"}}})",
       "minimum must be a number"},
      {R"({"type":"object","properties":{"a":{"allOf":[{"type":"string"},{"type":"null"}]}}})",
       "json schema at '/properties/a': allOf's schemas allow no value together"},
      {R"({"type":"object","properties":{"a":{"type":"integer","anyOf":[{"type":"string"},
          {"enum":["x"]}]}}})",
       "json schema at '/properties/a': no anyOf alternative meets the keywords beside it"},
      {R"({"type":"object","properties":{"a":{"allOf":[{"type":"string","pattern":"a"},
          {"pattern":"b"}]}}})",
       "'pattern' is given two different values (\"a\" and \"b\") that must both hold"},
      {R"({"type":"object","allOf":[{"$ref":"#"}]})", "schemas combined more than 64 deep"},
      {R"({"type":"object","properties":{"a":{"allOf":[{"type":"string"},null]}}})",
       "json schema at '/properties/a': a schema must be an object"},
      {R"({"type":"object","properties":{"a":{"$ref":"#/$defs/s","type":"integer"}},
          "$defs":{"s":{"type":"string"}}})",
       "the keywords beside $ref allow none of its values (no type or enum value is in all)"},
      {R"({"type":"object","properties":{"a":{}},"anyOf":[{"$ref":"#"}]})",
       "combined more than 16 deep"},
      {R"({"type":"object","anyOf":[{"properties":{"a":{"anyOf":[{"type":"null"}]}}}],
          "properties":{"a":{"oneOf":[{"type":"string"}]}}})",
       "json schema at '/anyOf/0': two unions (anyOf / oneOf) that must both hold"},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false,
          "allOf":[{"properties":{"b":{}},"required":["b"]}]})",
       "property 'b' is required, but the schemas combined allow no value for it"},
      {R"({"type":"object","properties":{"a":{"type":"string","maxLength":2,
          "enum":["abc",1]}}})",
       "json schema at '/properties/a': no enum / const value matches the keywords beside it"},
      {R"({"type":"object","properties":{"a":{"type":"string","nullable":1}}})",
       "nullable must be true or false"},
  });
}

// Formats that name what a string holds (pydantic's SecretStr, bytes, Path) take any string;
// length bounds still apply.
TEST(JsonSchema, ContentFormatsTakeAnyString) {
  const auto schema = JsonSchema::compile(ojson::parse(R"({"type": "object", "properties": {
      "p": {"type": "string", "format": "password", "minLength": 2},
      "b": {"type": "string", "format": "binary"}, "f": {"type": "string", "format": "path"}},
      "required": ["p", "b", "f"]})"));
  EXPECT_TRUE(ours(R"({"p":"s3cr\u00e9t \"x\"","b":"","f":"../a b/c.txt"})", *schema));
  EXPECT_FALSE(ours(R"({"p":"s","b":"","f":""})", *schema)) << "minLength 2";
}

TEST(SchemaPrefix, HandWrittenCases) {
  const auto schema = JsonSchema::compile(ojson::parse(kSchema));
  const std::pair<std::string, bool> cases[] = {
      {R"({"name":"N","age":5,"tags":["a"]})", true},
      {R"( { "name" : "N" , "age" : -0 , "tags" : [ 3 , "b" ] } )", true},
      {R"({"name":"N","age":5,"score":null,"tags":["a","b",3],"ok":true,"mode":"fast"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"child":{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}})",
       true},
      {R"({"name":"N","age":5,"tags":["a"],"extra":{"any":[1,{"x":null}],"b":"y"}})", true},
      {R"({"name":"N","age":5,"tags":["a"],"maybe":null})", true},
      {R"({"age":5,"name":"N","tags":["a"]})", false},    // schema order
      {R"({"name":"N","tags":["a"]})", false},            // age required
      {R"({"name":"N"})", false},                         // closed before the required age
      {R"({"name":"N","age":5.5,"tags":["a"]})", false},  // integer
      {R"({"name":"N","age":5,"tags":[]})", false},       // minItems
      {R"({"name":"N","age":5,"tags":["a","a","a","a"]})", false},  // maxItems
      {R"({"name":"N","age":5,"tags":["d"]})", false},              // enum
      {R"({"name":"N","age":5,"tags":["a"],"mode":"slow"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"other":1})", false},
      {R"({"name":"N","age":5,"tags":["a"],"child":{"kids":[]}})", false},  // v required
      {R"({"name":1,"age":5,"tags":["a"]})", false},
      {R"({"name":"N","age":5,"tags":["a"],})", false},
      // Lengths count characters: an escape or a UTF-8 sequence is one, a surrogate pair too.
      {R"({"name":"N","age":5,"tags":["a"],"code":"ab"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"code":"a"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"code":"abcde"})", false},
      {"{\"name\":\"N\",\"age\":5,\"tags\":[\"a\"],\"code\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", true},
      {R"({"name":"N","age":5,"tags":["a"],"code":"\u00e9\n\ud83d\ude00x"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"code":"\ud83d\ude00\ud83d\ude00\ud83d\ude00xy"})",
       false},
      {R"({"name":"\ud83d","age":5,"tags":["a"]})", false},        // a lone high surrogate
      {R"({"name":"\ude00","age":5,"tags":["a"]})", false},        // a lone low one
      {R"({"name":"\ud83d\u0041","age":5,"tags":["a"]})", false},  // high, then no low
      {R"({"name":"\ud83dx","age":5,"tags":["a"]})", false},
      // Integer bounds: [-5, 120), and (999, 100000] or null.
      {R"({"name":"N","age":5,"tags":["a"],"level":-5})", true},
      {R"({"name":"N","age":5,"tags":["a"],"level":119})", true},
      {R"({"name":"N","age":5,"tags":["a"],"level":120})", false},
      {R"({"name":"N","age":5,"tags":["a"],"level":-6})", false},
      {R"({"name":"N","age":5,"tags":["a"],"level":-0})", true},
      {R"({"name":"N","age":5,"tags":["a"],"level":1000})", false},
      {R"({"name":"N","age":5,"tags":["a"],"big":1000})", true},
      {R"({"name":"N","age":5,"tags":["a"],"big":999})", false},
      {R"({"name":"N","age":5,"tags":["a"],"big":100000})", true},
      {R"({"name":"N","age":5,"tags":["a"],"big":100001})", false},
      {R"({"name":"N","age":5,"tags":["a"],"big":-1000})", false},
      {R"({"name":"N","age":5,"tags":["a"],"big":null})", true},
      {R"({"name":"N","age":5,"tags":["a"],"node":{"v":1}})", true},  // allOf of a $ref
      {R"({"name":"N","age":5,"tags":["a"],"node":{"kids":[]}})", false},
      // Patterns and formats read the decoded characters (escapes included).
      {R"({"name":"N","age":5,"tags":["a"],"zip":"AB123"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"zip":"\u0041B12\u0033"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"zip":"AB1234"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"zip":"ab123"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"when":"2024-04-30T12:00:00+01:00"})", true},
      {R"({"name":"N","age":5,"tags":["a"],"when":"2024-04-31T12:00:00Z"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"when":"2024-04-30T24:00:00Z"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"when":"2024-04-30T12:00:00"})", false},
      {R"({"name":"N","age":5,"tags":["a"],"when":"2024-04-30T12:00:00.5Z"})", true},
      // Number bounds: [0.5, 99.95), written as plain decimals.
      {R"({"name":"N","age":5,"tags":["a"],"price":0.5})", true},
      {R"({"name":"N","age":5,"tags":["a"],"price":0.50})", true},
      {R"({"name":"N","age":5,"tags":["a"],"price":0.49})", false},
      {R"({"name":"N","age":5,"tags":["a"],"price":99.949999999999})", true},
      {R"({"name":"N","age":5,"tags":["a"],"price":99.95})", false},
      {R"({"name":"N","age":5,"tags":["a"],"price":-0})", false},
      {R"({"name":"N","age":5,"tags":["a"],"price":12})", true},
      {R"({"name":"N","age":5,"tags":["a"],"price":100})", false},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(ours(text, *schema), want) << text;
    EXPECT_EQ(naive(text, ojson::parse(kSchema)), want) << "the case itself: " << text;
  }
}

// A bounded number is written without exponent and with at most 15 digits (decimal_bounds.hpp):
// texts a validator would also take, refused here so that every accepted one is exact.
TEST(SchemaPrefix, BoundedNumbersArePlainDecimals) {
  const auto schema = JsonSchema::compile(ojson::parse(
      R"({"type":"object","properties":{"x":{"type":"number","exclusiveMinimum":0}}})"));
  EXPECT_TRUE(ours(R"({"x":1.25})", *schema));
  EXPECT_TRUE(ours(R"({"x":0.00000000000001})", *schema));  // 15 digits with the 0
  EXPECT_FALSE(ours(R"({"x":1e2})", *schema));
  EXPECT_FALSE(ours(R"({"x":1234567890123456})", *schema));
  EXPECT_FALSE(ours(R"({"x":0})", *schema));
  SchemaPrefix p(*schema);
  EXPECT_TRUE(p.push(R"({"x":)"));
  EXPECT_FALSE(SchemaPrefix(p).push("-"));  // nothing negative is above 0
  EXPECT_TRUE(SchemaPrefix(p).push("0.0"));
}

TEST(SchemaPrefix, RandomInstancesAndMutationsAgreeWithANaiveValidator) {
  const ojson s = ojson::parse(kSchema);
  const auto [accepted, refused] =
      instances_and_mutations(s, 5, "{}[]:,\" 0123456789-.etrufalsnabdgmkv\\",
                              [&](std::mt19937& rng) { return random_instance(s, s, rng, 0); });
  EXPECT_GT(accepted, 50);
  EXPECT_GT(refused, 400);
}

// A character the pattern cannot take is refused at its first byte, so that a token ending
// inside it never leaves the text without a continuation.
TEST(SchemaPrefix, PatternsRefuseACharacterAtItsFirstByte) {
  const auto schema = JsonSchema::compile(ojson::parse(
      R"({"type":"object","properties":{"k":{"type":"string","pattern":"^[a-c\u00e9]+$"}}})"));
  SchemaPrefix p(*schema);
  ASSERT_TRUE(p.push(R"({"k":")"));
  SchemaPrefix q = p;
  EXPECT_TRUE(q.push("\xc3\xa9"));  // é
  q = p;
  EXPECT_TRUE(q.push("\xc3"));   // U+00C0..U+00FF: é among them
  EXPECT_FALSE(q.push("\xa8"));  // è
  q = p;
  EXPECT_FALSE(q.push("\xe2"));  // U+2000..U+2FFF: none allowed
  q = p;
  EXPECT_FALSE(q.push("\\u01"));  // U+0100..U+01FF: none
  q = p;
  EXPECT_TRUE(q.push("\\u00"));
  q = p;
  EXPECT_FALSE(q.push("\\ud83d"));  // a high surrogate: U+1F400..U+1F7FF, none
  q = p;
  EXPECT_FALSE(q.push("\""));  // empty: '+' needs one
}

// A pattern with minLength / maxLength: every string the recognizer lets begin can still be
// completed within the bounds (a character is refused where the pattern could not end in the
// characters left), and complete strings agree with std::regex plus a length check. Every text
// of up to maxLength characters over each case's alphabet, with a brute-force search for a
// completion; bounds that leave no text are a compile error, checked the same way.
TEST(SchemaPrefix, PatternsWithLengthBoundsNeverDeadEnd) {
  const struct {
    const char* pattern;
    const char* alphabet;
    uint32_t lo, hi;
  } cases[] = {
      {"^[a-b]+-[0-9]+$", "ab-0", 0, 4},
      {"^[a-b]+-[0-9]+$", "ab-0", 4, 5},
      {"^(ab)+c?$", "abc", 3, 3},
      {"^a*b$", "ab", 2, 4},
      {"x", "xy", 1, 3},
      {"^[0-9]{2,4}$", "05", 0, 3},
      {"^(a|bbb)$", "ab", 2, 5},
      {"^(a|bb)(c|dd)?$", "abcd", 2, 3},
      {"^[0-9]{4}$", "0", 0, 3},
  };
  for (const auto& k : cases) {
    ojson s = {{"type", "object"}};
    s["properties"]["v"] = {
        {"type", "string"}, {"pattern", k.pattern}, {"minLength", k.lo}, {"maxLength", k.hi}};
    const std::regex re(k.pattern);
    const auto texts = all_texts(k.alphabet, k.hi);
    auto truth = [&](const std::string& t) {
      return t.size() >= k.lo && t.size() <= k.hi && std::regex_search(t, re);
    };
    const bool any = std::any_of(texts.begin(), texts.end(), truth);
    std::shared_ptr<const JsonSchema> schema;
    try {
      schema = JsonSchema::compile(s);
    } catch (const Error& e) {
      EXPECT_FALSE(any) << k.pattern << " [" << k.lo << ", " << k.hi << "]: " << e.message();
      EXPECT_NE(e.message().find("no text of the pattern has between"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(any) << k.pattern << " [" << k.lo << ", " << k.hi << "] compiled";
    for (const std::string& t : texts) {
      SchemaPrefix p(*schema);
      const bool begun = p.push("{\"v\":\"" + t);
      const bool whole = begun && p.push("\"}") && p.complete();
      EXPECT_EQ(whole, truth(t)) << k.pattern << " on " << t;
      const bool completes = std::any_of(texts.begin(), texts.end(), [&](const std::string& u) {
        return u.rfind(t, 0) == 0 && truth(u);
      });
      EXPECT_EQ(begun, completes) << k.pattern << " [" << k.lo << ", " << k.hi << "] on " << t;
    }
  }
}

// minProperties / maxProperties over three optional keys (some required): every text writing
// a subset of them in order agrees with the validator, and every prefix the recognizer takes is
// the start of a valid text (a key that would leave too few after it is refused, ',' once the
// maximum is reached).
TEST(SchemaPrefix, PropertyCountsNeverDeadEnd) {
  for (const char* counts :
       {R"({"minProperties": 2, "maxProperties": 2})", R"({"maxProperties": 1})",
        R"({"minProperties": 3})", R"({"minProperties": 2, "required": ["c"]})",
        R"({"maxProperties": 2, "required": ["a"]})",
        R"({"minProperties": 1, "maxProperties": 3, "required": ["b"]})"}) {
    ojson s = ojson::parse(R"({"type": "object", "properties": {"a": {"const": 1},
        "b": {"const": 1}, "c": {"const": 1}}})");
    s.update(ojson::parse(counts));
    const auto schema = JsonSchema::compile(s);
    std::vector<std::string> texts, valid;
    for (int set = 0; set < 8; ++set) {
      std::string t = "{";
      for (int k = 0; k < 3; ++k) {
        if (!(set >> k & 1)) continue;
        if (t.size() > 1) t += ",";
        t += std::string("\"") + static_cast<char>('a' + k) + "\":1";
      }
      texts.push_back(t + "}");
      EXPECT_EQ(ours(texts.back(), *schema), naive(texts.back(), s)) << counts << texts.back();
      if (naive(texts.back(), s)) valid.push_back(texts.back());
    }
    ASSERT_FALSE(valid.empty()) << counts;
    for (const auto& t : texts) {
      for (size_t len = 1; len <= t.size(); ++len) {
        const std::string prefix = t.substr(0, len);
        const bool begun = SchemaPrefix(*schema).push(prefix);
        const bool completes = std::any_of(valid.begin(), valid.end(),
                                           [&](const auto& v) { return v.rfind(prefix, 0) == 0; });
        EXPECT_EQ(begun, completes) << counts << " on " << prefix;
      }
    }
  }
  // Keys written freely: at most maxProperties of them.
  const auto free = JsonSchema::compile(ojson::parse(R"({"type":"object","maxProperties":2})"));
  SchemaPrefix p(*free);
  ASSERT_TRUE(p.push(R"({"x":1,"y":[2])"));
  EXPECT_FALSE(SchemaPrefix(p).push(","));
  EXPECT_TRUE(p.push("}"));
  expect_compile_errors({
      {R"({"type":"object","properties":{"a":{},"b":{}},"required":["a","b"],"maxProperties":1})",
       "json schema at '/': maxProperties 1 is below the 2 required properties"},
      {R"({"type":"object","properties":{"a":{}},"minProperties":2})",
       "minProperties 2 is above the 1 properties declared"},
      {R"({"type":"object","minProperties":2})", "minProperties above 1 needs \"properties\""},
      {R"({"type":"object","minProperties":2,"maxProperties":1})",
       "minProperties is above maxProperties"},
      {R"({"type":"object","additionalProperties":false,"minProperties":1})",
       "minProperties 1 on an object with no properties and additionalProperties false"},
  });
}

TEST(SchemaConstraint, RandomWalksSpellValidInstances) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const ojson s = ojson::parse(R"({"type":"object","properties":{
      "verse": {"type": "string", "maxLength": 12}, "chapter": {"type": "integer",
      "minimum": 1, "maximum": 150}, "note": {"type": "string"},
      "books": {"type": "array", "items": {"enum": ["Genesis", "Exodus"]}, "maxItems": 2}},
      "required": ["chapter", "books"]})");
  const auto boost = ids_of(tok, {"}", "]", ",", "\"", "1"});
  EXPECT_GE(schema_walks(tok, s, boost, 6, 120), 1);
}

// Patterns and formats at token level: a walk never reaches a text no token continues (the
// sampler would throw), and the walks that end spell valid instances.
TEST(SchemaConstraint, PatternWalksNeverDeadEnd) {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  const ojson s = ojson::parse(R"({"type":"object","properties":{
      "when": {"type": "string", "format": "date-time"},
      "id": {"type": "string", "format": "uuid"},
      "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
      "name": {"type": "string", "maxLength": 5},
      "price": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 99.95},
      "site": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 40}},
      "required": ["when", "id", "code", "name", "price", "site"]})");
  const auto boost = ids_of(tok, {"}", "\"", "Z", "1", "-", "T"});
  EXPECT_GE(schema_walks(tok, s, boost, 6, 200), 1);
}

// The bundled model's small vocabulary spells text with many single-byte tokens, so walks stop
// inside UTF-8 sequences and \\u escapes: patterns that end, need a character past U+FFFF or
// an escaped one never leave such a text without a continuation.
TEST(SchemaConstraint, PatternWalksOverByteTokensNeverDeadEnd) {
  const auto f = gguf::File::open(std::string(VKR_SOURCE_DIR) + "/model/default/kjv-qrwkv6.gguf");
  const Tokenizer tok(vocab_from_gguf(f));
  int ended = 0;
  for (const char* pattern : {"^\U0001F600$", "^((a|\\w)\\\\(?:\\d)?)$", "^(\\.|[0-9]){3}$"}) {
    ojson s = ojson::parse(R"({"type":"object","properties":{"p":{"type":"string"},
        "q":{"type":"string","format":"date"}},"required":["p","q"]})");
    s["properties"]["p"]["pattern"] = pattern;
    SCOPED_TRACE(pattern);
    ended += schema_walks(tok, s, {}, 8, 100);
  }
  EXPECT_GE(ended, 1);
}

}  // namespace
}  // namespace vkr::test
