// Host sampler: parameters, the row's candidates (logit bias, non-finite logits), penalties, the
// draw and the mirostat bookkeeping. The truncation stages are in sampler_stages.cpp, DRY in
// sampler_dry.cpp. O(V) per token when top_k runs first (heap selection, no full sort).
#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vkr/error.hpp>

#include "sampler_detail.hpp"

namespace vkr {

using sampling::before;
using sampling::kNegInf;

void validate(const SamplerParams& p) {
  const auto check = [](bool ok, std::string_view field, float v, std::string_view want) {
    require(ok, ErrorCode::InvalidArgument, "sampler {} must be {} (got {})", field, want, v);
  };
  check(std::isfinite(p.temperature), "temperature", p.temperature, "finite");
  require(p.top_k >= 0, ErrorCode::InvalidArgument, "sampler top_k must be >= 0 (got {})", p.top_k);
  check(p.top_p > 0.0f && p.top_p <= 1.0f, "top_p", p.top_p, "in (0, 1]");
  check(p.min_p >= 0.0f && p.min_p <= 1.0f, "min_p", p.min_p, "in [0, 1]");
  check(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f, "repetition_penalty",
        p.repetition_penalty, "finite and > 0");
  require(std::isfinite(p.presence_penalty) && std::isfinite(p.frequency_penalty),
          ErrorCode::InvalidArgument,
          "sampler presence_penalty and frequency_penalty must be finite (got {}, {})",
          p.presence_penalty, p.frequency_penalty);
  require(p.penalty_last_n >= 0, ErrorCode::InvalidArgument,
          "sampler penalty_last_n must be >= 0 (got {})", p.penalty_last_n);
  for (const LogitBias& b : p.logit_bias) {
    require(b.id >= 0, ErrorCode::InvalidArgument, "sampler logit_bias: token id {} is negative",
            b.id);
    require(!std::isnan(b.bias) && b.bias != std::numeric_limits<float>::infinity(),
            ErrorCode::InvalidArgument,
            "sampler logit_bias for token {} must be a number or -inf (got {})", b.id, b.bias);
  }
  check(p.typical_p >= 0.0f && p.typical_p <= 1.0f, "typical_p", p.typical_p, "in [0, 1]");
  check(std::isfinite(p.top_n_sigma), "top_n_sigma", p.top_n_sigma, "finite");
  check(p.xtc_probability >= 0.0f && p.xtc_probability <= 1.0f, "xtc_probability",
        p.xtc_probability, "in [0, 1]");
  check(p.xtc_threshold >= 0.0f && p.xtc_threshold <= 1.0f, "xtc_threshold", p.xtc_threshold,
        "in [0, 1] (above 0.5 it never fires)");
  check(std::isfinite(p.dynatemp_range) && p.dynatemp_range >= 0.0f, "dynatemp_range",
        p.dynatemp_range, "finite and >= 0");
  check(std::isfinite(p.dynatemp_exponent) && p.dynatemp_exponent > 0.0f, "dynatemp_exponent",
        p.dynatemp_exponent, "finite and > 0");
  require(p.min_keep >= 0, ErrorCode::InvalidArgument, "sampler min_keep must be >= 0 (got {})",
          p.min_keep);
  check(std::isfinite(p.dry_multiplier) && p.dry_multiplier >= 0.0f, "dry_multiplier",
        p.dry_multiplier, "finite and >= 0");
  check(std::isfinite(p.dry_base) && p.dry_base > 0.0f, "dry_base", p.dry_base,
        "finite and > 0 (below 1 DRY is off)");
  require(p.dry_allowed_length >= 0, ErrorCode::InvalidArgument,
          "sampler dry_allowed_length must be >= 0 (got {})", p.dry_allowed_length);
  require(p.dry_penalty_last_n >= -1, ErrorCode::InvalidArgument,
          "sampler dry_penalty_last_n must be >= -1 (-1: every accepted id; got {})",
          p.dry_penalty_last_n);
  require(p.mirostat >= 0 && p.mirostat <= 2, ErrorCode::InvalidArgument,
          "sampler mirostat must be 0 (off), 1 or 2 (got {})", p.mirostat);
  check(std::isfinite(p.mirostat_tau) && p.mirostat_tau >= 0.0f, "mirostat_tau", p.mirostat_tau,
        "finite and >= 0");
  check(std::isfinite(p.mirostat_eta) && p.mirostat_eta >= 0.0f, "mirostat_eta", p.mirostat_eta,
        "finite and >= 0");
  for (size_t i = 0; i < p.order.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      require(p.order[i] != p.order[j], ErrorCode::InvalidArgument,
              "sampler order lists '{}' twice", stage_name(p.order[i]));
    }
  }
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  validate(params_);
  require(!params_.dry_enabled() || params_.dry_sequence_breakers.empty() ||
              params_.dry_breakers != nullptr,
          ErrorCode::InvalidArgument,
          "sampler: DRY's sequence breakers were not made into tokens (dry_sequence_breakers() "
          "needs the model's vocabulary)");
  // Sorted by id, an id listed twice summed (llama.cpp adds each entry).
  for (const LogitBias& b : params_.logit_bias) bias_.push_back(b);
  std::stable_sort(bias_.begin(), bias_.end(),
                   [](const LogitBias& a, const LogitBias& b) { return a.id < b.id; });
  size_t n = 0;
  for (size_t i = 0; i < bias_.size(); ++i) {
    if (n > 0 && bias_[n - 1].id == bias_[i].id) {
      bias_[n - 1].bias += bias_[i].bias;
    } else {
      bias_[n++] = bias_[i];
    }
  }
  bias_.resize(n);
  mu_ = 2.0f * params_.mirostat_tau;
}

