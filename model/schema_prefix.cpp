// schema_prefix.cpp: SchemaPrefix, the byte-level recognizer of texts matching a compiled
// JsonSchema (json_schema.hpp): a stack of frames, one per value being read (literal, string,
// number, object, array); a frame answers each byte, and a finished frame hands what follows it
// to its parent.
#include <algorithm>
#include <bit>
#include <utility>

#include "json_schema.hpp"
#include "schema_prefix_states.hpp"

namespace vkr {

namespace {

using Kind = JsonSchema::Kind;
using namespace schema_states;

}  // namespace

bool SchemaPrefix::in_string_body() const {
  if (stack_.empty() || stack_.back().kind != Frame::Kind::Str || stack_.back().st != kSIn) {
    return false;
  }
  const auto& n = schema_->node(stack_.back().node);
  return n.max_len == UINT32_MAX && n.pattern < 0;
}

bool SchemaPrefix::push(std::string_view bytes) {
  for (char c : bytes) {
    if (!push(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Between two tokens: at most one '\n' and one '\r' (a line break) and kMaxSpaces spaces / tabs
// (its indentation), so a model cannot pad with blank lines forever.
SchemaPrefix::Res SchemaPrefix::space(unsigned char c) {
  if (c == '\n' || c == '\r') {
    const uint8_t bit = c == '\n' ? 1 : 2;
    if (breaks_ & bit) return Res::Bad;
    breaks_ |= bit;
    return Res::More;
  }
  if (c != ' ' && c != '\t') return Res::Bad;
  return ++spaces_ <= kMaxSpaces ? Res::More : Res::Bad;
}

void SchemaPrefix::note_byte(unsigned char c) {
  const bool in_string =
      !stack_.empty() && stack_.back().kind == Frame::Kind::Str && stack_.back().st != kSStart;
  if (!in_string && !is_space(c)) {
    spaces_ = 0;
    breaks_ = 0;
  }
}

bool SchemaPrefix::push(unsigned char c) {
  note_byte(c);
  Res r;
  if (stack_.empty()) {
    if (done_ || is_space(c)) return space(c) == Res::More;
    if (started_) return false;
    started_ = true;
    r = start_value(root_, c);
  } else {
    r = feed(stack_.back(), c);
  }
  r = settle(r, c);
  // A root value that ends before c (a number): the text ends with the value, since whitespace
  // after it would be text that a reader drops (the constraint then allows only the end).
  return r != Res::Bad && r != Res::Ended;
}

bool SchemaPrefix::may_end() const {
  if (done_) return true;
  if (stack_.empty()) return false;
  // Whether a byte that no value continues (a space) would end the root value here.
  SchemaPrefix probe = *this;
  return probe.settle(probe.feed(probe.stack_.back(), ' '), ' ') == Res::Ended;
}

SchemaPrefix::Res SchemaPrefix::step(unsigned char c) {
  if (done_) return Res::Ended;
  note_byte(c);
  return settle(stack_.empty() ? start_value(root_, c) : feed(stack_.back(), c), c);
}

SchemaPrefix::Res SchemaPrefix::settle(Res r, unsigned char c) {
  for (;;) {
    switch (r) {
      case Res::More:
        if (subs_.size() == 1 && !subs_[0].done_) splice();
        return Res::More;
      case Res::Bad:
        return Res::Bad;
      case Res::Done:
        if (!item_is_new()) return Res::Bad;
        if (stack_.back().kind == Frame::Kind::Alt) subs_.clear();
        if (!seen_.empty() && seen_.back().at == base_ + stack_.size() - 1) seen_.pop_back();
        stack_.pop_back();
        value_done();
        return stack_.empty() ? Res::Done : Res::More;
      case Res::Ended:  // complete before c: c belongs to the parent
        if (!item_is_new()) return Res::Bad;
        if (stack_.back().kind == Frame::Kind::Alt) subs_.clear();
        if (!seen_.empty() && seen_.back().at == base_ + stack_.size() - 1) seen_.pop_back();
        stack_.pop_back();
        value_done();
        if (stack_.empty()) return Res::Ended;
        r = feed(stack_.back(), c);
        break;
      case Res::Start:
        if (pending_node_ >= 0) {
          r = start_value(pending_node_, c);
        } else {
          if (base_ + stack_.size() >= kMaxDepth) return Res::Bad;
          Frame f{};
          if (pending_node_ == -1) {
            f.kind = Frame::Kind::Lit;
            f.lits = pending_lits_;
            f.alive = pending_mask_;
          } else {
            f.kind = Frame::Kind::Str;
          }
          stack_.push_back(f);
          r = feed(stack_.back(), c);
        }
        break;
    }
  }
}

void SchemaPrefix::value_done() {
  if (stack_.empty()) {
    done_ = true;
    return;
  }
  Frame& f = stack_.back();
  if (f.kind == Frame::Kind::Obj) {
    if (f.st == kOKey) {
      f.prop = schema_->node(f.node).free ? -1 : matched_;
      f.st = kOColon;
    } else {
      if (f.prop >= 0) f.pos = static_cast<uint32_t>(f.prop) + 1;
      ++f.cp;  // a property written
      f.st = kOAfter;
    }
  } else if (f.kind == Frame::Kind::Arr) {
    ++f.pos;
    f.st = kAAfter;
    if (unique_literals(schema_->node(f.node))) f.alive |= 1ull << matched_;  // not again
  }
}

bool SchemaPrefix::can_start(int32_t node, unsigned char c) const {
  const auto& n = schema_->node(node);
  switch (n.kind) {
    case Kind::Any:
      return c == '{' || c == '[' || c == '"' || c == '-' || is_digit(c) || c == 't' || c == 'f' ||
             c == 'n';
    case Kind::Object:
      return c == '{';
    case Kind::Array:
      return c == '[';
    case Kind::String:
      return c == '"';
    case Kind::Number:
    case Kind::Integer:
      return c == '-' || is_digit(c);
    case Kind::Boolean:
    case Kind::Null:
    case Kind::Enum:
      for (const auto& l : n.literals) {
        if (static_cast<unsigned char>(l[0]) == c) return true;
      }
      return false;
    case Kind::Union:
      for (int32_t a : n.alternatives) {
        if (can_start(a, c)) return true;
      }
      return false;
  }
  return false;
}

SchemaPrefix::Res SchemaPrefix::start_value(int32_t node, unsigned char c) {
  const auto& n = schema_->node(node);
  if (base_ + stack_.size() >= kMaxDepth) return Res::Bad;
  Frame f{};
  f.node = node;
  switch (n.kind) {
    case Kind::Any:
      for (int32_t k : {JsonSchema::kAnyObject, JsonSchema::kAnyArray, JsonSchema::kString,
                        JsonSchema::kNumber, JsonSchema::kBoolean, JsonSchema::kNull}) {
        if (can_start(k, c)) return start_value(k, c);
      }
      return Res::Bad;
    case Kind::Union:
      return start_union(node, c);
    case Kind::Object:
      if (c != '{') return Res::Bad;
      f.kind = Frame::Kind::Obj;
      f.st = kOOpen;
      stack_.push_back(f);
      return Res::More;
    case Kind::Array:
      if (c != '[') return Res::Bad;
      f.kind = Frame::Kind::Arr;
      f.st = kAOpen;
      if (n.unique && !unique_literals(n)) {  // strings or numbers: compared as values
        seen_.push_back(Seen{base_ + stack_.size(), nullptr, {}});
      }
      stack_.push_back(f);
      return Res::More;
    case Kind::String:
      f.kind = Frame::Kind::Str;
      break;
    case Kind::Number:
    case Kind::Integer:
      f.kind = Frame::Kind::Num;
      f.integer = n.kind == Kind::Integer;
      break;
    case Kind::Boolean:
    case Kind::Null:
    case Kind::Enum:
      f.kind = Frame::Kind::Lit;
      f.lits = &n.literals;
      f.alive = n.literals.size() >= 64 ? ~0ull : (1ull << n.literals.size()) - 1;
      break;
  }
  stack_.push_back(f);
  return feed(stack_.back(), c);
}

SchemaPrefix::Res SchemaPrefix::feed(Frame& f, unsigned char c) {
  switch (f.kind) {
    case Frame::Kind::Lit:
      return lit(f, c);
    case Frame::Kind::Str:
    case Frame::Kind::Num: {
      Seen* u = reading_item();
      if (u) u->item.push_back(static_cast<char>(c));
      const Res r = f.kind == Frame::Kind::Str ? str(f, c) : num(f, c);
      // An integer 0 (or -0) cannot grow into another value: refused at once when it repeats.
      if (u && f.kind == Frame::Kind::Num && f.integer && (u->item == "0" || u->item == "-0") &&
          u->values &&
          std::find(u->values->begin(), u->values->end(), nlohmann::json(0)) != u->values->end()) {
        return Res::Bad;
      }
      return r;
    }
    case Frame::Kind::Obj:
      return obj(f, c);
    case Frame::Kind::Arr:
      return arr(f, c);
    case Frame::Kind::Alt:
      return alt(c);
  }
  return Res::Bad;
}

SchemaPrefix::Res SchemaPrefix::lit(Frame& f, unsigned char c) {
  uint64_t next = 0;
  int32_t whole = -1;  // a candidate that ended before c
  for (uint64_t m = f.alive; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    const std::string& s = (*f.lits)[static_cast<size_t>(i)];
    if (s.size() == f.pos) {
      whole = i;
    } else if (static_cast<unsigned char>(s[f.pos]) == c) {
      next |= 1ull << i;
    }
  }
  if (next == 0) {
    if (whole < 0) return Res::Bad;
    matched_ = whole;
    return Res::Ended;
  }
  f.alive = next;
  ++f.pos;
  int32_t full = -1;
  bool longer = false;
  for (uint64_t m = next; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    if ((*f.lits)[static_cast<size_t>(i)].size() == f.pos) {
      full = i;
    } else {
      longer = true;
    }
  }
  if (full >= 0 && !longer) {
    matched_ = full;
    return Res::Done;
  }
  return Res::More;
}

// A pattern with length bounds: the characters that may still follow the f.pos read so far
// (the one being read counted). A character is taken only while the pattern can still accept
// within them, so a text never reaches its maxLength (or stops short of minLength) where the
// pattern cannot end.
std::pair<uint32_t, uint32_t> SchemaPrefix::room(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  const uint32_t lo = n.min_len > f.pos ? n.min_len - f.pos : 0;
  const uint32_t hi = n.max_len == UINT32_MAX ? StringPattern::kUnbounded : n.max_len - f.pos;
  return {lo, hi};
}

SchemaPrefix::Res SchemaPrefix::character(Frame& f, uint32_t cp) const {
  const int32_t p = schema_->node(f.node).pattern;
  if (p < 0) return Res::More;
  const StringPattern& pat = schema_->pattern(p);
  f.live = pat.step(f.live, cp);
  const auto [lo, hi] = room(f);
  return pat.can_finish(f.live, lo, hi) ? Res::More : Res::Bad;
}

bool SchemaPrefix::may_become(const Frame& f, uint32_t lo, uint32_t hi) const {
  const int32_t p = schema_->node(f.node).pattern;
  if (p < 0) return true;
  const auto [more_lo, more_hi] = room(f);
  return schema_->pattern(p).may_step(f.live, lo, hi, more_lo, more_hi);
}

bool SchemaPrefix::unit_may_become(const Frame& f, uint32_t lo, uint32_t hi) const {
  if (f.low_next) {  // a pair's second unit: low surrogates, with the high one a character
    const uint32_t a = std::max(lo, 0xDC00u), b = std::min(hi, 0xDFFFu);
    const uint32_t base = 0x10000 + ((f.cp - 0xD800) << 10) - 0xDC00;
    return a <= b && may_become(f, base + a, base + b);
  }
  // A first unit: a character of the BMP, or a high surrogate beginning one past U+FFFF (a low
  // surrogate never stands alone; JSON parsers reject it).
  if (lo < 0xD800 && may_become(f, lo, std::min(hi, 0xD7FFu))) return true;
  if (hi > 0xDFFF && may_become(f, std::max(lo, 0xE000u), hi)) return true;
  if (lo > 0xDBFF || hi < 0xD800) return false;
  const uint32_t a = std::max(lo, 0xD800u) - 0xD800, b = std::min(hi, 0xDBFFu) - 0xD800;
  return may_become(f, 0x10000 + (a << 10), 0x10000 + (b << 10) + 0x3FF);
}

SchemaPrefix::Res SchemaPrefix::str(Frame& f, unsigned char c) {
  // Key frames have node 0 (any value): no length bounds, no pattern.
  const auto& n = schema_->node(f.node);
  switch (f.st) {
    case kSStart:
      if (c != '"') return Res::Bad;
      f.st = kSIn;
      if (n.pattern >= 0) f.live = schema_->pattern(n.pattern).start();
      return Res::More;  // the compiler checked that the bounds leave the pattern a text
    case kSIn:
      if (c == '"') {
        const bool matched = n.pattern < 0 || schema_->pattern(n.pattern).accepts(f.live);
        return f.pos >= n.min_len && matched ? Res::Done : Res::Bad;
      }
      // Every other byte here starts a character (an escape, ASCII or a UTF-8 sequence).
      if (f.pos >= n.max_len) return Res::Bad;
      ++f.pos;
      if (c == '\\') {  // an escape can write any character: is one still allowed?
        f.st = kSEsc;
        return may_become(f, 0, 0x10FFFF) ? Res::More : Res::Bad;
      }
      if (c < 0x20) return Res::Bad;
      if (c < 0x80) return character(f, c);
      f.lo = 0x80;
      f.hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        f.left = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        f.left = 2;
        if (c == 0xE0) f.lo = 0xA0;
        if (c == 0xED) f.hi = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        f.left = 3;
        if (c == 0xF0) f.lo = 0x90;
        if (c == 0xF4) f.hi = 0x8F;
      } else {
        return Res::Bad;
      }
      f.cp = c & (0x3Fu >> f.left);
      f.st = kSUtf8;
      break;  // the characters this sequence can still become: checked below
    case kSUtf8:
      if (c < f.lo || c > f.hi) return Res::Bad;
      f.lo = 0x80;
      f.hi = 0xBF;
      f.cp = f.cp << 6 | (c & 0x3Fu);
      if (--f.left == 0) {
        f.st = kSIn;
        return character(f, f.cp);
      }
      break;
    case kSEsc: {
      if (c == 'u') {
        f.left = 4;
        f.unit = 0;
        f.st = kSHex;
        return Res::More;
      }
      static constexpr std::pair<char, char> kEscapes[] = {{'"', '"'},  {'\\', '\\'}, {'/', '/'},
                                                           {'b', '\b'}, {'f', '\f'},  {'n', '\n'},
                                                           {'r', '\r'}, {'t', '\t'}};
      for (const auto& [e, ch] : kEscapes) {
        if (c == static_cast<unsigned char>(e)) {
          f.st = kSIn;
          return character(f, static_cast<unsigned char>(ch));
        }
      }
      return Res::Bad;
    }
    case kSHex: {
      // UTF-16 units: a high surrogate must be followed by an escaped low one (together one
      // character), a low one never stands alone; JSON parsers reject the text otherwise.
      if (!is_hex(c)) return Res::Bad;
      const auto v = static_cast<unsigned>(hex_value(static_cast<char>(c)));
      f.unit = static_cast<uint16_t>(f.unit << 4 | v);
      // The units [lo, hi] the escape can still become, refused early when none may come.
      const uint32_t bits = 4u * --f.left;
      const uint32_t lo = uint32_t{f.unit} << bits, hi = lo | ((1u << bits) - 1);
      if (!unit_may_become(f, lo, hi)) return Res::Bad;
      if (f.left > 0) return Res::More;
      if (f.low_next) {  // the pair's second unit: one character
        f.low_next = false;
        f.st = kSIn;
        return character(f, 0x10000 + ((f.cp - 0xD800) << 10) + (f.unit - 0xDC00u));
      }
      if (f.unit >= 0xD800 && f.unit <= 0xDBFF) {
        f.low_next = true;
        f.cp = f.unit;
        f.st = kSLowEsc;  // its characters were checked by unit_may_become
        return Res::More;
      }
      f.st = kSIn;
      return character(f, f.unit);
    }
    case kSLowEsc:
      if (c != '\\') return Res::Bad;
      f.st = kSLowU;
      return Res::More;
    case kSLowU:
      if (c != 'u') return Res::Bad;
      f.left = 4;
      f.unit = 0;
      f.st = kSHex;
      return Res::More;
  }
  // Inside a UTF-8 sequence, k bytes left: the next byte lies in [f.lo, f.hi] (which keeps out
  // overlong forms and surrogates), so the character lies in [lo, hi] below.
  const uint32_t shift = 6u * (f.left - 1u);
  const uint32_t lo = (f.cp << 6 | (f.lo & 0x3Fu)) << shift;
  const uint32_t hi = (f.cp << 6 | (f.hi & 0x3Fu)) << shift | ((1u << shift) - 1);
  return may_become(f, lo, hi) ? Res::More : Res::Bad;
}

uint64_t SchemaPrefix::key_mask(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  uint64_t mask = 0;
  if (f.cp >= n.max_props) return 0;
  for (size_t k = f.pos; k < n.keys.size(); ++k) {
    // Skipping to key k leaves the keys after it: enough of them for minProperties?
    if (f.cp + 1 + (n.keys.size() - k - 1) < n.min_props) break;
    mask |= 1ull << k;
    if (n.required[k]) break;  // a required key cannot be skipped
  }
  return mask;
}

bool SchemaPrefix::may_close(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  if (f.cp < n.min_props) return false;
  for (size_t k = f.pos; k < n.required.size(); ++k) {
    if (n.required[k]) return false;
  }
  return true;
}

SchemaPrefix::Res SchemaPrefix::obj(Frame& f, unsigned char c) {
  const auto& n = schema_->node(f.node);
  switch (f.st) {
    case kOOpen:
      if (c == '}') return may_close(f) ? Res::Done : Res::Bad;
      [[fallthrough]];
    case kONeedKey:
      if (c != '"') return space(c);
      if (n.free) {
        if (f.cp >= n.max_props) return Res::Bad;
        pending_node_ = n.key >= 0 ? n.key : -2;  // a key of propertyNames' schema, or any
      } else {
        const uint64_t mask = key_mask(f);
        if (mask == 0) return Res::Bad;
        pending_node_ = -1;
        pending_mask_ = mask;
        pending_lits_ = &n.keys;
      }
      f.st = kOKey;
      return Res::Start;
    case kOColon:
      if (c == ':') {
        f.st = kOValWait;
        return Res::More;
      }
      return space(c);
    case kOValWait:
      if (is_space(c)) return space(c);
      f.st = kOValue;
      pending_node_ = f.prop >= 0 ? n.values[static_cast<size_t>(f.prop)] : n.extra;
      return Res::Start;
    case kOAfter:
      if (c == ',') {
        if (n.free ? f.cp >= n.max_props : key_mask(f) == 0) return Res::Bad;
        f.st = kONeedKey;
        return Res::More;
      }
      if (c == '}') return may_close(f) ? Res::Done : Res::Bad;
      return space(c);
    default:
      return Res::Bad;  // a child is active: never fed here
  }
}

SchemaPrefix::Res SchemaPrefix::arr(Frame& f, unsigned char c) {
  const auto& n = schema_->node(f.node);
  switch (f.st) {
    case kAOpen:
      if (c == ']') return n.min_items == 0 ? Res::Done : Res::Bad;
      [[fallthrough]];
    case kANeed:
      if (is_space(c)) return space(c);
      if (f.pos >= n.max_items) return Res::Bad;
      f.st = kAItem;
      if (unique_literals(n)) {
        // The literals not yet written (max_items keeps one left).
        const auto& lits = schema_->node(n.items).literals;
        pending_node_ = -1;
        pending_lits_ = &lits;
        pending_mask_ = (lits.size() >= 64 ? ~0ull : (1ull << lits.size()) - 1) & ~f.alive;
      } else {
        pending_node_ = f.pos < n.prefix.size() ? n.prefix[f.pos] : n.items;
      }
      return Res::Start;
    case kAAfter:
      if (c == ',') {
        if (f.pos >= n.max_items) return Res::Bad;
        f.st = kANeed;
        return Res::More;
      }
      if (c == ']') return f.pos >= n.min_items ? Res::Done : Res::Bad;
      return space(c);
    default:
      return Res::Bad;
  }
}

// uniqueItems over strings and numbers: the item's bytes are kept while it is read and compared
// as a value (nlohmann's equality: "\u0061" is "a", 1.0 is 1) when it ends. A repeat is refused
// at its end; the schema allows no maxLength or bound there, so the text can always grow into a
// new value instead (a string by a character, a number by a digit) and never dead-ends.
SchemaPrefix::Seen* SchemaPrefix::reading_item() {
  if (seen_.empty() || seen_.back().at + 2 != base_ + stack_.size()) return nullptr;
  return &seen_.back();
}

bool SchemaPrefix::item_is_new() {
  Seen* u = reading_item();
  if (!u) return true;
  std::string& t = u->item;
  if (stack_.back().kind == Frame::Kind::Num) {  // drop the byte that ended the number
    while (!t.empty() && !is_digit(static_cast<unsigned char>(t.back()))) t.pop_back();
  }
  auto v = nlohmann::json::parse(t, nullptr, false);
  t.clear();
  if (v.is_discarded()) return true;  // out of double range: taken as new
  auto values = std::make_shared<std::vector<nlohmann::json>>();
  if (u->values) {
    if (std::find(u->values->begin(), u->values->end(), v) != u->values->end()) return false;
    *values = *u->values;
  }
  values->push_back(std::move(v));
  u->values = std::move(values);
  return true;
}

}  // namespace vkr
