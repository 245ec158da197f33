// Host-side token sampler: llama.cpp's sampler chain (logit bias, repetition / presence /
// frequency penalties, DRY, top-n-sigma, top-k, locally typical, temperature with the dynamic
// range, top-p, min-p, XTC; or mirostat 1 / 2) and a seeded draw over one row of logits. Each
// stage keeps llama.cpp's rule, checked candidate set by candidate set against its own samplers
// (tests/data/llama_sampling); the order of the stages is a parameter.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vkr {

// The stages of the chain, in llama.cpp's names (`--samplers`).
enum class SamplerStage : uint8_t {
  Penalties,    // "penalties": repetition / presence / frequency
  Dry,          // "dry": DRY ("don't repeat yourself") penalties
  TopNSigma,    // "top_n_sigma"
  TopK,         // "top_k"
  Typical,      // "typ_p" (also "typical_p", "typical")
  Temperature,  // "temperature" (also "temp"); with dynatemp_range > 0, dynamic temperature
  TopP,         // "top_p"
  MinP,         // "min_p"
  Xtc,          // "xtc"
};

// Our default order: llama.cpp's (penalties, dry, top_n_sigma, top_k, typ_p, top_p, min_p, xtc,
// temperature) except that temperature comes before top-p / min-p / XTC (HF's order), so they
// read the probabilities that are drawn from.
std::vector<SamplerStage> default_sampler_order();
// llama.cpp's default order, temperature last.
std::vector<SamplerStage> llama_sampler_order();
// Parses "top_k;top_p;temperature" (also ',' or ' ' as separators) or llama's one-letter form
// "kypmxt" (d dry, k top_k, y typ_p, p top_p, m min_p, x xtc, t temperature, s top_n_sigma,
// e penalties... as llama.cpp's --sampling-seq). Throws InvalidArgument naming the unknown name.
std::vector<SamplerStage> parse_sampler_order(std::string_view text);
const char* stage_name(SamplerStage s);

struct LogitBias {
  int32_t id;
  float bias;  // added to the raw logit; -inf bans the id
};

// DRY's sequence breakers as token sequences: a repetition never extends across one. Made from
// strings and a vocabulary by dry_sequence_breakers() (token_constraint.hpp's library), as
// llama.cpp does: every token whose text contains a breaker, or ends with the breaker's start
// (followed by the tokens of the rest of it).
struct DryBreakers {
  std::vector<std::pair<int32_t, std::vector<int32_t>>> sequences;  // (head id, tail ids), by head
};

struct SamplerParams {
  float temperature = 0.8f;         // <= 0 means greedy (argmax after bias, penalties and DRY)
  int top_k = 40;                   // 0 disables
  float top_p = 0.95f;              // in (0, 1]; 1 disables
  float min_p = 0.05f;              // in [0, 1]; 0 disables; relative to the most likely candidate
  float repetition_penalty = 1.0f;  // > 0; 1 disables
  float presence_penalty = 0;       // subtracted once from each recently seen id
  float frequency_penalty = 0;      // subtracted per occurrence
  int penalty_last_n = 64;          // how many accepted ids the penalties look back on; 0 disables
  uint64_t seed = 0;

  std::vector<LogitBias> logit_bias;  // applied first; an id listed twice gets both
  float typical_p = 1.0f;             // locally typical sampling, in (0, 1]; 1 disables
  float top_n_sigma = -1.0f;          // keep logits >= max - n * stddev; <= 0 disables
  float xtc_probability = 0.0f;       // XTC fires with this probability per draw; 0 disables
  float xtc_threshold = 0.1f;         // ... and drops the ids above it but the least likely of them
  float dynatemp_range = 0.0f;        // temperature in [T - range, T + range] by the entropy
  float dynatemp_exponent = 1.0f;
  int min_keep = 0;             // top-p, min-p, typical and XTC keep at least this many
  float dry_multiplier = 0.0f;  // DRY: 0 disables
  float dry_base = 1.75f;       // penalty = multiplier * base^(length - allowed_length)
  int dry_allowed_length = 2;   // repeats up to this long are free
  int dry_penalty_last_n = -1;  // how far back DRY looks (-1: every accepted id; 0: off)
  std::vector<std::string> dry_sequence_breakers{"\n", ":", "\"", "*"};
  std::shared_ptr<const DryBreakers> dry_breakers;  // the above as tokens; needed for DRY
  int mirostat = 0;           // 1 or 2: mirostat replaces the chain (not the bias)
  float mirostat_tau = 5.0f;  // target surprise (bits)
  float mirostat_eta = 0.1f;  // learning rate
  std::vector<SamplerStage> order = default_sampler_order();

