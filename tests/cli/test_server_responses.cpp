// test_server_responses.cpp: OpenAI's Responses API of `vkrwkv serve` (server_responses*.cpp):
// requests made into chat requests (input items, instructions, flat tools, text.format,
// previous_response_id) and what is refused; over HTTP on the bundled model, the reply = the
// chat route's, streams = the whole response in numbered events, function calls as items, and
// stored conversations continued.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_responses_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::ChatMessage;
using cli::RequestDefaults;
using cli::ResponsesRequest;
using cli::ResponseStore;
using Choice = cli::CompletionRequest::ToolChoice;

ResponsesRequest parse(const json& body, const ResponseStore& store = ResponseStore()) {
  return cli::parse_responses_request(body.dump(), RequestDefaults{}, store);
}

std::string parse_error(const json& body, const ResponseStore& store = ResponseStore()) {
  try {
    parse(body, store);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

const json kPray = {{"type", "function"},
                    {"name", "pray"},
                    {"description", "Pray for something"},
                    {"parameters",
                     {{"type", "object"},
                      {"properties", {{"for", {{"enum", {"rain", "light"}}}}}},
                      {"required", {"for"}}}}};

TEST(ServerResponsesApi, InputItemsBecomeChatMessages) {
  ResponsesRequest q = parse({{"input", "Hi"}, {"instructions", "Be brief."}});
  ASSERT_EQ(q.base.messages.size(), 2u);
  EXPECT_EQ(q.base.messages[0].role, "system");
  EXPECT_EQ(q.base.messages[0].content, "Be brief.");
  EXPECT_EQ(q.base.messages[1].role, "user");
  EXPECT_EQ(q.base.messages[1].content, "Hi");
  ASSERT_EQ(q.conversation.size(), 1u) << "instructions are not part of the conversation";
  EXPECT_TRUE(q.base.chat);
  const json items = json::array(
      {{{"role", "developer"}, {"content", "Rules."}},
       {{"type", "message"},
        {"role", "user"},
        {"content",
         {{{"type", "input_text"}, {"text", "Rain"}}, {{"type", "input_text"}, {"text", "?"}}}}},
       {{"type", "reasoning"}, {"summary", json::array()}},
       {{"role", "assistant"}, {"content", {{{"type", "output_text"}, {"text", "Let us."}}}}},
       {{"type", "function_call"},
        {"call_id", "c1"},
        {"name", "pray"},
        {"arguments", "{\"for\": \"rain\"}"}},
       {{"type", "function_call"}, {"call_id", "c2"}, {"name", "pray"}, {"arguments", "{}"}},
       {{"type", "function_call_output"}, {"call_id", "c1"}, {"output", "It rained."}},
       {{"type", "function_call"}, {"call_id", "c3"}, {"name", "pray"}, {"arguments", "{}"}}});
  q = parse({{"input", items}, {"tools", {kPray}}, {"max_output_tokens", 33}});
  const auto& m = q.base.messages;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content, "Rules.");
  EXPECT_EQ(m[1].content, "Rain?");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content, "Let us.");
  ASSERT_EQ(m[2].tool_calls.size(), 2u) << "calls after an assistant message are its turn's";
  EXPECT_EQ(m[2].tool_calls[0].name, "pray");
  EXPECT_EQ(m[2].tool_calls[0].arguments["for"], "rain");
  EXPECT_EQ(m[3].role, "tool");
  EXPECT_EQ(m[3].content, "It rained.");
  EXPECT_EQ(m[4].role, "assistant");
  EXPECT_EQ(m[4].tool_calls.size(), 1u);
  EXPECT_EQ(q.base.max_tokens, 33);
  ASSERT_TRUE(q.base.tools);
  EXPECT_EQ(q.base.tool_choice, Choice::Auto);
  EXPECT_EQ(q.echo["tools"][0]["name"], "pray") << "the response repeats the tools as given";
  q = parse({{"input", "x"},
             {"tools", {kPray}},
             {"tool_choice", {{"type", "function"}, {"name", "pray"}}},
             {"parallel_tool_calls", false}});
  EXPECT_EQ(q.base.tool_choice, Choice::Named);
  EXPECT_EQ(q.base.tool_name, "pray");
  EXPECT_FALSE(q.base.parallel_tool_calls);
  q = parse({{"input", "x"}, {"tools", {kPray}}, {"tool_choice", "required"}});
  EXPECT_EQ(q.base.tool_choice, Choice::Required);
  // text.format: JSON constraints; the sampling fields come through.
  q = parse({{"input", "x"},
             {"temperature", 0.25},
             {"top_k", 3},
             {"text",
              {{"format",
                {{"type", "json_schema"}, {"name", "n"}, {"schema", {{"type", "integer"}}}}}}}});
  EXPECT_TRUE(q.base.constraint.json);
  EXPECT_TRUE(q.base.constraint.schema);
  EXPECT_FLOAT_EQ(q.base.sampling.temperature, 0.25f);
  EXPECT_EQ(q.base.sampling.top_k, 3);
  EXPECT_EQ(q.echo["text"]["format"]["name"], "n");
  q = parse({{"input", "x"}, {"text", {{"format", {{"type", "json_object"}}}}}});
  EXPECT_TRUE(q.base.constraint.json);
  EXPECT_FALSE(q.base.constraint.schema);
  q = parse({{"input", "x"}, {"text", {{"format", {{"type", "text"}}}}}, {"store", false}});
  EXPECT_FALSE(q.base.constraint.any());
  EXPECT_FALSE(q.store);
  // Accepted and without effect here: built-in tool limits, reasoning hints, metadata.
  EXPECT_NO_THROW(parse({{"input", "x"},
                         {"max_tool_calls", 5},
                         {"reasoning", {{"effort", "low"}}},
                         {"metadata", {{"k", "v"}}},
                         {"truncation", "auto"},
                         {"include", {"reasoning.encrypted_content"}}}));
}

