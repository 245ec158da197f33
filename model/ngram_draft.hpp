// ngram_draft.hpp: NgramDrafter, the guesser of prompt-lookup decoding (speculative decoding
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

class NgramDrafter {
 public:
  static constexpr int kMaxNgram = 8;
  // 1 <= ngram_min <= ngram_max <= kMaxNgram (InvalidArgument otherwise).
  explicit NgramDrafter(int ngram_min = 1, int ngram_max = 4);

  // Appends tokens to the text (the prompt, then every generated token).
  void add(std::span<const int32_t> ids);
  void add(int32_t id);
  // Up to `max` tokens guessed to follow the text (empty: no n-gram of the text's end occurred
  // before). A guess running past the end of the text goes on through itself, so a periodic
  // text (a table's rows, "ab ab ab") is continued whole.
  std::vector<int32_t> draft(size_t max) const;

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
