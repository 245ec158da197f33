// sampler_detail.hpp: what sampler.cpp, sampler_stages.cpp and sampler_dry.cpp share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace vkr::sampling {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Descending logit, then ascending id: a total order, so ties resolve the same way everywhere.
inline bool before(float la, int32_t ia, float lb, int32_t ib) {
  return la != lb ? la > lb : ia < ib;
}

// Calls f(candidate, value) for each candidate whose id is listed in `list` (sorted by id,
// distinct ids): a binary search per listed id while the candidates are in id order (the whole
// row, few listed ids), else one per candidate.
template <class Cand, class T, class F>
void for_each_listed(std::vector<Cand>& cand, bool by_id,
                     const std::vector<std::pair<int32_t, T>>& list, F f) {
  if (list.empty()) return;
  if (by_id) {
    for (const auto& [id, v] : list) {
      auto it = std::lower_bound(cand.begin(), cand.end(), id,
                                 [](const Cand& c, int32_t x) { return c.id < x; });
      if (it != cand.end() && it->id == id) f(*it, v);
    }
    return;
  }
  for (Cand& c : cand) {
    auto it =
        std::lower_bound(list.begin(), list.end(), c.id,
                         [](const std::pair<int32_t, T>& e, int32_t x) { return e.first < x; });
    if (it != list.end() && it->first == c.id) f(c, it->second);
  }
}

}  // namespace vkr::sampling
