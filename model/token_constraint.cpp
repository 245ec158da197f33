// token_constraint.cpp: see token_constraint.hpp.
#include "token_constraint.hpp"

#include <cmath>

#include "grammar_constraint.hpp"
#include "json_constraint.hpp"
#include "tool_calls.hpp"
#include "vkr/error.hpp"

namespace vkr {

int32_t TokenConstraint::sample(Sampler& sampler, std::span<const float> logits) const {
  require(logits.size() == static_cast<size_t>(n_vocab()), ErrorCode::InvalidArgument,
          "constrained sampling: {} logits for a vocabulary of {}", logits.size(), n_vocab());
  const int32_t first = sampler.sample(logits);
  if (allows(first)) return first;
  std::vector<uint8_t> allowed(logits.size(), 0);
  allowed_ids(allowed);
  std::vector<float> masked(logits.begin(), logits.end());
  bool any = false;
  for (size_t id = 0; id < masked.size(); ++id) {
    float& l = masked[id];
    if (std::isnan(l) || l == -INFINITY) continue;
    if (allowed[id]) {
      any = true;
    } else {
      l = -INFINITY;
    }
  }
  require(any, ErrorCode::InvalidArgument,
          "constrained sampling: no token of the vocabulary can continue {}", what());
  return sampler.sample(masked);
}

std::unique_ptr<TokenConstraint> ConstraintSpec::make(const Tokenizer& tok) const {
  if (tool_calls) return std::make_unique<ToolCallConstraint>(tok, *tool_calls);
  if (grammar) return std::make_unique<GrammarConstraint>(tok, grammar);
  if (json) return std::make_unique<JsonConstraint>(tok, schema);
  return nullptr;
}

}  // namespace vkr
