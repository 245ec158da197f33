// sampling_options.hpp: llama.cpp's sampler flags on the command line (generate's, and serve's
// defaults); request fields and the vocabulary step are model/sampler_json.hpp.
#pragma once

#include <CLI/CLI.hpp>

#include "sampler.hpp"
#include "sampler_json.hpp"

namespace vkr::cli {

// --typical, --top-nsigma, --xtc-probability, --xtc-threshold, --dynatemp-range, --dynatemp-exp,
// --min-keep, --dry-*, --mirostat, --mirostat-lr, --mirostat-ent, --samplers, --sampling-seq,
// -l/--logit-bias ID(+|-)BIAS and --ignore-eos.
void add_sampler_flags(CLI::App* sub, SamplerParams& p, SamplingExtras& x);

// Prompt-lookup decoding (generation.hpp, Speculation): tokens guessed per call and the n-gram
// lengths matched.
struct LookupOptions {
  int n = 0;  // 0: off
  int ngram_min = 1, ngram_max = 4;
  // ngram_min <= ngram_max, named by their flags (the flags check their own ranges).
  void validate() const;
};
// --lookup, --lookup-ngram-min, --lookup-ngram-max; `what` ends the --lookup help (where the
// guesses apply).
// Returns the --lookup option (for excludes()).
CLI::Option* add_lookup_flags(CLI::App* sub, LookupOptions& o, const char* what);

}  // namespace vkr::cli
