// decimal_bounds.cpp: see decimal_bounds.hpp. Values are integers scaled by 10^kPlaces; the set
// of numbers a prefix can still become is a union of grids (a start, a step, an end), each
// tested against the range exactly.
#include "decimal_bounds.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "vkr/error.hpp"

namespace vkr::decimal {

namespace {

using ojson = nlohmann::ordered_json;

constexpr Wide pow10(uint32_t e) {
  Wide v = 1;
  for (uint32_t i = 0; i < e; ++i) v *= 10;
  return v;
}

constexpr Wide kScale = pow10(kPlaces);
// Past every value a bounded number or integer can have (kMaxIntDigits = 18 integer digits at
// most, scaled: 10^33): bounds are clamped here, so that huge ones still order right.
constexpr uint32_t kCapDigits = 33;
constexpr Wide kCap = pow10(kCapDigits) + 1;

uint32_t digit_count(Wide v) {
  uint32_t n = 0;
  for (; v != 0; v /= 10) ++n;
  return n;
}

// a / b rounded down / up (b > 0).
Wide floor_div(Wide a, Wide b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
Wide ceil_div(Wide a, Wide b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// A bound's shortest decimal form (exact for integers) as a scaled value, rounded up or down.
Wide scaled(const ojson& v, bool up) {
  std::string text;
  if (v.is_number_unsigned()) {
    text = std::to_string(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    text = std::to_string(v.get<int64_t>());
  } else {
    text = fmt::format("{}", v.get<double>());  // shortest form that reads back the same
  }
  bool neg = false;
  size_t i = 0;
  if (text[i] == '-') neg = true, ++i;
  Wide digits = 0;
  int exp10 = 0;
  bool dot = false;
  int kept = 0;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.') {
      dot = true;
      continue;
    }
    if (kept < 30) {  // a double's shortest form has at most 17 significant digits
      digits = digits * 10 + (text[i] - '0');
      if (digits != 0) ++kept;
      if (dot) --exp10;
    } else if (!dot) {
      ++exp10;
    }
  }
  if (i < text.size()) exp10 += std::stoi(text.substr(i + 1));
  exp10 += static_cast<int>(kPlaces);
  // value * 10^kPlaces = digits * 10^exp10, rounded towards +inf (up) or -inf, then clamped.
  Wide mag = 0;
  bool exact = true;
  if (digits == 0) {
    mag = 0;
  } else if (exp10 >= 0) {
    // Past kCap when it has more digits than kCap: multiplied only when the product fits.
    const bool past = digit_count(digits) + static_cast<uint32_t>(exp10) > kCapDigits + 1;
    mag = past ? kCap : std::min(digits * pow10(static_cast<uint32_t>(exp10)), kCap);
  } else if (-exp10 >= 31) {  // digits < 10^30 (30 kept at most): below one scaled unit
    mag = 0, exact = false;
  } else {
    const Wide d = pow10(static_cast<uint32_t>(-exp10));
    mag = digits / d;
    exact = digits % d == 0;
  }
  mag = std::min(mag, kCap);
  // mag is |value| rounded towards zero: away from zero where the rounding direction says so.
  if (!exact && up != neg) mag += 1;
  return neg ? -mag : mag;
}

// Whether a value -x (neg) or x, for x on the grid a, a + s, ... < b, lies in r.
bool grid_meets(Wide a, Wide b, Wide s, bool neg, const Range& r) {
  const Wide lo = neg ? -r.hi : r.lo, hi = neg ? -r.lo : r.hi;
  const Wide l = std::max(lo, a), h = std::min(hi, b - s);
  if (l > h) return false;
  const Wide j = (l - a + s - 1) / s;  // l >= a: no negative division
  return a + j * s <= h;
}

// The bounds folded into one range, clamped at +-kCap; nullopt if there are none.
std::optional<Range> fold(const ojson& s) {
  Range r{-kCap, kCap};
  bool any = false;
  for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    if (!s.contains(k)) continue;
    const ojson& v = s[k];
    const bool exclusive = k[0] == 'e';
    if (exclusive && v.is_boolean()) continue;  // draft 4: a modifier, read with its bound
    if (!v.is_number())
      throw Error(ErrorCode::InvalidArgument, fmt::format("{} must be a number", k));
    any = true;
    const bool lower = std::string(k).find("inimum") != std::string::npos;
    const char* modifier = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    const bool strict = exclusive || s.value(modifier, ojson(false)) == ojson(true);
    // Texts are multiples of one scaled unit: v > b is v >= floor(b) + 1, v >= b is v >= ceil(b).
    if (lower) {
      r.lo = std::max(r.lo, strict ? scaled(v, false) + 1 : scaled(v, true));
    } else {
      r.hi = std::min(r.hi, strict ? scaled(v, true) - 1 : scaled(v, false));
    }
  }
  if (!any) return std::nullopt;
  return r;
}

}  // namespace

std::optional<Range> number_range(const ojson& s) {
  auto r = fold(s);
  if (!r) return r;
  const Wide widest = pow10(kPlaces) * kScale - 1;  // kPlaces integer digits
  r->lo = std::max(r->lo, -widest);
  r->hi = std::min(r->hi, widest);
  if (r->lo > r->hi) {
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("no number of at most {} digits satisfies the bounds", kPlaces));
  }
  return r;
}

