// string_pattern.hpp: the regular expressions of JSON Schema's "pattern" (ECMAScript syntax,
// search semantics: unanchored ends match anything) and the "format"s whose texts are regular
// (date, time, date-time, duration, email, hostname, ipv4, ipv6, uuid, uri: each as a subset
// every reader of the format accepts), compiled to a position (Glushkov) automaton: one state per
// character position of the expression, no empty moves, so the live set is a 128-bit mask that
// a recognizer frame copies by value. The subset: literals, '.', classes ([a-z], [^...], \d \w
// \s and their negations, \xHH, \uHHHH), groups ( ) (?: ) (?<name> ), alternation, the
// quantifiers * + ? {n} {n,} {n,m} (lazy forms too: the same texts), '^' first and '$' last.
// Lookarounds, backreferences, word boundaries and inner anchors are errors naming them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkr {

class StringPattern {
 public:
  static constexpr size_t kMaxPositions = 127;  // + the start state: 128 bits
  struct Mask {
    std::array<uint64_t, 2> w{};
    bool empty() const { return (w[0] | w[1]) == 0; }
    bool test(size_t i) const { return (w[i >> 6] >> (i & 63)) & 1; }
    void set(size_t i) { w[i >> 6] |= uint64_t{1} << (i & 63); }
    Mask& operator|=(const Mask& o) {
      w[0] |= o.w[0];
      w[1] |= o.w[1];
      return *this;
    }
    bool intersects(const Mask& o) const { return ((w[0] & o.w[0]) | (w[1] & o.w[1])) != 0; }
  };

  // Error(InvalidArgument) "pattern '...': <what> at offset N" for text outside the subset.
  static StringPattern compile(std::string_view regex);
  // A format by name; Error(InvalidArgument) naming the supported ones for any other.
  static StringPattern format(std::string_view name);
  static constexpr const char* kFormats =
      "date, time, date-time, duration, email, idn-email, hostname, idn-hostname, ipv4, ipv6, "
      "ipvanyaddress, uuid, uri, uri-reference, iri, iri-reference, json-pointer, "
      "relative-json-pointer, byte, base64, base64url, password, binary, path";
  // Formats that say what a string holds, not how it is spelled (every text is one): pydantic's
  // SecretStr ("password"), bytes ("binary"), Path ("path"). No pattern is compiled for them.
  static bool any_text_format(std::string_view name) {
    return name == "password" || name == "binary" || name == "path";
  }

  Mask start() const {
    Mask m;
    m.set(0);
    return m;
  }
  // The positions live after character `cp` (empty: no text matching the pattern starts so).
  Mask step(const Mask& live, uint32_t cp) const;
  // Whether some character in [lo, hi] may come next (a UTF-8 sequence or \\u escape being
  // read: refuse its first byte already when no character it can still become fits).
  bool may_step(const Mask& live, uint32_t lo, uint32_t hi) const {
    return may_step(live, lo, hi, 0, kUnbounded);
  }
  bool accepts(const Mask& live) const { return live.intersects(accept_); }
  // Length bounds (minLength / maxLength): whether from `live` the pattern can accept after
  // between `lo` and `hi` more characters (kUnbounded: any number), as far as the fewest and
  // the most characters each position needs tell (exact unless the lengths a position allows
  // have a gap that the whole range [lo, hi] falls into, e.g. ^(ab)+$ with lengths 3 to 3).
  static constexpr uint32_t kUnbounded = UINT32_MAX;
  bool can_finish(const Mask& live, uint32_t lo, uint32_t hi) const;
  // may_step() for a character after which [lo, hi] more characters may follow.
  bool may_step(const Mask& live, uint32_t cp_lo, uint32_t cp_hi, uint32_t lo, uint32_t hi) const;
  size_t positions() const { return classes_.size(); }

 private:
  friend class PatternBuilder;
  Mask candidates(const Mask& live) const;  // the positions that may follow live ones
  using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;  // sorted, disjoint, inclusive
  std::vector<Ranges> classes_;  // position p (1-based) reads classes_[p - 1]
  std::vector<Mask> next_;       // next_[p]: the positions that may follow p (next_[0]: first)
  Mask accept_;
  // Per position (0: the start): the fewest and the most characters that can follow it before
  // the pattern accepts (kUnbounded through a loop).
  std::vector<uint32_t> least_, most_;
  bool fits(size_t q, uint32_t lo, uint32_t hi) const { return least_[q] <= hi && most_[q] >= lo; }
  void measure();  // fills least_ and most_
};

}  // namespace vkr
