// Tool calls (model/tool_calls.hpp): the "tools" array checked; replies split into content and
// calls (and left whole when they are not of the format); the text a stream may send before a
// call; the recognizer of constrained calls on exact texts and one-byte mutations; and the
// token-level constraint over real vocabularies (Qwen2's 151k ids, where <tool_call> is one
// token, and RWKV World's 65k): the whole-row mask equals allows() id by id, and random
// constrained walks end in calls an independent check accepts.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "gguf.hpp"
#include "json_test_util.hpp"
#include "tokenizer.hpp"
#include "tool_calls.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using nlohmann::ordered_json;

const Tokenizer& vocab(const std::string& file) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[file];
  if (!t) {
    t = std::make_unique<Tokenizer>(vocab_from_gguf(
        gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/" + file)));
  }
  return *t;
}

const char* const kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather.",
   "parameters": {"type": "object", "properties": {
     "city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
     "required": ["city"]}}},
  {"type": "function", "function": {"name": "get", "parameters": {"type": "object",
   "properties": {"n": {"type": "integer"}, "tags": {"type": "array",
   "items": {"type": "boolean"}, "maxItems": 3}}, "required": ["n", "tags"]}}},
  {"type": "function", "function": {"name": "now"}}
])";

std::shared_ptr<const ToolSet> tools() {
  static auto set = ToolSet::parse(ordered_json::parse(kTools));
  return set;
}

void expect_error(const std::string& tools_json, const std::string& what) {
  try {
    ToolSet::parse(ordered_json::parse(tools_json));
    ADD_FAILURE() << "no error for " << tools_json;
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(what), std::string::npos) << e.message();
  }
}

TEST(ToolSet, ParsesAndChecks) {
  const auto& t = tools()->tools();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].name, "get_weather");
  EXPECT_EQ(tools()->find("get"), 1);
  EXPECT_EQ(tools()->find("nothing"), -1);
  EXPECT_FALSE(t[2].loose);
  EXPECT_EQ(t[0].spec.dump(), ordered_json::parse(kTools)[0].dump());  // kept as given, in order
  expect_error(R"({"type": "function"})", "field 'tools' must be an array");
  expect_error(R"([{"type": "code_interpreter"}])", "field 'tools[0].type'");
  expect_error(R"([{"type": "function"}])", "field 'tools[0].function' must be an object");
  expect_error(R"([{"type": "function", "function": {"name": "a b"}}])",
               "field 'tools[0].function.name'");
  expect_error(R"([{"type": "function", "function": {"name": ""}}])", "tools[0].function.name");
  expect_error(R"([{"type": "function", "function": {"name": "f"}},
                   {"type": "function", "function": {"name": "f"}}])",
               "'f' is declared twice");
  expect_error(R"([{"type": "function", "function": {"name": "f", "parameters": 3}}])",
               "tools[0].function.parameters");
  expect_error(R"([{"type": "function", "function": {"name": "f", "strict": true,
                   "parameters": {"type": "string", "pattern": "a+"}}}])",
               "field 'tools[0].function.parameters' json schema at '/': the root must describe an "
               "object");
  // Not strict: a schema outside the subset leaves the arguments any object.
  auto loose = ToolSet::parse(ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f",
          "parameters": {"type": "object", "properties": {"d": {"format": "date"}}}}}])"));
  EXPECT_TRUE(loose->tools()[0].loose);
}

