// sampler_json.hpp: sampler settings by llama-server's field names (serve's request bodies, the C
// API's vkrwkv_sampler_configure), and the last step that needs the model's vocabulary (text
// logit biases, ignore_eos, DRY's breakers).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "dry_breakers.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr {

// What needs the vocabulary before it reaches a Sampler.
struct SamplingExtras {
  std::vector<std::pair<std::string, float>> text_bias;  // each token of the text gets the bias
  bool ignore_eos = false;  // the end-of-generation ids are banned (a -inf bias)
};

// llama-server's request fields over `s` (the defaults): temperature, top_k, top_p (0: off),
// min_p, repeat_penalty, presence_penalty, frequency_penalty, repeat_last_n, typical_p,
// top_n_sigma, xtc_*, dynatemp_*, min_keep, dry_*, mirostat*, samplers (names, as an array or one
// string), logit_bias (OpenAI's {"id": bias} or llama-server's [[id or text, bias or false],
// ...]; it replaces the defaults' list) and ignore_eos. Not the seed. A bad value is an
// Error(InvalidArgument) naming the field.
void parse_sampler_fields(const nlohmann::json& body, SamplerParams& s, SamplingExtras& x);

// Text biases become id biases, ignore_eos bans the EOG ids, every biased id is checked against
// the vocabulary, DRY's breakers become tokens (through `cache` when given: a vocabulary scan
// per breaker list); then validate(). Throws InvalidArgument.
void finalize_sampling(SamplerParams& p, const SamplingExtras& x, const Tokenizer& tok,
                       DryBreakerCache* cache = nullptr);

}  // namespace vkr
