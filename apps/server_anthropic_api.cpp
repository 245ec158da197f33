// server_anthropic_api.cpp: see server_anthropic_api.hpp. Field names and shapes follow
// Anthropic's Messages API reference, so its clients work unchanged.
#include "server_anthropic_api.hpp"

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

[[noreturn]] void text_only(const std::string& at, const std::string& type) {
  bad(at + ".type", fmt::format("'{}' is not supported (the model reads text only)", type));
}

// A text: a string or text blocks (joined; cache_control and citations ignored).
std::string text_of(const ordered_json& c, const std::string& at) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(at, "must be a string or an array of text blocks");
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string name = fmt::format("{}[{}]", at, i);
    if (!c[i].is_object()) bad(name, "must be a content block");
    const std::string type = string_field(c[i], "type", name);
    if (type == "image" || type == "document") text_only(name, type);
    if (type != "text") bad(name + ".type", fmt::format("'{}' is not a text block", type));
    out += string_field(c[i], "text", name);
  }
  return out;
}

// One message's blocks as chat messages, appended in their order: text runs, tool results
// (their own tool messages), an assistant's tool_use blocks (its calls).
void message_blocks(const std::string& role, const ordered_json& content, const std::string& at,
                    std::vector<ChatMessage>& out) {
  if (content.is_string()) {
    out.push_back({role, content.get<std::string>(), {}});
    return;
  }
  if (!content.is_array()) bad(at, "must be a string or an array of content blocks");
  ChatMessage text{role, "", {}};
  bool has_text = false;
  auto flush = [&] {
    if (has_text || !text.tool_calls.empty()) out.push_back(text);
    text = {role, "", {}};
    has_text = false;
  };
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string name = fmt::format("{}[{}]", at, i);
    const ordered_json& b = content[i];
    if (!b.is_object()) bad(name, "must be a content block");
    const std::string type = string_field(b, "type", name);
    if (type == "text") {
      text.content += string_field(b, "text", name);
      has_text = true;
    } else if (type == "tool_use" && role == "assistant") {
      const std::string fn = string_field(b, "name", name);
      if (!valid_tool_name(fn)) bad(name + ".name", "must be 1 to 64 letters, digits, '_' or '-'");
      const ordered_json* input = field(b, "input");
      if (!input || !input->is_object()) bad(name + ".input", "must be an object");
      text.tool_calls.push_back({fn, *input});
    } else if (type == "tool_result" && role == "user") {
      flush();
      const ordered_json* c = field(b, "content");
      out.push_back({"tool", c ? text_of(*c, name + ".content") : std::string(), {}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;  // another model's thoughts, replayed by a client: not this model's format
    } else if (type == "image" || type == "document") {
      text_only(name, type);
    } else {
      bad(name + ".type", fmt::format("'{}' is not supported in a {} message", type, role));
    }
  }
  flush();
}

// Anthropic's tools ({name, description, input_schema}) in the chat form.
ordered_json chat_tools_json(const ordered_json& tools) {
  if (!tools.is_array()) bad("tools", "must be an array of tools");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = fmt::format("tools[{}]", i);
    const ordered_json& t = tools[i];
    if (!t.is_object()) bad(at, "must be an object");
    if (const ordered_json* type = field(t, "type"); type && *type != "custom") {
      bad(at + ".type", fmt::format("'{}' is not supported (tools the client runs are: the server "
                                    "runs no server tools)",
                                    type->is_string() ? type->get<std::string>() : type->dump()));
    }
    ordered_json f = {{"name", string_field(t, "name", at)}};
    if (const ordered_json* d = field(t, "description")) f["description"] = *d;
    const ordered_json* schema = field(t, "input_schema");
    if (!schema) bad(at + ".input_schema", "is missing");
    f["parameters"] = *schema;
    out.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  return out;
}

}  // namespace

