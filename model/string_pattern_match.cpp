// string_pattern_match.cpp: StringPattern's automaton at work (string_pattern.hpp): stepping
// the live set, the early refusal of a character, and the length bounds (fewest and most
// characters to an accepting end per position, measured once when the pattern is built).
#include <algorithm>
#include <bit>

#include "string_pattern.hpp"

namespace vkr {

namespace {

bool contains(const std::vector<std::pair<uint32_t, uint32_t>>& r, uint32_t cp) {
  for (const auto& [a, b] : r) {
    if (cp < a) return false;
    if (cp <= b) return true;
  }
  return false;
}

}  // namespace

StringPattern::Mask StringPattern::candidates(const Mask& live) const {
  Mask cand;
  for (size_t word = 0; word < 2; ++word) {
    for (uint64_t m = live.w[word]; m; m &= m - 1) cand |= next_[word * 64 + std::countr_zero(m)];
  }
  return cand;
}

void StringPattern::measure() {
  const size_t n = classes_.size() + 1;  // positions 0 (the start) .. classes_.size()
  // reach[q]: positions reachable from q in one or more characters (next_ holds useful ones).
  std::vector<Mask> reach(next_.begin(), next_.end());
  for (size_t k = 1; k < n; ++k) {
    for (size_t q = 0; q < n; ++q) {
      if (reach[q].test(k)) reach[q] |= reach[k];
    }
  }
  least_.assign(n, kUnbounded);
  most_.assign(n, 0);
  std::vector<bool> has_most(n, false);
  for (size_t q = 0; q < n; ++q) {
    if (accept_.test(q)) {
      least_[q] = 0;
      has_most[q] = true;
    }
    // Through a loop (a position reachable from itself), any length: every position left is
    // useful, so the loop can always be left towards an accepting end.
    for (size_t k = 1; k < n; ++k) {
      if ((k == q || reach[q].test(k)) && reach[k].test(k)) most_[q] = kUnbounded;
    }
  }
  // The rest by relaxation: paths without loops have at most n positions.
  for (size_t round = 0; round < n; ++round) {
    for (size_t q = 0; q < n; ++q) {
      for (size_t k = 1; k < n; ++k) {
        if (!next_[q].test(k)) continue;
        if (least_[k] != kUnbounded) least_[q] = std::min(least_[q], least_[k] + 1);
        if (most_[q] != kUnbounded && has_most[k]) {
          most_[q] = has_most[q] ? std::max(most_[q], most_[k] + 1) : most_[k] + 1;
          has_most[q] = true;
        }
      }
    }
  }
}

bool StringPattern::can_finish(const Mask& live, uint32_t lo, uint32_t hi) const {
  for (size_t word = 0; word < 2; ++word) {
    for (uint64_t m = live.w[word]; m; m &= m - 1) {
      if (fits(word * 64 + std::countr_zero(m), lo, hi)) return true;
    }
  }
  return false;
}

bool StringPattern::may_step(const Mask& live, uint32_t cp_lo, uint32_t cp_hi, uint32_t lo,
                             uint32_t hi) const {
  const Mask cand = candidates(live);
  for (size_t word = 0; word < 2; ++word) {
    for (uint64_t m = cand.w[word]; m; m &= m - 1) {
      const size_t q = word * 64 + std::countr_zero(m);
      if (!fits(q, lo, hi)) continue;
      for (const auto& [a, b] : classes_[q - 1]) {
        if (a <= cp_hi && b >= cp_lo) return true;
      }
    }
  }
  return false;
}

StringPattern::Mask StringPattern::step(const Mask& live, uint32_t cp) const {
  const Mask cand = candidates(live);
  Mask out;
  for (size_t word = 0; word < 2; ++word) {
    for (uint64_t m = cand.w[word]; m; m &= m - 1) {
      const size_t q = word * 64 + std::countr_zero(m);
      if (contains(classes_[q - 1], cp)) out.set(q);
    }
  }
  return out;
}

}  // namespace vkr