void Sampler::accept(int32_t id) {
  // At most a few dozen entries, so erasing at the front is cheaper than a ring's bookkeeping.
  if (params_.penalty_last_n > 0) {
    history_.push_back(id);
    if (history_.size() > static_cast<size_t>(params_.penalty_last_n))
      history_.erase(history_.begin());
  }
  if (params_.dry_enabled()) {
    dry_history_.push_back(id);
    const int cap = params_.dry_penalty_last_n;
    if (cap > 0 && dry_history_.size() > static_cast<size_t>(cap))
      dry_history_.erase(dry_history_.begin());
  }
}

void Sampler::reset() {
  history_.clear();
  dry_history_.clear();
  rng_.seed(params_.seed);
  mu_ = 2.0f * params_.mirostat_tau;
  m_ids_.clear();
  m_p_.clear();
}

float Sampler::bias_of(int32_t id) const {
  auto it = std::lower_bound(bias_.begin(), bias_.end(), id,
                             [](const LogitBias& b, int32_t v) { return b.id < v; });
  return it != bias_.end() && it->id == id ? it->bias : 0.0f;
}

// cand_ = the row's pickable entries, by id; returns the forced id (+inf logit) or -1.
int32_t Sampler::build(std::span<const float> logits) {
  require(!logits.empty(), ErrorCode::InvalidArgument, "sampler: empty logits");
  if (!bias_.empty()) {
    require(static_cast<size_t>(bias_.back().id) < logits.size(), ErrorCode::InvalidArgument,
            "sampler logit_bias: token id {} is outside the vocabulary ({} ids)", bias_.back().id,
            logits.size());
  }
  cand_.clear();
  cand_.reserve(logits.size());
  size_t b = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    float l = logits[i];
    if (b < bias_.size() && static_cast<size_t>(bias_[b].id) == i) l += bias_[b++].bias;
    // +inf is a hard "pick me" (e.g. a forced token); NaN is treated as "never".
    if (l == std::numeric_limits<float>::infinity()) return static_cast<int32_t>(i);
    if (!std::isnan(l) && l != kNegInf) cand_.push_back({l, static_cast<int32_t>(i)});
  }
  return -1;
}

