// server_responses_api.hpp: the JSON of OpenAI's Responses API (POST /v1/responses), which the
// newer OpenAI SDK calls (client.responses.create), agent frameworks and coding tools send.
// A request becomes a chat request (the same template, constraints and tool calls as
// /v1/chat/completions): "input" (text, or items: messages with input_text parts,
// function_call and function_call_output), "instructions" (a system message first),
// "max_output_tokens", "tools" (flat function definitions), "tool_choice", "text.format"
// (json_object / json_schema), "previous_response_id" (a stored response's conversation goes
// first). The answer is a response object with "output" items (a message with output_text, and
// function_call items); a stream is its semantic events (response.created ... response.completed
// or response.incomplete, each with its sequence_number). No HTTP and no GPU here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat_template.hpp"
#include "server_api.hpp"

namespace vkr::cli {

// The conversations of stored responses (input and reply, without the instructions, which a
// follow-up does not inherit), by response id; the oldest dropped past `capacity`. Thread-safe.
class ResponseStore {
 public:
  explicit ResponseStore(size_t capacity = 256) : capacity_(capacity) {}
  void put(const std::string& id, std::vector<ChatMessage> conversation);
  std::optional<std::vector<ChatMessage>> get(const std::string& id) const;
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<ChatMessage>> by_id_;
  std::deque<std::string> order_;  // oldest first
};

struct ResponsesRequest {
  CompletionRequest base;                 // a chat request: messages, sampling, constraints, tools
  std::vector<ChatMessage> conversation;  // the stored one it continues, then its input
  bool store = true;                      // keep the conversation for previous_response_id
  nlohmann::json echo;  // the request's settings the response object repeats (instructions, ...)
};

// Parses a POST /v1/responses body (`store`: for previous_response_id). A bad field, or one it
// cannot honour (hosted tools such as web_search, images and files, background, conversation,
// prompt templates), is an Error(InvalidArgument) naming it. include
// ["message.output_text.logprobs"] (or top_logprobs > 0) asks for the output text's
// log-probabilities, with top_logprobs alternatives each.
ResponsesRequest parse_responses_request(std::string_view body, const RequestDefaults& d,
                                         const ResponseStore& store);

// Output items. `status`: "completed", "incomplete" or "in_progress".
// `logprobs`: output_text's (output_text_logprobs; [] when not asked for).
nlohmann::json message_item_json(const std::string& id, const std::string& text,
                                 const std::string& status,
                                 const nlohmann::json& logprobs = nlohmann::json::array());
nlohmann::json function_call_item_json(const std::string& id, const std::string& call_id,
                                       const ToolCall& call, const std::string& status);

// What one response produced.
struct ResponseResult {
  std::string id;  // "resp_..."
  std::string model;
  int64_t created = 0;
  std::string status = "in_progress";  // completed, incomplete (max_output_tokens), in_progress
  nlohmann::json output = nlohmann::json::array();
  size_t input_tokens = 0, cached_tokens = 0, output_tokens = 0;
};

// How many of a reply's first tokens spell its first `text_bytes` bytes (each token that starts
// within them): the text's tokens, leaving out a stop string's, an end-of-generation token and
// tool calls after the text.
size_t tokens_spelling(std::span<const TokenLogprob> lps, size_t text_bytes, const Tokenizer& tok);
// output_text's "logprobs": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}].
nlohmann::json output_text_logprobs(std::span<const TokenLogprob> lps, const Tokenizer& tok);

// The response object (usage null while in progress).
nlohmann::json response_object_json(const ResponseResult& r, const ResponsesRequest& q);

}  // namespace vkr::cli
