// The server's tool calls (OpenAI's "tools", "tool_choice", "parallel_tool_calls"; "tool"
// messages and an assistant's earlier "tool_calls"): parsed and checked, listed in the prompt as
// the chat template renders them, and on the bundled model: "required" and a named function give
// calls (streamed as tool_calls deltas too), "auto" gives what the model writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using Choice = cli::CompletionRequest::ToolChoice;

// Arguments of bounded length (the bundled model writes Bible verses, not cities): enums, a
// boolean.
const json kTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather.",
   "parameters": {"type": "object", "properties": {
     "unit": {"enum": ["celsius", "fahrenheit"]}, "hourly": {"type": "boolean"}},
     "required": ["unit", "hourly"]}}},
  {"type": "function", "function": {"name": "pray", "parameters": {"type": "object",
   "properties": {"for": {"enum": ["rain", "light"]}}, "required": ["for"]}}}
])");

json chat_body(const std::string& tool_choice) {
  json b = {{"messages", {{{"role", "user"}, {"content", "And God said"}}}},
            {"tools", kTools},
            {"max_tokens", 96}};
  if (!tool_choice.empty()) b["tool_choice"] = tool_choice;
  return b;
}

void expect_error(const json& body, const std::string& msg) {
  try {
    cli::parse_request(body.dump(), true, {});
    ADD_FAILURE() << "no error for " << body.dump();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(msg), std::string::npos) << e.message();
  }
}

TEST(ServerApi, ParsesTools) {
  auto q = cli::parse_request(chat_body("").dump(), true, {});
  ASSERT_TRUE(q.tools);
  EXPECT_EQ(q.tools->tools().size(), 2u);
  EXPECT_EQ(q.tool_choice, Choice::Auto);
  // auto: the model chooses; a call it begins is constrained (lazy)
  ASSERT_TRUE(q.constraint.tool_calls);
  EXPECT_TRUE(q.constraint.tool_calls->lazy);
  EXPECT_NE(q.offered_tools(), nullptr);
  q = cli::parse_request(chat_body("required").dump(), true, {});
  ASSERT_TRUE(q.constraint.tool_calls);
  EXPECT_FALSE(q.constraint.tool_calls->lazy);
  EXPECT_EQ(q.constraint.tool_calls->only, -1);
  EXPECT_TRUE(q.constraint.tool_calls->parallel);
  json named = chat_body("");
  named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "pray"}}}};
  q = cli::parse_request(named.dump(), true, {});
  EXPECT_EQ(q.tool_choice, Choice::Named);
  ASSERT_TRUE(q.constraint.tool_calls);
  EXPECT_EQ(q.constraint.tool_calls->only, 1);
  EXPECT_FALSE(q.constraint.tool_calls->parallel);
  q = cli::parse_request(chat_body("none").dump(), true, {});
  EXPECT_EQ(q.offered_tools(), nullptr);
  EXPECT_FALSE(q.constraint.any());  // none: free text, no calls
  json serial = chat_body("required");
  serial["parallel_tool_calls"] = false;
  EXPECT_FALSE(cli::parse_request(serial.dump(), true, {}).constraint.tool_calls->parallel);
  // A conversation with calls and results.
  const json history = json::parse(R"({"messages": [
      {"role": "user", "content": "Rain?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
       "function": {"name": "pray", "arguments": "{\"for\": \"rain\", \"a\": [1]}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "done"}]})");
  q = cli::parse_request(history.dump(), true, {});
  ASSERT_EQ(q.messages.size(), 3u);
  ASSERT_EQ(q.messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(q.messages[1].content, "");
  EXPECT_EQ(q.messages[1].tool_calls[0].arguments.dump(), R"({"for":"rain","a":[1]})");
  EXPECT_EQ(q.messages[2].role, "tool");

  json b = chat_body("always");
  expect_error(b, "field 'tool_choice' must be");
  b = chat_body("required");
  b.erase("tools");
  expect_error(b, "field 'tool_choice' asks for a tool call, but the request has no \"tools\"");
  b = chat_body("");
  b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "fly"}}}};
  expect_error(b, "names function 'fly', which \"tools\" does not declare");
  b = chat_body("");
  b["tools"][1]["function"]["name"] = "get_weather";
  expect_error(b, "field 'tools[1].function.name' 'get_weather' is declared twice");
  b = chat_body("");
  b["response_format"] = {{"type", "json_object"}};
  expect_error(b, "field 'response_format' cannot be combined with \"tools\"");
  b["tool_choice"] = "none";  // then the reply is the constrained form
  EXPECT_TRUE(cli::parse_request(b.dump(), true, {}).constraint.json);
  b = chat_body("");
  b["functions"] = json::array();
  expect_error(b, "field 'functions' (OpenAI's deprecated form) is not supported");
  json bad = history;
  bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{not json";
  expect_error(bad, "field 'messages[1].tool_calls[0].function.arguments' must be a JSON object");
  bad = history;
  bad["messages"][1]["tool_calls"][0]["function"]["name"] = "pray\", \"x";
  expect_error(bad, "field 'messages[1].tool_calls[0].function.name' must be 1 to 64 letters");
  bad = history;
  bad["messages"][0]["tool_calls"] = history["messages"][1]["tool_calls"];
  expect_error(bad, "field 'messages[0].tool_calls' belongs to assistant messages only");
  bad = history;
  bad["messages"][2].erase("content");
  expect_error(bad, "field 'messages[2].content' is missing");
}

