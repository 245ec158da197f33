// grammar_prefix.cpp: GrammarPrefix (see grammar.hpp). A place in the grammar is a node: the
// next element of some alternative plus the node to return to when that alternative ends, so a
// stack of rule positions is a chain of nodes and stacks that end alike share their tails.
// Nodes are interned by (element, parent): equal stacks are one id, which makes the state a
// sorted set of ids and lets expand() stop when a rule is entered again with the same
// continuation (how x* and tail recursion stay finite).
#include <algorithm>

#include "grammar.hpp"
#include "vkr/error.hpp"

namespace vkr {

GrammarPrefix::GrammarPrefix(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)), arena_(std::make_shared<Arena>()) {
  const auto& root = grammar_->rules()[grammar_->root()];
  clear_visited();
  for (uint32_t e : root.alts) expand(node(e, kDone), tops_);
  std::sort(tops_.begin(), tops_.end());
  tops_.erase(std::unique(tops_.begin(), tops_.end()), tops_.end());
}

int32_t GrammarPrefix::node(uint32_t elem, int32_t parent) {
  if (grammar_->elems()[elem].kind == Grammar::Elem::Kind::End) return parent;
  const uint64_t key = (static_cast<uint64_t>(elem) << 32) | static_cast<uint32_t>(parent);
  Arena& a = *arena_;
  const auto [it, added] = a.index.try_emplace(key, static_cast<int32_t>(a.nodes.size()));
  if (added) a.nodes.push_back({elem, parent});
  return it->second;
}

void GrammarPrefix::clear_visited() {
  arena_->visited.clear();
  if (!arena_->visited_set.empty()) arena_->visited_set.clear();
}

bool GrammarPrefix::first_visit(uint32_t rule, int32_t cont) {
  Arena& a = *arena_;
  const uint64_t key = (static_cast<uint64_t>(rule) << 32) | static_cast<uint32_t>(cont);
  if (!a.visited_set.empty()) return a.visited_set.insert(key).second;
  if (std::find(a.visited.begin(), a.visited.end(), key) != a.visited.end()) return false;
  a.visited.push_back(key);
  if (a.visited.size() > 32) a.visited_set.insert(a.visited.begin(), a.visited.end());
  return true;
}

// Iterative (a chain of rules each starting with the next can be as long as the grammar).
void GrammarPrefix::expand(int32_t start, std::vector<int32_t>& out) {
  std::vector<int32_t>& todo = arena_->todo;
  todo.assign(1, start);
  while (!todo.empty()) {
    const int32_t n = todo.back();
    todo.pop_back();
    if (n == kDone) {
      out.push_back(kDone);
      continue;
    }
    const Node nd = arena_->nodes[static_cast<size_t>(n)];
    const Grammar::Elem& e = grammar_->elems()[nd.elem];
    if (e.kind == Grammar::Elem::Kind::Chars) {
      out.push_back(n);
      continue;
    }
    // A rule: each alternative, continuing after the reference.
    const int32_t cont = node(nd.elem + 1, nd.parent);
    if (!first_visit(e.index, cont)) continue;
    for (uint32_t first : grammar_->rules()[e.index].alts) todo.push_back(node(first, cont));
  }
}

bool GrammarPrefix::advance(uint32_t cp) {
  std::vector<int32_t>& next = arena_->next;
  next.clear();
  clear_visited();
  for (int32_t t : tops_) {
    if (t == kDone) continue;
    const Node nd = arena_->nodes[static_cast<size_t>(t)];
    if (!grammar_->sets()[grammar_->elems()[nd.elem].index].contains(cp)) continue;
    expand(node(nd.elem + 1, nd.parent), next);
  }
  if (next.empty()) return false;
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  tops_.assign(next.begin(), next.end());
  return true;
}

bool GrammarPrefix::may_read(uint32_t lo, uint32_t hi) const {
  for (int32_t t : tops_) {
    if (t == kDone) continue;
    const Node& nd = arena_->nodes[static_cast<size_t>(t)];
    if (grammar_->sets()[grammar_->elems()[nd.elem].index].intersects(lo, hi)) return true;
  }
  return false;
}

bool GrammarPrefix::push(unsigned char c) {
  if (need_ == 0) {
    if (c < 0x80) return advance(c);
    // A lead byte: the character's bits so far, how many bytes follow, the next one's bounds
    // (no overlong forms, no surrogates, nothing above U+10FFFF).
    lo_ = 0x80;
    hi_ = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need_ = 1;
      cp_ = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need_ = 2;
      cp_ = c & 0x0Fu;
      if (c == 0xE0) lo_ = 0xA0;
      if (c == 0xED) hi_ = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need_ = 3;
      cp_ = c & 0x07u;
      if (c == 0xF0) lo_ = 0x90;
      if (c == 0xF4) hi_ = 0x8F;
    } else {
      return false;
    }
  } else {
    if (c < lo_ || c > hi_) return false;
    lo_ = 0x80;
    hi_ = 0xBF;
    cp_ = (cp_ << 6) | (c & 0x3Fu);
    if (--need_ == 0) return advance(cp_);
  }
  // Part of a character: go on only if one of the characters it may still become fits (the
  // next byte's bounds exclude overlong forms and surrogates from that range).
  const unsigned shift = 6u * need_;
  const uint32_t lo = (cp_ << shift) | ((lo_ & 0x3Fu) << (shift - 6));
  const uint32_t hi = (cp_ << shift) | ((hi_ & 0x3Fu) << (shift - 6)) | ((1u << (shift - 6)) - 1);
  return may_read(lo, hi);
}

bool GrammarPrefix::push(std::string_view bytes) {
  for (char c : bytes) {
    if (!push(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool GrammarPrefix::complete() const {
  return need_ == 0 && !tops_.empty() && tops_.front() == kDone;
}

bool GrammarPrefix::may_continue() const {
  return need_ != 0 || tops_.size() > (complete() ? 1u : 0u);
}

void GrammarPrefix::compact() {
  const Arena& old = *arena_;
  auto fresh = std::make_shared<Arena>();
  std::vector<int32_t> map(old.nodes.size(), kDone - 1);  // old id -> new id (unset: kDone - 1)
  // Copies a chain of nodes, parents first, so each new node's parent is already mapped
  // (iteratively: a deeply nested text makes long chains).
  std::vector<int32_t> chain;
  auto copy = [&](int32_t n) -> int32_t {
    chain.clear();
    for (int32_t c = n; c != kDone && map[static_cast<size_t>(c)] == kDone - 1;
         c = old.nodes[static_cast<size_t>(c)].parent) {
      chain.push_back(c);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const Node nd = old.nodes[static_cast<size_t>(*it)];
      const int32_t parent = nd.parent == kDone ? kDone : map[static_cast<size_t>(nd.parent)];
      const auto id = static_cast<int32_t>(fresh->nodes.size());
      fresh->nodes.push_back({nd.elem, parent});
      fresh->index.emplace((static_cast<uint64_t>(nd.elem) << 32) | static_cast<uint32_t>(parent),
                           id);
      map[static_cast<size_t>(*it)] = id;
    }
    return n == kDone ? kDone : map[static_cast<size_t>(n)];
  };
  for (int32_t& t : tops_) t = copy(t);
  std::sort(tops_.begin(), tops_.end());
  arena_ = std::move(fresh);
}

}  // namespace vkr
