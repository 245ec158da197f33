// server_api.hpp: the OpenAI-style JSON of `vkrwkv serve`: requests of /v1/completions and
// /v1/chat/completions parsed and checked (a bad field is an Error naming it), and the response
// and stream-chunk objects built. No HTTP and no GPU here, so all of it is testable on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat_template.hpp"
#include "generation.hpp"
#include "grammar.hpp"
#include "json_schema.hpp"
#include "sampler.hpp"
#include "sampler_json.hpp"
#include "tokenizer.hpp"
#include "tool_calls.hpp"

namespace vkr::cli {

// What a request may leave out.
struct RequestDefaults {
  int max_tokens = 256;
  SamplerParams sampling;
  SamplingExtras extras;
};

// One prompt of a completions request: text (special tokens parsed) or token ids, or (`parts`
// non-empty; llama-server's [12, 34, "text", 56] form) such pieces one after the other.
struct PromptInput {
  std::string text;
  std::optional<std::vector<int32_t>> ids;
  std::vector<PromptInput> parts;
};

struct CompletionRequest {
  static constexpr size_t kMaxChoices = 256;  // prompts x n

  bool chat = false;
  // completions: one or more prompts (a batch), each giving n choices: choice "index"
  // = prompt * n + k
  std::vector<PromptInput> prompts;
  std::vector<ChatMessage> messages;  // chat completions
  // chat: text the reply continues (after the assistant prefix; Anthropic's prefill)
  std::string prefill;
  int n = 1;                          // choices per prompt; choice k samples with seed + k
  int max_tokens = 0;
  SamplerParams sampling;
  SamplingExtras extras;  // text logit biases, ignore_eos: made into sampling by the server
  bool seeded = false;    // the request gave a seed
  std::vector<std::string> stop;
  bool stream = false;
  // -1: no log-probabilities; else each sampled token's and this many most likely alternatives
  // (completions: "logprobs": N; chat: "logprobs": true, "top_logprobs": N).
  int logprobs = -1;
  // completions: the choice's text starts with the prompt's (and with logprobs, the prompt's
  // tokens come first in them, the first one's values null), as OpenAI's "echo"
  bool echo = false;
  // response_format {"type": "json_object"} or {"type": "json_schema"}: each reply is constrained
  // to one JSON object, matching the schema when there is one (also llama-server's top-level
  // "json_schema"); "grammar" (GBNF text, as llama-server's): to a text of the grammar
  ConstraintSpec constraint;
  // chat: the functions the model may call ("tools", listed in the prompt) and "tool_choice":
  // Auto lets the model choose (its reply is split into content and tool_calls), Required and
  // Named constrain the reply to calls (of any function / of `tool_name`; several only with
  // "parallel_tool_calls"), None leaves the tools out of the prompt.
  enum class ToolChoice : uint8_t { None, Auto, Required, Named };
  std::shared_ptr<const ToolSet> tools;
  ToolChoice tool_choice = ToolChoice::Auto;
  std::string tool_name;
  bool parallel_tool_calls = true;
  // >= 0 ("id_slot", as llama-server's): the state at the end of each reply is kept in this cache
  // slot (replacing what it held), so POST /slots/N?action=save can write it to a file.
  int cache_slot = -1;
  // "speculative.n_max" (llama-server's name): prompt-lookup guesses per step, at most the
  // server's --lookup (0: none; -1: the server's).
  int lookup = -1;
  // "speculative.p_min": the draft model's probability cut-off in [0, 1] (-1: the server's).
  float draft_p_min = -1;
  // The tools the prompt lists and the reply may call (null: none).
  const ToolSet* offered_tools() const {
    return tools && tool_choice != ToolChoice::None ? tools.get() : nullptr;
  }
};

// Parses a request body. Unknown fields are ignored (clients send model, user, ...); fields this
// server cannot honour (the legacy "functions") and ill-typed or out-of-range values are an
// Error(InvalidArgument) naming the field.
CompletionRequest parse_request(std::string_view body, bool chat, const RequestDefaults& d);
// A body that must be a JSON object (an Error saying what it is otherwise).
nlohmann::json parse_object(std::string_view body);
// POST /tokenize {"content": text, "parse_special": bool = true} (llama-server's names) or
// {"prompt": text, "add_special_tokens": bool} (vLLM's; special-token text parsed, nothing added):
// the text and whether special-token text is parsed.
std::pair<std::string, bool> parse_tokenize(std::string_view body);
// POST /detokenize {"tokens": [ids]}: the ids, each checked to be in [0, n_vocab).
std::vector<int32_t> parse_detokenize(std::string_view body, int32_t n_vocab);

// What one prompt of a request produced.
struct ChoiceResult {
  std::string text;  // the whole text (not for stream chunks)
  Finish finish = Finish::Length;
  size_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  nlohmann::json logprobs;  // the choice's "logprobs" (logprobs_json), null when not asked for
  nlohmann::json tool_calls;  // chat: the calls the reply made (tool_calls_json), or null
};

// What one request produced, for the response objects.
struct CompletionResult {
  std::string id;     // "cmpl-..." / "chatcmpl-..."
  std::string model;  // the served model's name
  int64_t created = 0;
  std::vector<ChoiceResult> choices;  // by "index"
};

std::string finish_reason(Finish f);  // "stop" / "length" (Cancelled never reaches a client)
// The choice's: "tool_calls" when an ended reply made calls, else finish_reason(c.finish).
std::string finish_reason(const ChoiceResult& c);
nlohmann::json usage_json(const CompletionResult& r);  // summed over the choices
nlohmann::json response_json(const CompletionResult& r, bool chat);
// A stream chunk of choice `index` with `text` (first chunk of a chat: the role too) or, with
// `last`, its last chunk (empty text, the finish reason; the usage with `usage`). The
// choice's logprobs go along when not null; with `tool_calls` (chat), the delta carries them
// instead of text.
nlohmann::json chunk_json(const CompletionResult& r, bool chat, size_t index, std::string_view text,
                          bool first, bool last, bool usage,
                          const nlohmann::json* tool_calls = nullptr);
// OpenAI's "tool_calls" of a message: [{"id", "type": "function", "function": {"name",
// "arguments": a JSON text}}]; ids `id_base`_0, _1, ...; with `indexed` (stream deltas) each
// with its "index" too.
// Chat messages in /v1/chat/completions's form (how the other APIs' requests become chat ones).
nlohmann::ordered_json chat_messages_json(const std::vector<ChatMessage>& messages);
// A call's arguments as the JSON text clients get.
std::string arguments_text(const ToolCall& call);
nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls, std::string_view id_base,
                               bool indexed);

