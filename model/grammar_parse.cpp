// grammar_parse.cpp: GBNF text -> Grammar (see grammar.hpp). Two steps: a recursive-descent
// parser builds each rule's alternatives as items (a character set, a rule name, or a group of
// alternatives, each with its repetition bounds), then GrammarCompiler lowers them to flat
// element lists: a group becomes a rule of its own unless it is one sequence (a literal), x{m,n}
// becomes m copies then a chain of n - m optional rules, x* a right-recursive rule (R ::= x R |),
// whose recursion is in tail position, so the recognizer never nests it.
#include <algorithm>
#include <cctype>
#include <limits>
#include <map>

#include "grammar.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kMaxRepeat = 100000;
// Groups (and repetitions of repetitions) nest at most this deep: parsing and compiling recurse
// once per level, and a grammar is untrusted input (the server's "grammar" field).
constexpr uint32_t kMaxNesting = 256;

struct Item;
using Seq = std::vector<Item>;
using Alts = std::vector<Seq>;

struct Item {
  enum class Kind : uint8_t { Set, Ref, Group } kind = Kind::Set;
  Grammar::CharSet set;
  std::string ref;
  size_t at = 0;  // where the item starts in the text (for errors)
  Alts group;
  uint32_t min = 1, max = 1;
  uint32_t wraps = 0;  // repetitions of repetitions around the item (x** is (x*)*)
};

struct RuleText {
  std::string name;
  size_t at = 0;
  Alts alts;
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

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
             shown(peek()), r.name);
      }
      space(true);
      rules.push_back(std::move(r));
    }
    return rules;
  }

  // "line L, column C" of a byte offset (columns count characters, from 1).
  std::string where(size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80) {
        ++col;
      }
    }
    return fmt::format("line {}, column {}", line, col);
  }

  template <typename... Args>
  [[noreturn]] void fail(size_t at, fmt::format_string<Args...> format, Args&&... args) const {
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("grammar: {}: {}", where(at),
                            fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  bool eof() const { return pos_ >= s_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : 0; }
  static std::string shown(char c) {
    if (c == '\t') return "\\t";
    if (static_cast<unsigned char>(c) < 0x20) return fmt::format("\\x{:02x}", c);
    return std::string(1, c);
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
          fail(pos_, "unexpected '{}' in a group (expected an element, '|' or ')')", shown(peek()));
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
          fail(at, "unknown escape '\\{}'", shown(e));
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
      const char c = peek();
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) fail(at, "escape needs {} hex digits", digits);
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF) fail(at, "U+{:X} is not a Unicode code point", v);
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
  uint32_t depth_ = 0;  // groups open
};

}  // namespace

class GrammarCompiler {
 public:
  GrammarCompiler(const Parser& parser, Grammar& g) : p_(parser), g_(g) {}

