// schema_prefix_number.cpp: SchemaPrefix's number frames (json_schema.hpp): JSON numbers
// (RFC 8259), integers with bounds checked digit by digit, and numbers with bounds written as
// plain decimals (decimal_bounds.hpp).
#include <algorithm>

#include "decimal_bounds.hpp"
#include "json_schema.hpp"
#include "schema_prefix_states.hpp"

namespace vkr {

using namespace schema_states;

namespace {

// Whether a bounded integer whose text so far is f's (sign, digits) can still end in [lo, hi]:
// its value now, or with k more digits any in [mag * 10^k, mag * 10^k + 10^k - 1].
bool int_reachable(const JsonSchema::Node& n, bool neg, uint64_t mag, uint32_t digits) {
  // [a, b] holds a value in range (a multiple of multipleOf).
  auto meets = [&](int64_t a, int64_t b) {
    return decimal::has_multiple(std::max(a, n.lo), std::min(b, n.hi), n.multiple);
  };
  if (digits == 0) return neg ? meets(n.lo, 0) : true;  // "-": 0 ("-0") or a negative value
  if (mag == 0) return meets(0, 0);  // "0" / "-0": no digit may follow
  uint64_t scale = 1;
  for (uint32_t d = digits; d <= JsonSchema::kMaxIntDigits; ++d, scale *= 10) {
    const auto a = static_cast<int64_t>(mag * scale), b = static_cast<int64_t>(a + scale - 1);
    if (neg ? meets(-b, -a) : meets(a, b)) return true;
  }
  return false;
}

}  // namespace

SchemaPrefix::Res SchemaPrefix::bounded_digit(Frame& f, unsigned char c) const {
  decimal::Prefix& p = f.num;
  if (p.int_digits == JsonSchema::kMaxIntDigits) return Res::Bad;
  p.int_value = p.int_value * 10 + (c - '0');
  ++p.int_digits;
  f.st = p.int_value == 0 ? kNZero : kNInt;
  return int_reachable(schema_->node(f.node), p.neg, p.int_value, p.int_digits) ? Res::More
                                                                                : Res::Bad;
}

SchemaPrefix::Res SchemaPrefix::bounded_end(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  const auto mag = static_cast<int64_t>(f.num.int_value);
  const int64_t v = f.num.neg ? -mag : mag;
  return v >= n.lo && v <= n.hi && v % static_cast<int64_t>(n.multiple) == 0 ? Res::Ended
                                                                             : Res::Bad;
}

// A number with bounds (decimal_bounds.hpp): "-"? (0 | [1-9][0-9]*) ("." [0-9]+)?, at most
// decimal::kPlaces digits, every prefix one that can still end in range.
SchemaPrefix::Res SchemaPrefix::decimal_num(Frame& f, unsigned char c) const {
  const decimal::Range& r = schema_->node(f.node).dec_range;
  decimal::Prefix& p = f.num;
  const auto next = [&](uint8_t st) {
    f.st = st;
    return decimal::reachable(p, r) ? Res::More : Res::Bad;
  };
  switch (f.st) {
    case kNStart:
      if (c == '-') {
        p.neg = true;
        return next(kNMinus);
      }
      [[fallthrough]];
    case kNMinus:
      if (!is_digit(c)) return Res::Bad;
      p.int_digits = 1;
      p.int_value = c - '0';
      return next(c == '0' ? kNZero : kNInt);
    case kNZero:
    case kNInt:
      if (f.st == kNInt && is_digit(c)) {
        ++p.int_digits;
        p.int_value = p.int_value * 10 + (c - '0');
        return next(kNInt);
      }
      if (c == '.') {
        p.dot = true;
        return next(kNDot);
      }
      return decimal::contains(p, r) ? Res::Ended : Res::Bad;
    case kNDot:
    case kNFrac:
      if (is_digit(c)) {
        ++p.frac_digits;
        p.frac_value = p.frac_value * 10 + (c - '0');
        return next(kNFrac);
      }
      if (f.st == kNDot) return Res::Bad;
      return decimal::contains(p, r) ? Res::Ended : Res::Bad;
    default:
      return Res::Bad;
  }
}

SchemaPrefix::Res SchemaPrefix::num(Frame& f, unsigned char c) {
  if (schema_->node(f.node).dec_bounded) return decimal_num(f, c);
  if (schema_->node(f.node).bounded) {  // an integer with bounds: its value checked as it grows
    switch (f.st) {
      case kNStart:
        if (c == '-') {
          f.num.neg = true;
          f.st = kNMinus;
          return int_reachable(schema_->node(f.node), true, 0, 0) ? Res::More : Res::Bad;
        }
        [[fallthrough]];
      case kNMinus:
        return is_digit(c) ? bounded_digit(f, c) : Res::Bad;
      case kNInt:
        return is_digit(c) ? bounded_digit(f, c) : bounded_end(f);
      case kNZero:
        return bounded_end(f);
      default:
        return Res::Bad;
    }
  }
  switch (f.st) {
    case kNStart:
      if (c == '-') {
        f.st = kNMinus;
        return Res::More;
      }
      [[fallthrough]];
    case kNMinus:
      if (c == '0') {
        f.st = kNZero;
        return Res::More;
      }
      if (c >= '1' && c <= '9') {
        f.st = kNInt;
        return Res::More;
      }
      return Res::Bad;
    case kNZero:
    case kNInt:
      if (f.st == kNInt && is_digit(c)) return Res::More;
      if (!f.integer && c == '.') {
        f.st = kNDot;
        return Res::More;
      }
      if (!f.integer && (c == 'e' || c == 'E')) {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNDot:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNFrac;
      return Res::More;
    case kNFrac:
      if (is_digit(c)) return Res::More;
      if (c == 'e' || c == 'E') {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNExpMark:
      if (c == '+' || c == '-') {
        f.st = kNExpSign;
        return Res::More;
      }
      [[fallthrough]];
    case kNExpSign:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNExp;
      return Res::More;
    case kNExp:
      return is_digit(c) ? Res::More : Res::Ended;
  }
  return Res::Bad;
}

}  // namespace vkr