TEST(ServerResponsesApi, WhatIsRefused) {
  const std::pair<json, std::string> cases[] = {
      {{{"instructions", "x"}}, "field 'input' is missing"},
      {{{"input", 3}}, "field 'input' must be a string or an array of items"},
      {{{"input", json::array()}}, "field 'input' holds no message"},
      {{{"input", {"hi"}}}, "field 'input[0]' must be an object"},
      {{{"input", {{{"role", "robot"}, {"content", "x"}}}}}, "field 'input[0].role' 'robot'"},
      {{{"input", {{{"role", "user"}}}}}, "field 'input[0].content' is missing"},
      {{{"input",
         {{{"role", "user"}, {"content", {{{"type", "input_image"}, {"image_url", "u"}}}}}}}},
       "field 'input[0].content[0].type' 'input_image' is not supported"},
      {{{"input", {{{"type", "item_reference"}, {"id", "msg_1"}}}}},
       "field 'input[0].type' 'item_reference' is not supported"},
      {{{"input", {{{"type", "function_call"}, {"name", "pray"}, {"arguments", "[1]"}}}}},
       "field 'input[0].arguments' must be a string holding a JSON object"},
      {{{"input", {{{"type", "function_call"}, {"name", "a b"}, {"arguments", "{}"}}}}},
       "field 'input[0].name' must be 1 to 64"},
      {{{"input", {{{"type", "function_call_output"}, {"call_id", "c"}}}}},
       "field 'input[0].output' is missing"},
      {{{"input", "x"}, {"tools", {{{"type", "web_search"}}}}},
       "field 'tools[0].type' 'web_search' is not supported"},
      {{{"input", "x"}, {"tools", {kPray}}, {"tool_choice", {{"type", "file_search"}}}},
       "field 'tool_choice' must be"},
      {{{"input", "x"}, {"tool_choice", "required"}}, "the request has no \"tools\""},
      {{{"input", "x"}, {"text", {{"format", {{"type", "xml"}}}}}},
       "field 'text.format.type' 'xml' is not one of"},
      {{{"input", "x"}, {"text", {{"format", {{"type", "json_schema"}}}}}},
       "field 'text.format.schema' is missing"},
      {{{"input", "x"}, {"max_output_tokens", 0}}, "field 'max_output_tokens' must be"},
      {{{"input", "x"}, {"background", true}}, "field 'background' is not supported"},
      {{{"input", "x"}, {"conversation", "conv_1"}}, "field 'conversation' is not supported"},
      {{{"input", "x"}, {"top_logprobs", 21}}, "field 'top_logprobs'"},
      {{{"input", "x"}, {"include", {3}}}, "field 'include' must be an array of strings"},
      {{{"input", "x"}, {"previous_response_id", "resp_9"}},
       "field 'previous_response_id' 'resp_9' is not a stored response"},
      {{{"input", "x"}, {"temperature", "warm"}}, "field 'temperature'"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_NE(parse_error(body).find(message), std::string::npos)
        << body.dump() << " -> " << parse_error(body);
  }
}

TEST(ServerResponsesApi, LogprobsAreAskedForByIncludeOrTopLogprobs) {
  ResponseStore store;
  EXPECT_EQ(parse({{"input", "x"}}, store).base.logprobs, -1);
  EXPECT_EQ(
      parse({{"input", "x"}, {"include", {"message.output_text.logprobs"}}}, store).base.logprobs,
      0);
  EXPECT_EQ(parse({{"input", "x"}, {"top_logprobs", 3}}, store).base.logprobs, 3);
  EXPECT_EQ(
      parse({{"input", "x"}, {"include", {"reasoning.encrypted_content"}}}, store).base.logprobs,
      -1);
}

TEST(ServerResponsesApi, StoredConversationsComeFirst) {
  ResponseStore store(2);
  store.put("resp_1", {{"user", "Hi", {}}, {"assistant", "Hello.", {}}});
  ResponsesRequest q = parse(
      {{"input", "And?"}, {"previous_response_id", "resp_1"}, {"instructions", "Brief."}}, store);
  const auto& m = q.base.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].content, "Brief.");
  EXPECT_EQ(m[1].content, "Hi");
  EXPECT_EQ(m[2].content, "Hello.");
  EXPECT_EQ(m[3].content, "And?");
  EXPECT_EQ(q.conversation.size(), 3u);
  EXPECT_EQ(q.echo["previous_response_id"], "resp_1");
  // The oldest goes past the capacity.
  store.put("resp_2", {{"user", "a", {}}});
  store.put("resp_3", {{"user", "b", {}}});
  EXPECT_FALSE(store.get("resp_1"));
  EXPECT_TRUE(store.get("resp_2"));
  EXPECT_TRUE(store.get("resp_3"));
}

