// string_pattern.cpp: StringPattern (string_pattern.hpp). A recursive-descent parser turns the
// expression into a small tree; PatternBuilder lays the tree out as Glushkov positions (each
// character class occurrence one state; x{m,n} lays x out m..n times), then drops positions from
// which no accepting end can be reached, so that every live set the recognizer keeps can still
// be completed.
#include "string_pattern.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "hex_digit.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
using Mask = StringPattern::Mask;

constexpr uint32_t kMaxCp = 0x10FFFF;
constexpr uint32_t kUnbounded = StringPattern::kUnbounded;
constexpr uint32_t kMaxCount = 1000;  // {n,m} bounds (the positions limit comes first anyway)
constexpr uint32_t kMaxNesting = 64;  // groups: the pattern is untrusted input (server requests)

Ranges normalized(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (const auto& [a, b] : r) {
    if (!out.empty() && a <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, b);
    } else {
      out.emplace_back(a, b);
    }
  }
  return out;
}

Ranges complement(const Ranges& sorted) {
  Ranges out;
  uint32_t next = 0;
  for (const auto& [a, b] : sorted) {
    if (a > next) out.emplace_back(next, a - 1);
    next = b + 1;
  }
  if (next <= kMaxCp) out.emplace_back(next, kMaxCp);
  return out;
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMAScript's WhiteSpace and LineTerminator.
const Ranges kSpace = {{9, 13},          {32, 32},         {0xA0, 0xA0},     {0x1680, 0x1680},
                       {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                       {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const Ranges kLineEnds = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

struct Ast {
  enum class Kind : uint8_t { Empty, Sym, Cat, Alt, Repeat };
  Kind kind = Kind::Empty;
  Ranges cls;             // Sym
  std::vector<Ast> kids;  // Cat, Alt; Repeat: its one element
  uint32_t min = 0, max = 0;
};

class RegexParser {
 public:
  explicit RegexParser(std::string_view s) : s_(s) {}

  // The whole expression, with its anchors.
  Ast run(bool& at_start, bool& at_end) {
    at_start = !s_.empty() && s_[0] == '^';
    if (at_start) ++pos_;
    Ast a = alternation(0);
    if (pos_ < s_.size()) fail(pos_, "unmatched ')'");
    at_end = at_end_;
    if ((at_start || at_end) && a.kind == Ast::Kind::Alt) {
      fail(0, "anchors around a top-level '|' are not supported (group it: ^(a|b)$)");
    }
    return a;
  }

 private:
  [[noreturn]] void fail(size_t at, std::string_view what) const {
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("pattern '{}': {} at offset {}", printable(s_, 200), what, at));
  }
  bool eof() const { return pos_ >= s_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : 0; }

  // One code point of the pattern's own UTF-8 text.
  uint32_t take_cp() {
    const auto b = static_cast<unsigned char>(s_[pos_]);
    const size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (n == 0 || pos_ + n > s_.size()) fail(pos_, "invalid UTF-8");
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) cp = cp << 6 | (static_cast<unsigned char>(s_[pos_ + k]) & 0x3F);
    pos_ += n;
    return cp;
  }

  Ast alternation(uint32_t depth) {
    if (depth > kMaxNesting) fail(pos_, fmt::format("groups nested deeper than {}", kMaxNesting));
    Ast alt{Ast::Kind::Alt};
    alt.kids.push_back(sequence(depth));
    while (peek() == '|') {
      ++pos_;
      alt.kids.push_back(sequence(depth));
    }
    return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
  }

  Ast sequence(uint32_t depth) {
    Ast cat{Ast::Kind::Cat};
    while (!eof() && peek() != '|' && peek() != ')') {
      if (peek() == '$') {
        if (pos_ + 1 != s_.size() || depth != 0) fail(pos_, "'$' before the end is not supported");
        at_end_ = true;
        ++pos_;
        break;
      }
      if (peek() == '^') fail(pos_, "'^' after the start is not supported");
      Ast a = atom(depth);
      quantifiers(a);
      cat.kids.push_back(std::move(a));
    }
    return cat;
  }

  // {n}, {n,}, {n,m} at pos_ (pos_ moves past it), or false (then '{' is a literal, as
  // ECMAScript reads it outside unicode mode).
  bool counted(uint32_t& lo, uint32_t& hi) {
    size_t p = pos_ + 1;
    auto number = [&](uint32_t& out) {
      const size_t start = p;
      uint64_t v = 0;
      while (p < s_.size() && s_[p] >= '0' && s_[p] <= '9')
        v = std::min<uint64_t>(v * 10 + (s_[p++] - '0'), 1u << 31);
      out = static_cast<uint32_t>(v);
      return p > start;
    };
    if (!number(lo)) return false;
    hi = lo;
    if (p < s_.size() && s_[p] == ',') {
      ++p;
      if (!number(hi)) hi = kUnbounded;
    }
    if (p >= s_.size() || s_[p] != '}') return false;
    pos_ = p + 1;
    return true;
  }

  void quantifiers(Ast& a) {
    bool quantified = false;
    for (;;) {
      const size_t at = pos_;
      uint32_t lo = 0, hi = 0;
      const char c = peek();
      if (c == '*') {
        lo = 0, hi = kUnbounded, ++pos_;
      } else if (c == '+') {
        lo = 1, hi = kUnbounded, ++pos_;
      } else if (c == '?') {
        lo = 0, hi = 1, ++pos_;
      } else if (c == '{' && counted(lo, hi)) {
        if (hi != kUnbounded && hi < lo) fail(at, "the maximum is below the minimum");
        if (lo > kMaxCount || (hi != kUnbounded && hi > kMaxCount)) {
          fail(at, fmt::format("repetition count above {}", kMaxCount));
        }
      } else {
        return;
      }
      if (quantified) fail(at, "nothing to repeat");
      quantified = true;
      if (peek() == '?') ++pos_;  // lazy: the same texts
      Ast r{Ast::Kind::Repeat};
      r.min = lo;
      r.max = hi;
      r.kids.push_back(std::move(a));
      a = std::move(r);
    }
  }

  static Ast sym(Ranges r) {
    Ast a{Ast::Kind::Sym};
    a.cls = normalized(std::move(r));
    return a;
  }

  Ast atom(uint32_t depth) {
    const size_t at = pos_;
    const char c = peek();
    if (c == '(') {
      ++pos_;
      if (peek() == '?') {
        if (peek(1) == ':') {
          pos_ += 2;
        } else if (peek(1) == '<' && peek(2) != '=' && peek(2) != '!') {
          pos_ += 2;  // a named group: a group
          while (!eof() && peek() != '>') ++pos_;
          if (eof()) fail(at, "unterminated group name");
          ++pos_;
        } else {
          fail(at, "lookaround assertions are not supported");
        }
      }
      Ast a = alternation(depth + 1);
      if (peek() != ')') fail(at, "'(' is never closed");
      ++pos_;
      return a;
    }
    if (c == '*' || c == '+' || c == '?') fail(at, "nothing to repeat");
    if (c == '[') return sym(char_class());
    if (c == '.') {
      ++pos_;
      return sym(complement(kLineEnds));
    }
    if (c == '\\') {
      Ranges r;
      escape(false, r);
      return sym(std::move(r));
    }
    const uint32_t cp = take_cp();
    return sym({{cp, cp}});
  }

  uint32_t hex(size_t digits) {
    uint32_t v = 0;
    for (size_t k = 0; k < digits; ++k) {
      const int d = hex_value(peek());
      if (d < 0) fail(pos_, fmt::format("expected {} hex digits", digits));
      v = v << 4 | static_cast<uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  // An escape at pos_ (the backslash) into `out`; returns whether it is one character (a range
  // end in a class) rather than a class like \d.
  bool escape(bool in_class, Ranges& out) {
    const size_t at = pos_;
    ++pos_;
    if (eof()) fail(at, "the pattern ends inside an escape");
    const char e = peek();
    auto one = [&](uint32_t cp) {
      out.emplace_back(cp, cp);
      return true;
    };
    auto set = [&](const Ranges& r, bool negate) {
      const Ranges add = negate ? complement(r) : r;
      out.insert(out.end(), add.begin(), add.end());
      return false;
    };
    ++pos_;
    switch (e) {
      case 'd':
        return set(kDigit, false);
      case 'D':
        return set(kDigit, true);
      case 'w':
        return set(kWord, false);
      case 'W':
        return set(kWord, true);
      case 's':
        return set(kSpace, false);
      case 'S':
        return set(kSpace, true);
      case 't':
        return one('\t');
      case 'n':
        return one('\n');
      case 'r':
        return one('\r');
      case 'f':
        return one('\f');
      case 'v':
        return one('\v');
      case '0':
        if (peek() >= '0' && peek() <= '9') fail(at, "octal escapes are not supported");
        return one(0);
      case 'x':
        return one(hex(2));
      case 'u': {
        uint32_t u = hex(4);
        if (u >= 0xD800 && u <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
          const size_t back = pos_;
          pos_ += 2;
          const uint32_t lo = hex(4);
          if (lo >= 0xDC00 && lo <= 0xDFFF)
            return one(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
          pos_ = back;
        }
        return one(u);
      }
      case 'c':
        if ((peek() | 0x20) >= 'a' && (peek() | 0x20) <= 'z')
          return one(static_cast<unsigned char>(s_[pos_++]) % 32);
        fail(at, "\\c needs a letter");
      case 'b':
        if (in_class) return one('\b');
        fail(at, "word boundaries (\\b) are not supported");
      case 'B':
        fail(at, "word boundaries (\\B) are not supported");
      case 'k':
        fail(at, "backreferences are not supported");
      case 'p':
      case 'P':
        fail(at, "Unicode property escapes are not supported");
      default:
        break;
    }
    if (e >= '1' && e <= '9') fail(at, "backreferences are not supported");
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
      fail(at, fmt::format("unknown escape '\\{}'", e));
    }
    --pos_;
    return one(take_cp());  // \. \* \\ \/ \- ... : the character itself
  }

  // One class member at pos_: a character (one range lo == hi; returns true) or the ranges of
  // a class escape such as \d.
  bool class_atom(Ranges& out) {
    if (peek() == '\\') return escape(true, out);
    const uint32_t cp = take_cp();
    out.emplace_back(cp, cp);
    return true;
  }

  Ranges char_class() {
    const size_t at = pos_;
    ++pos_;
    const bool negated = peek() == '^';
    if (negated) ++pos_;
    Ranges r;
    while (eof() || peek() != ']') {
      if (eof()) fail(at, "unterminated character class");
      Ranges lo;
      const bool single = class_atom(lo);
      if (peek() == '-' && pos_ + 1 < s_.size() && peek(1) != ']') {
        const size_t dash = pos_++;
        Ranges hi;
        const bool hi_single = class_atom(hi);
        if (!single || !hi_single) fail(dash, "a range cannot start or end at a class escape");
        if (hi[0].first < lo[0].first) fail(dash, "the range is backwards");
        r.emplace_back(lo[0].first, hi[0].first);
      } else {
        r.insert(r.end(), lo.begin(), lo.end());
      }
    }
    ++pos_;  // ']'
    r = normalized(std::move(r));
    return negated ? complement(r) : r;
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool at_end_ = false;
};

}  // namespace

class PatternBuilder {
 public:
  PatternBuilder(StringPattern& p, std::string_view text) : p_(p), text_(text) {
    p_.next_.assign(1, Mask{});
  }

  struct Sets {
    bool nullable = true;
    Mask first, last;
  };

  Sets build(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::Empty:
        return {};
      case Ast::Kind::Sym: {
        if (p_.classes_.size() >= StringPattern::kMaxPositions) {
          throw Error(ErrorCode::InvalidArgument,
                      fmt::format("pattern '{}': more than {} character positions (counted "
                                  "repetitions multiply them)",
                                  printable(text_, 200), StringPattern::kMaxPositions));
        }
        p_.classes_.push_back(a.cls);
        p_.next_.emplace_back();
        Sets s;
        s.nullable = false;
        s.first.set(p_.classes_.size());
        s.last = s.first;
        return s;
      }
      case Ast::Kind::Cat: {
        Sets s;
        for (const Ast& k : a.kids) s = cat(s, build(k));
        return s;
      }
      case Ast::Kind::Alt: {
        Sets s;
        s.nullable = false;
        for (const Ast& k : a.kids) {
          const Sets b = build(k);
          s.nullable = s.nullable || b.nullable;
          s.first |= b.first;
          s.last |= b.last;
        }
        return s;
      }
      case Ast::Kind::Repeat: {
        Sets s;
        for (uint32_t i = 0; i < a.min; ++i) s = cat(s, build(a.kids[0]));
        if (a.max == kUnbounded) {
          Sets loop = build(a.kids[0]);
          link(loop.last, loop.first);
          loop.nullable = true;
          return cat(s, loop);
        }
        // x{0,k} as (x(x(...)?)?)?: copies built innermost last, each optional after the one
        // before it.
        std::vector<Sets> opt;
        for (uint32_t i = a.min; i < a.max; ++i) opt.push_back(build(a.kids[0]));
        Sets tail;
        for (auto it = opt.rbegin(); it != opt.rend(); ++it) {
          Sets one = cat(*it, tail);
          one.nullable = true;
          tail = one;
        }
        return cat(s, tail);
      }
    }
    return {};
  }

  void finish(const Sets& s) {
    p_.next_[0] = s.first;
    p_.accept_ = s.last;
    if (s.nullable) p_.accept_.set(0);
    // Keep only positions from which an accepting end is reachable through enterable ones.
    const size_t n = p_.classes_.size();
    Mask useful;
    for (size_t q = 1; q <= n; ++q) {
      if (p_.accept_.test(q) && !p_.classes_[q - 1].empty()) useful.set(q);
    }
    for (bool grew = true; grew;) {
      grew = false;
      for (size_t q = 1; q <= n; ++q) {
        if (!useful.test(q) && !p_.classes_[q - 1].empty() && p_.next_[q].intersects(useful)) {
          useful.set(q);
          grew = true;
        }
      }
    }
    for (auto& m : p_.next_) {
      m.w[0] &= useful.w[0];
      m.w[1] &= useful.w[1];
    }
    if (!s.nullable && !p_.next_[0].intersects(useful)) {
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("pattern '{}' matches no text", printable(text_, 200)));
    }
    p_.measure();
  }

 private:
  void link(const Mask& from, const Mask& to) {
    for (size_t q = 1; q < p_.next_.size(); ++q) {
      if (from.test(q)) p_.next_[q] |= to;
    }
  }
  Sets cat(const Sets& a, const Sets& b) {
    link(a.last, b.first);
    Sets s;
    s.nullable = a.nullable && b.nullable;
    s.first = a.first;
    if (a.nullable) s.first |= b.first;
    s.last = b.last;
    if (b.nullable) s.last |= a.last;
    return s;
  }

  StringPattern& p_;
  std::string_view text_;
};

StringPattern StringPattern::compile(std::string_view regex) {
  bool at_start = false, at_end = false;
  Ast body = RegexParser(regex).run(at_start, at_end);
  // Search semantics: an end without its anchor matches any text there.
  Ast any_run{Ast::Kind::Repeat};
  any_run.max = kUnbounded;
  Ast any{Ast::Kind::Sym};
  any.cls = {{0, kMaxCp}};
  any_run.kids.push_back(any);
  Ast whole{Ast::Kind::Cat};
  if (!at_start) whole.kids.push_back(any_run);
  whole.kids.push_back(std::move(body));
  if (!at_end) whole.kids.push_back(any_run);
  StringPattern p;
  PatternBuilder b(p, regex);
  b.finish(b.build(whole));
  return p;
}

StringPattern StringPattern::format(std::string_view name) {
  // Texts every RFC 3339 / RFC 4122 reader accepts (a subset where the format is wider: no leap
  // seconds or February 29ths, a zone always given), so output never fails a format check.
  const std::string date =
      "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|"
      "02-(0[1-9]|1[0-9]|2[0-8]))";
  const std::string time =
      "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  const std::string octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
  if (name == "date") return compile("^" + date + "$");
  if (name == "time") return compile("^" + time + "$");
  if (name == "date-time") return compile("^" + date + "T" + time + "$");
  if (name == "uuid") {
    return compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  }
  if (name == "ipv4") return compile("^(" + octet + "\\.){3}" + octet + "$");
  // The full eight-group form (no "::" shortening): valid everywhere, one automaton state each.
  if (name == "ipv6") return compile("^[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}$");
  // Either (pydantic's IPvAnyAddress).
  if (name == "ipvanyaddress") {
    return compile("^(" + octet + "(\\." + octet + "){3}|[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7})$");
  }
  // Dot-atoms at a domain with a letters-only top level: addresses RFC 5321 readers accept (and,
  // being ASCII, RFC 6531's: idn-email).
  if (name == "email" || name == "idn-email") {
    return compile(
        "^[A-Za-z0-9_+-]+(\\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
        "(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\.[A-Za-z]{2,}$");
  }
  // Labels of at most 20 characters (RFC 1123 allows 63; the automaton counts each one).
  if (name == "hostname" || name == "idn-hostname") {
    const std::string label = "[A-Za-z0-9]([A-Za-z0-9-]{0,18}[A-Za-z0-9])?";
    return compile("^" + label + "(\\." + label + ")*$");
  }
  // http(s) URLs with a host name, an optional port below 10000, a path, a query and a
  // fragment of RFC 3986 characters (percent escapes included): absolute URIs every URI / IRI
  // reader accepts, and what URL types such as pydantic's HttpUrl (schema "format": "uri")
  // take; other schemes, IP hosts and user info are left out.
  if (name == "uri" || name == "uri-reference" || name == "iri" || name == "iri-reference") {
    const std::string label = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?";
    const std::string pchar = "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})";
    const std::string qchar = "([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})";
    return compile("^https?://" + label + "(\\." + label + ")*(:[1-9][0-9]{0,3})?(/" + pchar +
                   "*)*(\\?" + qchar + "*)?(#" + qchar + "*)?$");
  }
  // RFC 6901 pointers ("/a/b~1c": '~' only as ~0 or ~1) and the relative ones of
  // draft-handrews-relative-json-pointer (a count of levels up, then '#' or a pointer).
  const std::string pointer = "(/([^~/]|~[01])*)*";
  if (name == "json-pointer") return compile("^" + pointer + "$");
  if (name == "relative-json-pointer") return compile("^(0|[1-9][0-9]*)(#|" + pointer + ")$");
  // RFC 4648 base64 with its padding (OpenAPI's "byte", pydantic's Base64Str "base64"), and the
  // URL-safe alphabet (pydantic's Base64UrlStr "base64url", padded as it decodes).
  if (name == "byte" || name == "base64" || name == "base64url") {
    const std::string c = name == "base64url" ? "[A-Za-z0-9_-]" : "[A-Za-z0-9+/]";
    return compile("^(" + c + "{4})*(" + c + "{2}==|" + c + "{3}=)?$");
  }
  // ISO 8601 durations as RFC 3339 appendix A writes them: PnYnMnD, time part TnHnMnS, PnW.
  if (name == "duration") {
    const std::string t = "T([0-9]+H([0-9]+M)?([0-9]+S)?|[0-9]+M([0-9]+S)?|[0-9]+S)";
    return compile("^P(([0-9]+Y([0-9]+M)?([0-9]+D)?|[0-9]+M([0-9]+D)?|[0-9]+D)(" + t + ")?|" + t +
                   "|[0-9]+W)$");
  }
  throw Error(
      ErrorCode::InvalidArgument,
      fmt::format("format '{}' is not supported (supported: {})", printable(name), kFormats));
}

}  // namespace vkr
