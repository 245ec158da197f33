// test_decimal_bounds.cpp: bounds on "type": "number" (model/decimal_bounds.*) against brute
// force: for ranges with short bounds, a prefix is reachable exactly when one of its short
// completions is a number in range (read with strtod, as a validator reads it), and a whole
// number is accepted exactly when it is in range; bounds are read from their shortest form.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "decimal_bounds.hpp"
#include "json_test_util.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using ojson = nlohmann::ordered_json;

// The decimal::Prefix of `text` ("-"? digits ("." digits)?), or false if it is not one.
bool prefix_of(const std::string& text, decimal::Prefix& p) {
  static const std::regex shape("-?(0|[1-9][0-9]*)?(\\.[0-9]*)?");
  if (!std::regex_match(text, shape)) return false;
  p = {};
  size_t i = 0;
  if (i < text.size() && text[i] == '-') p.neg = true, ++i;
  for (; i < text.size() && text[i] != '.'; ++i) {
    ++p.int_digits;
    p.int_value = p.int_value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i < text.size()) {
    if (p.int_digits == 0) return false;  // ".5" is not JSON
    p.dot = true;
    for (++i; i < text.size(); ++i) {
      ++p.frac_digits;
      p.frac_value = p.frac_value * 10 + static_cast<uint64_t>(text[i] - '0');
    }
  }
  return true;
}

bool is_number(const std::string& t) {
  static const std::regex number("-?(0|[1-9][0-9]*)(\\.[0-9]+)?");
  return std::regex_match(t, number);
}

bool in_range(const std::string& t, const ojson& s) {
  const double v = std::strtod(t.c_str(), nullptr);
  // Draft 4: "exclusiveMinimum": true makes "minimum" strict.
  const bool strict_min = s.value("exclusiveMinimum", ojson(false)) == ojson(true);
  const bool strict_max = s.value("exclusiveMaximum", ojson(false)) == ojson(true);
  if (s.contains("minimum")) {
    const double b = s["minimum"].get<double>();
    if (strict_min ? v <= b : v < b) return false;
  }
  if (s.contains("maximum")) {
    const double b = s["maximum"].get<double>();
    if (strict_max ? v >= b : v > b) return false;
  }
  for (const char* k : {"exclusiveMinimum", "exclusiveMaximum"}) {
    if (!s.contains(k) || !s[k].is_number()) continue;
    const double b = s[k].get<double>();
    if (k[10] == 'i' ? v <= b : v >= b) return false;  // exclusiveM[i]nimum
  }
  return true;
}

TEST(DecimalBounds, PrefixesAgreeWithBruteForce) {
  const char* const schemas[] = {
      R"({"minimum": 0.5, "exclusiveMaximum": 9.75})",
      R"({"exclusiveMinimum": -2.5, "maximum": 1})",
      R"({"minimum": -0.5, "maximum": -0.1})",
      R"({"minimum": 10})",
      R"({"exclusiveMaximum": 0})",
      R"({"minimum": 0.1, "maximum": 0.1})",
      R"({"minimum": 3, "exclusiveMinimum": true, "maximum": 7.5})",
  };
  const auto all = all_texts("-0159.", 5);
  const auto tails = all_texts("0159.", 3);
  for (const char* text : schemas) {
    SCOPED_TRACE(text);
    const ojson s = ojson::parse(text);
    const auto r = decimal::number_range(s);
    ASSERT_TRUE(r.has_value());
    int reachable = 0, whole = 0;
    for (const std::string& t : all) {
      decimal::Prefix p;
      if (t.empty() || !prefix_of(t, p)) continue;
      if (is_number(t)) {
        ASSERT_EQ(decimal::contains(p, *r), in_range(t, s)) << "number " << t;
        whole += in_range(t, s);
      }
      bool completes = false;
      for (const std::string& tail : tails) {
        if (is_number(t + tail) && in_range(t + tail, s)) {
          completes = true;
          break;
        }
      }
      ASSERT_EQ(decimal::reachable(p, *r), completes) << "prefix " << t;
      reachable += completes;
    }
    EXPECT_GT(reachable, 0);
    EXPECT_GT(whole, 0);
  }
}

