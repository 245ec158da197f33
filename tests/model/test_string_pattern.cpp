// test_string_pattern.cpp: StringPattern (model/string_pattern.*) against std::regex, the
// standard library's ECMAScript engine (regex_search: JSON Schema's unanchored semantics), on
// every short text over small alphabets; every live set must still reach a match; the formats
// against hand-picked valid and invalid texts; errors name the construct and its offset.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "json_test_util.hpp"
#include "string_pattern.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

// Whole-text verdict, and whether every prefix kept a live set (the recognizer's promise: a
// text refused at some byte was refused there, not later).
struct Outcome {
  bool matched = false;
  size_t died_at = std::string::npos;
};

Outcome run(const StringPattern& p, const std::string& text) {
  Outcome r;
  auto live = p.start();
  for (size_t i = 0; i < text.size(); ++i) {
    live = p.step(live, static_cast<unsigned char>(text[i]));
    if (live.empty()) {
      r.died_at = i;
      return r;
    }
  }
  r.matched = p.accepts(live);
  return r;
}

TEST(StringPattern, AgreesWithStdRegexOnEveryShortText) {
  const std::pair<const char*, const char*> cases[] = {
      // pattern, alphabet
      {"^[a-c]+$", "abcd"},
      {"ab*c", "abcx"},
      {"^(a|bc){2,3}$", "abc"},
      {"^\\d{2}-\\d$", "19-a"},
      {"x[^0-9]?y", "xy1a"},
      {"^(?:a+|b)c?$", "abc"},
      {"^.{2,3}$", "a\n."},
      {"^[\\w.]+@[a-z]\\.(co|org)$", "a.@co"},
      {"^$", "ab"},
      {"a|bc", "abc"},
      {"^a{0,2}b{2,}$", "ab"},
      {"^[-a-c]+$", "-abd"},
      {"^[a\\-c]+$", "-abc"},
      {"^\\x41\\u0042?$", "ABC"},
      {"^a*?b+?$", "ab"},
      {"^[^\\s]\\s\\S$", "a \t"},
      {"^a{2}$", "a"},
      {"^(a|)b$", "ab"},
      {"^[\\d\\-]+$", "1-a"},
  };
  for (const auto& [pattern, alphabet] : cases) {
    SCOPED_TRACE(pattern);
    std::regex re;
    try {
      re = std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      ADD_FAILURE() << "std::regex refuses the case itself";
      continue;
    }
    const StringPattern p = StringPattern::compile(pattern);
    int matches = 0;
    std::set<std::string> refused;
    for (const std::string& t : all_texts(alphabet, 6)) {
      const bool want = std::regex_search(t, re);
      const Outcome r = run(p, t);
      ASSERT_EQ(r.matched, want) << "text '" << t << "'";
      matches += want;
      // Refused at died_at: no text with that prefix may match (checked over the alphabet).
      if (r.died_at == std::string::npos || !refused.insert(t.substr(0, r.died_at + 1)).second) {
        continue;
      }
      for (const std::string& tail : all_texts(alphabet, 2)) {
        ASSERT_FALSE(std::regex_search(t.substr(0, r.died_at + 1) + tail, re))
            << "refused '" << t.substr(0, r.died_at + 1) << "' but '" << tail << "' completes it";
      }
    }
    EXPECT_GT(matches, 0);
  }
}

// ECMAScript corners std::regex does not share: named groups are groups, a '{' that starts no
// quantifier is a literal, and an empty class matches nothing.
TEST(StringPattern, EcmaScriptCorners) {
  const StringPattern named = StringPattern::compile("^(?<word>[ab]+)c$");
  EXPECT_TRUE(run(named, "abac").matched);
  EXPECT_FALSE(run(named, "c").matched);
  const StringPattern brace = StringPattern::compile("^a{,2}$");
  EXPECT_TRUE(run(brace, "a{,2}").matched);
  EXPECT_FALSE(run(brace, "aa").matched);
  EXPECT_THROW(StringPattern::compile("^a[]$"), Error);
  const StringPattern any = StringPattern::compile("^[^]$");
  EXPECT_TRUE(run(any, "\n").matched);
  EXPECT_LE(StringPattern::compile("^[a-c]{127}$").positions(), StringPattern::kMaxPositions);
}

