// multiple_choice.hpp: llama-perplexity's --multiple-choice score (ARC, MMLU, TruthfulQA and
// HellaSwag as binary task files), the parts that need no GPU: the file, the task order, the
// printed lines. Facts: model/tools/llama_multiple_choice_refs.py (llama.cpp's perplexity.cpp),
// whose data (tests/data/llama_multiple_choice) checks ours.
//
// The file (little-endian): uint32 n_task; uint32 offset[n_task] (each task's byte offset from
// the start of the file); then the tasks, each a question (string) and two answer sets, mc1
// (exactly the answers scored; label 1 marks the right one) and mc2 (read, not scored). A string
// is uint32 length + bytes; an answer set is uint32 n (<= 100), n strings, n int32 labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vkr {

struct MultipleChoiceAnswers {
  std::vector<std::string> answers;
  std::vector<int32_t> labels;  // 1: a right answer
};

struct MultipleChoiceTask {
  std::string question;       // the context the answers continue (joined with one space)
  MultipleChoiceAnswers mc1;  // scored: the first highest-scoring answer must have label 1
  MultipleChoiceAnswers mc2;  // several right answers (TruthfulQA's MC2); not scored
};

// Reads every task, checking what llama-perplexity leaves to chance: the offsets table (each
// offset must be where its task starts: llama-perplexity seeks to them when it draws tasks),
// lengths that stay inside the file, at most 100 answers, a non-empty question and answers,
// and one mc1 label 1 at least. Throws vkr::Error(InvalidArgument) naming `name`, the task and
// the byte offset. Bytes after the last task are ignored, as llama-perplexity does.
std::vector<MultipleChoiceTask> parse_multiple_choice(std::string_view bytes,
                                                      std::string_view name);

// The file parse_multiple_choice() reads back (tests, and converting other datasets).
std::string write_multiple_choice(const std::vector<MultipleChoiceTask>& tasks);

// The task order is winogrande_order(total, n): llama-perplexity draws both kinds the same way.

// "N\tACC" (percent, 8 decimals): llama-perplexity's running accuracy line.
std::string multiple_choice_line(size_t n, size_t correct);
// "Final result: ACC +/- ERR\nRandom chance: P +/- ERR\n" (percent) for `n` tasks with
// `answers` answers in all, llama-perplexity's closing lines (it prints them to stderr).
std::string multiple_choice_final(size_t n, size_t correct, size_t answers);

}  // namespace vkr
