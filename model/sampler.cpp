// Host sampler implementation: O(V) per token when top_k is set (heap selection, no full sort).
#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vkr/error.hpp>

namespace vkr {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Descending logit, then ascending id: a total order, so ties resolve the same way everywhere.
bool before(float la, int32_t ia, float lb, int32_t ib) { return la != lb ? la > lb : ia < ib; }

}  // namespace

void validate(const SamplerParams& p) {
  require(std::isfinite(p.temperature), ErrorCode::InvalidArgument,
          "sampler temperature must be finite (got {})", p.temperature);
  require(p.top_k >= 0, ErrorCode::InvalidArgument, "sampler top_k must be >= 0 (got {})", p.top_k);
  require(p.top_p > 0.0f && p.top_p <= 1.0f, ErrorCode::InvalidArgument,
          "sampler top_p must be in (0, 1] (got {})", p.top_p);
  require(p.min_p >= 0.0f && p.min_p <= 1.0f, ErrorCode::InvalidArgument,
          "sampler min_p must be in [0, 1] (got {})", p.min_p);
  require(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f,
          ErrorCode::InvalidArgument, "sampler repetition_penalty must be finite and > 0 (got {})",
          p.repetition_penalty);
  require(std::isfinite(p.presence_penalty) && std::isfinite(p.frequency_penalty),
          ErrorCode::InvalidArgument,
          "sampler presence_penalty and frequency_penalty must be finite (got {}, {})",
          p.presence_penalty, p.frequency_penalty);
  require(p.penalty_last_n >= 0, ErrorCode::InvalidArgument,
          "sampler penalty_last_n must be >= 0 (got {})", p.penalty_last_n);
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  validate(params_);
}

void Sampler::accept(int32_t id) {
  if (params_.penalty_last_n == 0) return;
  history_.push_back(id);
  // At most a few dozen entries, so erasing at the front is cheaper than a ring's bookkeeping.
  if (history_.size() > static_cast<size_t>(params_.penalty_last_n))
    history_.erase(history_.begin());
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(params_.seed);
}

// llama.cpp's rule: shrink towards "less likely" whatever the sign of the logit, then subtract.
float Sampler::penalized(float l, size_t count) const {
  l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
  return l - (static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty);
}

// Applies the penalties to pool_ (ids of the history found there; pool_ is in ascending id order).
void Sampler::apply_penalties() {
  const bool none = params_.repetition_penalty == 1.0f && params_.presence_penalty == 0.0f &&
                    params_.frequency_penalty == 0.0f;
  if (none || history_.empty()) return;
  std::vector<int32_t> seen = history_;
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size();) {
    size_t j = i;
    while (j < seen.size() && seen[j] == seen[i]) ++j;
    const int32_t id = seen[i];
    const size_t count = j - i;
    i = j;
    auto it = std::lower_bound(pool_.begin(), pool_.end(), id,
                               [](const Candidate& c, int32_t v) { return c.id < v; });
    if (it != pool_.end() && it->id == id) it->logit = penalized(it->logit, count);
  }
}

size_t Sampler::candidates_needed(size_t V) const {
  const bool can_raise = params_.repetition_penalty < 1.0f || params_.presence_penalty < 0.0f ||
                         params_.frequency_penalty < 0.0f;
  const bool greedy = params_.temperature <= 0.0f;
  if (can_raise || (!greedy && params_.top_k == 0)) return 0;
  std::vector<int32_t> seen = history_;
  std::sort(seen.begin(), seen.end());
  const auto distinct = static_cast<size_t>(std::unique(seen.begin(), seen.end()) - seen.begin());
  const size_t k = greedy ? 1 : static_cast<size_t>(params_.top_k);
  return std::min(V, k + distinct);
}

int32_t Sampler::argmax() const {
  const Candidate* best = nullptr;
  for (const Candidate& c : pool_) {
    if (c.logit == kNegInf) continue;
    if (!best || before(c.logit, c.id, best->logit, best->id)) best = &c;
  }
  require(best != nullptr, ErrorCode::InvalidArgument, "sampler: every logit is NaN or -inf");
  return best->id;
}

