// GBNF grammars (model/grammar.hpp): what the recognizer accepts, byte by byte, for each construct
// of the format; UTF-8 at byte level; the state staying small on long texts; and the errors a
// broken grammar gets (with line and column).
#include <gtest/gtest.h>

#include <string>

#include "grammar.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

// Whether `text` is a whole text of the grammar / the start of one.
bool whole(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  GrammarPrefix p(g);
  return p.push(text) && p.complete();
}
bool starts(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  GrammarPrefix p(g);
  return p.push(text);
}

// The message Grammar::parse gives `text` (empty when it parses).
std::string error_of(std::string_view text) {
  try {
    Grammar::parse(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    return e.message();
  }
  return {};
}

struct Case {
  const char* grammar;
  std::vector<const char*> yes;  // whole texts
  std::vector<const char*> no;   // neither whole nor (where `prefix_no`) a start
};

TEST(Grammar, ConstructsAcceptTheirTexts) {
  const Case cases[] = {
      {R"(root ::= "abc")", {"abc"}, {"", "ab", "abd", "abcd"}},
      {R"(root ::= ("yes" | "no") "!")", {"yes!", "no!"}, {"yes", "maybe!", "no!!"}},
      {R"(root ::= [a-c]+ [^a-c\n]?)", {"a", "cab", "abZ", "ab "}, {"", "Zab", "ab\n", "abZZ"}},
      {R"(root ::= "<" . ">")", {"<x>", "<\n>", "<\xC3\xA9>", "<>>"}, {"<>", "<ab>"}},
      {R"(root ::= "x"{3})", {"xxx"}, {"xx", "xxxx"}},
      {R"(root ::= "x"{2,})", {"xx", "xxxxxxx"}, {"x"}},
      {R"(root ::= "x"{1,3} "y")", {"xy", "xxxy"}, {"y", "xxxxy"}},
      {R"(root ::= "x"{,2} "y")", {"y", "xy", "xxy"}, {"xxxy"}},
      {R"(root ::= "a" "x"{0} "b")", {"ab"}, {"axb"}},
      {R"(root ::= ("ab"){2} | "c"?)", {"abab", "c", ""}, {"ab", "ababab"}},
      {R"(root ::= ("a"?)* "b")", {"b", "ab", "aaab"}, {"", "ba"}},
      {R"(root ::= "x"*)", {"", "x", "xxxx"}, {"y"}},
      {"root ::= p\np ::= \"(\" p* \")\"", {"()", "(()())", "((()))"}, {"(", "())", ")("}},
      {R"(root ::= "\x41\u00e9\n\t\"\\\[\]")", {"A\xC3\xA9\n\t\"\\[]"}, {"A"}},
      {R"(root ::= [\x30-\x39\-]+)", {"12-3", "-"}, {"a"}},
      {"root ::= \"\xE6\x97\xA5\xE6\x9C\xAC\" [\xE3\x81\x81-\xE3\x82\x93]+",
       {"\xE6\x97\xA5\xE6\x9C\xAC\xE3\x81\x82"},
       {"\xE6\x97\xA5\xE6\x9C\xAC"}},
      {"root ::= \"\\U0001F600\"", {"\xF0\x9F\x98\x80"}, {"\xF0\x9F\x98\x81"}},
      // Ambiguous alternatives are followed together.
      {R"(root ::= "a" "b"* | "a" "c")", {"a", "ab", "abbb", "ac"}, {"abc", "acc"}},
      // Comments, line ends inside groups and after ::= and |, names with digits and dashes.
      {"# a comment\nroot ::=\n  item-1 (\n    \",\" item-1 # more\n  )*\n"
       "item-1 ::= [0-9]+ |\n  \"n\"\n",
       {"1", "1,n,23"},
       {"1,", ",1"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.grammar);
    const auto g = Grammar::parse(c.grammar);
    for (const char* t : c.yes) {
      EXPECT_TRUE(whole(g, t)) << "should accept: " << t;
      std::string s(t);
      for (size_t i = 0; i <= s.size(); ++i) EXPECT_TRUE(starts(g, s.substr(0, i))) << s;
    }
    for (const char* t : c.no) EXPECT_FALSE(whole(g, t)) << "should refuse: " << t;
  }
}

