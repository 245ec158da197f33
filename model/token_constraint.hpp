// token_constraint.hpp: sampling constrained to the texts some recognizer accepts, at token level
// over a vocabulary: one JSON object or one matching a schema (json_constraint.hpp), or the
// language of a GBNF grammar (grammar_constraint.hpp). Generation, the server and the C API hold
// a TokenConstraint and need not know which.
//
// The constrained draw is the same for all: the sampler's own draw first, kept if allowed (exact
// for greedy, and for plain temperature sampling the same distribution as masking first);
// otherwise every id is checked and the draw repeated over the allowed ones only (llama.cpp's
// grammar sampling does the same two steps).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sampler.hpp"

namespace vkr {

class Grammar;
class JsonSchema;
class Tokenizer;
struct ToolCallSpec;

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;

  // Whether `id` may come next: its bytes keep the text a prefix of an accepted one (ids that
  // print nothing never), end-of-generation ids once the text may end.
  virtual bool allows(int32_t id) const = 0;
  // Takes `id` (one allows() accepted; otherwise Error(InvalidArgument)).
  virtual void accept(int32_t id) = 0;
  // The text so far may end here (an end-of-generation id is allowed).
  virtual bool complete() const = 0;
  // The same constraint from its start (no text taken yet).
  virtual std::unique_ptr<TokenConstraint> fresh() const = 0;
  // What the texts are, for messages: "the JSON text", "the grammar".
  virtual const char* what() const = 0;

  // Draws the next id from `logits` (one per vocabulary id) with `sampler` (its chain and random
  // stream), among the ids allows() accepts. Throws InvalidArgument when none is allowed. Does
  // not accept().
  int32_t sample(Sampler& sampler, std::span<const float> logits) const;

  virtual int32_t n_vocab() const = 0;
  // allowed[id] = 1 for every id allows() accepts (allowed has n_vocab() entries, all 0). The
  // whole row at once, so implementations can share work between ids.
  virtual void allowed_ids(std::vector<uint8_t>& allowed) const = 0;
};

// What a command or request asks its replies to be: anything, one JSON object (matching
// `schema` where there is one), a text of `grammar`, or tool calls only (tool_calls.hpp).
struct ConstraintSpec {
  bool json = false;
  std::shared_ptr<const JsonSchema> schema;  // with json
  std::shared_ptr<const Grammar> grammar;
  std::shared_ptr<const ToolCallSpec> tool_calls;

  bool any() const { return json || grammar || tool_calls; }
  // A fresh constraint over `tok`'s vocabulary (null when any() is false).
  std::unique_ptr<TokenConstraint> make(const Tokenizer& tok) const;
};

}  // namespace vkr
