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

}  // namespace vkr::cli