TEST(Grammar, ArithmeticExpressions) {
  const auto g = Grammar::parse(R"g(
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= [0-9]+ | "(" expr ")" | "-" factor
)g");
  for (const char* t : {"1", "1+2*3", "(1+2)*3", "-(4/2)-7", "((((9))))"}) {
    EXPECT_TRUE(whole(g, t)) << t;
  }
  for (const char* t : {"1+", "(1", "1)", "*2", "1 + 2"}) EXPECT_FALSE(whole(g, t)) << t;
  EXPECT_TRUE(starts(g, "((1+"));
  EXPECT_FALSE(starts(g, "1++"));
}

TEST(Grammar, CompleteAndMayContinue) {
  const auto g = Grammar::parse(R"(root ::= "a" "b"?)");
  GrammarPrefix p(g);
  EXPECT_FALSE(p.complete());
  EXPECT_TRUE(p.may_continue());
  ASSERT_TRUE(p.push("a"));
  EXPECT_TRUE(p.complete());
  EXPECT_TRUE(p.may_continue());
  ASSERT_TRUE(p.push("b"));
  EXPECT_TRUE(p.complete());
  EXPECT_FALSE(p.may_continue());
  EXPECT_FALSE(GrammarPrefix(p).push("b"));
}

TEST(Grammar, Utf8AtByteLevel) {
  // "é" is C3 A9: its lead byte fits, another lead does not; a character that is only begun is
  // not a whole text.
  const auto g = Grammar::parse(R"(root ::= "é" | [а-я]+)");
  GrammarPrefix p(g);
  EXPECT_TRUE(GrammarPrefix(p).push("\xC3"));
  EXPECT_FALSE(GrammarPrefix(p).push("\xC4"));      // U+0100..U+013F: none fits
  EXPECT_TRUE(GrammarPrefix(p).push("\xD0"));       // Cyrillic а-п
  EXPECT_FALSE(GrammarPrefix(p).push("\xD0\x90"));  // А (capital): no
  ASSERT_TRUE(p.push("\xC3"));
  EXPECT_FALSE(p.complete());
  EXPECT_FALSE(p.may_continue() == false);
  ASSERT_TRUE(p.push("\xA9"));
  EXPECT_TRUE(p.complete());
  // Not UTF-8: stray continuation, overlong, surrogate, above U+10FFFF, a lead without its end.
  const auto any = Grammar::parse("root ::= .*");
  for (const char* bad : {"\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xF5", "\xFF", "\xC3\x41"}) {
    EXPECT_FALSE(starts(any, bad)) << "bytes " << std::string_view(bad).size();
  }
  EXPECT_TRUE(whole(any, "\xF4\x8F\xBF\xBF"));
  // A lead byte whose shortest form starts above the class: E0 begins U+0800.., not '0'..'9'
  // (its bits alone, 0, would say U+0000..U+0FFF).
  const auto digits = Grammar::parse("root ::= [0-9]+ | [\u0800-\u0801]");
  EXPECT_TRUE(starts(digits, "\xE0"));
  const auto ascii = Grammar::parse("root ::= [0-9]+");
  for (const char* lead : {"\xE0", "\xF0", "\xC2", "\xE0\xA0"}) EXPECT_FALSE(starts(ascii, lead));
  EXPECT_FALSE(whole(any, "\xE6\x97"));
}

// The node arena is interned: a repetition over a long text keeps a handful of nodes, and deep
// nesting is compacted back to the nodes the state still uses.
TEST(Grammar, StateStaysSmall) {
  const auto g = Grammar::parse(R"(root ::= ([a-z] | " ")*)");
  GrammarPrefix p(g);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(p.push(static_cast<unsigned char>('a' + i % 26)));
  EXPECT_TRUE(p.complete());
  EXPECT_LT(p.arena_size(), 20u);

  const auto nest = Grammar::parse("root ::= p\np ::= \"(\" p* \")\"");
  GrammarPrefix q(nest);
  const int depth = 20000;
  for (int i = 0; i < depth; ++i) ASSERT_TRUE(q.push('('));
  GrammarPrefix tried = q;  // a copy's trials grow the shared arena
  ASSERT_TRUE(tried.push("()()"));
  const size_t before = q.arena_size();
  q.compact();
  EXPECT_LE(q.arena_size(), before);
  EXPECT_GE(q.arena_size(), static_cast<size_t>(depth));
  for (int i = 0; i < depth - 1; ++i) ASSERT_TRUE(q.push(')'));
  EXPECT_FALSE(q.complete());
  ASSERT_TRUE(q.push(')'));
  EXPECT_TRUE(q.complete());
  EXPECT_FALSE(q.push(')'));
}

