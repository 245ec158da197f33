// DRY's sequence breakers as tokens (see dry_breakers.hpp).
#include "dry_breakers.hpp"

#include <algorithm>

namespace vkr {

std::shared_ptr<const DryBreakers> dry_sequence_breakers(const Tokenizer& tok,
                                                         std::span<const std::string> breakers) {
  constexpr size_t kMaxBytes = 40, kMaxTail = 20;
  std::vector<std::string> strs;
  for (const std::string& b : breakers)
    if (!b.empty()) strs.push_back(b.substr(0, kMaxBytes));
  auto out = std::make_shared<DryBreakers>();
  auto& seqs = out->sequences;
  // The tails of the breakers' ends, tokenized once each.
  std::vector<std::vector<std::vector<int32_t>>> tails(strs.size());
  for (size_t j = 0; j < strs.size(); ++j) {
    for (size_t n = 1; n < strs[j].size(); ++n) {
      auto t = tok.encode(std::string_view(strs[j]).substr(n), false);
      if (t.size() > kMaxTail) t.resize(kMaxTail);
      tails[j].push_back(std::move(t));
    }
  }
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const int32_t one[] = {id};
    const std::string word = tok.decode(one, true);
    for (size_t j = 0; j < strs.size(); ++j) {
      const std::string& s = strs[j];
      if (word.find(s) != std::string::npos) {
        seqs.emplace_back(id, std::vector<int32_t>{});
        continue;
      }
      // The word ends with s's first m bytes (m < |s|): the rest must follow as tokens.
      for (size_t pos = word.find(s[0]); pos != std::string::npos; pos = word.find(s[0], pos + 1)) {
        const size_t m = word.size() - pos;
        if (m < s.size() && word.compare(pos, m, s, 0, m) == 0)
          seqs.emplace_back(id, tails[j][m - 1]);
      }
    }
  }
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  return out;
}

std::shared_ptr<const DryBreakers> DryBreakerCache::get(const Tokenizer& tok,
                                                        const std::vector<std::string>& breakers) {
  std::lock_guard lock(mutex_);
  if (made_.size() >= 16 && !made_.count(breakers)) made_.clear();
  auto& made = made_[breakers];
  if (!made) made = dry_sequence_breakers(tok, breakers);
  return made;
}

void resolve_dry_breakers(SamplerParams& params, const Tokenizer& tok, DryBreakerCache* cache) {
  if (!params.dry_enabled() || params.dry_sequence_breakers.empty()) return;
  params.dry_breakers = cache ? cache->get(tok, params.dry_sequence_breakers)
                              : dry_sequence_breakers(tok, params.dry_sequence_breakers);
}

}  // namespace vkr
