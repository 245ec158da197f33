// tool_calls.hpp: function calling in the format QRWKV6 inherits from Qwen2.5-Instruct (also
// known as Hermes 2 Pro's): after optional text, the model writes each call as
//   <tool_call>\n{"name": "<function>", "arguments": {...}}\n</tool_call>
// (several calls one per line). The functions offered are listed in the system turn
// (chat_template.hpp renders that side).
//  - ToolSet: the functions of a request (OpenAI's "tools"), checked, each one's parameters
//    compiled as a JSON schema (json_schema.hpp).
//  - parse_tool_calls(): a reply's text split into its content and its calls.
//  - ToolCallPrefix / ToolCallConstraint: sampling constrained to calls only (OpenAI's
//    tool_choice "required", or one named function): the exact format above, a declared name,
//    and arguments matching that function's parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_schema.hpp"
#include "token_constraint.hpp"
#include "tokenizer.hpp"

namespace vkr {

struct Tool {
  std::string name;
  nlohmann::ordered_json spec;  // the tool object as the request gave it (what the prompt lists)
  // What the arguments are constrained to: the function's "parameters" (no parameters: {}).
  // A schema outside json_schema.hpp's subset is an error with "strict": true, and otherwise
  // leaves the arguments any JSON object (OpenAI does not promise non-strict arguments either);
  // `loose` says so.
  std::shared_ptr<const JsonSchema> parameters;
  bool loose = false;
};

class ToolSet {
 public:
  // OpenAI's "tools": [{"type": "function", "function": {"name", "description"?,
  // "parameters"?, "strict"?}}, ...]. Names are 1 to 64 of [A-Za-z0-9_-] and distinct. Errors
  // (InvalidArgument) name the field: "tools[1].function.name".
  static std::shared_ptr<const ToolSet> parse(const nlohmann::ordered_json& tools);

  const std::vector<Tool>& tools() const { return tools_; }
  // The index of the function called `name`, or -1.
  int32_t find(std::string_view name) const;

 private:
  std::vector<Tool> tools_;
};

// A function name as OpenAI allows them: 1 to 64 of [A-Za-z0-9_-].
bool valid_tool_name(std::string_view name);

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // an object
};

struct ParsedReply {
  std::string content;  // the text before the calls (trailing whitespace dropped), or all of it
  std::vector<ToolCall> calls;
};

// Splits a reply: text, then calls each in <tool_call> ... </tool_call> (whitespace around and
// between them allowed) whose JSON is {"name": <a function of `tools`>, "arguments": {...}} (an
// arguments string holding a JSON object is taken too). A reply that is not of that shape (a
// call that does not parse or names no offered function, text after the calls) is all content
// and no calls, so nothing the model wrote is lost or half-read.
ParsedReply parse_tool_calls(std::string_view text, const ToolSet& tools);

// Where a streamed reply's text may go out as content: the length of `text`'s start that can be
// neither a tool call's beginning nor whitespace before one (the rest is held back until more
// text or the end decides).
size_t tool_call_free_prefix(std::string_view text);

// What a constrained reply may be: calls of any function of `tools` (or only of `only`), one or
// (with `parallel`) several. `lazy` (tool_choice "auto"): any text until the model writes
// kToolCallTrigger, from there calls only (the trigger being their first bytes), so a call the
// model begins is well-formed and nothing follows the calls; a reply without one is left free.
struct ToolCallSpec {
  std::shared_ptr<const ToolSet> tools;
  int32_t only = -1;  // an index into tools, or -1: any
  bool parallel = true;
  bool lazy = false;
};
inline constexpr std::string_view kToolCallTrigger = "<tool_call>";

// The byte-level recognizer of those replies' prefixes: the format exactly as the template
// shows it to the model, so the constraint costs the model nothing it was not trained on, and
// arguments spaced as the template's JSON is (at most one space, after ':' or ','; no other
// whitespace outside strings), so a model cannot pad a call with whitespace.
class ToolCallPrefix {
 public:
  // `spec.tools` must outlive the recognizer and its copies.
  explicit ToolCallPrefix(const ToolCallSpec& spec);

  // false if no reply starts with the bytes so far and this one (the state is then unspecified:
  // callers try bytes on a copy).
  bool push(unsigned char c);
  bool push(std::string_view bytes);
  // The bytes so far are whole calls.
  bool complete() const { return phase_ == Phase::Done; }
  bool may_continue() const { return phase_ != Phase::Done || parallel_; }
  // Inside a string of the arguments (no escape or UTF-8 sequence pending): printable ASCII
  // other than '"' and '\\' keeps it there.
  bool in_string_body() const { return phase_ == Phase::Args && args_->in_string_body(); }

 private:
  enum class Phase : uint8_t { Open, Name, Mid, Args, Close, Done };
  bool name_byte(unsigned char c);

  const ToolSet* tools_;
  int32_t only_;
  bool parallel_;
  Phase phase_ = Phase::Open;
  uint32_t pos_ = 0;   // bytes of the current literal matched
  std::string name_;   // Name: the function's name so far
  int32_t tool_ = -1;  // Args: the function called
  std::optional<SchemaPrefix> args_;
  unsigned char prev_ = 0;             // Args: the last byte taken
  bool in_str_ = false, esc_ = false;  // Args: inside a string (keys and literals too); after '\\'
};

class ToolCallConstraint final : public TokenConstraint {
 public:
  ToolCallConstraint(const Tokenizer& tok, ToolCallSpec spec);

  bool allows(int32_t id) const override;
  void accept(int32_t id) override;
  bool complete() const override { return !active_ || prefix_.complete(); }
  std::unique_ptr<TokenConstraint> fresh() const override;
  const char* what() const override { return "the tool calls"; }

  int32_t n_vocab() const override { return tok_->n_vocab(); }
  void allowed_ids(std::vector<uint8_t>& allowed) const override;

 private:
  const Tokenizer* tok_;
  ToolCallSpec spec_;
  // Ids all of whose bytes are printable ASCII other than '"' and '\\': allowed at once inside a
  // string (where nearly every id is), without running the recognizer. Shared by copies.
  std::shared_ptr<const std::vector<uint8_t>> plain_;
  ToolCallPrefix prefix_;
  mutable ToolCallPrefix scratch_;             // allows()' trial
  mutable std::vector<ToolCallPrefix> depth_;  // allowed_ids()' scratch
  // Lazy specs: calls are constrained once the trigger has been written; until then the end of
  // the text that may still begin it (from a '<'; usually empty) is kept, to find the trigger
  // across token boundaries.
  bool active_ = true;
  std::string tail_;
  mutable size_t trigger_at_ = std::string::npos;  // the last trial's: where the trigger starts
  // Not active: whether tail_ + `bytes` may come next (no trigger, or a trigger the recognizer,
  // fed from it into scratch_, takes); sets trigger_at_. Allocation-free without a '<'.
  bool trial_lazy(std::string_view bytes) const;
};

}  // namespace vkr
