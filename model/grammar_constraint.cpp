// grammar_constraint.cpp: see grammar_constraint.hpp.
#include "grammar_constraint.hpp"

#include <algorithm>
#include <string>

#include "vkr/error.hpp"

namespace vkr {

namespace {

// Ids that may stand for text: not control or end ids, not empty, and (as llama.cpp's grammar
// sampler) not starting with a NUL byte, which no grammar user wants printed.
bool prints_text(const Tokenizer& tok, int32_t id) {
  const std::string& b = tok.token_bytes(id);
  return !b.empty() && b[0] != '\0' && !tok.is_control(id) && !tok.is_eog(id);
}

}  // namespace

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
  if (!prefix_.may_continue()) return;
  if (depth_.empty()) depth_.push_back(prefix_);
  depth_[0] = prefix_;
  const std::string* prev = nullptr;
  size_t valid = 0;           // depth_[1..valid] hold prev's first bytes
  size_t refused = SIZE_MAX;  // prev's shortest refused prefix (its length)
  for (int32_t id : tok_->ids_by_bytes()) {
    if (!prints_text(*tok_, id)) continue;
    const std::string& b = tok_->token_bytes(id);
    size_t common = 0;
    if (prev) {
      const size_t n = std::min(prev->size(), b.size());
      while (common < n && (*prev)[common] == b[common]) ++common;
    }
    prev = &b;
    if (refused <= common) {  // starts with a refused prefix
      valid = std::min(valid, common);
      continue;
    }
    refused = SIZE_MAX;
    size_t d = std::min(valid, common);
    if (depth_.size() < b.size() + 1) depth_.resize(b.size() + 1, prefix_);
    for (; d < b.size(); ++d) {
      depth_[d + 1] = depth_[d];
      if (!depth_[d + 1].push(static_cast<unsigned char>(b[d]))) {
        refused = d + 1;
        break;
      }
    }
    valid = d;
    if (refused == SIZE_MAX) allowed[static_cast<size_t>(id)] = 1;
  }
}

}  // namespace vkr
