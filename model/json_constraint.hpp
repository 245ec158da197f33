// json_constraint.hpp: sampling constrained to one JSON object (OpenAI's response_format
// {"type": "json_object"}, `generate --json`), or to one value of a JSON schema
// (json_schema.hpp; its root may be any value: an object, an array, an enum of strings ...).
//  - JsonPrefix: whether bytes are still the start of a JSON object text (RFC 8259), and whether
//    they are a whole one (json_schema.hpp's recognizer over the schema {"type": "object"}).
//  - JsonConstraint: the same at token level over a vocabulary (a TokenConstraint): which ids may
//    come next (end-of-generation ids only once the value may end, and nothing else once it is
//    complete).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "json_schema.hpp"
#include "sampler.hpp"
#include "token_constraint.hpp"
#include "tokenizer.hpp"

namespace vkr {

// Any JSON object (json_object mode): a SchemaPrefix over JsonSchema::any_object(), owning it.
// Strings must be valid UTF-8 with no raw control characters; nesting is bounded (kMaxDepth) and
// so are runs of whitespace outside strings (one line break, kMaxSpaces spaces or tabs), so a model
// cannot pad forever.
class JsonPrefix {
 public:
  static constexpr size_t kMaxDepth = SchemaPrefix::kMaxDepth;
  static constexpr uint32_t kMaxSpaces = SchemaPrefix::kMaxSpaces;

  JsonPrefix() : schema_(JsonSchema::any_object()), prefix_(*schema_) {}
  // false if no JSON object text starts with the bytes so far and these (the state is then
  // unspecified: callers try bytes on a copy).
  bool push(unsigned char c) { return prefix_.push(c); }
  bool push(std::string_view bytes) { return prefix_.push(bytes); }
  // The bytes so far are one whole JSON object (and at most trailing whitespace).
  bool complete() const { return prefix_.complete(); }

 private:
  std::shared_ptr<const JsonSchema> schema_;  // what prefix_ points at (shared by copies)
  SchemaPrefix prefix_;
};

class JsonConstraint final : public TokenConstraint {
 public:
  // Without a schema: any JSON object; with one: a text of one value matching it.
  explicit JsonConstraint(const Tokenizer& tok, std::shared_ptr<const JsonSchema> schema = nullptr);

  // Whether `id` may come next: its bytes keep the text a prefix of a matching value (CONTROL ids
  // that do not end generation never: they print nothing); end-of-generation ids once it may
  // end (SchemaPrefix::may_end()).
  bool allows(int32_t id) const override;
  // Takes `id` (one allows() accepted).
  void accept(int32_t id) override;
  bool complete() const override;
  std::unique_ptr<TokenConstraint> fresh() const override;
  const char* what() const override { return "the JSON text"; }

  int32_t n_vocab() const override;
  void allowed_ids(std::vector<uint8_t>& allowed) const override;

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
  std::shared_ptr<const JsonSchema> schema_;  // what prefix_ points at
  SchemaPrefix prefix_;
  std::shared_ptr<const std::vector<IdClass>> classes_;  // shared by copies
  // Where ids are tried (allows() and sample() are const, but one constraint serves one
  // sequence, from one thread at a time).
  mutable SchemaPrefix scratch_;
};

}  // namespace vkr
