// chat_template.cpp: see chat_template.hpp.
#include "chat_template.hpp"

#include <fmt/format.h>

#include "model.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

// Qwen2.5's system-turn text around the functions' list (its template's literals).
constexpr std::string_view kToolsHead =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr std::string_view kToolsTail =
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

void python_json_to(const nlohmann::ordered_json& v, std::string& out) {
  if (v.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      if (!first) out += ", ";
      first = false;
      out += nlohmann::ordered_json(k).dump();
      out += ": ";
      python_json_to(x, out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      python_json_to(v[i], out);
    }
    out += ']';
  } else {
    out += v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
}

}  // namespace

std::string python_json(const nlohmann::ordered_json& v) {
  std::string out;
  python_json_to(v, out);
  return out;
}

std::string ChatTemplate::default_system_of(std::string_view jinja) {
  constexpr std::string_view open = "<|im_start|>system\\n", close = "<|im_end|>";
  for (size_t at = jinja.find(open); at != std::string_view::npos; at = jinja.find(open, at + 1)) {
    const size_t from = at + open.size(), to = jinja.find(close, from);
    if (to == std::string_view::npos) break;
    const std::string_view text = jinja.substr(from, to - from);
    // A literal: no end of the string, concatenation or expression inside.
    if (!text.empty() && text.find_first_of("'\"+{}\\") == std::string_view::npos) {
      return std::string(text);
    }
  }
  return {};
}

ChatTemplate::ChatTemplate(Arch arch, std::string_view model_template)
    : chatml_(arch == Arch::QRwkv6),
      default_system_(chatml_ ? default_system_of(model_template) : std::string()) {}

ChatTemplate ChatTemplate::of(const Model& model) {
  const auto t = model.file().get_string("tokenizer.chat_template");
  return ChatTemplate(model.config().arch, t ? *t : std::string_view());
}

std::string ChatTemplate::message(const ChatMessage& m) const {
  const bool tool = m.role == "tool";
  require(m.role == "system" || m.role == "user" || m.role == "assistant" || tool,
          ErrorCode::InvalidArgument,
          "chat message role '{}' is not one of system, user, assistant, tool", m.role);
  require(chatml_ || (!tool && m.tool_calls.empty()), ErrorCode::InvalidArgument,
          "this model's chat format (RWKV World) has no tool calls: tool messages and calls "
          "need a QRWKV6 (Qwen2.5 ChatML) model");
  if (!chatml_) {
    // A reply is exactly what the model wrote after "Assistant:" (its leading space included),
    // so a conversation sent back re-creates the tokens the model saw.
    if (m.role == "assistant") return assistant_prefix() + m.content + turn_end();
    return fmt::format("{}: {}\n\n", m.role == "system" ? "System" : "User", m.content);
  }
  if (tool)
    return "<|im_start|>user\n<tool_response>\n" + m.content + "\n</tool_response><|im_end|>\n";
  if (m.role != "assistant" || m.tool_calls.empty()) {
    return fmt::format("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content);
  }
  std::string text = "<|im_start|>assistant";
  if (!m.content.empty()) text += "\n" + m.content;
  for (const auto& c : m.tool_calls) {
    text += fmt::format("\n<tool_call>\n{{\"name\": \"{}\", \"arguments\": {}}}\n</tool_call>",
                        c.name, python_json(c.arguments));
  }
  return text + "<|im_end|>\n";
}

std::string ChatTemplate::default_system_message() const {
  return default_system_.empty() ? std::string() : message({"system", default_system_, {}});
}

std::string ChatTemplate::prompt(const std::vector<ChatMessage>& messages,
                                 const ToolSet* tools) const {
  const bool listed = tools && !tools->tools().empty();
  require(chatml_ || !listed, ErrorCode::InvalidArgument,
          "this model's chat format (RWKV World) has no tool calls: \"tools\" need a QRWKV6 "
          "(Qwen2.5 ChatML) model");
  const bool own_system = !messages.empty() && messages[0].role == "system";
  std::string text;
  size_t i = 0;
  if (listed) {
    const std::string system = own_system ? messages[0].content : default_system_;
    text = "<|im_start|>system\n" + system + (system.empty() ? "" : "\n\n");
    text += kToolsHead;
    for (const auto& t : tools->tools()) {
      text += '\n';
      text += python_json(t.spec);
    }
    text += std::string(kToolsTail) + "<|im_end|>\n";
    i = own_system ? 1 : 0;
  } else if (!own_system) {
    text = default_system_message();
  }
  for (; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "tool" || !chatml_) {
      text += message(m);
      continue;
    }
    // Consecutive results share one user turn.
    if (i == 0 || messages[i - 1].role != "tool") text += "<|im_start|>user";
    text += "\n<tool_response>\n" + m.content + "\n</tool_response>";
    if (i + 1 == messages.size() || messages[i + 1].role != "tool") text += "<|im_end|>\n";
  }
  return text + assistant_prefix();
}

std::vector<std::string> ChatTemplate::stops() const {
  if (chatml_) return {"<|im_end|>", "<|endoftext|>"};
  return {"\n\nUser:", "\n\n"};
}

}  // namespace vkr::cli