// The events of a streamed response, each checked to be numbered in order.
std::vector<json> response_events(httplib::Client& client, json body) {
  body["stream"] = true;
  auto res = client.Post("/v1/responses", body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.find("[DONE]"), std::string::npos);
  std::vector<json> events;
  for (size_t at = 0; (at = res->body.find("event: ", at)) != std::string::npos;) {
    const size_t line = res->body.find('\n', at);
    const std::string type = res->body.substr(at + 7, line - at - 7);
    EXPECT_EQ(res->body.compare(line + 1, 6, "data: "), 0);
    const size_t end = res->body.find("\n\n", line);
    events.push_back(json::parse(res->body.substr(line + 7, end - line - 7)));
    EXPECT_EQ(events.back()["type"], type);
    EXPECT_EQ(events.back()["sequence_number"], events.size() - 1);
    at = end;
  }
  return events;
}

// The reply is the chat route's for the same conversation; usage and status follow it; a stream
// is the same response in events.
TEST_F(ServerTest, ResponsesAreTheChatReply) {
  const json chat = {{"messages",
                      {{{"role", "system"}, {"content", "Be brief."}},
                       {{"role", "user"}, {"content", "Who made the heaven?"}}}},
                     {"max_tokens", 10},
                     {"temperature", 0}};
  auto [s1, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s1, 200) << c.dump();
  const json body = {{"input", "Who made the heaven?"},
                     {"instructions", "Be brief."},
                     {"max_output_tokens", 10},
                     {"temperature", 0}};
  auto [s2, r] = post("/v1/responses", body);
  ASSERT_EQ(s2, 200) << r.dump();
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["id"].get<std::string>().rfind("resp_", 0), 0u);
  ASSERT_EQ(r["output"].size(), 1u);
  const json& msg = r["output"][0];
  EXPECT_EQ(msg["type"], "message");
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_EQ(msg["content"][0]["type"], "output_text");
  EXPECT_EQ(msg["content"][0]["text"], c["choices"][0]["message"]["content"]);
  const bool cut = c["choices"][0]["finish_reason"] == "length";
  EXPECT_EQ(r["status"], cut ? "incomplete" : "completed");
  if (cut) {
    EXPECT_EQ(r["incomplete_details"]["reason"], "max_output_tokens");
  }
  EXPECT_EQ(r["usage"]["input_tokens"], c["usage"]["prompt_tokens"]);
  EXPECT_EQ(r["usage"]["output_tokens"], c["usage"]["completion_tokens"]);
  EXPECT_EQ(r["instructions"], "Be brief.");
  EXPECT_EQ(r["max_output_tokens"], 10);
  const auto events = response_events(*client_, body);
  ASSERT_GE(events.size(), 7u);
  EXPECT_EQ(events[0]["type"], "response.created");
  EXPECT_EQ(events[0]["response"]["status"], "in_progress");
  EXPECT_TRUE(events[0]["response"]["usage"].is_null());
  EXPECT_EQ(events[1]["type"], "response.in_progress");
  std::string text, done_text;
  for (const auto& e : events) {
    if (e["type"] == "response.output_text.delta") text += e["delta"].get<std::string>();
    if (e["type"] == "response.output_text.done") done_text = e["text"];
  }
  EXPECT_EQ(text, msg["content"][0]["text"]);
  EXPECT_EQ(done_text, text);
  const json& last = events.back();
  EXPECT_EQ(last["type"], cut ? "response.incomplete" : "response.completed");
  EXPECT_EQ(last["response"]["output"][0]["content"], msg["content"]);
  EXPECT_EQ(last["response"]["usage"]["output_tokens"], r["usage"]["output_tokens"]);
}