TEST(StringPattern, FormatsTakeValidTextsOnly) {
  const std::pair<const char*, std::vector<std::pair<const char*, bool>>> cases[] = {
      {"date",
       {{"2024-01-31", true},
        {"2024-02-28", true},
        {"2024-04-30", true},
        {"2024-04-31", false},
        {"2024-02-30", false},
        {"2024-13-01", false},
        {"2024-00-10", false},
        {"24-01-01", false},
        {"2024-1-01", false},
        {"2024-01-01 ", false}}},
      {"time",
       {{"23:59:59Z", true},
        {"00:00:00.123+05:30", true},
        {"12:00:00-23:59", true},
        {"24:00:00Z", false},
        {"12:60:00Z", false},
        {"12:00:00", false},
        {"12:00:00.Z", false},
        {"12:00:00+24:00", false}}},
      {"date-time",
       {{"2024-05-06T07:08:09Z", true},
        {"2024-05-06 07:08:09Z", false},
        {"2024-05-06T07:08:09", false}}},
      {"uuid",
       {{"123e4567-e89b-12d3-a456-426614174000", true},
        {"123E4567-E89B-12D3-A456-426614174000", true},
        {"123e4567e89b12d3a456426614174000", false},
        {"123e4567-e89b-12d3-a456-42661417400", false},
        {"g23e4567-e89b-12d3-a456-426614174000", false}}},
      {"ipv6",
       {{"2001:db8:0:0:0:0:2:1", true},
        {"fe80:0:0:0:abcd:ef01:2:ffff", true},
        {"2001:db8::2:1", false},
        {"2001:db8:0:0:0:0:2", false},
        {"12345:0:0:0:0:0:0:1", false}}},
      {"email",
       {{"a.b+tag@example.com", true},
        {"x_y@sub.dom-ain.org", true},
        {"a@b.c", false},
        {"a..b@example.com", false},
        {"@example.com", false},
        {"a@-x.com", false},
        {"a@example.c0m", false}}},
      {"hostname",
       {{"example.com", true},
        {"a-b.c1", true},
        {"localhost", true},
        {"-a.com", false},
        {"a-.com", false},
        {"a..b", false},
        {"abcdefghijklmnopqrstu.com", false}}},
      {"duration",
       {{"P1Y2M3D", true},
        {"PT4H5M6S", true},
        {"P3W", true},
        {"P1DT2H", true},
        {"PT0S", true},
        {"P", false},
        {"PT", false},
        {"P1DT", false},
        {"P1H", false},
        {"P2W1D", false}}},
      {"uri",
       {{"https://example.com", true},
        {"http://a.b-c.org:8080/p/a%20th;x=1/?q=1&r=a/b?#frag/?", true},
        {"https://example.com/", true},
        {"https://x.io/~u/(1)*!$'+,=:@", true},
        {"ftp://example.com", false},
        {"https://", false},
        {"https://-a.com", false},
        {"https://a.com:0", false},
        {"https://a.com:65536", false},
        {"https://a.com/a b", false},
        {"https://a.com/%2", false},
        {"https://a.com/%zz", false},
        {"https://a.com/#a#b", false},
        {"https://a.com/\"", false},
        {"https://a.com/[x]", false}}},
      {"ipvanyaddress",
       {{"10.0.0.255", true},
        {"fe80:0:0:0:0:0:0:1", true},
        {"2001:db8:85a3:0:0:8a2e:370:7334", true},
        {"1.2.3", false},
        {"1.2.3.4:0:0:0", false},
        {"fe80::1", false},  // valid, but written out in full here
        {"10.0.0.256", false}}},
      {"json-pointer",
       {{"", true},
        {"/", true},
        {"/a/b~1c/~0/0", true},
        {"/é/ /%", true},
        {"a", false},
        {"/a~", false},
        {"/a~2", false}}},
      {"relative-json-pointer",
       {{"0", true},
        {"1#", true},
        {"12/a/~1", true},
        {"0/", true},
        {"", false},
        {"01", false},
        {"#", false},
        {"/a", false},
        {"1#/a", false}}},
      {"base64",
       {{"", true},
        {"QUJD", true},
        {"QUI=", true},
        {"QQ==", true},
        {"a+/9", true},
        {"QUJ", false},
        {"Q===", false},
        {"QQ==QUJD", false},
        {"a-_9", false}}},
      {"base64url", {{"a-_9", true}, {"QUI=", true}, {"a+/9", false}, {"QU", false}}},
      {"idn-hostname", {{"example.com", true}, {"-a.com", false}}},
      {"idn-email", {{"a.b@example.com", true}, {"a@b", false}}},
      {"ipv4",
       {{"0.0.0.0", true},
        {"255.255.255.255", true},
        {"192.168.1.20", true},
        {"256.1.1.1", false},
        {"01.1.1.1", false},
        {"1.1.1", false},
        {"1.1.1.1.", false}}},
  };
  for (const auto& [format, examples] : cases) {
    const StringPattern p = StringPattern::format(format);
    for (const auto& [text, want] : examples) {
      EXPECT_EQ(run(p, text).matched, want) << format << ": " << text;
    }
  }
}

