// decimal_bounds.hpp: JSON Schema bounds (minimum, maximum, exclusive...) on "type": "number",
// checked on the number's text as it is written. A bounded number is written without exponent
// and with at most kPlaces digits (integer and fraction together): such decimals are exact as
// integers scaled by 10^kPlaces, and distinct ones stay distinct as doubles, so a text this
// accepts also passes a validator that compares doubles (a bound is read from its shortest
// decimal form; every comparison here is exact).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace vkr::decimal {

using Wide = __int128;
constexpr uint32_t kPlaces = 15;

// The text of a bounded number so far: "-"? integer digits ("." fraction digits)?.
struct Prefix {
  bool neg = false;
  bool dot = false;
  uint8_t int_digits = 0, frac_digits = 0;
  uint64_t int_value = 0, frac_value = 0;
};

// The closed range [lo, hi] of allowed values, scaled by 10^kPlaces.
struct Range {
  Wide lo = 0, hi = 0;
};

// minimum / maximum / exclusiveMinimum / exclusiveMaximum of `schema` (numbers, or draft 4's
// booleans beside minimum / maximum) as one range of numbers of at most kPlaces digits; nullopt
// if it has none. Error(InvalidArgument) for a bound that is not a number, or bounds no such
// number satisfies.
std::optional<Range> number_range(const nlohmann::ordered_json& schema);
// The same bounds as the closed range of integers of at most `digits` (<= 18) digits.
std::optional<std::pair<int64_t, int64_t>> integer_range(const nlohmann::ordered_json& schema,
                                                         uint32_t digits);

// Whether [a, b] holds a multiple of m (> 0); |a|, |b| < 2^62.
inline bool has_multiple(int64_t a, int64_t b, uint64_t m) {
  if (a > b) return false;
  const auto mm = static_cast<int64_t>(m);
  const int64_t first = a >= 0 ? (a + mm - 1) / mm * mm : -((-a) / mm * mm);  // smallest >= a
  return first <= b;
}

// Whether some number starting with `p` (no exponent, at most kPlaces digits) lies in `r`.
// A prefix that is "-" or ends in "." counts as started.
bool reachable(const Prefix& p, const Range& r);
// Whether the number `p` spells (it may end here) lies in `r`.
bool contains(const Prefix& p, const Range& r);

}  // namespace vkr::decimal