  void compile(const std::vector<RuleText>& rules, std::string_view root) {
    if (rules.empty()) p_.fail(0, "the grammar has no rules");
    for (const auto& r : rules) {
      const uint32_t i = rule_index(r.name);
      if (defined_[i] != SIZE_MAX) {
        p_.fail(r.at, "rule '{}' is defined twice (first at {})", r.name, p_.where(defined_[i]));
      }
      defined_[i] = r.at;
    }
    for (const auto& r : rules) define(rule_index(r.name), r.alts);
    for (const auto& [name, at] : first_use_) {
      if (defined_[index_.at(name)] == SIZE_MAX) p_.fail(at, "rule '{}' is not defined", name);
    }
    const auto root_it = index_.find(std::string(root));
    if (root_it == index_.end() || defined_[root_it->second] == SIZE_MAX) {
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("grammar: no rule named '{}' (texts start there)", root));
    }
    g_.root_ = root_it->second;
    check_left_recursion();
  }

 private:
  uint32_t rule_index(const std::string& name) {
    const auto [it, added] = index_.try_emplace(name, static_cast<uint32_t>(g_.rules_.size()));
    if (added) {
      g_.rules_.push_back({name, {}});
      defined_.push_back(SIZE_MAX);
    }
    return it->second;
  }

  uint32_t new_rule(uint32_t parent) {
    g_.rules_.push_back({g_.rules_[parent].name, {}});
    defined_.push_back(0);
    return static_cast<uint32_t>(g_.rules_.size() - 1);
  }

  void define(uint32_t rule, const Alts& alts) {
    std::vector<std::vector<Grammar::Elem>> bodies;
    for (const Seq& seq : alts) {
      std::vector<Grammar::Elem> body;
      for (const Item& it : seq) emit(rule, it, body);
      bodies.push_back(std::move(body));
    }
    add_alts(rule, bodies);
  }

  void add_alts(uint32_t rule, const std::vector<std::vector<Grammar::Elem>>& bodies) {
    for (const auto& body : bodies) {
      if (g_.elems_.size() + body.size() + 1 > Grammar::kMaxElems) {
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("grammar: rule '{}' compiles to more than {} elements (reduce its "
                                "repetition counts)",
                                g_.rules_[rule].name, Grammar::kMaxElems));
      }
      g_.rules_[rule].alts.push_back(static_cast<uint32_t>(g_.elems_.size()));
      g_.elems_.insert(g_.elems_.end(), body.begin(), body.end());
      g_.elems_.push_back({Grammar::Elem::Kind::End, 0});
    }
  }

  // The elements of one occurrence of `it` (ignoring its repetition).
  std::vector<Grammar::Elem> once(uint32_t rule, const Item& it) {
    using K = Grammar::Elem::Kind;
    if (it.kind == Item::Kind::Set) return {{K::Chars, set_index(it.set)}};
    if (it.kind == Item::Kind::Ref) {
      first_use_.try_emplace(it.ref, it.at);
      return {{K::Rule, rule_index(it.ref)}};
    }
    if (it.group.size() == 1) {
      std::vector<Grammar::Elem> body;
      for (const Item& x : it.group[0]) emit(rule, x, body);
      return body;
    }
    const uint32_t sub = new_rule(rule);
    define(sub, it.group);
    return {{K::Rule, sub}};
  }

  void emit(uint32_t rule, const Item& it, std::vector<Grammar::Elem>& out) {
    using K = Grammar::Elem::Kind;
    if (it.max == 0) return;
    std::vector<Grammar::Elem> one = once(rule, it);
    if (it.min == 1 && it.max == 1) {
      out.insert(out.end(), one.begin(), one.end());
      return;
    }
    if (one.size() > 1 && it.max > 1) {  // a long body is one rule, referenced by each copy
      const uint32_t sub = new_rule(rule);
      add_alts(sub, {one});
      one = {{K::Rule, sub}};
    }
    if (static_cast<uint64_t>(it.min) * one.size() + out.size() > Grammar::kMaxElems) {
      p_.fail(it.at, "repetition too large to compile (more than {} elements)", Grammar::kMaxElems);
    }
    for (uint32_t i = 0; i < it.min; ++i) out.insert(out.end(), one.begin(), one.end());
    if (it.max == kUnbounded) {  // R ::= x R |
      const uint32_t r = new_rule(rule);
      auto body = one;
      body.push_back({K::Rule, r});
      add_alts(r, {body, {}});
      out.push_back({K::Rule, r});
    } else if (it.max > it.min) {  // O1 ::= x | ; Ok ::= x O(k-1) |
      uint32_t prev = 0;
      for (uint32_t k = 1; k <= it.max - it.min; ++k) {
        const uint32_t o = new_rule(rule);
        auto body = one;
        if (k > 1) body.push_back({K::Rule, prev});
        add_alts(o, {body, {}});
        prev = o;
      }
      out.push_back({K::Rule, prev});
    }
  }

  uint32_t set_index(const Grammar::CharSet& s) {
    const auto key = std::make_pair(s.negated, s.ranges);
    const auto [it, added] = sets_.try_emplace(key, static_cast<uint32_t>(g_.sets_.size()));
    if (added) g_.sets_.push_back(s);
    return it->second;
  }

  // A rule that may reach itself before reading a character, other than by a tail call (which
  // the recognizer folds into the same place), would make expansion endless.
  void check_left_recursion() {
    using K = Grammar::Elem::Kind;
    const size_t n = g_.rules_.size();
    std::vector<uint8_t> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (uint32_t e : g_.rules_[r].alts) {
          while (g_.elems_[e].kind == K::Rule && nullable[g_.elems_[e].index]) ++e;
          if (g_.elems_[e].kind == K::End) {
            nullable[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    // Leftmost references: (from, to, in tail position).
    std::vector<std::vector<uint32_t>> edges(n);
    std::vector<std::pair<uint32_t, uint32_t>> nontail;
    for (size_t r = 0; r < n; ++r) {
      for (uint32_t e : g_.rules_[r].alts) {
        for (; g_.elems_[e].kind == K::Rule; ++e) {
          const uint32_t to = g_.elems_[e].index;
          edges[r].push_back(to);
          if (g_.elems_[e + 1].kind != K::End) nontail.emplace_back(static_cast<uint32_t>(r), to);
          if (!nullable[to]) break;
        }
      }
    }
    // A non-tail reference inside a cycle of leftmost references is a left recursion: the
    // cycles are the strongly connected components (found once: O(rules + references)).
    const auto comp = components(edges);
    for (const auto& [from, to] : nontail) {
      if (comp[from] != comp[to]) continue;
      const std::string& name = g_.rules_[from].name;
      const std::string& via = g_.rules_[to].name;
      p_.fail(defined_[index_.at(name)],
              "rule '{}' is left-recursive: it may reach itself{} before reading a character "
              "(write the repetition with * or + instead)",
              name, via == name ? "" : fmt::format(" through rule '{}'", via));
    }
  }

  // Tarjan's strongly connected components, iteratively (chains of rules can be long): the
  // component of each node.
  static std::vector<uint32_t> components(const std::vector<std::vector<uint32_t>>& edges) {
    const size_t n = edges.size();
    constexpr uint32_t kUnseen = UINT32_MAX;
    std::vector<uint32_t> index(n, kUnseen), low(n, 0), comp(n, kUnseen), stack;
    std::vector<uint8_t> on_stack(n, 0);
    std::vector<std::pair<uint32_t, size_t>> calls;  // (node, next edge to follow)
    uint32_t next = 0, n_comp = 0;
    auto enter = [&](uint32_t v) {
      index[v] = low[v] = next++;
      stack.push_back(v);
      on_stack[v] = 1;
      calls.emplace_back(v, 0);
    };
    for (uint32_t s = 0; s < n; ++s) {
      if (index[s] != kUnseen) continue;
      enter(s);
      while (!calls.empty()) {
        const uint32_t v = calls.back().first;
        const size_t e = calls.back().second;
        if (e < edges[v].size()) {
          ++calls.back().second;
          const uint32_t w = edges[v][e];
          if (index[w] == kUnseen) {
            enter(w);
          } else if (on_stack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        if (low[v] == index[v]) {
          uint32_t x = 0;
          do {
            x = stack.back();
            stack.pop_back();
            on_stack[x] = 0;
            comp[x] = n_comp;
          } while (x != v);
          ++n_comp;
        }
        calls.pop_back();
        if (!calls.empty()) low[calls.back().first] = std::min(low[calls.back().first], low[v]);
      }
    }
    return comp;
  }

  const Parser& p_;
  Grammar& g_;
  std::map<std::string, uint32_t> index_;
  std::map<std::string, size_t> first_use_;  // referenced rule -> first reference
  std::vector<size_t> defined_;              // per rule: where defined (SIZE_MAX: not yet)
  std::map<std::pair<bool, std::vector<std::pair<uint32_t, uint32_t>>>, uint32_t> sets_;
};

std::shared_ptr<const Grammar> Grammar::parse(std::string_view text, std::string_view root) {
  Parser p(text);
  const auto rules = p.parse();
  auto g = std::make_shared<Grammar>();
  GrammarCompiler(p, *g).compile(rules, root);
  return g;
}

bool Grammar::CharSet::contains(uint32_t cp) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), std::make_pair(cp, UINT32_MAX));
  const bool in = it != ranges.begin() && std::prev(it)->second >= cp;
  return in != negated;
}

bool Grammar::CharSet::intersects(uint32_t lo, uint32_t hi) const {
  if (!negated) {
    for (const auto& r : ranges) {
      if (r.first <= hi && r.second >= lo) return true;
    }
    return false;
  }
  // Negated: some code point of [lo, hi] lies outside every range (ranges are merged).
  uint32_t next = lo;
  for (const auto& r : ranges) {
    if (r.second < next) continue;
    if (r.first > next) return true;
    if (r.second >= hi) return false;
    next = r.second + 1;
  }
  return next <= hi;
}

}  // namespace vkr