// Every format the error message lists is one: compiled to a pattern that some text matches, or
// (any_text_format) left to any string.
TEST(StringPattern, EveryListedFormatIsSupported) {
  const std::string list = StringPattern::kFormats;
  size_t n = 0;
  for (size_t at = 0; at < list.size();) {
    const size_t end = std::min(list.find(", ", at), list.size());
    const std::string name = list.substr(at, end - at);
    at = end + 2;
    ++n;
    if (StringPattern::any_text_format(name)) continue;
    const StringPattern p = StringPattern::format(name);
    EXPECT_TRUE(p.can_finish(p.start(), 0, StringPattern::kUnbounded)) << name;
  }
  EXPECT_EQ(n, 24u);
}

TEST(StringPattern, ErrorsNameTheConstructAndWhere) {
  const std::pair<const char*, const char*> cases[] = {
      {"a(?=b)", "lookaround assertions are not supported at offset 1"},
      {"(a)\\1", "backreferences are not supported at offset 3"},
      {"\\bword", "word boundaries (\\b) are not supported at offset 0"},
      {"a^b", "'^' after the start is not supported at offset 1"},
      {"a$b", "'$' before the end is not supported at offset 1"},
      {"^a|b$", "anchors around a top-level '|' are not supported"},
      {"(ab", "'(' is never closed at offset 0"},
      {"ab)", "unmatched ')' at offset 2"},
      {"*a", "nothing to repeat at offset 0"},
      {"a**", "nothing to repeat at offset 2"},
      {"a{3,2}", "the maximum is below the minimum at offset 1"},
      {"a{1001}", "repetition count above 1000"},
      {"[z-a]", "the range is backwards"},
      {"[a", "unterminated character class at offset 0"},
      {"\\p{L}", "Unicode property escapes are not supported"},
      {"\\q", "unknown escape '\\q'"},
      {"\\x4", "expected 2 hex digits"},
      {"[\\d-z]", "a range cannot start or end at a class escape"},
      {"^(a{64}){2}$", "more than 127 character positions"},
  };
  for (const auto& [pattern, want] : cases) {
    try {
      StringPattern::compile(pattern);
      ADD_FAILURE() << "no error for " << pattern;
    } catch (const Error& e) {
      EXPECT_NE(e.message().find(want), std::string::npos) << pattern << " -> " << e.message();
      EXPECT_EQ(e.message().rfind(std::string("pattern '") + pattern + "'", 0), 0u) << e.message();
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    }
  }
  EXPECT_THROW(StringPattern::format("regex"), Error);
}

}  // namespace
}  // namespace vkr::test
