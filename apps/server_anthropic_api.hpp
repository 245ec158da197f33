// server_anthropic_api.hpp: the JSON of Anthropic's Messages API (POST /v1/messages,
// POST /v1/messages/count_tokens), which Anthropic's SDKs and the coding agents built on them
// send. A request becomes a chat request (the same template, constraints and tool calls as
// /v1/chat/completions): "system" (text or text blocks), "messages" (text, tool_use and
// tool_result blocks; a last assistant message is a prefill the reply continues), "tools"
// (name, description, input_schema), "tool_choice" (auto / any / tool / none,
// disable_parallel_tool_use), "stop_sequences", "output_format" (a JSON schema). The answer is a
// message with text and tool_use blocks and a stop_reason; a stream is its events
// (message_start, content_block_start / delta / stop, message_delta, message_stop). No HTTP and
// no GPU here.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "generation.hpp"
#include "server_api.hpp"

namespace vkr::cli {

struct AnthropicRequest {
  CompletionRequest base;                   // a chat request (prefill in base.prefill)
  std::vector<std::string> stop_sequences;  // the client's (stop_reason "stop_sequence")
};

// Parses a POST /v1/messages body (`count_only`: /count_tokens, where max_tokens is not needed).
// A bad field, or one it cannot honour (images and documents, server tools such as web_search,
// MCP servers), is an Error(InvalidArgument) naming it.
AnthropicRequest parse_anthropic_request(std::string_view body, const RequestDefaults& d,
                                         bool count_only = false);

// "tool_use" (the reply made calls), "max_tokens", "stop_sequence" (`stop_string` is one of the
// client's) or "end_turn".
std::string anthropic_stop_reason(Finish finish, const std::string& stop_string,
                                  const AnthropicRequest& q, bool calls);
// usage: input_tokens counts the prompt tokens that ran, cache_read_input_tokens those a kept
// state gave (Anthropic's split).
nlohmann::json anthropic_usage_json(size_t prompt_tokens, size_t cached_tokens,
                                    size_t output_tokens);
// The content blocks of a reply: its text (when not empty, or when there is nothing else) and a
// tool_use block per call, ids `id_base`_0, _1, ...
nlohmann::json anthropic_content_json(const ParsedReply& reply, const std::string& id_base);
// {"type": "error", "error": {"type", "message"}}.
nlohmann::json anthropic_error_json(std::string_view message, std::string_view type);

}  // namespace vkr::cli
