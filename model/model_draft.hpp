// model_draft.hpp: ModelDrafter, the guesser of speculative decoding with a draft model: a small
// model of the same vocabulary (RWKV-6 World 1.6B for a 14B, a low-bit copy of the model itself)
// reads the text as it grows and guesses greedily; the big model checks the guesses in one call
// (generation.hpp, Speculation).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model.hpp"
#include "ngram_draft.hpp"
#include "session.hpp"

namespace vkr {

// `draft` must have `target`'s vocabulary (the same token texts, in the same order, and as many
// logits): otherwise an InvalidArgument naming both files and the first token that differs.
void check_draft_vocabulary(const Model& draft, const Model& target);

class ModelDrafter : public Drafter {
 public:
  // A session of its own on `draft` (checked against `target`: check_draft_vocabulary).
  ModelDrafter(Model& draft, const Model& target);
  // Slots `slot` and `spare` of a session shared with other drafters (a server's requests); the
  // state in `slot` is reset here.
  ModelDrafter(Session& shared, uint32_t slot, uint32_t spare);

  // Guessing stops at a token the draft model gives less than this probability (llama.cpp's
  // --draft-p-min): a doubtful guess is rarely kept and costs a draft step. 0: always `max`
  // guesses (only each row's argmax read back; with p_min > 0 the whole row, to normalize).
  void set_p_min(float p) { p_min_ = p; }

  using Drafter::add;
  // Kept until the next draft() runs them through the draft model (with a prompt, in pieces).
  void add(int32_t id) override { pending_.push_back(id); }
  // The draft model's greedy continuation: its state in `slot` reads the pending tokens, and the
  // guesses run through a copy in `spare`, so nothing has to be taken back when they are refused.
  std::vector<int32_t> draft(size_t max) override;

 private:
  std::unique_ptr<Session> own_;
  Session* session_;
  uint32_t slot_ = 0, spare_ = 1;
  float p_min_ = 0;
  // The draft model's next token after `ids` through `slot`, or -1 below p_min_.
  int32_t next(uint32_t slot, std::span<const int32_t> ids);
  std::vector<int32_t> pending_;  // the text's tokens `slot` has not read
};

}  // namespace vkr
