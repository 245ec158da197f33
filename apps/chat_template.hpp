// chat_template.hpp: how a conversation becomes the text a model family was trained on: ChatML for
// QRWKV6 (Qwen2.5's tokenizer and template), "User: / Assistant:" turns for RWKV-6 World. Shared
// by `generate --chat` and `serve`, so both feed a model the same bytes for the same turns.
#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace vkr::cli {

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

class ChatTemplate {
 public:
  explicit ChatTemplate(Arch arch) : chatml_(arch == Arch::QRwkv6) {}

  // One whole message, closed. Throws InvalidArgument for a role other than the three above.
  std::string message(const ChatMessage& m) const;
  // What opens the assistant's reply (the model writes from there on).
  std::string assistant_prefix() const {
    return chatml_ ? "<|im_start|>assistant\n" : "Assistant:";
  }
  // What closes a reply the model wrote after assistant_prefix().
  std::string turn_end() const { return chatml_ ? "<|im_end|>\n" : "\n\n"; }
  // Every message, then the assistant prefix: the prompt for the next reply.
  std::string prompt(const std::vector<ChatMessage>& messages) const;
  // Text that ends a reply (not shown to the user) besides the tokenizer's end-of-generation ids.
  std::vector<std::string> stops() const;

 private:
  bool chatml_;
};

}  // namespace vkr::cli
