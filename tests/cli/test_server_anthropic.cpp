// test_server_anthropic.cpp: Anthropic's Messages API of `vkrwkv serve` (server_anthropic*.cpp):
// requests made into chat requests (system, content blocks, tool_use / tool_result, prefills,
// tools, tool_choice, stop_sequences, output_format) and what is refused; over HTTP on the
// bundled model, the reply = the chat route's, stop reasons, tool_use blocks, streams = the
// whole message in events, count_tokens, and the x-api-key header.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_anthropic_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::AnthropicRequest;
using cli::RequestDefaults;
using Choice = cli::CompletionRequest::ToolChoice;

AnthropicRequest parse(json body, bool count_only = false) {
  if (!body.contains("max_tokens") && !count_only) body["max_tokens"] = 16;
  return cli::parse_anthropic_request(body.dump(), RequestDefaults{}, count_only);
}

std::string parse_error(const json& body) {
  try {
    cli::parse_anthropic_request(body.dump(), RequestDefaults{});
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

const json kPray = {{"name", "pray"},
                    {"description", "Pray for something"},
                    {"input_schema",
                     {{"type", "object"},
                      {"properties", {{"for", {{"enum", {"rain", "light"}}}}}},
                      {"required", {"for"}}}}};

json user(const json& content) { return {{"role", "user"}, {"content", content}}; }

TEST(ServerAnthropicApi, MessagesBecomeChatMessages) {
  AnthropicRequest q = parse({{"system", "Be brief."}, {"messages", {user("Hi")}}});
  ASSERT_EQ(q.base.messages.size(), 2u);
  EXPECT_EQ(q.base.messages[0].role, "system");
  EXPECT_EQ(q.base.messages[0].content, "Be brief.");
  EXPECT_EQ(q.base.messages[1].content, "Hi");
  EXPECT_EQ(q.base.max_tokens, 16);
  EXPECT_TRUE(q.base.prefill.empty());
  // Blocks: text joined, tool_use as the assistant's calls, tool_result as tool messages,
  // thinking skipped; system as text blocks.
  const json messages = {
      user({{{"type", "text"}, {"text", "Rain"}}, {{"type", "text"}, {"text", "?"}}}),
      {{"role", "assistant"},
       {"content",
        {{{"type", "thinking"}, {"thinking", "hmm"}, {"signature", "s"}},
         {{"type", "text"}, {"text", "Let us."}},
         {{"type", "tool_use"},
          {"id", "toolu_1"},
          {"name", "pray"},
          {"input", {{"for", "rain"}}}}}}},
      user({{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "It rained."}},
            {{"type", "text"}, {"text", "Thanks."}}})};
  q = parse({{"system", {{{"type", "text"}, {"text", "Rules."}}}},
             {"messages", messages},
             {"tools", {kPray}},
             {"stop_sequences", {"\n\n"}},
             {"temperature", 0.5},
             {"top_k", 3}});
  const auto& m = q.base.messages;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].content, "Rules.");
  EXPECT_EQ(m[1].content, "Rain?");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content, "Let us.");
  ASSERT_EQ(m[2].tool_calls.size(), 1u);
  EXPECT_EQ(m[2].tool_calls[0].arguments["for"], "rain");
  EXPECT_EQ(m[3].role, "tool");
  EXPECT_EQ(m[3].content, "It rained.");
  EXPECT_EQ(m[4].role, "user");
  EXPECT_EQ(m[4].content, "Thanks.");
  ASSERT_TRUE(q.base.tools);
  EXPECT_EQ(q.stop_sequences, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(q.base.stop, std::vector<std::string>{"\n\n"});
  EXPECT_FLOAT_EQ(q.base.sampling.temperature, 0.5f);
  EXPECT_EQ(q.base.sampling.top_k, 3);
  // A last assistant message of text is a prefill.
  q = parse({{"messages", {user("Hi"), {{"role", "assistant"}, {"content", "Well,"}}}}});
  EXPECT_EQ(q.base.prefill, "Well,");
  ASSERT_EQ(q.base.messages.size(), 1u);
  // tool_choice.
  q = parse({{"messages", {user("x")}}, {"tools", {kPray}}, {"tool_choice", {{"type", "any"}}}});
  EXPECT_EQ(q.base.tool_choice, Choice::Required);
  q = parse(
      {{"messages", {user("x")}},
       {"tools", {kPray}},
       {"tool_choice", {{"type", "tool"}, {"name", "pray"}, {"disable_parallel_tool_use", true}}}});
  EXPECT_EQ(q.base.tool_choice, Choice::Named);
  EXPECT_FALSE(q.base.parallel_tool_calls);
  q = parse({{"messages", {user("x")}}, {"tools", {kPray}}, {"tool_choice", {{"type", "none"}}}});
  EXPECT_EQ(q.base.tool_choice, Choice::None);
  // output_format: a JSON schema constraint; thinking is accepted (no thinking blocks come).
  q = parse({{"messages", {user("x")}},
             {"output_format", {{"type", "json_schema"}, {"schema", {{"type", "integer"}}}}},
             {"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}}});
  EXPECT_TRUE(q.base.constraint.schema);
  // count_tokens needs no max_tokens.
  EXPECT_NO_THROW(parse({{"messages", {user("x")}}}, true));
}

TEST(ServerAnthropicApi, WhatIsRefused) {
  const json ok = {{"max_tokens", 4}};
  auto with = [&](json extra) {
    json b = ok;
    for (auto& [k, v] : extra.items()) b[k] = v;
    return b;
  };
  const std::pair<json, std::string> cases[] = {
      {{{"messages", {user("x")}}}, "field 'max_tokens' is missing"},
      {with({{"messages", {user("x")}}, {"max_tokens", 0}}), "field 'max_tokens' must be"},
      {with({{"messages", json::array()}}), "field 'messages' must be a non-empty array"},
      {with({{"messages", {{{"role", "system"}, {"content", "x"}}}}}),
       "field 'messages[0].role' 'system' is not one of user, assistant"},
      {with({{"messages", {{{"role", "user"}}}}}), "field 'messages[0].content' is missing"},
      {with({{"messages", {user({{{"type", "image"}, {"source", {{"type", "base64"}}}}})}}}),
       "field 'messages[0].content[0].type' 'image' is not supported"},
      {with({{"messages",
              {user({{{"type", "tool_use"},
                      {"id", "t"},
                      {"name", "pray"},
                      {"input", json::object()}}})}}}),
       "'tool_use' is not supported in a user message"},
      {with({{"messages",
              {{{"role", "assistant"},
                {"content",
                 {{{"type", "tool_use"}, {"id", "t"}, {"name", "pray"}, {"input", 3}}}}}}}}),
       "field 'messages[0].content[0].input' must be an object"},
      {with({{"messages", {{{"role", "assistant"}, {"content", "only a prefill"}}}}}),
       "field 'messages' holds no message to answer"},
      {with({{"messages", {user("x")}},
             {"tools", {{{"type", "web_search_20250305"}, {"name", "w"}}}}}),
       "field 'tools[0].type' 'web_search_20250305' is not supported"},
      {with({{"messages", {user("x")}}, {"tools", {{{"name", "pray"}}}}}),
       "field 'tools[0].input_schema' is missing"},
      {with({{"messages", {user("x")}}, {"tools", {kPray}}, {"tool_choice", {{"type", "some"}}}}),
       "field 'tool_choice.type' 'some' is not one of"},
      {with({{"messages", {user("x")}}, {"stop_sequences", {""}}}),
       "field 'stop_sequences' must be an array of non-empty strings"},
      {with({{"messages", {user("x")}}, {"mcp_servers", {{{"type", "url"}}}}}),
       "field 'mcp_servers' is not supported"},
      {with({{"messages", {user("x")}}, {"output_format", {{"type", "text"}}}}),
       "field 'output_format' must be"},
      {with({{"messages", {user("x")}}, {"temperature", "hot"}}), "field 'temperature'"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_NE(parse_error(body).find(message), std::string::npos)
        << body.dump() << " -> " << parse_error(body);
  }
}

// The events of a streamed message: (name, data) with data.type = name.
std::vector<json> message_events(httplib::Client& client, json body,
                                 const httplib::Headers& headers = {}) {
  body["stream"] = true;
  auto res = client.Post("/v1/messages", headers, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << res->body;
  std::vector<json> events;
  for (size_t at = 0; (at = res->body.find("event: ", at)) != std::string::npos;) {
    const size_t line = res->body.find('\n', at);
    const std::string type = res->body.substr(at + 7, line - at - 7);
    const size_t end = res->body.find("\n\n", line);
    events.push_back(json::parse(res->body.substr(line + 7, end - line - 7)));
    EXPECT_EQ(events.back()["type"], type);
    at = end;
  }
  return events;
}

TEST_F(ServerTest, AnthropicMessagesAreTheChatReply) {
  const std::string question = "Who made the heaven?";
  auto [s1, c] = post("/v1/chat/completions", {{"messages",
                                                {{{"role", "system"}, {"content", "Be brief."}},
                                                 {{"role", "user"}, {"content", question}}}},
                                               {"max_tokens", 10},
                                               {"temperature", 0}});
  ASSERT_EQ(s1, 200) << c.dump();
  const json body = {{"model", "any"},
                     {"system", "Be brief."},
                     {"messages", {user(question)}},
                     {"max_tokens", 10},
                     {"temperature", 0}};
  auto [s2, m] = post("/v1/messages", body);
  ASSERT_EQ(s2, 200) << m.dump();
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  ASSERT_EQ(m["content"].size(), 1u);
  EXPECT_EQ(m["content"][0]["type"], "text");
  EXPECT_EQ(m["content"][0]["text"], c["choices"][0]["message"]["content"]);
  const bool cut = c["choices"][0]["finish_reason"] == "length";
  EXPECT_EQ(m["stop_reason"], cut ? "max_tokens" : "end_turn");
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["usage"]["input_tokens"].get<size_t>() +
                m["usage"]["cache_read_input_tokens"].get<size_t>(),
            c["usage"]["prompt_tokens"].get<size_t>());
  EXPECT_EQ(m["usage"]["output_tokens"], c["usage"]["completion_tokens"]);
  // count_tokens: the prompt's tokens.
  auto [s3, n] =
      post("/v1/messages/count_tokens", {{"system", "Be brief."}, {"messages", {user(question)}}});
  ASSERT_EQ(s3, 200) << n.dump();
  EXPECT_EQ(n["input_tokens"], c["usage"]["prompt_tokens"]);
  // A stream: message_start, the text block's deltas, message_delta, message_stop.
  const auto events = message_events(*client_, body);
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events[0]["type"], "message_start");
  EXPECT_EQ(events[0]["message"]["content"], json::array());
  EXPECT_TRUE(events[0]["message"]["stop_reason"].is_null());
  std::string text;
  for (const auto& e : events) {
    if (e["type"] == "content_block_delta") {
      EXPECT_EQ(e["delta"]["type"], "text_delta");
      text += e["delta"]["text"].get<std::string>();
    }
  }
  EXPECT_EQ(text, m["content"][0]["text"]);
  const json& delta = events[events.size() - 2];
  EXPECT_EQ(delta["type"], "message_delta");
  EXPECT_EQ(delta["delta"]["stop_reason"], m["stop_reason"]);
  EXPECT_EQ(delta["usage"]["output_tokens"], m["usage"]["output_tokens"]);
  EXPECT_EQ(events.back()["type"], "message_stop");
  // Errors in Anthropic's shape.
  auto [s4, e] = post("/v1/messages", {{"messages", {user("x")}}});
  EXPECT_EQ(s4, 400);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("max_tokens"), std::string::npos);
}

// stop_sequences give stop_reason "stop_sequence" and the sequence; a prefill is continued (the
// same text /completion writes after the template's prompt and the prefill; and the chat route
// with continue_final_message).
TEST_F(ServerTest, AnthropicStopSequencesAndPrefills) {
  auto [s0, first] =
      post("/v1/messages",
           {{"messages", {user("Who made the heaven?")}}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(s0, 200) << first.dump();
  const std::string text = first["content"][0]["text"];
  const size_t cut = text.find(' ', 2);
  ASSERT_NE(cut, std::string::npos) << text;
  const std::string word = text.substr(cut, 3);
  auto [s1, m] = post("/v1/messages", {{"messages", {user("Who made the heaven?")}},
                                       {"max_tokens", 12},
                                       {"temperature", 0},
                                       {"stop_sequences", {"@@none", word}}});
  ASSERT_EQ(s1, 200) << m.dump();
  EXPECT_EQ(m["content"][0]["text"], text.substr(0, text.find(word)));
  EXPECT_EQ(m["stop_reason"], "stop_sequence");
  EXPECT_EQ(m["stop_sequence"], word);
  // Prefill.
  const json messages = {user("Who made the heaven?"),
                         {{"role", "assistant"}, {"content", "The LORD"}}};
  auto [s2, p] =
      post("/v1/messages", {{"messages", messages}, {"max_tokens", 6}, {"temperature", 0}});
  ASSERT_EQ(s2, 200) << p.dump();
  auto [s3, t] = post("/apply-template",
                      {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}}});
  ASSERT_EQ(s3, 200);
  auto [s4, c] = post("/completion", {{"prompt", t["prompt"].get<std::string>() + "The LORD"},
                                      {"n_predict", 6},
                                      {"temperature", 0}});
  ASSERT_EQ(s4, 200) << c.dump();
  EXPECT_EQ(p["content"][0]["text"], c["content"]);
  // The chat route's prefill (vLLM's continue_final_message) continues it the same way.
  const json chat_messages = {{{"role", "user"}, {"content", "Who made the heaven?"}},
                              {{"role", "assistant"}, {"content", "The LORD"}}};
  auto [s5, cc] = post("/v1/chat/completions", {{"messages", chat_messages},
                                                {"continue_final_message", true},
                                                {"max_tokens", 6},
                                                {"temperature", 0}});
  ASSERT_EQ(s5, 200) << cc.dump();
  EXPECT_EQ(cc["choices"][0]["message"]["content"], c["content"]);
  auto [s7, tp] =
      post("/apply-template", {{"messages", chat_messages}, {"continue_final_message", true}});
  ASSERT_EQ(s7, 200) << tp.dump();
  EXPECT_EQ(tp["prompt"], t["prompt"].get<std::string>() + "The LORD");
  auto [s6, e] = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}},
                                               {"continue_final_message", true}});
  EXPECT_EQ(s6, 400);
  EXPECT_EQ(e["error"]["message"],
            "field 'continue_final_message' needs a last assistant message of text");
}

