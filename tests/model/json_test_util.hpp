// json_test_util.hpp: what the JSON constraint tests share: single-byte mutations of a text, every
// short text over an alphabet, and constrained random walks over a vocabulary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "json_constraint.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace vkr::test {

// Every text of length <= n over `alphabet`, shortest first.
inline std::vector<std::string> all_texts(const std::string& alphabet, size_t n) {
  std::vector<std::string> out = {""};
  for (size_t begin = 0, len = 0; len < n; ++len) {
    const size_t end = out.size();
    for (size_t i = begin; i < end; ++i) {
      for (char c : alphabet) out.push_back(out[i] + c);
    }
    begin = end;
  }
  return out;
}

// `t` with one byte replaced, inserted or erased (a byte of `alphabet`, at a random place).
inline std::string mutate(std::string t, std::mt19937& rng, std::string_view alphabet) {
  const size_t pos = rng() % t.size();
  const char c = alphabet[rng() % alphabet.size()];
  switch (rng() % 3) {
    case 0:
      t[pos] = c;
      break;
    case 1:
      t.insert(t.begin() + static_cast<long>(pos), c);
      break;
    default:
      t.erase(pos, 1);
      break;
  }
  return t;
}

// Whether `t` has a whitespace run the recognizer refuses on purpose though JSON allows it (two
// line breaks between tokens): such mutations are left out of comparisons with a plain parser.
inline bool breaks_twice(const std::string& t) {
  static const std::regex twice("\n[ \t\r]*\n|\r[ \t\n]*\r");
  return std::regex_search(t, twice);
}

// The ids of the texts' tokens, in order.
inline std::vector<int32_t> ids_of(const Tokenizer& tok, std::initializer_list<const char*> texts) {
  std::vector<int32_t> out;
  for (const char* t : texts) {
    const auto ids = tok.encode(t, false);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

struct Walk {
  std::string text;
  bool ended = false;  // an end id was drawn
};

// Up to `steps` draws through `c` from random logits (N(0, 2), `boost` ids +8 so walks close),
// temperature 1 and no truncation (every id possible): each drawn id must be allowed, and the
// text so far must satisfy `prefix_ok`.
inline Walk random_walk(const Tokenizer& tok, TokenConstraint& c, uint64_t seed, int steps,
                        const std::vector<int32_t>& boost,
                        const std::function<bool(const std::string&)>& prefix_ok) {
  SamplerParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 0;
  sp.top_p = 1.0f;
  sp.min_p = 0.0f;
  sp.seed = seed;
  Sampler sampler(sp);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::vector<float> logits(static_cast<size_t>(tok.n_vocab()));
  Walk w;
  for (int step = 0; step < steps; ++step) {
    for (auto& l : logits) l = noise(rng);
    for (int32_t id : boost) logits[static_cast<size_t>(id)] += 8;
    const int32_t id = c.sample(sampler, logits);
    EXPECT_TRUE(c.allows(id)) << id;
    if (tok.is_eog(id)) {
      w.ended = true;
      break;
    }
    c.accept(id);
    w.text += tok.token_bytes(id);
    if (!prefix_ok(w.text)) {
      ADD_FAILURE() << "not a valid prefix: " << w.text;
      break;
    }
  }
  return w;
}

}  // namespace vkr::test
