// chat_template.cpp: see chat_template.hpp.
#include "chat_template.hpp"

#include <fmt/format.h>

#include "vkr/error.hpp"

namespace vkr::cli {

std::string ChatTemplate::message(const ChatMessage& m) const {
  require(m.role == "system" || m.role == "user" || m.role == "assistant",
          ErrorCode::InvalidArgument,
          "chat message role '{}' is not one of system, user, assistant", m.role);
  if (chatml_) return fmt::format("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content);
  // A reply is exactly what the model wrote after "Assistant:" (its leading space included), so
  // a conversation sent back re-creates the tokens the model saw.
  if (m.role == "assistant") return assistant_prefix() + m.content + turn_end();
  return fmt::format("{}: {}\n\n", m.role == "system" ? "System" : "User", m.content);
}

std::string ChatTemplate::prompt(const std::vector<ChatMessage>& messages) const {
  std::string text;
  for (const auto& m : messages) text += message(m);
  return text + assistant_prefix();
}

std::vector<std::string> ChatTemplate::stops() const {
  if (chatml_) return {"<|im_end|>", "<|endoftext|>"};
  return {"\n\nUser:", "\n\n"};
}

}  // namespace vkr::cli
