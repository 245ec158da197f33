// chat_template.hpp: how a conversation becomes the text a model family was trained on: ChatML for
// QRWKV6 (Qwen2.5's tokenizer and template, tool calls included), "User: / Assistant:" turns for
// RWKV-6 World. Shared by `generate --chat` and `serve`, so both feed a model the same bytes for
// the same turns.
//
// For QRWKV6 the text is what Qwen2.5-Instruct's Jinja template (the tokenizer.chat_template a
// Qwen2.5-derived GGUF carries) renders with add_generation_prompt, checked against that template
// run by Jinja (tests/data/chat_template): the default system message when the conversation has
// none (read from the model's template; none when the file has no template), the functions of
// `tools` listed in the system turn, an assistant's earlier calls as <tool_call> blocks, and
// "tool" messages (results) as <tool_response> blocks in a user turn.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "tool_calls.hpp"

namespace vkr {
class Model;
}

namespace vkr::cli {

struct ChatMessage {
  std::string role;  // system, user, assistant, or tool (a call's result)
  std::string content;
  std::vector<ToolCall> tool_calls;  // an assistant's earlier calls
};

class ChatTemplate {
 public:
  // `model_template`: the model file's tokenizer.chat_template (may be empty).
  explicit ChatTemplate(Arch arch, std::string_view model_template = {});
  // The template of `model`'s family with its file's tokenizer.chat_template.
  static ChatTemplate of(const Model& model);

  // One whole message, closed (a tool message as its own user turn). Throws InvalidArgument for
  // a role other than the four above, or tool calls and results in the RWKV World format.
  std::string message(const ChatMessage& m) const;
  // What opens the assistant's reply (the model writes from there on).
  std::string assistant_prefix() const {
    return chatml_ ? "<|im_start|>assistant\n" : "Assistant:";
  }
  // What closes a reply the model wrote after assistant_prefix().
  std::string turn_end() const { return chatml_ ? "<|im_end|>\n" : "\n\n"; }
  // Every message, then the assistant prefix: the prompt for the next reply. With `tools` (not
  // empty), their list in the system turn.
  std::string prompt(const std::vector<ChatMessage>& messages,
                     const ToolSet* tools = nullptr) const;
  // The system message a conversation without one starts with ("" when none).
  std::string default_system_message() const;
  // Text that ends a reply (not shown to the user) besides the tokenizer's end-of-generation ids.
  std::vector<std::string> stops() const;
  // Whether the format has tool calls (the model was trained to write them).
  bool has_tool_calls() const { return chatml_; }

  // The default system text of a Qwen-style Jinja template: the literal of its
  // '<|im_start|>system\n...<|im_end|>' branch ("" when it has none).
  static std::string default_system_of(std::string_view jinja);

 private:
  bool chatml_;
  std::string default_system_;
};

// JSON as Python's json.dumps(ensure_ascii=False) writes it (", " and ": " separators, keys in
// their order): the form Hugging Face's `tojson` gives templates, so the model sees the tools
// and arguments spelled as in its training.
std::string python_json(const nlohmann::ordered_json& v);

}  // namespace vkr::cli
