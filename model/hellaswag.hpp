// hellaswag.hpp: llama-perplexity's HellaSwag multiple-choice score (--hellaswag), the parts that
// need no GPU: the task file, llama-perplexity's task order, the common prefix of the four
// continuations, its two log-probability formulas, and the printed accuracy lines with their
// Wilson interval. Facts: model/tools/llama_hellaswag_refs.py (llama.cpp's perplexity.cpp), whose
// data (tests/data/llama_hellaswag) checks ours. (llama-perplexity itself cannot run it on RWKV
// models: its recurrent memory refuses the batch that shares the prefix between 4 sequences.)
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vkr {

struct HellaswagTask {
  std::string context;
  int gold = 0;  // 0..3
  std::array<std::string, 4> endings;
};

// Six lines per task: context, gold index, four endings ('\n'-separated, a final newline
// optional). Throws vkr::Error(InvalidArgument) naming `name` and the line when the line count is
// not a multiple of 6 or a gold index is not 0..3.
std::vector<HellaswagTask> parse_hellaswag(std::string_view text, std::string_view name);

// The file indices of the `n` tasks llama-perplexity scores (n >= total: all of them), in its
// order: std::mt19937 seeded with 1, each task drawn uniformly from those left (the same order as
// llama.cpp built with libstdc++, whose uniform_int_distribution this is).
std::vector<size_t> hellaswag_order(size_t total, size_t n);

// Leading positions where all the token sequences agree.
size_t common_prefix(std::span<const std::vector<int32_t>> seqs);

// log p(tok) from the last row of the shared prefix (llama-perplexity's softmax route: float
// probabilities, then logf) and from the other rows (its compute_logprobs: float sum).
float prefix_token_logprob(std::span<const float> logits, int32_t tok);
float token_logprob(std::span<const float> logits, int32_t tok);

// "N\tACC%\t[LO%, HI%]": the running accuracy (percent) after n tasks, and its 95% Wilson interval.
std::string hellaswag_line(size_t n, size_t correct);

}  // namespace vkr
