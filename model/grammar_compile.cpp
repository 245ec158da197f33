// grammar_compile.cpp: parsed GBNF rules -> Grammar's flat elements (see grammar_parse.cpp for
// the lowering's shape), with the checks that need every rule: undefined and twice-defined rules,
// the root, left recursion.
#include <algorithm>
#include <map>

#include "grammar_syntax.hpp"

namespace vkr {

using gbnf::Alts;
using gbnf::Item;
using gbnf::kUnbounded;
using gbnf::RuleText;
using gbnf::Seq;

class GrammarCompiler {
 public:
  GrammarCompiler(const gbnf::Text& text, Grammar& g) : p_(text), g_(g) {}

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

  const gbnf::Text& p_;
  Grammar& g_;
  std::map<std::string, uint32_t> index_;
  std::map<std::string, size_t> first_use_;  // referenced rule -> first reference
  std::vector<size_t> defined_;              // per rule: where defined (SIZE_MAX: not yet)
  std::map<std::pair<bool, std::vector<std::pair<uint32_t, uint32_t>>>, uint32_t> sets_;
};

void gbnf::compile(const Text& text, const std::vector<RuleText>& rules, std::string_view root,
                   Grammar& g) {
  GrammarCompiler(text, g).compile(rules, root);
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