std::optional<std::pair<int64_t, int64_t>> integer_range(const ojson& s, uint32_t digits) {
  const auto r = fold(s);
  if (!r) return std::nullopt;
  // The integers v with v * kScale in [lo, hi] (kScale divides no bound exactly unless it is an
  // integer: ceil / floor keep exactly those).
  const Wide widest = pow10(digits) - 1;
  const Wide lo = std::max(ceil_div(r->lo, kScale), -widest);
  const Wide hi = std::min(floor_div(r->hi, kScale), widest);
  if (lo > hi) {
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("no integer of at most {} digits satisfies the bounds", digits));
  }
  return std::pair{static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
}

bool reachable(const Prefix& p, const Range& r) {
  const uint32_t used = p.int_digits + p.frac_digits;
  if (used > kPlaces) return false;
  if (p.int_digits == 0) {  // "-" (or nothing): 0 and every value of the sign
    return grid_meets(0, pow10(kPlaces) * kScale, kScale, p.neg, r) ||
           grid_meets(0, kScale, pow10(1), p.neg, r);
  }
  const Wide whole = Wide(p.int_value) * kScale;
  if (p.dot) {
    // "I." or "I.F": [I.F, I.F + 10^-f) on the grid of the digits left.
    const Wide unit = pow10(kPlaces - p.frac_digits);
    const Wide a = whole + Wide(p.frac_value) * unit;
    const uint32_t left = kPlaces - used;
    if (p.frac_digits == 0 && left == 0) return false;  // a '.' needs a digit after it
    return grid_meets(a, a + unit, pow10(kPlaces - p.frac_digits - left), p.neg, r);
  }
  // Integer digits only: more of them (k), then a fraction with the digits left.
  const uint32_t more = p.int_value == 0 ? 0 : kPlaces - used;  // "0" takes no more
  for (uint32_t k = 0; k <= more; ++k) {
    const Wide a = Wide(p.int_value) * pow10(k) * kScale,
               b = Wide(p.int_value + 1) * pow10(k) * kScale;
    const uint32_t frac = kPlaces - used - k;
    if (grid_meets(a, b, pow10(kPlaces - frac), p.neg, r)) return true;
  }
  return false;
}

bool contains(const Prefix& p, const Range& r) {
  const Wide v = Wide(p.int_value) * kScale + Wide(p.frac_value) * pow10(kPlaces - p.frac_digits);
  const Wide signed_v = p.neg ? -v : v;
  return signed_v >= r.lo && signed_v <= r.hi;
}

}  // namespace vkr::decimal
