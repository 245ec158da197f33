// hellaswag_eval.hpp: one HellaSwag task scored on a Session, the RWKV way: the shared prefix
// runs once, its state is copied to a second slot for each continuation (llama-perplexity
// evaluates the prefix once for 4 sequences too, which its recurrent memory refuses).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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
// them has no token after it (two identical endings).
HellaswagScore score_hellaswag(Session& session, const std::array<std::vector<int32_t>, 4>& seqs);

}  // namespace vkr