TEST(DecimalBounds, LongAndHugeBounds) {
  decimal::Prefix p;
  // A bound met only by a long number: reachable through digits the brute force above omits.
  const auto r =
      decimal::number_range(ojson::parse(R"({"minimum": 123456.789, "maximum": 123456.7891})"));
  ASSERT_TRUE(r.has_value());
  for (const char* t : {"1", "12345", "123456.", "123456.789", "123456.7890999"}) {
    ASSERT_TRUE(prefix_of(t, p));
    EXPECT_TRUE(decimal::reachable(p, *r)) << t;
  }
  for (const char* t : {"2", "123457", "123456.78", "123456.7892", "-1"}) {
    ASSERT_TRUE(prefix_of(t, p));
    EXPECT_EQ(decimal::reachable(p, *r), std::string(t) == "123456.78") << t;
  }
  // Digits past decimal::kPlaces are refused: 16 of them never come.
  ASSERT_TRUE(prefix_of("1234567890.123456", p));
  EXPECT_FALSE(decimal::reachable(p, *decimal::number_range(ojson::parse(R"({"minimum": 0})"))));
  // Huge and tiny bounds order right.
  const auto big = decimal::number_range(ojson::parse(R"({"minimum": -1e300, "maximum": 1e300})"));
  ASSERT_TRUE(prefix_of("-999999999999999", p));
  EXPECT_TRUE(decimal::contains(p, *big));
  const auto tiny = decimal::number_range(ojson::parse(R"({"exclusiveMinimum": 1e-20})"));
  ASSERT_TRUE(prefix_of("0.000000000000001", p));
  EXPECT_TRUE(decimal::contains(p, *tiny));
  ASSERT_TRUE(prefix_of("0", p));
  EXPECT_FALSE(decimal::contains(p, *tiny));
  // A bound of many digits far past the cap: clamped, not overflowed.
  const auto wide =
      decimal::number_range(ojson::parse(R"({"minimum": 0, "maximum": 1.2345678901e+24})"));
  ASSERT_TRUE(prefix_of("999999999999999", p));
  EXPECT_TRUE(decimal::contains(p, *wide));
  const auto neg_wide = decimal::number_range(ojson::parse(R"({"minimum": -9.87654321e+30})"));
  ASSERT_TRUE(prefix_of("-999999999999999", p));
  EXPECT_TRUE(decimal::contains(p, *neg_wide));
  EXPECT_FALSE(decimal::number_range(ojson::parse(R"({"description": "none"})")).has_value());
  EXPECT_THROW(decimal::number_range(ojson::parse(R"({"minimum": 2, "exclusiveMaximum": 2})")),
               Error);
  EXPECT_THROW(decimal::number_range(ojson::parse(R"({"minimum": "2"})")), Error);
  // Integers read the same bounds: ceil / floor, draft 4's modifiers, huge bounds clamped.
  using Ints = std::optional<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(decimal::integer_range(ojson::parse(R"({"minimum": -2.5, "exclusiveMaximum": 7})"), 18),
            Ints({-2, 6}));
  EXPECT_EQ(
      decimal::integer_range(
          ojson::parse(R"({"minimum": 3, "exclusiveMinimum": true, "maximum": 1.2345678901e+24})"),
          18),
      Ints({4, 999'999'999'999'999'999}));
  EXPECT_EQ(
      decimal::integer_range(ojson::parse(R"({"exclusiveMinimum": -0.5, "maximum": 0.5})"), 3),
      Ints({0, 0}));
  EXPECT_THROW(decimal::integer_range(ojson::parse(R"({"minimum": 4.5, "maximum": 4.9})"), 18),
               Error);
  EXPECT_THROW(decimal::integer_range(ojson::parse(R"({"minimum": 1e19})"), 18), Error);
}

}  // namespace
}  // namespace vkr::test