TEST(ToolCalls, ParsesReplies) {
  const ToolSet& set = *tools();
  auto p = parse_tool_calls(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Bern\"}}\n</tool_call>\n<tool_call>{\"arguments\": \"{\\\"n\\\": 2, \\\"tags\\\": []}\","
      " \"name\": \"get\"}</tool_call>\n",
      set);
  EXPECT_EQ(p.content, "Let me check.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments.dump(), R"({"city":"Bern"})");
  EXPECT_EQ(p.calls[1].name, "get");  // arguments given as a JSON text
  EXPECT_EQ(p.calls[1].arguments.dump(), R"({"n":2,"tags":[]})");
  auto only = parse_tool_calls("<tool_call>{\"name\":\"now\",\"arguments\":{}}</tool_call>", set);
  EXPECT_EQ(only.content, "");
  ASSERT_EQ(only.calls.size(), 1u);
  // Not of the format: everything is content, no calls.
  for (const char* text : {
           "Plain text, no calls.",
           "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Be",  // cut
           "<tool_call>{\"name\": \"unknown\", \"arguments\": {}}</tool_call>",
           "<tool_call>{\"name\": \"now\", \"arguments\": 3}</tool_call>",
           "<tool_call>{\"name\": \"now\"}</tool_call>",
           "<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call> and then text",
           "<tool_call>[1, 2]</tool_call>",
       }) {
    auto q = parse_tool_calls(text, set);
    EXPECT_EQ(q.content, text);
    EXPECT_TRUE(q.calls.empty()) << text;
  }
}

TEST(ToolCalls, StreamedContentStopsBeforeACall) {
  EXPECT_EQ(tool_call_free_prefix("Hello"), 5u);
  EXPECT_EQ(tool_call_free_prefix("Hello <tool"), 5u);  // may become a call
  EXPECT_EQ(tool_call_free_prefix("Hello \n"), 5u);     // whitespace may precede one
  EXPECT_EQ(tool_call_free_prefix("a <b"), 4u);         // cannot
  EXPECT_EQ(tool_call_free_prefix("a<tool_x"), 8u);
  EXPECT_EQ(tool_call_free_prefix("x\n<tool_call>\n{"), 1u);
  EXPECT_EQ(tool_call_free_prefix("<"), 0u);
  EXPECT_EQ(tool_call_free_prefix(""), 0u);
}

std::string call_text(const std::string& name, const std::string& args) {
  return "<tool_call>\n{\"name\": \"" + name + "\", \"arguments\": " + args + "}\n</tool_call>";
}

bool accepts(const ToolCallSpec& spec, const std::string& text, bool whole) {
  ToolCallPrefix p(spec);
  return p.push(text) && (!whole || p.complete());
}

TEST(ToolCalls, PrefixAcceptsTheFormatOnly) {
  const ToolCallSpec any{tools(), -1, true};
  const std::string w = call_text("get_weather", R"({"city": "Bern", "unit": "celsius"})");
  const std::string g = call_text("get", R"({"n": -12, "tags": [true, false]})");
  const std::string n = call_text("now", "{}");
  EXPECT_TRUE(accepts(any, w, true));
  EXPECT_TRUE(accepts(any, w + "\n" + g + "\n" + n, true));
  EXPECT_TRUE(accepts(any, g.substr(0, 30), false));
  // Spaces inside strings (values, and a key of the schema's) are text, not spacing.
  EXPECT_TRUE(accepts(any, call_text("get_weather", R"({"city": " San  José \" "})"), true));
  EXPECT_TRUE(accepts(any, call_text("get_weather", R"({"city":"Bern","unit":"celsius"})"), true));
  EXPECT_FALSE(accepts(any, g.substr(0, 30), true));
  EXPECT_FALSE(accepts(any, w + "\n", true));  // another call must follow the line break
  // Refused: an unknown name, a name's prefix, arguments outside the schema, another spacing,
  // text before or after.
  for (const std::string& bad :
       {call_text("get_weathers", "{}"), call_text("get_w", "{}"),
        call_text("get_weather", R"({"unit": "celsius"})"),
        call_text("get_weather", R"({"city": "Bern", "unit": "kelvin"})"),
        call_text("get", R"({"n": 1.5, "tags": []})"),
        call_text("get", R"({"n": 1, "tags": [true, true, true, true]})"),
        call_text("now", R"({"x": 1})"), call_text("now", "[]"),
        // spacing other than the template's JSON (one space after ':' and ',')
        call_text("get_weather", R"({"city":  "Bern"})"),
        call_text("get_weather", R"({ "city": "Bern"})"),
        call_text("get_weather", "{\"city\": \"Bern\"\n}"),
        call_text("get_weather", R"({"city": "Bern" })"),
        call_text("get", R"({"n": 1, "tags": [true ,false]})"),
        std::string("<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>"), "Sure. " + n,
        n + " ok", n + n}) {
    EXPECT_FALSE(accepts(any, bad, true)) << bad;
  }
  const ToolCallSpec one{tools(), 2, false};  // "now" only, once
  EXPECT_TRUE(accepts(one, n, true));
  EXPECT_FALSE(accepts(one, w, false));
  EXPECT_FALSE(accepts(one, n + "\n" + n, false));
  // One-byte mutations of a valid text: the recognizer agrees with the parser and the schema.
  std::mt19937 rng(7);
  const std::string text = w + "\n" + g;
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string m = test::mutate(text, rng, "{}[]\":, \n<>/_abcnt0123456789");
    if (m == text) continue;
    const bool ok = accepts(any, m, true);
    if (ok) {  // then it is two calls of the format the parser takes
      const auto p = parse_tool_calls(m, *tools());
      EXPECT_EQ(p.calls.size(), 2u) << m;
      EXPECT_EQ(p.content, "") << m;
    }
    refused += ok ? 0 : 1;
  }
  EXPECT_GT(refused, 1500);
}

// An independent check of the calls a walk wrote: the exact format (regex), then the arguments
// against the declared parameters by hand.
void expect_valid_calls(const std::string& text, bool parallel) {
  static const std::regex call(
      "<tool_call>\n\\{\"name\": \"(get_weather|get|now)\", \"arguments\": ([\\s\\S]*)\\}\n"
      "</tool_call>");
  size_t at = 0;
  int calls = 0;
  while (at < text.size()) {
    if (calls > 0) {
      ASSERT_EQ(text[at], '\n') << text;
      ++at;
    }
    const size_t end = text.find("</tool_call>", at);
    ASSERT_NE(end, std::string::npos) << text;
    const std::string one = text.substr(at, end + 12 - at);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(one, m, call)) << one;
    const auto args = nlohmann::json::parse(m[2].str());
    ASSERT_TRUE(args.is_object()) << one;
    if (m[1] == "get_weather") {
      EXPECT_TRUE(args.contains("city") && args["city"].is_string()) << one;
      if (args.contains("unit")) {
        EXPECT_TRUE(args["unit"] == "celsius" || args["unit"] == "fahrenheit");
      }
      for (auto& [k, v] : args.items()) EXPECT_TRUE(k == "city" || k == "unit") << one;
    } else if (m[1] == "get") {
      EXPECT_TRUE(args["n"].is_number_integer()) << one;
      EXPECT_TRUE(args["tags"].is_array() && args["tags"].size() <= 3) << one;
      for (auto& t : args["tags"]) EXPECT_TRUE(t.is_boolean()) << one;
      EXPECT_EQ(args.size(), 2u) << one;
    } else {
      EXPECT_TRUE(args.empty()) << one;
    }
    at = end + 12;
    ++calls;
  }
  EXPECT_GE(calls, 1);
  if (!parallel) {
    EXPECT_EQ(calls, 1);
  }
  EXPECT_EQ(parse_tool_calls(text, *tools()).calls.size(), static_cast<size_t>(calls));
}

