// schema_prefix_union.cpp: SchemaPrefix's unions whose alternatives a text may begin alike
// (json_schema.hpp): an Alt frame reads the byte with one recognizer per alternative.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "json_schema.hpp"

namespace vkr {

// An anyOf's alternatives may begin alike (two object shapes, integer or number, a string or a
// constant): each one c may begin gets a recognizer of its own, and the text goes on while one
// of them takes it. JSON reads the same way under every schema, so the alternatives still alive
// are always at the same place in the text: one complete before c (a number, a literal) while
// another takes c means c continues a number or literal, which no parent could take.
SchemaPrefix::Res SchemaPrefix::start_union(int32_t node, unsigned char c) {
  const auto& alts = schema_->node(node).alternatives;
  int32_t first = -1;
  size_t n = 0;
  for (int32_t a : alts) {
    if (!can_start(a, c)) continue;
    if (first < 0) first = a;
    ++n;
  }
  if (n == 0) return Res::Bad;
  if (n == 1 || budget_ < 2) return start_value(first, c);
  n = std::min<size_t>(n, budget_);
  const auto share = static_cast<uint32_t>(budget_ / n);
  subs_.clear();
  for (int32_t a : alts) {
    if (subs_.size() == n) break;
    if (can_start(a, c)) subs_.push_back(SchemaPrefix(*schema_, a, base_ + stack_.size(), share));
  }
  Frame f{};
  f.kind = Frame::Kind::Alt;
  f.node = node;
  stack_.push_back(f);
  return alt(c);
}

SchemaPrefix::Res SchemaPrefix::alt(unsigned char c) {
  uint64_t took = 0, whole = 0, ended = 0;  // bit i: subs_[i] took c / is complete with it / was
  for (size_t i = 0; i < subs_.size(); ++i) {
    switch (subs_[i].step(c)) {
      case Res::More:
        took |= 1ull << i;
        break;
      case Res::Done:
        took |= 1ull << i;
        whole |= 1ull << i;
        break;
      case Res::Ended:
        ended |= 1ull << i;
        break;
      default:
        break;
    }
  }
  if (took == 0) return ended ? Res::Ended : Res::Bad;
  size_t kept = 0;
  for (size_t i = 0; i < subs_.size(); ++i) {
    if (took >> i & 1) {
      if (kept != i) subs_[kept] = std::move(subs_[i]);
      ++kept;
    }
  }
  subs_.erase(subs_.begin() + static_cast<std::ptrdiff_t>(kept), subs_.end());
  return whole == took ? Res::Done : Res::More;
}

void SchemaPrefix::splice() {
  SchemaPrefix only = std::move(subs_[0]);
  stack_.pop_back();  // the Alt frame
  stack_.insert(stack_.end(), only.stack_.begin(), only.stack_.end());
  subs_ = std::move(only.subs_);
  seen_.insert(seen_.end(), only.seen_.begin(), only.seen_.end());  // indexes count from base_
  spaces_ = only.spaces_;
  breaks_ = only.breaks_;
}

}  // namespace vkr
