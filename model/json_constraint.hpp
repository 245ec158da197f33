// json_constraint.hpp: sampling constrained to one JSON object (OpenAI's response_format
// {"type": "json_object"}, `generate --json`), or to a JSON schema (json_schema.hpp).
//  - JsonPrefix: an incremental byte-level JSON (RFC 8259) recognizer: push() says whether the
//    bytes so far are still the start of some JSON text whose top-level value is an object;
//    complete() whether they are a whole one. Strings must be valid UTF-8 with no raw control
//    characters; nesting is bounded (kMaxDepth), and so are runs of whitespace outside strings
//    (kMaxSpaces) so a model cannot pad forever.
//  - JsonConstraint: the same at token level over a vocabulary: which ids may come next
//    (end-of-generation ids only once the object is complete, and then nothing else), and the
//    constrained draw: the sampler's own draw first, kept if allowed (exact for greedy, and for
//    plain temperature sampling the same distribution as masking first); otherwise every id is
//    checked and the draw repeated over the allowed ones only (llama.cpp's grammar sampling does
//    the same two steps).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_schema.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr {

class JsonPrefix {
 public:
  static constexpr size_t kMaxDepth = 64;
  static constexpr uint32_t kMaxSpaces = 32;

  // Feeds one byte: false if no JSON object text starts with the bytes so far and this one (the
  // state is then unspecified: callers try bytes on a copy).
  bool push(unsigned char c);
  bool push(std::string_view bytes);
  // The bytes so far are one whole JSON object (and at most trailing whitespace).
  bool complete() const { return state_ == State::Done; }
  // Inside a string's text (no escape or UTF-8 sequence pending): printable ASCII other than
  // '"' and '\\' keeps it there.
  bool in_string_body() const { return state_ == State::String; }

 private:
  enum class State : uint8_t {
    Start,         // before the top-level object: whitespace or '{'
    Value,         // a value must come
    ValueOrClose,  // after '[': a value or ']'
    KeyOrClose,    // after '{': a key or '}'
    Key,           // after ',' in an object: a key
    Colon,         // after a key
    CommaOrClose,  // after a value inside a container
    String,
    Escape,      // after '\'
    Hex,         // \u: `left_` hex digits to go
    Utf8,        // `left_` continuation bytes to go, the next in [lo_, hi_]
    NumMinus,    // after '-'
    NumZero,     // a leading 0
    NumInt,      // integer digits
    NumDot,      // after '.'
    NumFrac,     // fraction digits
    NumExpMark,  // after 'e' / 'E'
    NumExpSign,  // after the exponent's sign
    NumExp,      // exponent digits
    Literal,     // in true / false / null: `literal_[left_]` next
    Done,        // the top-level object is closed: whitespace only
  };

  bool value_start(unsigned char c);
  bool space(unsigned char c);  // whitespace outside strings, bounded per run
  void after_value();           // a value ended: what its container (or the top level) expects
  bool end_number(unsigned char c);

  State state_ = State::Start;
  std::string stack_;  // '{' / '[' per open container
  bool key_ = false;   // the string being read is an object key
  uint8_t left_ = 0;   // hex digits, UTF-8 continuation bytes or literal bytes to go
  uint8_t lo_ = 0, hi_ = 0;
  const char* literal_ = nullptr;
  uint32_t spaces_ = 0;  // whitespace bytes in the current run
};

class JsonConstraint {
 public:
  // Without a schema: any JSON object; with one: texts matching it (json_schema.hpp).
  explicit JsonConstraint(const Tokenizer& tok, std::shared_ptr<const JsonSchema> schema = nullptr);

  // Whether `id` may come next: its bytes keep the text a JSON object prefix (CONTROL ids that do
  // not end generation never: they print nothing); end-of-generation ids once it is complete.
  bool allows(int32_t id) const;
  // Takes `id` (one allows() accepted).
  void accept(int32_t id);
  bool complete() const;

  // Draws the next id from `logits` with `sampler` (its chain and random stream), among the ids
  // allows() accepts. Throws InvalidArgument when none is allowed. Does not accept().
  int32_t sample(Sampler& sampler, std::span<const float> logits) const;

 private:
  // What a whole-vocabulary pass needs per id, computed once per constraint: most ids are refused
  // by their first byte alone, and inside a string most are "plain" (printable ASCII other than
  // '"' and '\\') and allowed without running the recognizer.
  struct IdClass {
    int16_t first = -1;  // first byte; -1: never allowed as text (empty, or CONTROL)
    bool plain = false;
  };
  bool allows_text(int32_t id, const bool* first_ok, bool plain_ok) const;

  const Tokenizer* tok_;
  std::shared_ptr<const JsonSchema> schema_;  // owns what a SchemaPrefix points at
  std::variant<JsonPrefix, SchemaPrefix> prefix_;
  std::shared_ptr<const std::vector<IdClass>> classes_;  // shared by copies
  // Where ids are tried (allows() and sample() are const, but one constraint serves one
  // sequence, from one thread at a time).
  mutable std::variant<JsonPrefix, SchemaPrefix> scratch_;
};

}  // namespace vkr
