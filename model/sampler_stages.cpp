// The sampler chain's stages, each with llama.cpp's rule (src/llama-sampler.cpp, checked against
// its samplers in tests/data/llama_sampling), on the candidates cand_. Temperature is kept as a
// factor (inv_t_) that every probability below is computed with, so no logit is rewritten.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <string>
#include <vkr/error.hpp>

#include "sampler.hpp"
#include "sampler_detail.hpp"

namespace vkr {

using sampling::before;

namespace {

struct StageName {
  const char* name;
  SamplerStage stage;
};

// llama.cpp's names (common/sampling.cpp), canonical first, then its alternative spellings.
constexpr StageName kNames[] = {
    {"penalties", SamplerStage::Penalties},
    {"dry", SamplerStage::Dry},
    {"top_n_sigma", SamplerStage::TopNSigma},
    {"top_k", SamplerStage::TopK},
    {"typ_p", SamplerStage::Typical},
    {"temperature", SamplerStage::Temperature},
    {"top_p", SamplerStage::TopP},
    {"min_p", SamplerStage::MinP},
    {"xtc", SamplerStage::Xtc},
    {"top-k", SamplerStage::TopK},
    {"top-p", SamplerStage::TopP},
    {"top-n-sigma", SamplerStage::TopNSigma},
    {"nucleus", SamplerStage::TopP},
    {"typical-p", SamplerStage::Typical},
    {"typical_p", SamplerStage::Typical},
    {"typical", SamplerStage::Typical},
    {"typ-p", SamplerStage::Typical},
    {"typ", SamplerStage::Typical},
    {"min-p", SamplerStage::MinP},
    {"temp", SamplerStage::Temperature},
};

// llama.cpp's --sampling-seq letters.
constexpr std::pair<char, SamplerStage> kLetters[] = {
    {'e', SamplerStage::Penalties}, {'d', SamplerStage::Dry},     {'s', SamplerStage::TopNSigma},
    {'k', SamplerStage::TopK},      {'y', SamplerStage::Typical}, {'t', SamplerStage::Temperature},
    {'p', SamplerStage::TopP},      {'m', SamplerStage::MinP},    {'x', SamplerStage::Xtc},
};

}  // namespace

std::vector<SamplerStage> default_sampler_order() {
  using S = SamplerStage;
  return {S::Penalties,   S::Dry,  S::TopNSigma, S::TopK, S::Typical,
          S::Temperature, S::TopP, S::MinP,      S::Xtc};
}

std::vector<SamplerStage> llama_sampler_order() {
  using S = SamplerStage;
  return {S::Penalties, S::Dry,  S::TopNSigma, S::TopK,       S::Typical,
          S::TopP,      S::MinP, S::Xtc,       S::Temperature};
}

const char* stage_name(SamplerStage s) {
  for (const StageName& n : kNames)
    if (n.stage == s) return n.name;
  return "?";
}

std::vector<SamplerStage> parse_sampler_order(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (c == ';' || c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  const auto by_name = [](const std::string& w) -> const SamplerStage* {
    for (const StageName& n : kNames)
      if (w == n.name) return &n.stage;
    return nullptr;
  };
  std::vector<SamplerStage> out;
  // One word of letters only ("kypmxt") is llama's --sampling-seq form.
  if (words.size() == 1 && !by_name(words[0])) {
    for (char c : words[0]) {
      const auto it = std::find_if(std::begin(kLetters), std::end(kLetters),
                                   [c](const auto& e) { return e.first == c; });
      require(it != std::end(kLetters), ErrorCode::InvalidArgument,
              "sampler order '{}': '{}' is neither a sampler name (top_k, top_p, min_p, typ_p, "
              "temperature, xtc, top_n_sigma, dry, penalties) nor a string of their letters "
              "(k p m y t x s d e); '{}' is not one",
              text, words[0], c);
      out.push_back(it->second);
    }
  } else {
    for (const std::string& w : words) {
      const SamplerStage* s = by_name(w);
      require(s != nullptr, ErrorCode::InvalidArgument,
              "sampler order '{}': unknown sampler '{}' (known: top_k, top_p, min_p, typ_p, "
              "temperature, xtc, top_n_sigma, dry, penalties)",
              text, w);
      out.push_back(*s);
    }
  }
  return out;
}

void Sampler::run(SamplerStage s) {
  switch (s) {
    case SamplerStage::Penalties:
      apply_penalties();
      break;
    case SamplerStage::Dry:
      apply_dry();
      break;
    case SamplerStage::TopNSigma:
      top_n_sigma();
      break;
    case SamplerStage::TopK:
      top_k();
      break;
    case SamplerStage::Typical:
      typical();
      break;
    case SamplerStage::Temperature:
      temperature();
      break;
    case SamplerStage::TopP:
      top_p();
      break;
    case SamplerStage::MinP:
      min_p();
      break;
    case SamplerStage::Xtc:
      xtc();
      break;
  }
}

void Sampler::sort_desc() {
  if (sorted_) return;
  std::sort(cand_.begin(), cand_.end(), [](const Candidate& a, const Candidate& b) {
    return before(a.logit, a.id, b.logit, b.id);
  });
  sorted_ = true;
  by_id_ = cand_.size() <= 1;
  w_valid_ = false;
}

void Sampler::weights() {
  if (w_valid_) return;
  float max_logit = cand_.front().logit;
  if (!sorted_)
    for (const Candidate& c : cand_) max_logit = std::max(max_logit, c.logit);
  w_.resize(cand_.size());
  for (size_t i = 0; i < cand_.size(); ++i)
    w_[i] = std::exp((static_cast<double>(cand_[i].logit) - max_logit) * inv_t_);
  w_valid_ = true;
}

void Sampler::normalized(std::vector<double>& p) {
  weights();
  const double total = std::accumulate(w_.begin(), w_.end(), 0.0);
  p.resize(w_.size());
  for (size_t i = 0; i < w_.size(); ++i) p[i] = w_[i] / total;
}

void Sampler::keep_prefix(size_t n) {
  if (n >= cand_.size()) return;
  cand_.resize(n);
  if (w_valid_) w_.resize(n);
}

void Sampler::keep_if(const std::vector<char>& keep) {
  size_t n = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    if (!keep[i]) continue;
    cand_[n] = cand_[i];
    if (w_valid_) w_[n] = w_[i];
    ++n;
  }
  cand_.resize(n);
  if (w_valid_) w_.resize(n);
}

// Keeps the logits within n standard deviations of the largest (over the candidates).
void Sampler::top_n_sigma() {
  if (params_.top_n_sigma <= 0.0f || cand_.size() <= 1) return;
  double max = cand_.front().logit, sum = 0.0;
  for (const Candidate& c : cand_) {
    max = std::max(max, static_cast<double>(c.logit));
    sum += c.logit;
  }
  const double mean = sum / static_cast<double>(cand_.size());
  double acc = 0.0;
  for (const Candidate& c : cand_) acc += (c.logit - mean) * (c.logit - mean);
  const double cut = max - params_.top_n_sigma * std::sqrt(acc / static_cast<double>(cand_.size()));
  std::vector<char> keep(cand_.size());
  for (size_t i = 0; i < cand_.size(); ++i) keep[i] = cand_[i].logit >= cut;
  keep_if(keep);
}

void Sampler::top_k() {
  if (params_.top_k <= 0) return;
  const auto k = static_cast<size_t>(params_.top_k);
  if (k < cand_.size() && !sorted_) {
    // Heap selection: the k best stay in front with the worst of them on top, so one pass over
    // the row mostly compares against that top (cheaper than nth_element's swaps).
    const auto worst_on_top = [](const Candidate& a, const Candidate& b) {
      return before(a.logit, a.id, b.logit, b.id);
    };
    const auto heap_end = cand_.begin() + static_cast<ptrdiff_t>(k);
    std::make_heap(cand_.begin(), heap_end, worst_on_top);
    for (size_t i = k; i < cand_.size(); ++i) {
      if (!before(cand_[i].logit, cand_[i].id, cand_.front().logit, cand_.front().id)) continue;
      std::pop_heap(cand_.begin(), heap_end, worst_on_top);
      cand_[k - 1] = cand_[i];
      std::push_heap(cand_.begin(), heap_end, worst_on_top);
    }
    cand_.resize(k);
  }
  sort_desc();  // also when k >= size, as llama.cpp: later stages see the best first
  keep_prefix(k);
}

// Locally typical sampling: the ids whose surprise is closest to the entropy, up to mass p.
void Sampler::typical() {
  if (params_.typical_p >= 1.0f) return;
  sort_desc();
  std::vector<double> p;
  normalized(p);
  double entropy = 0.0;
  for (double x : p)
    if (x > 0.0) entropy -= x * std::log(x);
  std::vector<double> shift(p.size());
  for (size_t i = 0; i < p.size(); ++i) shift[i] = std::abs(-std::log(p[i]) - entropy);
  std::vector<size_t> idx(p.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return shift[a] < shift[b]; });
  const auto min_keep = static_cast<size_t>(params_.min_keep);
  size_t n = idx.size();
  double mass = 0.0;
  for (size_t i = 0; i < idx.size(); ++i) {
    mass += p[idx[i]];
    if (mass > params_.typical_p && (min_keep == 0 || i + 1 >= min_keep)) {
      n = i + 1;
      break;
    }
  }
  std::vector<Candidate> kept(n);
  for (size_t i = 0; i < n; ++i) kept[i] = cand_[idx[i]];
  cand_ = std::move(kept);
  sorted_ = false;
  by_id_ = false;
  w_valid_ = false;
}

