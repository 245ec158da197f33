// winogrande.hpp: llama-perplexity's Winogrande score (--winogrande), the parts that need no GPU:
// the CSV tasks (index,sentence,option1,option2,answer; the sentence holds '_' where an option
// goes), llama-perplexity's task order and its printed lines. Facts:
// model/tools/llama_winogrande_refs.py (llama.cpp's perplexity.cpp), whose data
// (tests/data/llama_winogrande) checks ours. Two deliberate differences: a last line without a
// newline is read (llama-perplexity drops it), and the second sentence's first scored token uses
// the right logits (choice_eval.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vkr {

struct WinograndeTask {
  std::string first, second;  // the sentence before / after the '_'
  std::array<std::string, 2> options;
  int answer = 1;  // 1 or 2
};

struct WinograndeFile {
  std::vector<WinograndeTask> tasks;
  std::vector<std::string> skipped;  // "line N: why" for each line that is not a task (a header)
};

// Lines that are not tasks (too few fields, an answer other than 1 / 2, no '_') are skipped and
// listed, as llama-perplexity skips them; a file without any task is an error naming it.
WinograndeFile parse_winogrande(std::string_view text, std::string_view name);

// The task indices llama-perplexity scores: all in file order when n is 0 or covers them,
// else n drawn with std::mt19937(1) by its float formula, swap-removing each pick.
std::vector<size_t> winogrande_order(size_t total, size_t n);

// "N\tACC\tS1  S2  CHOSEN  ANSWER" (running accuracy in percent), llama-perplexity's task line.
std::string winogrande_line(size_t n, size_t correct, float s1, float s2, int chosen, int answer);
// "Final Winogrande score(N tasks): ACC +/- ERR" (llama-perplexity prints it from 100 tasks on).
std::string winogrande_final(size_t n, size_t correct);

}  // namespace vkr