TEST(ServerApi, ToolCallStreamHoldsBackCalls) {
  const auto tools = ToolSet::parse(nlohmann::ordered_json::parse(kTools.dump()));
  cli::ToolCallStream s;
  std::string out;
  for (const char* piece : {"Let", " me", " pray", ".\n<tool", "_call>\n{\"name\": \"pray\", ",
                            "\"arguments\": {\"for\": \"light\"}}\n</tool_call>"}) {
    out += s.push(piece);
  }
  EXPECT_EQ(out, "Let me pray.");
  auto p = s.finish(*tools);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "pray");
  // No call after all: the held text comes out at the end.
  cli::ToolCallStream t;
  out = t.push("a <tool");
  out += t.push("box> b ");
  EXPECT_EQ(out, "a <toolbox> b");
  p = t.finish(*tools);
  EXPECT_EQ(out + p.content, "a <toolbox> b ");
  EXPECT_TRUE(p.calls.empty());
}

void expect_calls(const json& message, const std::vector<std::string>& allowed) {
  ASSERT_TRUE(message.contains("tool_calls")) << message.dump();
  EXPECT_TRUE(message["content"].is_null()) << message.dump();
  for (const auto& c : message["tool_calls"]) {
    EXPECT_EQ(c["type"], "function");
    EXPECT_TRUE(c["id"].is_string() && !c["id"].get<std::string>().empty());
    const std::string name = c["function"]["name"];
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), name), allowed.end()) << name;
    const json args = json::parse(c["function"]["arguments"].get<std::string>());
    if (name == "get_weather") {
      EXPECT_TRUE(args["unit"] == "celsius" || args["unit"] == "fahrenheit") << args;
      EXPECT_TRUE(args["hourly"].is_boolean()) << args;
    } else {
      EXPECT_TRUE(args["for"] == "rain" || args["for"] == "light") << args;
    }
  }
}

TEST_F(ServerTest, ToolChoiceRequiredGivesCalls) {
  if (IsSkipped()) return;
  // One call (this model, given the choice, writes calls until the token limit).
  json body = chat_body("required");
  body["parallel_tool_calls"] = false;
  auto [status, r] = post("/v1/chat/completions", body);
  ASSERT_EQ(status, 200) << r.dump();
  const auto& c = r["choices"][0];
  EXPECT_EQ(c["finish_reason"], "tool_calls") << r.dump();
  expect_calls(c["message"], {"get_weather", "pray"});
  EXPECT_EQ(c["message"]["tool_calls"].size(), 1u);
  // Calls cut by the token limit are not calls: the text comes back as content.
  body["parallel_tool_calls"] = true;
  body["max_tokens"] = 12;
  auto [s1, r1] = post("/v1/chat/completions", body);
  ASSERT_EQ(s1, 200) << r1.dump();
  EXPECT_EQ(r1["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(r1["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(r1["choices"][0]["message"]["content"].get<std::string>().rfind("<tool_call>", 0), 0u);

  json named = chat_body("");
  named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "pray"}}}};
  auto [s2, r2] = post("/v1/chat/completions", named);
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["choices"][0]["finish_reason"], "tool_calls");
  expect_calls(r2["choices"][0]["message"], {"pray"});
  EXPECT_EQ(r2["choices"][0]["message"]["tool_calls"].size(), 1u);
}

TEST_F(ServerTest, ToolCallsStream) {
  if (IsSkipped()) return;
  json body = chat_body("");
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  std::vector<json> events;
  const std::string text = stream("/v1/chat/completions", body, events);
  EXPECT_EQ(text, "");  // no content
  json calls = json::array();
  std::string finish;
  for (const auto& e : events) {
    const auto& c = e["choices"][0];
    if (c["delta"].contains("tool_calls")) {
      for (const auto& t : c["delta"]["tool_calls"]) {
        EXPECT_EQ(t["index"], calls.size());
        calls.push_back(t);
      }
    }
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(calls.size(), 1u);
  expect_calls({{"content", nullptr}, {"tool_calls", calls}}, {"get_weather"});
}

TEST_F(ServerTest, ToolsAutoListsThemInThePrompt) {
  if (IsSkipped()) return;
  // A conversation with an earlier call and its result: the reply is the model's greedy text
  // after the prompt the template renders with the tools listed.
  json body = json::parse(R"({"messages": [
      {"role": "user", "content": "Shall it rain?"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
       "function": {"name": "pray", "arguments": "{\"for\": \"rain\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "And the rain was upon the earth"}],
      "temperature": 0, "max_tokens": 8})");
  body["tools"] = kTools;
  auto [status, r] = post("/v1/chat/completions", body);
  ASSERT_EQ(status, 200) << r.dump();
  const auto q = cli::parse_request(body.dump(), true, {});
  const auto tmpl = cli::ChatTemplate::of(model());
  const std::string prompt = tmpl.prompt(q.messages, q.tools.get());
  EXPECT_NE(prompt.find("<tool_response>\nAnd the rain"), std::string::npos);
  EXPECT_NE(prompt.find("{\"name\": \"pray\", \"arguments\": {\"for\": \"rain\"}}"),
            std::string::npos);
  const auto& m = r["choices"][0]["message"];
  if (m.contains("tool_calls")) {  // the model may call; then its text held that call
    expect_calls(m, {"get_weather", "pray"});
  } else {
    EXPECT_EQ(m["content"], greedy(prompt, 8));
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
    std::vector<json> events;  // streamed: the same content
    EXPECT_EQ(stream("/v1/chat/completions", body, events), m["content"].get<std::string>());
  }
  // tool_choice "none": the tools are left out of the prompt.
  body["tool_choice"] = "none";
  auto [s2, r2] = post("/v1/chat/completions", body);
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["choices"][0]["message"]["content"], greedy(tmpl.prompt(q.messages), 8));
}

}  // namespace
}  // namespace vkr::test
