// server_responses_api.cpp: see server_responses_api.hpp. Field names and shapes follow OpenAI's
// Responses API reference, so its clients work unchanged.
#include "server_responses_api.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

using json_fields::bad;
using json_fields::field;
using json_fields::string_field;

// The text of a content: a string, or parts input_text / output_text (joined).
std::string content_text(const ordered_json& c, const std::string& at) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(at, "must be a string or an array of input_text parts");
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string name = fmt::format("{}[{}]", at, i);
    if (!c[i].is_object()) bad(name, "must be an object with a type");
    const std::string type = string_field(c[i], "type", name);
    if (type == "input_text" || type == "output_text" || type == "text") {
      out += string_field(c[i], "text", name);
    } else if (type == "refusal") {
      out += string_field(c[i], "refusal", name);
    } else if (type == "input_image" || type == "input_file" || type == "input_audio") {
      bad(name + ".type", fmt::format("'{}' is not supported (the model reads text only)", type));
    } else {
      bad(name + ".type", fmt::format("'{}' is not one of input_text, output_text", type));
    }
  }
  return out;
}

// "input" as chat messages, appended to `out`.
void input_messages(const ordered_json& input, std::vector<ChatMessage>& out) {
  if (input.is_string()) {
    out.push_back({"user", input.get<std::string>(), {}});
    return;
  }
  if (!input.is_array()) bad("input", "must be a string or an array of items");
  for (size_t i = 0; i < input.size(); ++i) {
    const std::string at = fmt::format("input[{}]", i);
    const ordered_json& item = input[i];
    if (!item.is_object()) bad(at, "must be an object (a message, or a function call item)");
    const std::string type = field(item, "type") ? string_field(item, "type", at) : "message";
    if (type == "message") {
      std::string role = string_field(item, "role", at);
      if (role == "developer") role = "system";  // the newer name of the system role
      if (role != "system" && role != "user" && role != "assistant") {
        bad(at + ".role",
            fmt::format("'{}' is not one of user, system, developer, assistant", role));
      }
      const ordered_json* content = field(item, "content");
      if (!content) bad(at + ".content", "is missing");
      out.push_back({role, content_text(*content, at + ".content"), {}});
    } else if (type == "function_call") {
      const std::string name = string_field(item, "name", at);
      if (!valid_tool_name(name)) bad(at + ".name", "must be 1 to 64 letters, digits, '_' or '-'");
      ordered_json args = ordered_json::parse(string_field(item, "arguments", at), nullptr, false);
      if (!args.is_object()) bad(at + ".arguments", "must be a string holding a JSON object");
      // Calls after an assistant message (or after each other) are that turn's.
      if (out.empty() || out.back().role != "assistant") out.push_back({"assistant", "", {}});
      out.back().tool_calls.push_back({name, std::move(args)});
    } else if (type == "function_call_output") {
      const ordered_json* output = field(item, "output");
      if (!output) bad(at + ".output", "is missing");
      out.push_back({"tool", content_text(*output, at + ".output"), {}});
    } else if (type == "reasoning") {
      continue;  // another model's thoughts, replayed by a client: not this model's format
    } else {
      bad(at + ".type",
          fmt::format("'{}' is not supported (message, function_call and function_call_output "
                      "are; the server stores no items to refer to)",
                      type));
    }
  }
}

// Flat function tools ({"type": "function", "name", "parameters", ...}) in the chat form.
ordered_json chat_tools_json(const ordered_json& tools) {
  if (!tools.is_array()) bad("tools", "must be an array of function tools");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = fmt::format("tools[{}]", i);
    if (!tools[i].is_object()) bad(at, "must be an object");
    const std::string type = string_field(tools[i], "type", at);
    if (type != "function") {
      bad(at + ".type", fmt::format("'{}' is not supported (function tools are: the server "
                                    "runs no hosted tools)",
                                    type));
    }
    ordered_json f = tools[i];
    f.erase("type");
    out.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  return out;
}

ordered_json chat_tool_choice_json(const ordered_json& c) {
  if (c.is_string()) return c;  // none, auto, required
  if (c.is_object() && field(c, "type") && c["type"] == "function" && field(c, "name")) {
    return {{"type", "function"}, {"function", {{"name", c["name"]}}}};
  }
  bad("tool_choice",
      "must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\": ...}");
}

