// grammar_constraint.cpp: see grammar_constraint.hpp.
#include "grammar_constraint.hpp"

#include "prefix_scan.hpp"
#include "vkr/error.hpp"

namespace vkr {

GrammarConstraint::GrammarConstraint(const Tokenizer& tok, std::shared_ptr<const Grammar> grammar)
    : tok_(&tok), grammar_(std::move(grammar)), prefix_(grammar_), scratch_(grammar_) {}

std::unique_ptr<TokenConstraint> GrammarConstraint::fresh() const {
  auto c = std::make_unique<GrammarConstraint>(*this);
  c->prefix_ = GrammarPrefix(grammar_);
  c->scratch_ = c->prefix_;
  c->depth_.clear();
  return c;
}

bool GrammarConstraint::allows(int32_t id) const {
  if (id < 0 || id >= tok_->n_vocab()) return false;
  if (tok_->is_eog(id)) return complete();
  if (!prints_text(*tok_, id)) return false;
  scratch_ = prefix_;
  return scratch_.push(tok_->token_bytes(id));
}

void GrammarConstraint::accept(int32_t id) {
  require(allows(id), ErrorCode::InvalidArgument, "token {} does not continue {}", id, what());
  if (tok_->is_eog(id)) return;
  prefix_ = scratch_;  // allows() left the state after the token there
  if (prefix_.arena_size() > kCompactAt) prefix_.compact();
}

void GrammarConstraint::allowed_ids(std::vector<uint8_t>& allowed) const {
  if (complete()) {
    for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
      if (tok_->is_eog(id)) allowed[static_cast<size_t>(id)] = 1;
    }
  }
  if (prefix_.may_continue()) scan_vocabulary(*tok_, prefix_, depth_, allowed);
}

}  // namespace vkr