// A forced tool: a tool_use block whose input matches the schema, stop_reason "tool_use"; in a
// stream, its input comes as one input_json_delta.
TEST_F(ServerTest, AnthropicToolUseBlocks) {
  const json body = {
      {"messages", {user("Rain?")}},
      {"tools", {kPray}},
      {"tool_choice", {{"type", "tool"}, {"name", "pray"}, {"disable_parallel_tool_use", true}}},
      {"max_tokens", 200},
      {"temperature", 0}};
  auto [status, m] = post("/v1/messages", body);
  ASSERT_EQ(status, 200) << m.dump();
  EXPECT_EQ(m["stop_reason"], "tool_use") << m.dump();
  const json& use = m["content"].back();
  ASSERT_EQ(use["type"], "tool_use") << m.dump();
  EXPECT_EQ(use["name"], "pray");
  EXPECT_EQ(use["id"].get<std::string>().rfind("toolu_", 0), 0u);
  EXPECT_TRUE(use["input"]["for"] == "rain" || use["input"]["for"] == "light") << use.dump();
  const auto events = message_events(*client_, body);
  json start, input;
  for (const auto& e : events) {
    if (e["type"] == "content_block_start" && e["content_block"]["type"] == "tool_use") {
      start = e["content_block"];
    }
    if (e["type"] == "content_block_delta" && e["delta"]["type"] == "input_json_delta") {
      input = json::parse(e["delta"]["partial_json"].get<std::string>());
    }
  }
  EXPECT_EQ(start["name"], "pray");
  EXPECT_EQ(input, use["input"]);
  EXPECT_EQ(events[events.size() - 2]["delta"]["stop_reason"], "tool_use");
}

// --api-key: Anthropic's SDKs send the key as x-api-key.
TEST_F(ServerTest, AnthropicKeyHeader) {
  ServeOptions o;
  o.api_key = "k3y";
  OwnServer keyed(model(), o);
  httplib::Client& c = *keyed.client;
  const std::string body = json{{"messages", {user("In")}}, {"max_tokens", 1}}.dump();
  for (const char* key : {"", "k3", "k3y2", "Bearer k3y"}) {
    httplib::Headers h;
    if (*key) h.emplace("x-api-key", key);
    auto r = c.Post("/v1/messages", h, body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << key;
  }
  auto r = c.Post("/v1/messages", {{"x-api-key", "k3y"}}, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace vkr::test
