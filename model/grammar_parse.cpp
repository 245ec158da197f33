// grammar_parse.cpp: GBNF text -> Grammar (see grammar.hpp). Two steps: here a recursive-descent
// parser builds each rule's alternatives as items (a character set, a rule name, or a group of
// alternatives, each with its repetition bounds), then grammar_compile.cpp lowers them to flat
// element lists: a group becomes a rule of its own unless it is one sequence (a literal), x{m,n}
// becomes m copies then a chain of n - m optional rules, x* a right-recursive rule (R ::= x R |),
// whose recursion is in tail position, so the recognizer never nests it.
#include <algorithm>
#include <cctype>

#include "grammar_syntax.hpp"
#include "hex_digit.hpp"

namespace vkr {

namespace {

using gbnf::Alts;
using gbnf::Item;
using gbnf::kUnbounded;
using gbnf::RuleText;
using gbnf::Seq;
using gbnf::Text;

constexpr uint32_t kMaxRepeat = 100000;
// Groups (and repetitions of repetitions) nest at most this deep: parsing and compiling recurse
// once per level, and a grammar is untrusted input (the server's "grammar" field).
constexpr uint32_t kMaxNesting = 256;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

class Parser {
 public:
  explicit Parser(const Text& text) : text_(text), s_(text.view()) {}