// Plain temperature, or llama.cpp's dynamic one: T +- range by the normalized entropy^exponent.
void Sampler::temperature() {
  const double t = params_.temperature;
  if (params_.dynatemp_range <= 0.0f) {
    inv_t_ = 1.0 / t;
    w_valid_ = false;
    return;
  }
  if (cand_.size() <= 1) return;
  const double lo = std::max(0.0, t - params_.dynatemp_range), hi = t + params_.dynatemp_range;
  std::vector<double> p;
  normalized(p);
  double entropy = 0.0;
  for (double x : p)
    if (x > 0.0) entropy -= x * std::log(x);
  const double norm = entropy / std::log(static_cast<double>(cand_.size()));
  const double dyn =
      lo + (hi - lo) * std::pow(norm, static_cast<double>(params_.dynatemp_exponent));
  if (dyn <= 0.0) {  // no spread at all: the most likely id alone, as a temperature of 0
    sort_desc();
    keep_prefix(1);
    return;
  }
  inv_t_ = 1.0 / dyn;
  w_valid_ = false;
}

// The smallest prefix (most likely first) whose mass reaches p, at least min_keep long.
void Sampler::top_p() {
  if (params_.top_p >= 1.0f) return;
  sort_desc();
  weights();
  const double total = std::accumulate(w_.begin(), w_.end(), 0.0);
  double mass = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    mass += w_[i];
    if (mass >= params_.top_p * total && i + 1 >= static_cast<size_t>(params_.min_keep)) {
      keep_prefix(i + 1);
      return;
    }
  }
}