// A streamed chat reply that may hold tool calls: its content goes out as it comes, except text
// that may be (the start of) a call, held back until more text or the end decides.
class ToolCallStream {
 public:
  // Takes the next piece of the reply; returns the content that may go out now.
  std::string push(std::string_view piece);
  // At the reply's end: the content still held back (all of it when the reply made no calls)
  // and the calls.
  ParsedReply finish(const ToolSet& tools);

 private:
  std::string text_;  // the whole reply so far
  size_t sent_ = 0;   // bytes of it out as content
  bool in_call_ = false;
};
// The "logprobs" object of a choice (or of a stream chunk) for `lps`: completions {tokens,
// token_logprobs, top_logprobs, text_offset}, chat {content: [{token, logprob, bytes,
// top_logprobs}]}; an unscored entry (an echoed prompt's first) has null values. `offset`: bytes
// of the choice's text before the first of them (advanced).
nlohmann::json logprobs_json(std::span<const TokenLogprob> lps, bool chat, const Tokenizer& tok,
                             size_t& offset);
// JSON text for the wire: bytes that are not UTF-8 (a token can be part of a character) become
// U+FFFD instead of an exception.
std::string dump(const nlohmann::json& j);
nlohmann::json error_json(std::string_view message, std::string_view type);

}  // namespace vkr::cli