// text.format as a chat response_format (null for plain text).
ordered_json chat_response_format(const ordered_json& text) {
  if (!text.is_object()) bad("text", "must be an object");
  const ordered_json* f = field(text, "format");
  if (!f) return nullptr;
  if (!f->is_object()) bad("text.format", "must be an object with a type");
  const std::string type = string_field(*f, "type", "text.format");
  if (type == "text") return nullptr;
  if (type == "json_object") return {{"type", "json_object"}};
  if (type != "json_schema") {
    bad("text.format.type", fmt::format("'{}' is not one of text, json_object, json_schema", type));
  }
  const ordered_json* schema = field(*f, "schema");
  if (!schema) bad("text.format.schema", "is missing");
  ordered_json js = {{"schema", *schema}};
  if (const ordered_json* name = field(*f, "name")) js["name"] = *name;
  if (const ordered_json* strict = field(*f, "strict")) js["strict"] = *strict;
  return {{"type", "json_schema"}, {"json_schema", std::move(js)}};
}

void refuse_unsupported(const json& body) {
  if (json_fields::flag(body, "background")) {
    bad("background", "is not supported (the answer comes on this connection; stream it)");
  }
  for (const char* k : {"conversation", "prompt"}) {
    if (field(body, k)) {
      bad(k, "is not supported (send the conversation in input, or previous_response_id)");
    }
  }
  if (const json* inc = field(body, "include")) {
    if (!inc->is_array()) bad("include", "must be an array");
    for (const auto& v : *inc) {
      if (!v.is_string()) bad("include", "must be an array of strings");
    }
  }
  // Built-in tools only (web search, file search, ...), of which there are none here.
  json_fields::number(body, "max_tool_calls", 0, 1, 1 << 20);
}

}  // namespace