class ToolCallVocab : public ::testing::TestWithParam<const char*> {};

TEST_P(ToolCallVocab, MaskIsAllowsAndWalksEndInValidCalls) {
  const Tokenizer& tok = vocab(GetParam());
  for (bool parallel : {true, false}) {
    ToolCallConstraint c(tok, {tools(), -1, parallel});
    // The mask at the start, inside a name, in the arguments and after a whole call.
    std::string text;
    for (const std::string& more : {std::string(), std::string("<tool_call>\n{\"name\": \"get"),
                                    std::string("_weather\", \"arguments\": {\"city\": \"Be"),
                                    std::string("rn\"}}\n</tool_call>")}) {
      for (int32_t id : tok.encode(more, true)) c.accept(id);
      text += more;
      std::vector<uint8_t> mask(static_cast<size_t>(tok.n_vocab()), 0);
      c.allowed_ids(mask);
      int n = 0;
      for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        ASSERT_EQ(c.allows(id), mask[static_cast<size_t>(id)] != 0)
            << "after '" << text << "': id " << id << " '" << tok.token_bytes(id) << "'";
        n += mask[static_cast<size_t>(id)];
      }
      EXPECT_GT(n, 0);
    }
    EXPECT_TRUE(c.complete());
    // Walks: random rows, closing bytes boosted (+16: listed twice) so they end within the
    // steps (a string over a 151k vocabulary allows nearly every id).
    std::vector<int32_t> boost;
    for (const char* s : {"\"", "}", "]", "true", ",", "</tool_call>", "\n"}) {
      for (int32_t id : tok.encode(s, true)) boost.insert(boost.end(), {id, id});
    }
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      if (tok.is_eog(id)) boost.insert(boost.end(), {id, id});
    }
    int ended = 0;
    for (uint64_t seed = 1; seed <= 8; ++seed) {
      ToolCallConstraint w(tok, {tools(), -1, parallel});
      const auto walk =
          test::random_walk(tok, w, seed, 300, boost, [](const std::string&) { return true; });
      if (!walk.ended) continue;
      ++ended;
      SCOPED_TRACE(walk.text);
      expect_valid_calls(walk.text, parallel);
    }
    EXPECT_GE(ended, 6);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, ToolCallVocab,
                         ::testing::Values("vocab-qwen2.gguf", "vocab-rwkv-world.gguf"));