// The output text's log-probabilities are the chat route's for the same conversation; a
// stream's deltas carry them piece by piece, together the final item's.
TEST_F(ServerTest, ResponsesLogprobs) {
  const json chat = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
                     {"max_tokens", 8},
                     {"temperature", 0},
                     {"logprobs", true},
                     {"top_logprobs", 2}};
  auto [s1, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s1, 200) << c.dump();
  const json body = {{"input", "Who made the heaven?"},
                     {"max_output_tokens", 8},
                     {"temperature", 0},
                     {"include", {"message.output_text.logprobs"}},
                     {"top_logprobs", 2}};
  auto [s2, r] = post("/v1/responses", body);
  ASSERT_EQ(s2, 200) << r.dump();
  EXPECT_EQ(r["top_logprobs"], 2);
  const json& part = r["output"][0]["content"][0];
  const json& lps = part["logprobs"];
  ASSERT_FALSE(lps.empty()) << r.dump();
  std::string spelled;
  for (size_t i = 0; i < lps.size(); ++i) {
    EXPECT_EQ(lps[i], c["choices"][0]["logprobs"]["content"][i]) << i;
    EXPECT_EQ(lps[i]["top_logprobs"].size(), 2u);
    spelled += lps[i]["token"].get<std::string>();
  }
  EXPECT_EQ(spelled, part["text"]);  // the text's tokens, no more
  json streamed = json::array();
  for (const auto& e : response_events(*client_, body)) {
    if (e["type"] == "response.output_text.delta") {
      for (const auto& lp : e["logprobs"]) streamed.push_back(lp);
    }
    if (e["type"] == "response.output_text.done") {
      EXPECT_EQ(e["logprobs"], lps);
    }
  }
  EXPECT_EQ(streamed, lps);
  // Not asked for: an empty list.
  auto [s3, plain] =
      post("/v1/responses", {{"input", "Who made the heaven?"}, {"max_output_tokens", 4}});
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(plain["output"][0]["content"][0]["logprobs"], json::array());
}

