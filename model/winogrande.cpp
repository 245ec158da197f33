// winogrande.cpp: the host side of llama-perplexity's Winogrande score (winogrande.hpp).
#include "winogrande.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>

#include "vkr/error.hpp"

namespace vkr {

namespace {

// Why `line` is not a task, or "" when it is one (then `task` is filled).
std::string parse_line(std::string_view line, WinograndeTask& task) {
  size_t comma[4];
  size_t found = 0;
  bool quoted = false;
  for (size_t i = 0; i < line.size() && found < 4; ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == ',' && !quoted) comma[found++] = i;
  }
  if (found < 4) return "fewer than 5 comma-separated fields";
  std::string_view sentence = line.substr(comma[0] + 1, comma[1] - comma[0] - 1);
  if (sentence.size() >= 2 && sentence.front() == '"') {
    sentence = sentence.substr(1, sentence.size() - 2);  // the outer quotes
  }
  const std::string_view answer = line.substr(comma[3] + 1);
  size_t a = answer.find_first_not_of(" \t");
  const int value =
      a < answer.size() && (answer[a] == '1' || answer[a] == '2') &&
              (a + 1 == answer.size() || !std::isdigit(static_cast<unsigned char>(answer[a + 1])))
          ? answer[a] - '0'
          : 0;
  if (value == 0) return fmt::format("answer '{}' is not 1 or 2", answer);
  const size_t blank = sentence.find('_');
  if (blank == std::string_view::npos) return "no '_' in the sentence";
  task.first = std::string(sentence.substr(0, blank));
  task.second = std::string(sentence.substr(blank + 1));
  task.options = {std::string(line.substr(comma[1] + 1, comma[2] - comma[1] - 1)),
                  std::string(line.substr(comma[2] + 1, comma[3] - comma[2] - 1))};
  task.answer = value;
  return "";
}

}  // namespace

WinograndeFile parse_winogrande(std::string_view text, std::string_view name) {
  WinograndeFile f;
  size_t number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    if (line.empty()) continue;
    WinograndeTask task;
    const std::string why = parse_line(line, task);
    if (why.empty()) {
      f.tasks.push_back(std::move(task));
    } else {
      f.skipped.push_back(fmt::format("line {}: {}", number, why));
    }
  }
  require(!f.tasks.empty(), ErrorCode::InvalidArgument,
          "{}: no Winogrande task (lines: index,sentence with _,option1,option2,answer){}", name,
          f.skipped.empty() ? std::string() : "; first problem: " + f.skipped.front());
  return f;
}

std::vector<size_t> winogrande_order(size_t total, size_t n) {
  std::vector<size_t> order;
  if (n == 0 || n >= total) {
    for (size_t i = 0; i < total; ++i) order.push_back(i);
    return order;
  }
  std::vector<size_t> aux(total);
  for (size_t i = 0; i < total; ++i) aux[i] = i;
  std::mt19937 rng(1);
  constexpr float kScale = 1.0f / 4294967296.0f;
  for (size_t i = 0; i < n; ++i) {
    auto j =
        static_cast<size_t>(kScale * static_cast<float>(rng()) * static_cast<float>(aux.size()));
    j = std::min(j, aux.size() - 1);  // a draw that rounds to 1.0
    order.push_back(aux[j]);
    aux[j] = aux.back();
    aux.pop_back();
  }
  return order;
}

std::string winogrande_line(size_t n, size_t correct, float s1, float s2, int chosen, int answer) {
  return fmt::format("{}\t{:.4f}\t{:10.6f}  {:10.6f}  {}  {}", n,
                     100.0 * static_cast<double>(correct) / static_cast<double>(n), s1, s2, chosen,
                     answer);
}

std::string winogrande_final(size_t n, size_t correct) {
  const float p = static_cast<float>(correct) / static_cast<float>(n);
  const float sigma = 100.0f * std::sqrt(p * (1 - p) / static_cast<float>(n - 1));
  return fmt::format("Final Winogrande score({} tasks): {:.4f} +/- {:.4f}", n, 100.0f * p, sigma);
}

}  // namespace vkr