void ResponseStore::put(const std::string& id, std::vector<ChatMessage> conversation) {
  std::lock_guard lk(mu_);
  if (capacity_ == 0) return;
  if (by_id_.emplace(id, std::move(conversation)).second) order_.push_back(id);
  while (order_.size() > capacity_) {
    by_id_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::vector<ChatMessage>> ResponseStore::get(const std::string& id) const {
  std::lock_guard lk(mu_);
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

ResponsesRequest parse_responses_request(std::string_view body_text, const RequestDefaults& d,
                                         const ResponseStore& store) {
  const json body = parse_object(body_text);
  const auto ordered = ordered_json::parse(body_text);
  refuse_unsupported(body);
  ResponsesRequest q;
  q.store = json_fields::flag(body, "store", true);
  if (const ordered_json* prev = field(ordered, "previous_response_id")) {
    if (!prev->is_string()) bad("previous_response_id", "must be a string");
    auto earlier = store.get(prev->get<std::string>());
    if (!earlier) {
      bad("previous_response_id",
          fmt::format("'{}' is not a stored response (the server keeps the last {} in memory, "
                      "those made with store true)",
                      prev->get<std::string>(), store.capacity()));
    }
    q.conversation = std::move(*earlier);
  }
  const ordered_json* input = field(ordered, "input");
  if (!input) bad("input", "is missing");
  input_messages(*input, q.conversation);
  if (q.conversation.empty()) bad("input", "holds no message");
  std::vector<ChatMessage> messages;
  const ordered_json* instructions = field(ordered, "instructions");
  if (instructions) {
    if (!instructions->is_string()) bad("instructions", "must be a string");
    messages.push_back({"system", instructions->get<std::string>(), {}});
  }
  messages.insert(messages.end(), q.conversation.begin(), q.conversation.end());
  // The chat request: the body's other fields (sampling, seed, stop, stream, llama-server's
  // extensions) under their names, the Responses fields in their chat form.
  ordered_json chat = ordered;
  for (const char* k : {"input",
                        "instructions",
                        "max_output_tokens",
                        "tools",
                        "tool_choice",
                        "text",
                        "previous_response_id",
                        "store",
                        "metadata",
                        "user",
                        "reasoning",
                        "truncation",
                        "include",
                        "background",
                        "max_tool_calls",
                        "top_logprobs",
                        "messages",
                        "n",
                        "logprobs",
                        "response_format",
                        "functions",
                        "function_call",
                        "max_tokens",
                        "max_completion_tokens",
                        "prompt",
                        "echo",
                        "safety_identifier",
                        "prompt_cache_key",
                        "service_tier"}) {
    chat.erase(k);
  }
  chat["messages"] = chat_messages_json(messages);
  if (const ordered_json* m = field(ordered, "max_output_tokens")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > (1 << 20)) {
      bad("max_output_tokens", "must be an integer in [1, 1048576]");
    }
    chat["max_tokens"] = *m;
  }
  if (const ordered_json* t = field(ordered, "tools")) chat["tools"] = chat_tools_json(*t);
  if (const ordered_json* c = field(ordered, "tool_choice")) {
    chat["tool_choice"] = chat_tool_choice_json(*c);
  }
  ordered_json format = nullptr;
  if (const ordered_json* t = field(ordered, "text")) format = chat_response_format(*t);
  if (!format.is_null()) chat["response_format"] = format;
  // Log-probabilities of the output text: asked for by include, or by top_logprobs > 0.
  const auto top = json_fields::number(body, "top_logprobs", 0, 0, 20);
  bool want_logprobs = top > 0;
  if (const json* inc = field(body, "include")) {
    for (const auto& v : *inc) want_logprobs |= v == "message.output_text.logprobs";
  }
  if (want_logprobs) {
    chat["logprobs"] = true;
    chat["top_logprobs"] = static_cast<int>(top);
  }
  q.base = parse_request(chat.dump(), true, d);
  auto given = [&](const char* k, json fallback) {
    const ordered_json* v = field(ordered, k);
    return v ? json::parse(v->dump()) : fallback;
  };
  q.echo = {
      {"instructions", given("instructions", nullptr)},
      {"max_output_tokens", given("max_output_tokens", nullptr)},
      {"temperature", q.base.sampling.temperature},
      {"top_p", q.base.sampling.top_p},
      {"tools", given("tools", json::array())},
      {"tool_choice", given("tool_choice", "auto")},
      {"parallel_tool_calls", q.base.parallel_tool_calls},
      {"text",
       {{"format", format.is_null() ? json{{"type", "text"}} : given("text", json())["format"]}}},
      {"previous_response_id", given("previous_response_id", nullptr)},
      {"store", q.store},
      {"metadata", given("metadata", json::object())},
      {"user", given("user", nullptr)},
      {"truncation", "disabled"},
      {"top_logprobs", given("top_logprobs", 0)},
      {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}}};
  return q;
}

json message_item_json(const std::string& id, const std::string& text, const std::string& status,
                       const json& logprobs) {
  json content = json::array();
  if (status != "in_progress") {
    content.push_back({{"type", "output_text"},
                       {"text", text},
                       {"annotations", json::array()},
                       {"logprobs", logprobs}});
  }
  return {{"type", "message"},
          {"id", id},
          {"status", status},
          {"role", "assistant"},
          {"content", content}};
}

json function_call_item_json(const std::string& id, const std::string& call_id,
                             const ToolCall& call, const std::string& status) {
  return {{"type", "function_call"},
          {"id", id},
          {"call_id", call_id},
          {"name", call.name},
          {"arguments", status == "in_progress" ? std::string() : arguments_text(call)},
          {"status", status}};
}

json response_object_json(const ResponseResult& r, const ResponsesRequest& q) {
  json o = {{"id", r.id},
            {"object", "response"},
            {"created_at", r.created},
            {"status", r.status},
            {"error", nullptr},
            {"incomplete_details",
             r.status == "incomplete" ? json{{"reason", "max_output_tokens"}} : json(nullptr)},
            {"model", r.model},
            {"output", r.output}};
  for (const auto& [k, v] : q.echo.items()) o[k] = v;
  o["usage"] = r.status == "in_progress"
                   ? json(nullptr)
                   : json{{"input_tokens", r.input_tokens},
                          {"input_tokens_details", {{"cached_tokens", r.cached_tokens}}},
                          {"output_tokens", r.output_tokens},
                          {"output_tokens_details", {{"reasoning_tokens", 0}}},
                          {"total_tokens", r.input_tokens + r.output_tokens}};
  return o;
}

size_t tokens_spelling(std::span<const TokenLogprob> lps, size_t text_bytes, const Tokenizer& tok) {
  size_t at = 0, n = 0;
  for (; n < lps.size() && at < text_bytes; ++n) at += tok.token_bytes(lps[n].id).size();
  return n;
}

json output_text_logprobs(std::span<const TokenLogprob> lps, const Tokenizer& tok) {
  size_t offset = 0;
  return logprobs_json(lps, true, tok, offset)["content"];
}

}  // namespace vkr::cli