int32_t Sampler::build(std::span<const int32_t> ids, std::span<const float> logits) {
  require(!ids.empty() && ids.size() == logits.size(), ErrorCode::InvalidArgument,
          "sampler: {} candidate ids for {} logits (need the same, at least one)", ids.size(),
          logits.size());
  require(params_.mirostat != 1, ErrorCode::InvalidArgument,
          "sampler: mirostat 1 needs the whole row of logits (its vocabulary size)");
  cand_.clear();
  int32_t forced = -1;
  for (size_t i = 0; i < ids.size(); ++i) {
    require(ids[i] >= 0, ErrorCode::InvalidArgument, "sampler: negative candidate id {}", ids[i]);
    const float l = logits[i] + bias_of(ids[i]);
    if (l == std::numeric_limits<float>::infinity()) {
      if (forced < 0 || ids[i] < forced) forced = ids[i];
    } else if (!std::isnan(l) && l != kNegInf) {
      cand_.push_back({l, ids[i]});
    }
  }
  std::sort(cand_.begin(), cand_.end(),
            [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  for (size_t i = 1; i < cand_.size(); ++i) {
    require(cand_[i].id != cand_[i - 1].id, ErrorCode::InvalidArgument,
            "sampler: candidate id {} given twice", cand_[i].id);
  }
  return forced;
}

// llama.cpp's rule: shrink towards "less likely" whatever the sign of the logit, then subtract.
float Sampler::penalized(float l, size_t count) const {
  l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
  return l - (static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty);
}

void Sampler::apply_penalties() {
  const bool none = params_.repetition_penalty == 1.0f && params_.presence_penalty == 0.0f &&
                    params_.frequency_penalty == 0.0f;
  if (none || history_.empty()) return;
  std::vector<std::pair<int32_t, size_t>> counts;
  std::vector<int32_t> seen = history_;
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size();) {
    size_t j = i;
    while (j < seen.size() && seen[j] == seen[i]) ++j;
    counts.emplace_back(seen[i], j - i);
    i = j;
  }
  sampling::for_each_listed(cand_, by_id_, counts, [&](Candidate& c, size_t count) {
    c.logit = penalized(c.logit, count);
  });
  sorted_ = false;
  w_valid_ = false;
}

size_t Sampler::candidates_needed(size_t V) const {
  const bool can_raise = params_.repetition_penalty < 1.0f || params_.presence_penalty < 0.0f ||
                         params_.frequency_penalty < 0.0f;
  const bool greedy = params_.temperature <= 0.0f;
  const auto& o = params_.order;
  const auto cuts = [this](SamplerStage s) {  // a stage that may drop candidates, and is on
    const SamplerParams& q = params_;
    switch (s) {
      case SamplerStage::Penalties:
      case SamplerStage::Dry:
        return false;
      case SamplerStage::TopNSigma:
        return q.top_n_sigma > 0.0f;
      case SamplerStage::Typical:
        return q.typical_p < 1.0f;
      case SamplerStage::TopP:
        return q.top_p < 1.0f;
      case SamplerStage::MinP:
        return q.min_p > 0.0f;
      case SamplerStage::Xtc:
        return q.xtc_probability > 0.0f && q.xtc_threshold <= 0.5f;
      default:
        return true;
    }
  };
  const auto first_cut = std::find_if(o.begin(), o.end(), cuts);
  const bool top_k_first = first_cut != o.end() && *first_cut == SamplerStage::TopK;
  if (can_raise || !bias_.empty() || params_.dry_enabled() || params_.top_n_sigma > 0.0f ||
      params_.mirostat != 0 || (!greedy && (params_.top_k == 0 || !top_k_first)))
    return 0;
  std::vector<int32_t> seen = history_;
  std::sort(seen.begin(), seen.end());
  const auto distinct = static_cast<size_t>(std::unique(seen.begin(), seen.end()) - seen.begin());
  const size_t k = greedy ? 1 : static_cast<size_t>(params_.top_k);
  return std::min(V, k + distinct);
}

int32_t Sampler::argmax() const {
  const Candidate* best = nullptr;
  for (const Candidate& c : cand_) {
    if (!best || before(c.logit, c.id, best->logit, best->id)) best = &c;
  }
  return best->id;
}

double Sampler::uniform() {
  // 53 random bits -> [0, 1): portable, unlike std::uniform_real_distribution.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

size_t Sampler::draw() {
  weights();
  double total = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) total += w_[i];
  const double u = uniform() * total;
  double acc = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    acc += w_[i];
    if (u < acc) return i;
  }
  return cand_.size() - 1;  // rounding left u just above the last partial sum
}