AnthropicRequest parse_anthropic_request(std::string_view body_text, const RequestDefaults& d,
                                         bool count_only) {
  const json body = parse_object(body_text);
  const auto ordered = ordered_json::parse(body_text);
  if (const json* m = field(body, "mcp_servers"); m && !(m->is_array() && m->empty())) {
    bad("mcp_servers", "is not supported (the server connects to no MCP servers)");
  }
  if (const json* t = field(body, "thinking"); t && !t->is_object()) {
    bad("thinking", "must be an object");  // accepted: the model writes no thinking blocks
  }
  std::vector<ChatMessage> messages;
  if (const ordered_json* s = field(ordered, "system")) {
    messages.push_back({"system", text_of(*s, "system"), {}});
  }
  const ordered_json* ms = field(ordered, "messages");
  if (!ms || !ms->is_array() || ms->empty()) bad("messages", "must be a non-empty array");
  for (size_t i = 0; i < ms->size(); ++i) {
    const std::string at = fmt::format("messages[{}]", i);
    const ordered_json& m = (*ms)[i];
    if (!m.is_object()) bad(at, "must be an object with role and content");
    const std::string role = string_field(m, "role", at);
    if (role != "user" && role != "assistant") {
      bad(at + ".role", fmt::format("'{}' is not one of user, assistant", role));
    }
    const ordered_json* content = field(m, "content");
    if (!content) bad(at + ".content", "is missing");
    message_blocks(role, *content, at + ".content", messages);
  }
  AnthropicRequest q;
  // A last assistant message of text only is a prefill: the reply continues it.
  std::string prefill;
  if (!messages.empty() && messages.back().role == "assistant" &&
      messages.back().tool_calls.empty()) {
    prefill = messages.back().content;
    messages.pop_back();
  }
  if (messages.empty()) bad("messages", "holds no message to answer");
  ordered_json chat = ordered_json::object();
  for (const auto& [k, v] : ordered.items()) {  // sampling fields, stream, llama-server's extras
    if (k == "temperature" || k == "top_p" || k == "top_k" || k == "stream" || k == "seed" ||
        k == "min_p" || k == "repeat_penalty" || k == "presence_penalty" ||
        k == "frequency_penalty" || k == "grammar") {
      chat[k] = v;
    }
  }
  chat["messages"] = chat_messages_json(messages);
  if (const ordered_json* mt = field(ordered, "max_tokens")) {
    if (!mt->is_number_integer() || mt->get<int64_t>() < 1 || mt->get<int64_t>() > (1 << 20)) {
      bad("max_tokens", "must be an integer in [1, 1048576]");
    }
    chat["max_tokens"] = *mt;
  } else if (!count_only) {
    bad("max_tokens", "is missing (the Messages API requires it)");
  }
  if (const ordered_json* st = field(ordered, "stop_sequences")) {
    if (!st->is_array()) bad("stop_sequences", "must be an array of strings");
    for (const auto& s : *st) {
      if (!s.is_string() || s.get<std::string>().empty()) {
        bad("stop_sequences", "must be an array of non-empty strings");
      }
      q.stop_sequences.push_back(s.get<std::string>());
    }
    chat["stop"] = *st;
  }
  if (const ordered_json* t = field(ordered, "tools"); t && !(t->is_array() && t->empty())) {
    chat["tools"] = chat_tools_json(*t);
  }
  if (const ordered_json* c = field(ordered, "tool_choice")) {
    if (!c->is_object()) bad("tool_choice", "must be an object with a type");
    const std::string type = string_field(*c, "type", "tool_choice");
    if (type == "auto" || type == "none") {
      chat["tool_choice"] = type;
    } else if (type == "any") {
      chat["tool_choice"] = "required";
    } else if (type == "tool") {
      chat["tool_choice"] = {{"type", "function"},
                             {"function", {{"name", string_field(*c, "name", "tool_choice")}}}};
    } else {
      bad("tool_choice.type", fmt::format("'{}' is not one of auto, any, tool, none", type));
    }
    if (const ordered_json* p = field(*c, "disable_parallel_tool_use")) {
      if (!p->is_boolean()) bad("tool_choice.disable_parallel_tool_use", "must be true or false");
      chat["parallel_tool_calls"] = !p->get<bool>();
    }
  }
  if (const ordered_json* f = field(ordered, "output_format")) {  // structured outputs
    if (!f->is_object() || !field(*f, "type") || (*f)["type"] != "json_schema") {
      bad("output_format", "must be {\"type\": \"json_schema\", \"schema\": {...}}");
    }
    const ordered_json* schema = field(*f, "schema");
    if (!schema) bad("output_format.schema", "is missing");
    chat["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"schema", *schema}}}};
  }
  q.base = parse_request(chat.dump(), true, d);
  q.base.prefill = std::move(prefill);
  return q;
}

std::string anthropic_stop_reason(Finish finish, const std::string& stop_string,
                                  const AnthropicRequest& q, bool calls) {
  if (calls) return "tool_use";
  if (finish == Finish::Length) return "max_tokens";
  const auto& s = q.stop_sequences;
  if (!stop_string.empty() && std::find(s.begin(), s.end(), stop_string) != s.end()) {
    return "stop_sequence";
  }
  return "end_turn";
}

json anthropic_usage_json(size_t prompt_tokens, size_t cached_tokens, size_t output_tokens) {
  const size_t cached = std::min(cached_tokens, prompt_tokens);
  return {{"input_tokens", prompt_tokens - cached},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", cached},
          {"output_tokens", output_tokens}};
}

json anthropic_content_json(const ParsedReply& reply, const std::string& id_base) {
  json content = json::array();
  if (!reply.content.empty() || reply.calls.empty()) {
    content.push_back({{"type", "text"}, {"text", reply.content}});
  }
  for (size_t k = 0; k < reply.calls.size(); ++k) {
    content.push_back({{"type", "tool_use"},
                       {"id", fmt::format("{}_{}", id_base, k)},
                       {"name", reply.calls[k].name},
                       {"input", json::parse(arguments_text(reply.calls[k]))}});
  }
  return content;
}

json anthropic_error_json(std::string_view message, std::string_view type) {
  return {{"type", "error"},
          {"error", {{"type", std::string(type)}, {"message", std::string(message)}}}};
}

}  // namespace vkr::cli