TEST(Grammar, ErrorsNameTheProblemAndWhere) {
  const std::pair<const char*, const char*> cases[] = {
      {"root ::= foo", "line 1, column 10: rule 'foo' is not defined"},
      {"a ::= \"x\"", "no rule named 'root'"},
      {"", "the grammar has no rules"},
      {"# only a comment\n", "the grammar has no rules"},
      {"root ::= \"abc", "line 1, column 10: unterminated string literal"},
      {"root ::= \"ab\ncd\"", "string literal ends at a line end"},
      {"root ::= [a-z", "unterminated character class"},
      {"root ::= [z-a]", "backwards"},
      {R"(root ::= "\q")", "line 1, column 11: unknown escape '\\q'"},
      {R"(root ::= "\x4")", "escape needs 2 hex digits"},
      {R"(root ::= "\U00110000")", "is not a Unicode code point"},
      {"root ::= \"x\"{3,1}", "the maximum is below the minimum"},
      {"root ::= \"x\"{}", "expected a count"},
      {"root ::= \"x\"{2", "expected '}' to close the repetition"},
      {"root ::= \"x\"{100001}", "repetition count above 100000"},
      {"root ::= \"x\"{0,100000} \"y\"{0,100000} \"z\"{0,100000}", "more than 1048576"},
      {"root ::= root \"x\" | \"y\"", "rule 'root' is left-recursive"},
      {"root ::= a \"x\"\na ::= root | \"y\"", "left-recursive"},
      {"root ::= e root \"x\" | \"y\"\ne ::= \"a\"?", "rule 'root' is left-recursive"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
      {"root ::= \"a\" )", "line 1, column 14: unexpected ')' in rule 'root'"},
      // Characters outside ASCII are quoted whole, stray bytes and control bytes escaped.
      {"root ::= \"a\" \xc3\xa9", "unexpected '\xc3\xa9' in rule 'root'"},
      {"root ::= \"a\" \xa9", "unexpected '\\xa9' in rule 'root'"},
      {"root ::= (\"a\" \x01)", "unexpected '\\x01' in a group"},
      {"root ::= \"\\\xc3\xa9\"", "unknown escape '\\\xc3\xa9'"},
      {"root ::= (\"a\"", "'(' is never closed"},
      {"root := \"a\"", "expected '::=' after the rule name 'root'"},
      {"::= \"a\"", "line 1, column 1: expected a rule name"},
      {"root ::= <[12]>", "token references"},
      {"root ::= * \"a\"", "'*' must follow an element"},
      {"root ::= \"\xFF\"", "not UTF-8 text"},
      {"root ::= \"a\"\n  | \"b\"", "line 2, column 3: expected a rule name"},
  };
  for (const auto& [text, want] : cases) {
    const std::string got = error_of(text);
    EXPECT_NE(got.find(want), std::string::npos) << "grammar: " << text << "\n got: " << got;
    EXPECT_EQ(got.rfind("grammar: ", 0), 0u) << got;
  }
  // Untrusted input cannot exhaust the stack or the time: deep nesting is refused by name, long
  // chains of rules compile and run (left recursion found in one pass, expansion iterative).
  EXPECT_NE(error_of("root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')'))
                .find("line 1, column 266: groups nested deeper than 256"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"" + std::string(100000, '*')).find("nested deeper than 256"),
            std::string::npos);
  {
    std::string chain = "root ::= r0 \"x\"\n";
    const int n = 50000;
    for (int i = 0; i < n; ++i) chain += fmt::format("r{} ::= r{} \"x\" | \"y\"\n", i, i + 1);
    const auto g = Grammar::parse(chain + fmt::format("r{} ::= \"z\"\n", n));
    EXPECT_TRUE(whole(g, "yx"));
    EXPECT_TRUE(whole(g, "z" + std::string(n + 1, 'x')));
    EXPECT_NE(error_of(chain + fmt::format("r{} ::= r0 | \"z\"\n", n)).find("left-recursive"),
              std::string::npos);
  }
  // Not errors: tail recursion and nullable repetitions expand finitely.
  for (const char* ok : {"root ::= \"\" | \"a\" root", "root ::= (\"a\"?)* \"b\"",
                         "root ::= x\nx ::= y\ny ::= \"\" | \"z\" x", "root ::= (\"a\"*)*"}) {
    EXPECT_EQ(error_of(ok), "") << ok;
  }
  EXPECT_NO_THROW(Grammar::parse("start ::= \"a\"", "start"));
  // Nested repetitions compile to rules referenced by each copy: linear, not multiplied.
  EXPECT_LT(Grammar::parse("root ::= (\"x\"{1000}){1000}{1000}")->elems().size(), 5000u);
}

}  // namespace
}  // namespace vkr