TEST(ToolCalls, QwenWritesTheTagAsOneToken) {
  const Tokenizer& tok = vocab("vocab-qwen2.gguf");
  ToolCallConstraint c(tok, {tools(), -1, true});
  const auto ids = tok.encode("<tool_call>", true);
  ASSERT_EQ(ids.size(), 1u);  // 151657, a user-defined token: it prints, so it may be drawn
  EXPECT_TRUE(c.allows(ids[0]));
  EXPECT_FALSE(c.complete());
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_eog(id)) {
      EXPECT_FALSE(c.allows(id));  // nothing written yet
    }
  }
}

// tool_choice "auto": free text (any id, the end too) until the model writes <tool_call>, then
// the format only, and nothing after the calls; the tag may come as one token (Qwen2) or as
// pieces (RWKV World), after other text in the same token or not.
TEST_P(ToolCallVocab, LazyConstraintIsFreeUntilTheTag) {
  const Tokenizer& tok = vocab(GetParam());
  ToolCallSpec spec{tools(), -1, true};
  spec.lazy = true;
  ToolCallConstraint c(tok, spec);
  auto eog_allowed = [&](const TokenConstraint& k) {
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      if (tok.is_eog(id)) return k.allows(id);
    }
    return false;
  };
  auto mask_matches = [&](const TokenConstraint& k, const std::string& at) {
    std::vector<uint8_t> mask(static_cast<size_t>(tok.n_vocab()), 0);
    k.allowed_ids(mask);
    int n = 0;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      EXPECT_EQ(k.allows(id), mask[static_cast<size_t>(id)] != 0) << at << ": id " << id;
      n += mask[static_cast<size_t>(id)];
    }
    return n;
  };
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(eog_allowed(c));
  const std::string free_text = "I will look it up: the weather in Bern. ";
  for (int32_t id : tok.encode(free_text, true)) c.accept(id);
  EXPECT_GT(mask_matches(c, "free text"), tok.n_vocab() * 9 / 10);  // nearly every id
  EXPECT_TRUE(eog_allowed(c));
  const auto hello = tok.encode("Hello", true);
  for (int32_t id : tok.encode("<tool_call>", true)) c.accept(id);
  EXPECT_FALSE(c.complete());
  EXPECT_FALSE(eog_allowed(c));
  EXPECT_FALSE(c.allows(hello[0]));  // the format goes on with "\n{"
  mask_matches(c, "after the tag");
  for (int32_t id :
       tok.encode("\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bern\"}}\n"
                  "</tool_call>",
                  true)) {
    c.accept(id);
  }
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(eog_allowed(c));
  EXPECT_FALSE(c.allows(hello[0]));  // no text after the calls
  // Text ending in "<" then a token starting "tool_call>": the tag across tokens, found.
  auto d = c.fresh();
  EXPECT_TRUE(d->complete());
  for (int32_t id : tok.encode("Sure <", true)) d->accept(id);
  for (int32_t id : tok.encode("tool_call>", true)) d->accept(id);
  EXPECT_FALSE(d->complete());
  EXPECT_FALSE(eog_allowed(*d));
  // Walks with the tag boosted: every reply is free text, or free text and then valid calls.
  std::vector<int32_t> boost;
  for (const char* b : {"<tool_call>", "\"", "}", "</tool_call>", "\n"}) {
    for (int32_t id : tok.encode(b, true)) boost.insert(boost.end(), {id, id});
  }
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_eog(id)) boost.push_back(id);
  }
  int with_calls = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    ToolCallConstraint w(tok, spec);
    const auto walk =
        test::random_walk(tok, w, seed, 200, boost, [](const std::string&) { return true; });
    if (!walk.ended) continue;
    SCOPED_TRACE(walk.text);
    const size_t at = walk.text.find("<tool_call>");
    if (at == std::string::npos) continue;
    ++with_calls;
    expect_valid_calls(walk.text.substr(at), true);
  }
  // (World writes the tag in several ids: random walks seldom put them in order.)
  if (tok.encode("<tool_call>", true).size() == 1) {
    EXPECT_GE(with_calls, 2);
  }
}

}  // namespace
}  // namespace vkr