  bool dry_enabled() const {
    return dry_multiplier != 0.0f && dry_base >= 1.0f && dry_penalty_last_n != 0;
  }
};

// Throws Error(InvalidArgument) naming the first bad field.
void validate(const SamplerParams& params);

struct TokenProb {
  int32_t id;
  float p;
};

// Not thread-safe: one Sampler per sequence. The same params (seed included) and the same
// sample()/accept() calls give the same ids on every platform (the draw uses mt19937_64 bits
// directly, not a library distribution).
class Sampler {
 public:
  // Throws InvalidArgument for bad params, and when DRY is on with breakers that were not made
  // into tokens (params.dry_breakers).
  explicit Sampler(const SamplerParams& params);

  // Picks an id from one row of logits (length V): logit bias, then the stages in params.order,
  // then a draw (or mirostat). Non-finite logits (after the bias): NaN and -inf are never
  // picked; a +inf logit is picked outright (the lowest such id). Throws InvalidArgument when
  // logits is empty or no logit is pickable. Does not call accept(); the caller does, so prompt
  // ids can be accepted too.
  int32_t sample(std::span<const float> logits);
  // The candidates the draw would choose from, with their probabilities (summing to 1), in the
  // chain's final order; greedy gives the argmax alone. Mirostat's state is not advanced (see
  // observe()). The XTC and the draw's random streams are not touched unless XTC is on.
  std::vector<TokenProb> distribution(std::span<const float> logits);
  // The row after the logit bias and the stages that change logits (penalties and DRY, those of
  // params.order): what the truncation stages start from; -inf for the ids that cannot be picked.
  std::vector<float> adjusted_logits(std::span<const float> logits);
  // Mirostat: advances mu as if `id` had been drawn from the last distribution() (its surprise
  // there; an id that was not among its candidates is an error). No-op without mirostat.
  void observe(int32_t id);
  // How many of a row's largest logits (from a GPU top-K, see kernels::topk) are enough for
  // sample_candidates() to pick exactly what sample() would pick from the whole row of `V`:
  // top_k plus the distinct ids the penalties may lower, or 1 plus those when greedy, with the
  // default order. 0 when the whole row is needed: top_k disabled or not first, a setting that
  // can raise a logit, or one that reads the whole row (bias, DRY, top-n-sigma, mirostat).
  size_t candidates_needed(size_t V) const;
  // sample() over a row known only by some of its entries (any order, distinct ids); the others
  // count as below all of them. Same chain, same random stream.
  int32_t sample_candidates(std::span<const int32_t> ids, std::span<const float> logits);
  // Records an id for the penalties and DRY.
  void accept(int32_t id);
  // Forgets the history, restarts the random streams from params.seed and mirostat's mu.
  void reset();
  const SamplerParams& params() const noexcept { return params_; }
  float mirostat_mu() const noexcept { return mu_; }

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  int32_t build(std::span<const float> logits);
  int32_t build(std::span<const int32_t> ids, std::span<const float> logits);
  float bias_of(int32_t id) const;
  int32_t prepare(int32_t forced);
  int32_t finish(size_t index);
  void run(SamplerStage stage);
  float penalized(float logit, size_t count) const;
  void apply_penalties();
  void apply_dry();
  int32_t argmax() const;
  void sort_desc();
  void weights();  // w_ = exp((logit - max) * inv_t_) over cand_, max weight 1
  void normalized(std::vector<double>& p);
  void keep_prefix(size_t n);
  void keep_if(const std::vector<char>& keep);
  void top_n_sigma();
  void top_k();
  void typical();
  void temperature();
  void top_p();
  void min_p();
  void xtc();
  void mirostat_cut();
  size_t draw();
  double uniform();

  SamplerParams params_;
  std::vector<LogitBias> bias_;  // params_.logit_bias by id, repeats summed
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;      // oldest first, at most penalty_last_n
  std::vector<int32_t> dry_history_;  // oldest first, at most dry_penalty_last_n (or all)
  std::vector<Candidate> cand_;       // the surviving candidates, reused between calls
  std::vector<double> w_;             // their unnormalized probabilities (when w_valid_)
  bool w_valid_ = false;
  bool sorted_ = false;         // cand_ is in descending logit order
  bool by_id_ = true;           // cand_ is in ascending id order
  double inv_t_ = 1.0;          // 1 / temperature once the temperature stage ran
  size_t n_vocab_ = 0;          // mirostat 1's N
  float mu_ = 0.0f;             // mirostat's surprise bound
  std::vector<int32_t> m_ids_;  // mirostat: the last candidates and their probabilities
  std::vector<float> m_p_;
};

}  // namespace vkr