// Runs the chain on cand_; returns the one id when the outcome is certain (greedy), else -1.
int32_t Sampler::prepare(int32_t forced) {
  if (forced >= 0) return forced;
  require(!cand_.empty(), ErrorCode::InvalidArgument, "sampler: every logit is NaN or -inf");
  by_id_ = true;
  sorted_ = false;
  w_valid_ = false;
  inv_t_ = 1.0;
  const bool greedy = params_.temperature <= 0.0f;
  if (params_.mirostat != 0) {
    if (greedy) return argmax();
    inv_t_ = 1.0 / static_cast<double>(params_.temperature);
    mirostat_cut();
    return -1;
  }
  for (SamplerStage s : params_.order) {
    if (greedy && s != SamplerStage::Penalties && s != SamplerStage::Dry) continue;
    run(s);
  }
  return greedy ? argmax() : -1;
}

int32_t Sampler::finish(size_t i) {
  const int32_t id = cand_[i].id;
  if (params_.mirostat != 0) observe(id);
  return id;
}

int32_t Sampler::sample(std::span<const float> logits) {
  n_vocab_ = logits.size();
  const int32_t id = prepare(build(logits));
  return id >= 0 ? id : finish(draw());
}

int32_t Sampler::sample_candidates(std::span<const int32_t> ids, std::span<const float> logits) {
  const int32_t id = prepare(build(ids, logits));
  return id >= 0 ? id : finish(draw());
}

std::vector<TokenProb> Sampler::distribution(std::span<const float> logits) {
  n_vocab_ = logits.size();
  const int32_t id = prepare(build(logits));
  if (id >= 0) return {{id, 1.0f}};
  std::vector<double> p;
  normalized(p);
  std::vector<TokenProb> out(cand_.size());
  for (size_t i = 0; i < cand_.size(); ++i) out[i] = {cand_[i].id, static_cast<float>(p[i])};
  return out;
}

std::vector<float> Sampler::adjusted_logits(std::span<const float> logits) {
  std::vector<float> out(logits.size(), kNegInf);
  const int32_t forced = build(logits);
  if (forced >= 0) {
    out[static_cast<size_t>(forced)] = std::numeric_limits<float>::infinity();
    return out;
  }
  by_id_ = true;
  sorted_ = false;
  for (SamplerStage s : params_.order)
    if (s == SamplerStage::Penalties || s == SamplerStage::Dry) run(s);
  for (const Candidate& c : cand_) out[static_cast<size_t>(c.id)] = c.logit;
  return out;
}

void Sampler::observe(int32_t id) {
  if (params_.mirostat == 0) return;
  const auto it = std::find(m_ids_.begin(), m_ids_.end(), id);
  require(it != m_ids_.end(), ErrorCode::InvalidArgument,
          "sampler: id {} was not among mirostat's last candidates", id);
  const float p = m_p_[static_cast<size_t>(it - m_ids_.begin())];
  const float surprise = -std::log2(p);
  mu_ -= params_.mirostat_eta * (surprise - params_.mirostat_tau);
}

}  // namespace vkr
