// chunk_eval.hpp: llama-perplexity's chunked evaluation on a Session: a chunk of n_ctx tokens
// from a zero state, logits kept for the scored positions n_ctx / 2 .. n_ctx - 2 only (kld.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vkr {

class Session;

// Runs `chunk` (n_ctx >= 3 tokens) through slot 0 of `session` from a zero state and returns the
// logits after positions first = n_ctx / 2 .. n_ctx - 2 ((n_ctx - 1 - first) rows of V), the
// rows that predict chunk[first + 1 .. n_ctx - 1]. The first half runs without logits.
std::vector<float> chunk_logits(Session& session, std::span<const int32_t> chunk);

}  // namespace vkr
