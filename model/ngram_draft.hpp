// ngram_draft.hpp: Drafter, what speculative decoding's guesses come from (generation.hpp,
// Speculation), and NgramDrafter, the guesser of prompt-lookup decoding (speculative decoding
// without a draft model). It keeps every token of the text so far and, asked for a draft, finds
// the most recent earlier place where the text's last n tokens occurred (n from ngram_max down to
// ngram_min, the longest match first) and proposes the tokens that followed there. Summaries,
// code edits, quotations and answers about a document repeat their context, so the guess is often
// right; the model checks every guess in one forward call (generation.hpp), so a wrong one costs
// speed, never a different text.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace vkr {

// Sees the whole text (the prompt, then every token picked) and guesses how it goes on.
class Drafter {
 public:
  virtual ~Drafter() = default;
  // Appends a token to the text.
  virtual void add(int32_t id) = 0;
  void add(std::span<const int32_t> ids) {
    for (int32_t id : ids) add(id);
  }
  // Up to `max` tokens guessed to follow the text (empty: no guess).
  virtual std::vector<int32_t> draft(size_t max) = 0;
};

class NgramDrafter : public Drafter {
 public:
  static constexpr int kMaxNgram = 8;
  // 1 <= ngram_min <= ngram_max <= kMaxNgram (InvalidArgument otherwise).
  explicit NgramDrafter(int ngram_min = 1, int ngram_max = 4);

  using Drafter::add;
  void add(int32_t id) override;
  // Empty where no n-gram of the text's end occurred before. A guess running past the end of the
  // text goes on through itself, so a periodic text (a table's rows, "ab ab ab") goes on whole.
  std::vector<int32_t> draft(size_t max) override { return guess(max); }
  std::vector<int32_t> guess(size_t max) const;

  size_t size() const { return ids_.size(); }
  void clear();

 private:
  // Hash of ids_[end + 1 - n, end]; collisions are caught by comparing the tokens.
  uint64_t key(size_t end, int n) const;
  int min_, max_;
  std::vector<int32_t> ids_;
  // Per n - 1: key of an n-gram -> the last position it ended at with a token after it.
  std::vector<std::unordered_map<uint64_t, uint32_t>> last_;
};

}  // namespace vkr
