// model_draft.cpp: see model_draft.hpp.
#include "model_draft.hpp"

#include <fmt/format.h>

#include <cmath>

#include "vkr/error.hpp"

namespace vkr {

void check_draft_vocabulary(const Model& draft, const Model& target) {
  const std::string name = draft.file().path().string();
  const std::string target_name = target.file().path().string();
  const Tokenizer* tok = draft.tokenizer();
  const Tokenizer* want = target.tokenizer();
  require(tok != nullptr && want != nullptr, ErrorCode::InvalidArgument,
          "draft model {}: {} has no tokenizer, so the two cannot be matched", name,
          tok ? target_name : name);
  require(draft.config().V == target.config().V && tok->n_vocab() == want->n_vocab(),
          ErrorCode::InvalidArgument,
          "draft model {} has {} tokens ({} logits), {} has {} ({}): a draft model needs the same "
          "vocabulary",
          name, tok->n_vocab(), draft.config().V, target_name, want->n_vocab(), target.config().V);
  for (int32_t id = 0; id < want->n_vocab(); ++id) {
    require(tok->token_bytes(id) == want->token_bytes(id), ErrorCode::InvalidArgument,
            "draft model {}: token {} differs from {}'s: a draft model needs the same vocabulary",
            name, id, target_name);
  }
}

ModelDrafter::ModelDrafter(Model& draft, const Model& target) {
  check_draft_vocabulary(draft, target);
  own_ = std::make_unique<Session>(draft, 2);
  session_ = own_.get();
}

ModelDrafter::ModelDrafter(Session& shared, uint32_t slot, uint32_t spare)
    : session_(&shared), slot_(slot), spare_(spare) {
  require(slot != spare, ErrorCode::InvalidArgument, "draft slots: slot {} twice", slot);
  session_->state().reset(slot);
}

int32_t ModelDrafter::next(uint32_t slot, std::span<const int32_t> ids) {
  if (p_min_ <= 0) return session_->eval_argmax(slot, ids);
  const auto row = session_->eval(slot, ids);
  size_t best = 0;
  for (size_t i = 1; i < row.size(); ++i) best = row[i] > row[best] ? i : best;
  double sum = 0;  // the top token's probability is 1 / sum(exp(l - max))
  for (float l : row) sum += std::isnan(l) ? 0.0 : std::exp(static_cast<double>(l - row[best]));
  return 1.0 / sum >= p_min_ ? static_cast<int32_t>(best) : -1;
}

std::vector<int32_t> ModelDrafter::draft(size_t max) {
  std::vector<int32_t> out;
  if (max == 0 || pending_.empty()) return out;
  const int32_t first = next(slot_, pending_);  // the state reads the text either way
  pending_.clear();
  if (first < 0) return out;
  out.push_back(first);
  if (max > 1) session_->state().copy(slot_, spare_);
  while (out.size() < max) {
    const int32_t last[] = {out.back()};
    const int32_t id = next(spare_, last);
    if (id < 0) break;
    out.push_back(id);
  }
  return out;
}

}  // namespace vkr
