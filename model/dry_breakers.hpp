// dry_breakers.hpp: DRY's sequence breakers (strings) as token sequences in a vocabulary.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr {

// As llama.cpp makes them (get_overlapping_token_sequences): for each breaker (cut to 40 bytes;
// empty ones are skipped) every token whose text contains it is a breaker by itself, and every
// token whose text ends with the breaker's beginning is one when followed by the tokens of the
// rest (at most 20 of them). Sorted by head id.
std::shared_ptr<const DryBreakers> dry_sequence_breakers(const Tokenizer& tok,
                                                         std::span<const std::string> breakers);

// dry_sequence_breakers() made once per breaker list, for ONE vocabulary (a server's requests);
// thread-safe; at most 16 lists are kept (requests choose them).
class DryBreakerCache {
 public:
  std::shared_ptr<const DryBreakers> get(const Tokenizer& tok,
                                         const std::vector<std::string>& breakers);

 private:
  std::mutex mutex_;
  std::map<std::vector<std::string>, std::shared_ptr<const DryBreakers>> made_;
};

// Fills params.dry_breakers from params.dry_sequence_breakers when DRY is on (a no-op otherwise),
// through `cache` when given.
void resolve_dry_breakers(SamplerParams& params, const Tokenizer& tok,
                          DryBreakerCache* cache = nullptr);

}  // namespace vkr
