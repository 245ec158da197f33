// dry_breakers.hpp: DRY's sequence breakers (strings) as token sequences in a vocabulary.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr {

// As llama.cpp makes them (get_overlapping_token_sequences): for each breaker (cut to 40 bytes;
// empty ones are skipped) every token whose text contains it is a breaker by itself, and every
// token whose text ends with the breaker's beginning is one when followed by the tokens of the
// rest (at most 20 of them). Sorted by head id.
std::shared_ptr<const DryBreakers> dry_sequence_breakers(const Tokenizer& tok,
                                                         std::span<const std::string> breakers);

// Fills params.dry_breakers from params.dry_sequence_breakers when DRY is on (a no-op otherwise).
void resolve_dry_breakers(SamplerParams& params, const Tokenizer& tok);

}  // namespace vkr