  std::vector<RuleText> parse() {
    std::vector<RuleText> rules;
    space(true);
    while (!eof()) {
      RuleText r;
      r.at = pos_;
      r.name = name();
      if (r.name.empty()) fail(pos_, "expected a rule name");
      space(false);
      if (s_.substr(pos_, 3) != "::=")
        fail(pos_, "expected '::=' after the rule name '{}'", r.name);
      pos_ += 3;
      space(true);
      r.alts = alternatives(false);
      space(false);
      if (!eof() && peek() != '\n' && peek() != '\r') {
        fail(pos_, "unexpected '{}' in rule '{}' (expected an element, '|' or a line end)",
             shown(pos_), r.name);
      }
      space(true);
      rules.push_back(std::move(r));
    }
    return rules;
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(size_t at, fmt::format_string<Args...> format, Args&&... args) const {
    text_.fail(at, format, std::forward<Args>(args)...);
  }
  bool eof() const { return pos_ >= s_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : 0; }
  // The character at `at` as a message quotes it: a whole UTF-8 sequence (one byte of it alone
  // is invalid text on the user's terminal), control bytes and stray bytes escaped.
  std::string shown(size_t at) const {
    const auto b = static_cast<unsigned char>(at < s_.size() ? s_[at] : 0);
    const size_t n = b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    return printable(s_.substr(std::min(at, s_.size()), n), n);
  }

  // Spaces, tabs and comments; line ends too where a rule may go on past them.
  void space(bool newlines) {
    while (!eof()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else if (c == '#') {
        while (!eof() && peek() != '\n' && peek() != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string name() {
    const size_t start = pos_;
    while (!eof() && is_name_char(peek())) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  Alts alternatives(bool nested) {
    Alts alts;
    alts.push_back(sequence(nested));
    while (peek() == '|') {
      ++pos_;
      space(true);
      alts.push_back(sequence(nested));
    }
    return alts;
  }

  Seq sequence(bool nested) {
    Seq seq;
    for (;;) {
      const char c = peek();
      const size_t at = pos_;
      if (c == '"') {
        ++pos_;
        Item lit;
        lit.kind = Item::Kind::Group;
        lit.at = at;
        lit.group.emplace_back();
        for (;;) {
          if (eof()) fail(at, "unterminated string literal");
          if (peek() == '"') break;
          if (peek() == '\n' || peek() == '\r') fail(at, "string literal ends at a line end");
          Item ch;
          ch.at = pos_;
          const uint32_t cp = character();
          ch.set.ranges.emplace_back(cp, cp);
          lit.group[0].push_back(std::move(ch));
        }
        ++pos_;
        seq.push_back(std::move(lit));
      } else if (c == '[') {
        seq.push_back(char_class());
      } else if (c == '.') {
        ++pos_;
        Item any;
        any.at = at;
        any.set.negated = true;  // nothing excluded
        seq.push_back(std::move(any));
      } else if (c == '(') {
        if (++depth_ > kMaxNesting) fail(at, "groups nested deeper than {}", kMaxNesting);
        ++pos_;
        space(true);
        Item g;
        g.kind = Item::Kind::Group;
        g.at = at;
        g.group = alternatives(true);
        if (peek() != ')') {
          if (eof()) fail(at, "'(' is never closed");
          fail(pos_, "unexpected '{}' in a group (expected an element, '|' or ')')", shown(pos_));
        }
        ++pos_;
        --depth_;
        seq.push_back(std::move(g));
      } else if (is_name_char(c)) {
        Item r;
        r.kind = Item::Kind::Ref;
        r.at = at;
        r.ref = name();
        seq.push_back(std::move(r));
      } else if (c == '<') {
        fail(at, "token references (<[id]>, <|name|>) are not supported; write the text");
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        fail(at, "'{}' must follow an element", c);
      } else {
        break;
      }
      space(nested);
      while (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{') {
        repetition(seq.back());
        space(nested);
      }
    }
    return seq;
  }

  // A postfix operator on `item` (a repeated item is wrapped, so x{2}* repeats x{2}).
  void repetition(Item& item) {
    const size_t at = pos_;
    uint32_t lo = 0, hi = kUnbounded;
    const char c = peek();
    ++pos_;
    if (c == '+') {
      lo = 1;
    } else if (c == '?') {
      hi = 1;
    } else if (c == '{') {
      space(true);
      const bool has_lo = std::isdigit(static_cast<unsigned char>(peek())) != 0;
      if (has_lo) lo = number(at);
      space(true);
      if (peek() == ',') {
        ++pos_;
        space(true);
        if (std::isdigit(static_cast<unsigned char>(peek()))) hi = number(at);
      } else {
        if (!has_lo) fail(at, "expected a count in '{{...}}'");
        hi = lo;
      }
      space(true);
      if (peek() != '}') fail(pos_, "expected '}}' to close the repetition");
      ++pos_;
      if (hi < lo) fail(at, "repetition {{{},{}}}: the maximum is below the minimum", lo, hi);
    }
    if (item.min != 1 || item.max != 1) {
      if (item.wraps + depth_ >= kMaxNesting) {
        fail(at, "repetitions nested deeper than {}", kMaxNesting);
      }
      Item inner = std::move(item);
      item = Item{};
      item.wraps = inner.wraps + 1;
      item.kind = Item::Kind::Group;
      item.at = inner.at;
      item.group.emplace_back();
      item.group[0].push_back(std::move(inner));
    }
    item.min = lo;
    item.max = hi;
  }

  uint32_t number(size_t at) {
    uint64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + static_cast<uint64_t>(peek() - '0');
      if (v > kMaxRepeat) fail(at, "repetition count above {}", kMaxRepeat);
      ++pos_;
    }
    return static_cast<uint32_t>(v);
  }

  Item char_class() {
    Item it;
    it.at = pos_;
    ++pos_;
    if (peek() == '^') {
      it.set.negated = true;
      ++pos_;
    }
    auto& r = it.set.ranges;
    for (;;) {
      if (eof()) fail(it.at, "unterminated character class");
      if (peek() == ']') break;
      if (peek() == '\n' || peek() == '\r') fail(it.at, "character class ends at a line end");
      const size_t at = pos_;
      const uint32_t lo = character();
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < s_.size()) {
        ++pos_;
        hi = character();
        if (hi < lo) fail(at, "range U+{:04X}-U+{:04X} in a class is backwards", lo, hi);
      }
      r.emplace_back(lo, hi);
    }
    ++pos_;
    // Sorted, merged ranges (contains() and intersects() rely on it).
    std::sort(r.begin(), r.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& x : r) {
      if (!merged.empty() && x.first <= merged.back().second + 1) {
        merged.back().second = std::max(merged.back().second, x.second);
      } else {
        merged.push_back(x);
      }
    }
    r = std::move(merged);
    return it;
  }

  // One character of a literal or class: an escape or a UTF-8 sequence.
  uint32_t character() {
    const size_t at = pos_;
    const auto b = static_cast<unsigned char>(peek());
    if (b == '\\') {
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
          return static_cast<uint32_t>(e);
        case 'x':
          return hex(at, 2);
        case 'u':
          return hex(at, 4);
        case 'U':
          return hex(at, 8);
        default:
          if (e == 0 && eof()) fail(at, "the text ends inside an escape");
          fail(at, "unknown escape '\\{}'", shown(at + 1));
      }
    }
    const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + static_cast<size_t>(len) > s_.size()) fail(at, "not UTF-8 text");
    uint32_t cp = len == 1 ? b : b & (0x7Fu >> len);
    for (int i = 1; i < len; ++i) {
      const auto c = static_cast<unsigned char>(s_[pos_ + static_cast<size_t>(i)]);
      if ((c & 0xC0) != 0x80) fail(at, "not UTF-8 text");
      cp = (cp << 6) | (c & 0x3Fu);
    }
    pos_ += static_cast<size_t>(len);
    return cp;
  }

  uint32_t hex(size_t at, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = hex_value(peek());
      if (d < 0) fail(at, "escape needs {} hex digits", digits);
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF) fail(at, "U+{:X} is not a Unicode code point", v);
    return v;
  }

  const Text& text_;
  std::string_view s_;
  size_t pos_ = 0;
  uint32_t depth_ = 0;  // groups open
};

}  // namespace

std::shared_ptr<const Grammar> Grammar::parse(std::string_view text, std::string_view root) {
  const Text t(text);
  const auto rules = Parser(t).parse();
  auto g = std::make_shared<Grammar>();
  gbnf::compile(t, rules, root, *g);
  return g;
}

}  // namespace vkr
