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
    const auto count = static_cast<float>(j - i);
    i = j;
    if (id < 0 || static_cast<size_t>(id) >= work_.size()) continue;  // from another vocab size
    float& l = work_[id];
    // llama.cpp's rule: shrink towards "less likely" whatever the sign of the logit.
    l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    l -= count * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::argmax() const {
  int32_t best = -1;
  for (size_t i = 0; i < work_.size(); ++i) {
    if (work_[i] == kNegInf) continue;
    if (best < 0 || work_[i] > work_[best]) best = static_cast<int32_t>(i);
  }
  require(best >= 0, ErrorCode::InvalidArgument, "sampler: every logit is NaN or -inf");
  return best;
}

// Fills cand_ with the top_k (or all) pickable logits; sorted_ tells whether they are in order.
void Sampler::select_candidates() {
  cand_.clear();
  const size_t k = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : work_.size();
  const auto heap_order = [](const Candidate& a, const Candidate& b) {
    return before(a.logit, a.id, b.logit, b.id);  // worst candidate on top
  };
  for (size_t i = 0; i < work_.size(); ++i) {
    const float l = work_[i];
    if (l == kNegInf) continue;
    const auto id = static_cast<int32_t>(i);
    if (cand_.size() < k) {
      cand_.push_back({l, id});
      if (cand_.size() == k && k < work_.size())
        std::make_heap(cand_.begin(), cand_.end(), heap_order);
    } else if (before(l, id, cand_.front().logit, cand_.front().id)) {
      std::pop_heap(cand_.begin(), cand_.end(), heap_order);
      cand_.back() = {l, id};
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

int32_t Sampler::sample(std::span<const float> logits) {
  require(!logits.empty(), ErrorCode::InvalidArgument, "sampler: empty logits");
  work_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    // +inf is a hard "pick me" (e.g. a forced token); NaN is treated as "never".
    if (l == std::numeric_limits<float>::infinity()) return static_cast<int32_t>(i);
    work_[i] = std::isnan(l) ? kNegInf : l;
  }
  apply_penalties();
  if (params_.temperature <= 0.0f) return argmax();
  select_candidates();
  return draw();
}

}  // namespace vkr