// Forced calls come back as function_call items (arguments a JSON text matching the
// parameters), in streams as output_item / function_call_arguments events; sending the call and
// its output back continues the conversation.
TEST_F(ServerTest, ResponsesFunctionCallItems) {
  const json body = {
      {"input", "Rain?"},          {"tools", {kPray}},
      {"tool_choice", "required"}, {"parallel_tool_calls", false},  // one call, then the end
      {"max_output_tokens", 200},  {"temperature", 0}};
  auto [status, r] = post("/v1/responses", body);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["status"], "completed") << r.dump();
  ASSERT_GE(r["output"].size(), 1u) << r.dump();
  const json& call = r["output"].back();
  ASSERT_EQ(call["type"], "function_call") << r.dump();
  EXPECT_EQ(call["name"], "pray");
  EXPECT_EQ(call["status"], "completed");
  EXPECT_EQ(call["call_id"].get<std::string>().rfind("call_", 0), 0u);
  const json args = json::parse(call["arguments"].get<std::string>());
  EXPECT_TRUE(args["for"] == "rain" || args["for"] == "light") << args.dump();
  const auto events = response_events(*client_, body);
  json streamed_call, args_done;
  for (const auto& e : events) {
    if (e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call") {
      streamed_call = e["item"];
    }
    if (e["type"] == "response.function_call_arguments.done") args_done = e;
  }
  ASSERT_TRUE(streamed_call.is_object());
  EXPECT_EQ(streamed_call["arguments"], call["arguments"]);
  EXPECT_EQ(args_done["arguments"], call["arguments"]);
  EXPECT_EQ(args_done["item_id"], streamed_call["id"]);
  EXPECT_EQ(events.back()["response"]["output"].back(), streamed_call);
  // The call and its result sent back: a chat request with the same turns gives the same text.
  json input = json::array(
      {{{"role", "user"}, {"content", "Rain?"}},
       {{"type", "function_call"},
        {"call_id", call["call_id"]},
        {"name", "pray"},
        {"arguments", call["arguments"]}},
       {{"type", "function_call_output"}, {"call_id", call["call_id"]}, {"output", "It rained."}}});
  auto [s2, next] =
      post("/v1/responses",
           {{"input", input}, {"tools", {kPray}}, {"max_output_tokens", 6}, {"temperature", 0}});
  ASSERT_EQ(s2, 200) << next.dump();
  // (ordered: the template writes each tool as the client gave it, and the Responses form
  // becomes {"type": "function", "function": {...}}, the usual chat order)
  using ojson = nlohmann::ordered_json;
  ojson chat_tool = ojson::parse(kPray.dump());
  chat_tool.erase("type");
  const ojson chat = {{"messages",
                       {{{"role", "user"}, {"content", "Rain?"}},
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls",
                          {{{"id", "x"},
                            {"type", "function"},
                            {"function", {{"name", "pray"}, {"arguments", call["arguments"]}}}}}}},
                        {{"role", "tool"}, {"content", "It rained."}}}},
                      {"tools", {{{"type", "function"}, {"function", chat_tool}}}},
                      {"max_tokens", 6},
                      {"temperature", 0}};
  auto res = client_->Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(res);
  const int s3 = res->status;
  const json c = json::parse(res->body);
  ASSERT_EQ(s3, 200) << c.dump();
  std::string text;
  for (const auto& item : next["output"]) {
    if (item["type"] == "message") text += item["content"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, c["choices"][0]["message"]["content"].is_null()
                      ? std::string()
                      : c["choices"][0]["message"]["content"].get<std::string>());
}

// previous_response_id continues a stored conversation: the same text as the whole conversation
// sent at once; store false keeps nothing.
TEST_F(ServerTest, ResponsesContinueStoredConversations) {
  auto [s1, first] =
      post("/v1/responses",
           {{"input", "Who made the heaven?"}, {"max_output_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(s1, 200) << first.dump();
  const std::string reply = first["output"][0]["content"][0]["text"];
  auto [s2, next] = post("/v1/responses", {{"input", "And the earth?"},
                                           {"previous_response_id", first["id"]},
                                           {"max_output_tokens", 5},
                                           {"temperature", 0}});
  ASSERT_EQ(s2, 200) << next.dump();
  EXPECT_EQ(next["previous_response_id"], first["id"]);
  auto [s3, whole] =
      post("/v1/responses", {{"input",
                              {{{"role", "user"}, {"content", "Who made the heaven?"}},
                               {{"role", "assistant"}, {"content", reply}},
                               {{"role", "user"}, {"content", "And the earth?"}}}},
                             {"max_output_tokens", 5},
                             {"temperature", 0}});
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(next["output"][0]["content"], whole["output"][0]["content"]);
  EXPECT_EQ(next["usage"]["input_tokens"], whole["usage"]["input_tokens"]);
  auto [s4, unstored] =
      post("/v1/responses", {{"input", "x"}, {"max_output_tokens", 1}, {"store", false}});
  ASSERT_EQ(s4, 200);
  auto [s5, e] = post("/v1/responses", {{"input", "y"}, {"previous_response_id", unstored["id"]}});
  EXPECT_EQ(s5, 400);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("is not a stored response"),
            std::string::npos);
}

}  // namespace
}  // namespace vkr::test
