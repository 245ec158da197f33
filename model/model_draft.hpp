// model_draft.hpp: ModelDrafter, the guesser of speculative decoding with a draft model: a small
// model of the same vocabulary (RWKV-6 World 1.6B for a 14B, a low-bit copy of the model itself)
// reads the text as it grows and guesses greedily; the big model checks the guesses in one call
// (generation.hpp, Speculation).
#pragma once

#include <cstdint>
#include <vector>

#include "model.hpp"
#include "ngram_draft.hpp"
#include "session.hpp"

namespace vkr {

class ModelDrafter : public Drafter {
 public:
  // `draft` must have `target`'s vocabulary (the same token texts, in the same order, and as many
  // logits): otherwise an InvalidArgument naming both files and the first token that differs.
  ModelDrafter(Model& draft, const Model& target);

  using Drafter::add;
  // Kept until the next draft() runs them through the draft model (with a prompt, in pieces).
  void add(int32_t id) override { pending_.push_back(id); }
  // The draft model's greedy continuation: its state in slot 0 reads the pending tokens, and the
  // guesses run through a copy in slot 1, so nothing has to be taken back when they are refused.
  std::vector<int32_t> draft(size_t max) override;

 private:
  Model& model_;
  Session session_;
  std::vector<int32_t> pending_;  // the text's tokens slot 0 has not read
};

}  // namespace vkr
