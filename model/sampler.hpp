// Host-side token sampler: repetition/presence/frequency penalties, top-k, temperature, top-p,
// min-p and a seeded draw over one row of logits.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace vkr {

struct SamplerParams {
  float temperature = 0.8f;         // <= 0 means greedy (argmax after penalties)
  int top_k = 40;                   // 0 disables
  float top_p = 0.95f;              // in (0, 1]; 1 disables
  float min_p = 0.05f;              // in [0, 1]; 0 disables; relative to the most likely candidate
  float repetition_penalty = 1.0f;  // > 0; 1 disables
  float presence_penalty = 0;       // subtracted once from each recently seen id
  float frequency_penalty = 0;      // subtracted per occurrence
  int penalty_last_n = 64;          // how many accepted ids the penalties look back on; 0 disables
  uint64_t seed = 0;
};

// Throws Error(InvalidArgument) naming the first bad field.
void validate(const SamplerParams& params);

// Not thread-safe: one Sampler per sequence. The same params (seed included) and the same
// sample()/accept() calls give the same ids on every platform (the draw uses mt19937_64 bits
// directly, not a library distribution).
class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Picks an id from one row of logits (length V). Order, as in llama.cpp's default chain except
  // that temperature comes before top-p/min-p (HF order): penalties -> top-k -> softmax(l / T)
  // -> top-p -> min-p -> draw. Non-finite logits: NaN and -inf are never picked; a +inf logit
  // is picked outright (the lowest such id). Throws InvalidArgument when logits is empty or no
  // logit is pickable. Does not call accept(); the caller does, so prompt ids can be accepted too.
  int32_t sample(std::span<const float> logits);
  // How many of a row's largest logits (from a GPU top-K, see kernels::topk) are enough for
  // sample_candidates() to pick exactly what sample() would pick from the whole row of `V`:
  // top_k plus the distinct ids the penalties may lower (penalties only ever lower a logit, so
  // the post-penalty top_k are among them), or 1 plus those when greedy. 0 when the whole row
  // is needed: top_k disabled, or a penalty setting that can raise a logit (repetition < 1,
  // negative presence/frequency).
  size_t candidates_needed(size_t V) const;
  // sample() over a row known only by some of its entries (any order, distinct ids); the others
  // count as below all of them. Same chain, same random stream.
  int32_t sample_candidates(std::span<const int32_t> ids, std::span<const float> logits);
  // Records an id for the penalties (keeps the last penalty_last_n).
  void accept(int32_t id);
  // Forgets the history and restarts the random stream from params.seed.
  void reset();
  const SamplerParams& params() const noexcept { return params_; }

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  void apply_penalties();
  float penalized(float logit, size_t count) const;
  int32_t argmax() const;
  int32_t pick(bool had_pickable);
  void select_candidates();
  int32_t draw();

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;  // oldest first, at most penalty_last_n
  std::vector<Candidate> pool_;   // every pickable (id, penalized logit) of the row
  std::vector<Candidate> cand_;   // surviving candidates, reused between calls
  std::vector<double> prob_;      // unnormalized probabilities of cand_
  bool sorted_ = false;           // cand_ is in descending logit order
};

}  // namespace vkr
