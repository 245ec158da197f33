// DRY ("don't repeat yourself", llama.cpp's port of koboldcpp's sampler): an id that would extend
// a repetition of the recent text longer than dry_allowed_length tokens is penalized by
// multiplier * base^(length - allowed_length). A repetition never reaches back across a
// sequence breaker (a newline, ':' ... as tokens, DryBreakers).
#include <algorithm>
#include <cmath>
#include <map>

#include "sampler.hpp"
#include "sampler_detail.hpp"

namespace vkr {

namespace {

using Sequences = std::vector<std::pair<int32_t, std::vector<int32_t>>>;

// The heads' range of `seqs` (sorted by head).
std::pair<Sequences::const_iterator, Sequences::const_iterator> with_head(const Sequences& seqs,
                                                                          int32_t id) {
  return std::equal_range(seqs.begin(), seqs.end(),
                          std::pair<int32_t, std::vector<int32_t>>{id, {}},
                          [](const auto& a, const auto& b) { return a.first < b.first; });
}

// z[k] = the length of the longest common prefix of s and s[k..] (z[0] = 0): the Z-algorithm.
std::vector<int> z_array(const std::vector<int32_t>& s) {
  const int n = static_cast<int>(s.size());
  std::vector<int> z(s.size(), 0);
  int lt = 0, rt = 0;  // [lt, rt): the rightmost match window found so far
  for (int k = 1; k < n; ++k) {
    int m = 0;
    if (k < rt) m = std::min(rt - k, z[static_cast<size_t>(k - lt)]);
    while (k + m < n && s[static_cast<size_t>(m)] == s[static_cast<size_t>(k + m)]) ++m;
    z[static_cast<size_t>(k)] = m;
    if (k + m > rt) {
      lt = k;
      rt = k + m;
    }
  }
  return z;
}

}  // namespace

void Sampler::apply_dry() {
  if (!params_.dry_enabled()) return;
  const int allowed = params_.dry_allowed_length;
  const int n = static_cast<int>(dry_history_.size());
  if (n <= allowed) return;
  // s[i]: the i-th id from the end (s[0] the last accepted).
  std::vector<int32_t> s(dry_history_.rbegin(), dry_history_.rend());
  static const Sequences kNone;
  const Sequences& seqs = params_.dry_breakers ? params_.dry_breakers->sequences : kNone;

  // 1. The nearest breaker bounds every repetition: none may reach back across it.
  int limit = n;
  for (int i = 0; i < n; ++i) {
    const auto [first, last] = with_head(seqs, s[static_cast<size_t>(i)]);
    int longest = -1;
    for (auto it = first; it != last; ++it) {
      const int len = static_cast<int>(it->second.size());
      if (len <= longest || len > i) continue;
      bool match = true;  // the tail follows the head: s[i - 1], s[i - 2] ...
      for (int o = 0; o < len && match; ++o)
        match = it->second[static_cast<size_t>(o)] == s[static_cast<size_t>(i - o - 1)];
      if (match) longest = len;
    }
    if (longest >= 0) {
      limit = i - longest;
      break;
    }
  }
  if (limit < allowed) return;

  // 2. For each earlier position k, the length of the repetition of the text's end that ends
  // just before it (z of the reversed text), capped at the limit; 3. the id that follows that
  // earlier occurrence, s[k - 1], would extend it.
  const std::vector<int> z = z_array(s);
  std::map<int32_t, int> longest;
  for (int k = 1; k < n; ++k) {
    const int len = std::min(z[static_cast<size_t>(k)], limit);
    if (len < allowed) continue;
    int& v = longest[s[static_cast<size_t>(k - 1)]];
    v = std::max(v, len);
  }
  if (longest.empty()) return;

  // 4. The penalties; base^exponent is capped below float overflow; ids that are a breaker by
  // themselves are never penalized.
  const float kFloatMaxLog = 88.7228391f;
  int max_exponent = 0;
  if (params_.dry_base > 1.000001f)
    max_exponent = static_cast<int>(kFloatMaxLog / std::log(params_.dry_base));
  std::vector<std::pair<int32_t, float>> amounts;
  for (const auto& [id, len] : longest) {
    const auto [first, last] = with_head(seqs, id);
    if (std::any_of(first, last, [](const auto& e) { return e.second.empty(); })) continue;
    int e = len - allowed;
    if (max_exponent > 0 && e > max_exponent) e = max_exponent;
    amounts.emplace_back(id,
                         static_cast<float>(static_cast<double>(params_.dry_multiplier) *
                                            std::pow(static_cast<double>(params_.dry_base), e)));
  }
  sampling::for_each_listed(cand_, by_id_, amounts,
                            [](Candidate& c, float amount) { c.logit -= amount; });
  sorted_ = false;
  w_valid_ = false;
}

}  // namespace vkr
