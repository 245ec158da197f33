// grammar.hpp: GBNF grammars (llama.cpp's grammar format: `--grammar`, the server's "grammar"
// field), for sampling constrained to the texts a grammar accepts (grammar_constraint.hpp).
//  - Grammar: a GBNF text parsed and compiled. Rules `name ::= alternatives` (names of letters,
//    digits and '-'; `root` is where texts start), alternatives `|`, sequences, groups `( )`,
//    string literals "..." and character classes [a-z] / [^...] with the escapes \n \r \t \\ \"
//    \[ \] \xHH \uHHHH \UHHHHHHHH, `.` (any character), repetitions * + ? {m} {m,} {m,n} {,n},
//    comments from # to the end of the line. A rule's alternatives end at the end of a line
//    unless inside parentheses or right after `::=` or `|`. Errors (Error(InvalidArgument)) give
//    line and column: syntax, a rule used but not defined or defined twice, no root rule, a
//    left recursion (a rule that may reach itself before reading a character would expand
//    forever), a repetition too large to compile.
//  - GrammarPrefix: the recognizer of the texts' prefixes, byte by byte (texts are UTF-8, the
//    grammar's characters Unicode code points). Its state is the set of places the grammar may
//    be in (each a stack of rule positions, stored as shared tails in a node arena that copies
//    of one recognizer share), so ambiguous grammars are followed along every reading at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace vkr {

class Grammar {
 public:
  // An element of an alternative: a character from a set, a rule, or the alternative's end.
  struct Elem {
    enum class Kind : uint8_t { Chars, Rule, End };
    Kind kind = Kind::End;
    uint32_t index = 0;  // Chars: into sets(); Rule: into rules()
  };
  // Sorted, disjoint, non-adjacent ranges of code points; negated: every other code point.
  struct CharSet {
    bool negated = false;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive
    bool contains(uint32_t cp) const;
    bool intersects(uint32_t lo, uint32_t hi) const;  // some code point of [lo, hi]
  };
  struct Rule {
    std::string name;            // generated rules: "<name>-<n>" (never a GBNF name)
    std::vector<uint32_t> alts;  // first element of each alternative in elems()
  };

  // Parses and compiles `text`; texts start at the rule named `root`.
  static std::shared_ptr<const Grammar> parse(std::string_view text,
                                              std::string_view root = "root");

  const std::vector<Elem>& elems() const { return elems_; }
  const std::vector<CharSet>& sets() const { return sets_; }
  const std::vector<Rule>& rules() const { return rules_; }
  uint32_t root() const { return root_; }

  // Most elements a compiled grammar may have (repetitions like x{1000} copy x).
  static constexpr size_t kMaxElems = 1u << 20;

 private:
  std::vector<Elem> elems_;
  std::vector<CharSet> sets_;
  std::vector<Rule> rules_;
  uint32_t root_ = 0;
  friend class GrammarCompiler;
};

class GrammarPrefix {
 public:
  // `grammar` must outlive the recognizer and its copies.
  explicit GrammarPrefix(std::shared_ptr<const Grammar> grammar);

  // Feeds one byte: false if no text of the grammar starts with the bytes so far and this one
  // (the state is then unspecified: callers try bytes on a copy). Bytes that are not UTF-8 are
  // refused; a character's first bytes are refused as soon as no character they may begin fits.
  bool push(unsigned char c);
  bool push(std::string_view bytes);
  // The bytes so far are a whole text of the grammar.
  bool complete() const;
  // Some text of the grammar is longer than the bytes so far.
  bool may_continue() const;

  // Nodes in the arena the copies share (grows as bytes are tried; compact() shrinks it).
  size_t arena_size() const { return arena_->nodes.size(); }
  // Rebuilds the shared arena with only this recognizer's nodes (other copies become invalid).
  void compact();

 private:
  static constexpr int32_t kDone = -1;  // a stack with nothing left: the text may end here
  struct Node {
    uint32_t elem;   // next element to match (never an End: those are replaced by parent)
    int32_t parent;  // what follows when this node's rule is done; kDone: the text's end
  };
  struct Arena {
    std::vector<Node> nodes;
    std::unordered_map<uint64_t, int32_t> index;        // (elem, parent) -> node
    // expand()'s (rule, continuation) pairs entered since the last clear_visited(): a short
    // list searched in place, moved to a hash set once long (grammars of thousands of rules).
    std::vector<uint64_t> visited;
    std::unordered_set<uint64_t> visited_set;
    std::vector<int32_t> todo;                          // expand()'s stack
    std::vector<int32_t> next;                          // advance()'s new places
  };

  // The node for `elem` then `parent`, interned (equal stacks are equal ids); an End element
  // gives `parent` itself.
  int32_t node(uint32_t elem, int32_t parent);
  // Adds to `out` the places that read a character first, reached from `n` (kDone for the end);
  // rules entered since clear_visited() with the same continuation are not entered again.
  void expand(int32_t n, std::vector<int32_t>& out);
  void clear_visited();
  bool first_visit(uint32_t rule, int32_t cont);
  // Every place that may read code point `cp`, moved past it.
  bool advance(uint32_t cp);
  // Some place may read a code point in [lo, hi].
  bool may_read(uint32_t lo, uint32_t hi) const;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<Arena> arena_;
  std::vector<int32_t> tops_;      // sorted, distinct: nodes at a Chars element, and kDone
  uint32_t cp_ = 0;                // UTF-8: the character's bits so far
  uint8_t need_ = 0;               // continuation bytes still to come
  uint8_t lo_ = 0x80, hi_ = 0xBF;  // the next continuation byte's bounds (overlongs, surrogates)
};

}  // namespace vkr