// p >= min_p * p_max; the most likely candidate has weight exactly 1.
void Sampler::min_p() {
  if (params_.min_p <= 0.0f) return;
  weights();
  std::vector<char> keep(cand_.size());
  size_t n = 0;
  for (size_t i = 0; i < cand_.size(); ++i) n += keep[i] = w_[i] >= params_.min_p;
  if (n >= std::max<size_t>(1, static_cast<size_t>(params_.min_keep))) {
    keep_if(keep);
    return;
  }
  sort_desc();  // too few: the min_keep most likely
  keep_prefix(static_cast<size_t>(params_.min_keep));
}

// Exclude Top Choices: with probability xtc_probability, every id with p >= threshold but the
// least likely of them is dropped (when at least two reach it and min_keep ids stay).
void Sampler::xtc() {
  if (params_.xtc_probability <= 0.0f || params_.xtc_threshold > 0.5f || cand_.size() < 2) return;
  if (uniform() > params_.xtc_probability) return;
  sort_desc();
  std::vector<double> p;
  normalized(p);
  size_t last = 0;
  for (size_t i = 0; i < p.size() && p[i] >= params_.xtc_threshold; ++i) last = i;
  if (last == 0 || cand_.size() - last < static_cast<size_t>(params_.min_keep)) return;
  cand_.erase(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(last));
  w_valid_ = false;
}

// Mirostat's truncation (the draw and mu's update follow in sample() / observe()).
void Sampler::mirostat_cut() {
  sort_desc();
  std::vector<double> p;
  normalized(p);
  size_t n = 1;
  if (params_.mirostat == 1) {
    // Zipf exponent s from the top m = 100 ids, then the k whose expected surprise is mu.
    double tb = 0.0, tt = 0.0;
    for (size_t i = 0; i + 1 < std::min<size_t>(100, p.size()); ++i) {
      const double ti = std::log(static_cast<double>(i + 2) / static_cast<double>(i + 1));
      tb += ti * std::log(p[i] / p[i + 1]);
      tt += ti * ti;
    }
    if (tt > 0.0) {
      const double s = tb / tt, eps = s - 1.0;
      const double k = std::pow(eps * std::pow(2.0, static_cast<double>(mu_)) /
                                    (1.0 - std::pow(static_cast<double>(n_vocab_), -eps)),
                                1.0 / s);
      if (std::isfinite(k))
        n = static_cast<size_t>(std::clamp<double>(k, 1.0, static_cast<double>(p.size())));
      else if (k > 0)
        n = p.size();
    }
  } else {
    // The ids whose surprise is at most mu (the most likely one at least).
    while (n < p.size() && -std::log2(p[n]) <= mu_) ++n;
  }
  keep_prefix(n);
  normalized(p);
  m_ids_.resize(cand_.size());
  m_p_.resize(cand_.size());
  for (size_t i = 0; i < cand_.size(); ++i) {
    m_ids_[i] = cand_[i].id;
    m_p_[i] = static_cast<float>(p[i]);
  }
}

}  // namespace vkr
