// ngram_draft.cpp: see ngram_draft.hpp.
#include "ngram_draft.hpp"

#include <algorithm>

#include "vkr/error.hpp"

namespace vkr {

NgramDrafter::NgramDrafter(int ngram_min, int ngram_max) : min_(ngram_min), max_(ngram_max) {
  require(ngram_min >= 1 && ngram_min <= ngram_max && ngram_max <= kMaxNgram,
          ErrorCode::InvalidArgument,
          "lookup n-gram sizes must satisfy 1 <= min <= max <= {}, got min {} and max {}",
          kMaxNgram, ngram_min, ngram_max);
  last_.resize(static_cast<size_t>(max_));
}

uint64_t NgramDrafter::key(size_t end, int n) const {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (size_t i = end + 1 - static_cast<size_t>(n); i <= end; ++i) {
    h ^= static_cast<uint32_t>(ids_[i]);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  return h;
}

void NgramDrafter::add(int32_t id) {
  ids_.push_back(id);
  // The n-grams ending just before the new token now have a follower.
  const size_t q = ids_.size() - 1;
  for (int n = 1; n <= max_; ++n) {
    if (q < static_cast<size_t>(n)) break;
    last_[static_cast<size_t>(n - 1)][key(q - 1, n)] = static_cast<uint32_t>(q - 1);
  }
}

void NgramDrafter::clear() {
  ids_.clear();
  for (auto& m : last_) m.clear();
}

std::vector<int32_t> NgramDrafter::guess(size_t max) const {
  std::vector<int32_t> out;
  if (ids_.empty() || max == 0) return out;
  const size_t end = ids_.size() - 1;
  for (int n = std::min<int>(max_, static_cast<int>(ids_.size())); n >= min_; --n) {
    const auto& map = last_[static_cast<size_t>(n - 1)];
    const auto it = map.find(key(end, n));
    if (it == map.end()) continue;
    const size_t at = it->second;  // < end: it has a follower
    bool same = true;
    for (size_t i = 0; i < static_cast<size_t>(n) && same; ++i) {
      same = ids_[at - i] == ids_[end - i];
    }
    if (!same) continue;  // a hash collision
    for (size_t p = at + 1; out.size() < max; ++p) {
      out.push_back(p <= end ? ids_[p] : out[p - end - 1]);
    }
    return out;
  }
  return out;
}

}  // namespace vkr
