// choice_eval.hpp: one multiple-choice task (HellaSwag, Winogrande, --multiple-choice) scored on a
// Session, the RWKV
// way: the shared prefix runs once, its state is copied to a second slot for each continuation
// (llama-perplexity evaluates the prefix once for all sequences too, which its recurrent memory
// refuses on RWKV models).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vkr {

class Session;

struct HellaswagScore {
  std::array<double, 4> mean{};  // mean log-probability of each continuation's tokens
  size_t chosen = 0;             // the first highest mean
  size_t prefix = 0;             // tokens shared by all four sequences (not scored)
};

// Scores the four token sequences (context + " " + ending) as llama-perplexity does: the tokens
// after the common prefix, by mean log-probability. Uses slots 0 and 1 of `session` (>= 2 slots).
// Throws vkr::Error(InvalidArgument) when the sequences share no prefix (empty context) or one of
// them has no token after it (an ending that all the others begin with).
HellaswagScore score_hellaswag(Session& session, const std::array<std::vector<int32_t>, 4>& seqs);

struct MultipleChoiceScore {
  std::vector<float> mean;  // mean log-probability of each answer's scored tokens (float sums)
  size_t chosen = 0;        // the first highest mean
  size_t prefix = 0;        // leading tokens not scored
};

// Scores the answers' token sequences (question + " " + answer) as llama-perplexity
// --multiple-choice does: the tokens after the common prefix, by mean log-probability. Where one
// sequence is all prefix (an answer whose tokens begin another's), the prefix is cut back by one
// token so every answer has a token of its own (llama-perplexity reads past that sequence's end).
// Uses slots 0 and 1. Throws vkr::Error(InvalidArgument) when the sequences share no token.
MultipleChoiceScore score_multiple_choice(Session& session,
                                          std::span<const std::vector<int32_t>> seqs);

struct WinograndeScore {
  std::array<float, 2> mean{};  // mean log-probability of each sentence's scored tokens
  int chosen = 1;               // 1 or 2 (2 on ties, as llama-perplexity)
};

// Scores the two sentences (first part + option + second part; n_base = tokens of first part +
// option) as llama-perplexity --winogrande does: the tokens after the option but the last one
// when both sentences have more than 3 tokens after their common prefix, else the tokens after
// the common prefix (the last one left out when more than one). Unlike llama-perplexity, the
// second sentence's first scored token is predicted from the shared prefix's logits there (its
// code reads sequence one's last row: "FIXME: wrong first logits"). Uses slots 0 and 1.
WinograndeScore score_winogrande(Session& session, const std::array<std::vector<int32_t>, 2>& seqs,
                                 const std::array<size_t, 2>& n_base);

}  // namespace vkr