// Fills cand_ with the top_k (or all) pickable entries of pool_; sorted_ tells whether they are
// in order.
void Sampler::select_candidates() {
  cand_.clear();
  const size_t k = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : pool_.size();
  const auto heap_order = [](const Candidate& a, const Candidate& b) {
    return before(a.logit, a.id, b.logit, b.id);  // worst candidate on top
  };
  for (const Candidate& c : pool_) {
    if (c.logit == kNegInf) continue;
    if (cand_.size() < k) {
      cand_.push_back(c);
      if (cand_.size() == k && k < pool_.size())
        std::make_heap(cand_.begin(), cand_.end(), heap_order);
    } else if (before(c.logit, c.id, cand_.front().logit, cand_.front().id)) {
      std::pop_heap(cand_.begin(), cand_.end(), heap_order);
      cand_.back() = c;
      std::push_heap(cand_.begin(), cand_.end(), heap_order);
    }
  }
  require(!cand_.empty(), ErrorCode::InvalidArgument, "sampler: every logit is NaN or -inf");
  // top-p needs the order; a small top-k list is cheap to sort anyway. With top_k = 0 and
  // top_p = 1 the O(V log V) sort is skipped.
  sorted_ = params_.top_p < 1.0f || params_.top_k > 0;
  if (sorted_) std::sort(cand_.begin(), cand_.end(), heap_order);
}

int32_t Sampler::draw() {
  const float max_logit = sorted_ ? cand_.front().logit
                                  : std::max_element(cand_.begin(), cand_.end(),
                                                     [](const Candidate& a, const Candidate& b) {
                                                       return a.logit < b.logit;
                                                     })
                                        ->logit;
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  prob_.resize(cand_.size());
  double total = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    prob_[i] = std::exp((static_cast<double>(cand_[i].logit) - max_logit) * inv_t);
    total += prob_[i];
  }
  size_t n = cand_.size();
  if (params_.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p (at least one)
    double mass = 0.0;
    for (size_t i = 0; i < n; ++i) {
      mass += prob_[i];
      if (mass >= params_.top_p * total) {
        n = i + 1;
        break;
      }
    }
  }
  // min-p: keep p >= min_p * p_max; the best candidate has relative probability exactly 1.
  const double floor = params_.min_p;
  total = 0.0;
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (prob_[i] < floor) continue;
    cand_[kept] = cand_[i];
    prob_[kept] = prob_[i];
    total += prob_[kept++];
  }
  // 53 random bits -> [0, 1): portable, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double acc = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    acc += prob_[i];
    if (u < acc) return cand_[i].id;
  }
  return cand_[kept - 1].id;  // rounding left u just above the last partial sum
}

// The chain after pool_ holds the row's pickable entries in ascending id order.
int32_t Sampler::pick(bool had_pickable) {
  require(had_pickable, ErrorCode::InvalidArgument, "sampler: every logit is NaN or -inf");
  apply_penalties();
  if (params_.temperature <= 0.0f) return argmax();
  select_candidates();
  return draw();
}

int32_t Sampler::sample(std::span<const float> logits) {
  require(!logits.empty(), ErrorCode::InvalidArgument, "sampler: empty logits");
  pool_.clear();
  pool_.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    // +inf is a hard "pick me" (e.g. a forced token); NaN is treated as "never".
    if (l == std::numeric_limits<float>::infinity()) return static_cast<int32_t>(i);
    if (!std::isnan(l) && l != kNegInf) pool_.push_back({l, static_cast<int32_t>(i)});
  }
  return pick(!pool_.empty());
}

int32_t Sampler::sample_candidates(std::span<const int32_t> ids, std::span<const float> logits) {
  require(!ids.empty() && ids.size() == logits.size(), ErrorCode::InvalidArgument,
          "sampler: {} candidate ids for {} logits (need the same, at least one)", ids.size(),
          logits.size());
  pool_.clear();
  int32_t forced = -1;
  for (size_t i = 0; i < ids.size(); ++i) {
    const float l = logits[i];
    require(ids[i] >= 0, ErrorCode::InvalidArgument, "sampler: negative candidate id {}", ids[i]);
    if (l == std::numeric_limits<float>::infinity()) {
      if (forced < 0 || ids[i] < forced) forced = ids[i];
    } else if (!std::isnan(l) && l != kNegInf) {
      pool_.push_back({l, ids[i]});
    }
  }
  if (forced >= 0) return forced;
  std::sort(pool_.begin(), pool_.end(),
            [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  for (size_t i = 1; i < pool_.size(); ++i) {
    require(pool_[i].id != pool_[i - 1].id, ErrorCode::InvalidArgument,
            "sampler: candidate id {} given twice", pool_[i].id);
  }
  return pick(!pool_.empty());
}

}  // namespace vkr
