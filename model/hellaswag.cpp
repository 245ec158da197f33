// hellaswag.cpp: the host side of llama-perplexity's HellaSwag score (hellaswag.hpp).
#include "hellaswag.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kld.hpp"
#include "vkr/error.hpp"

namespace vkr {

std::vector<HellaswagTask> parse_hellaswag(std::string_view text, std::string_view name) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  require(!lines.empty() && lines.size() % 6 == 0, ErrorCode::InvalidArgument,
          "{}: {} lines, not a whole number of HellaSwag tasks (6 lines each: context, gold "
          "index, 4 endings)",
          name, lines.size());
  std::vector<HellaswagTask> tasks(lines.size() / 6);
  for (size_t t = 0; t < tasks.size(); ++t) {
    HellaswagTask& task = tasks[t];
    task.context = lines[6 * t];
    const std::string_view gold = lines[6 * t + 1];
    require(gold.size() == 1 && gold[0] >= '0' && gold[0] <= '3', ErrorCode::InvalidArgument,
            "{}:{}: task {}'s gold index is '{}', not 0..3 (is a task longer than 6 lines?)", name,
            6 * t + 2, t + 1, gold);
    task.gold = gold[0] - '0';
    for (size_t e = 0; e < 4; ++e) task.endings[e] = lines[6 * t + 2 + e];
  }
  return tasks;
}

std::vector<size_t> hellaswag_order(size_t total, size_t n) {
  std::vector<size_t> left(total), order;
  for (size_t i = 0; i < total; ++i) left[i] = i;
  std::mt19937 rng(1);
  n = std::min(n, total);
  for (size_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<size_t> pick(0, left.size() - 1);
    const size_t k = pick(rng);
    order.push_back(left[k]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return order;
}

size_t common_prefix(std::span<const std::vector<int32_t>> seqs) {
  size_t n = 0;
  if (seqs.empty()) return 0;
  while (std::ranges::all_of(seqs,
                             [&](const auto& s) { return n < s.size() && s[n] == seqs[0][n]; })) {
    ++n;
  }
  return n;
}

float prefix_token_logprob(std::span<const float> l, int32_t tok) {
  float max = l[0];
  for (float v : l) max = std::max(max, v);
  const double sum_exp = sum_exp_below(l, max);
  const auto p = static_cast<float>(std::exp(l[static_cast<size_t>(tok)] - max) / sum_exp);
  return std::log(p);
}

float token_logprob(std::span<const float> l, int32_t tok) {
  float max = l[0];
  for (float v : l) max = std::max(max, v);
  float sum = 0;
  for (float v : l) sum += std::exp(v - max);
  return (l[static_cast<size_t>(tok)] - max) - std::log(sum);
}

std::string hellaswag_line(size_t n, size_t correct) {
  const double dn = static_cast<double>(n);
  const double f = static_cast<double>(correct) / dn;
  constexpr double za = 1.95996398454;
  const double z = za * za / dn;
  const double cnf = z * std::sqrt(dn * (4 * f * (1 - f) + z)) / (2 * za);
  const double lo = (f + z / 2 - cnf) / (1 + z), hi = (f + z / 2 + cnf) / (1 + z);
  return fmt::format("{}\t{:3.8f}%\t[{:3.4f}%, {:3.4f}%]", n, 100 * f, 100 * lo, 100 * hi);
}

}  // namespace vkr
