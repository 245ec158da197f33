// schema_prefix.cpp: SchemaPrefix, the byte-level recognizer of texts matching a compiled
// JsonSchema (json_schema.hpp): a stack of frames, one per value being read (literal, string,
// number, object, array); a frame answers each byte, and a finished frame hands what follows it
// to its parent.
#include <bit>

#include "json_schema.hpp"

namespace vkr {

namespace {

using Kind = JsonSchema::Kind;

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Frame states.
enum : uint8_t { kOOpen, kONeedKey, kOKey, kOColon, kOValWait, kOValue, kOAfter };
enum : uint8_t { kAOpen, kANeed, kAItem, kAAfter };
enum : uint8_t { kSStart, kSIn, kSEsc, kSHex, kSUtf8 };
enum : uint8_t { kNStart, kNMinus, kNZero, kNInt, kNDot, kNFrac, kNExpMark, kNExpSign, kNExp };

}  // namespace

bool SchemaPrefix::in_string_body() const {
  return !stack_.empty() && stack_.back().kind == Frame::Kind::Str && stack_.back().st == kSIn;
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

bool SchemaPrefix::push(unsigned char c) {
  const bool in_string =
      !stack_.empty() && stack_.back().kind == Frame::Kind::Str && stack_.back().st != kSStart;
  if (!in_string && !is_space(c)) {
    spaces_ = 0;
    breaks_ = 0;
  }
  if (stack_.empty()) {
    if (done_ || is_space(c)) return space(c) == Res::More;
    if (started_) return false;
    started_ = true;
    return settle(start_value(schema_->root(), c), c);
  }
  return settle(feed(stack_.back(), c), c);
}

bool SchemaPrefix::settle(Res r, unsigned char c) {
  for (;;) {
    switch (r) {
      case Res::More:
        return true;
      case Res::Bad:
        return false;
      case Res::Done:
        stack_.pop_back();
        value_done();
        return true;
      case Res::Ended:  // complete before c: c belongs to the parent
        stack_.pop_back();
        value_done();
        if (stack_.empty()) return space(c) == Res::More;
        r = feed(stack_.back(), c);
        break;
      case Res::Start:
        if (pending_node_ >= 0) {
          r = start_value(pending_node_, c);
        } else {
          if (stack_.size() >= kMaxDepth) return false;
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
      f.st = kOAfter;
    }
  } else if (f.kind == Frame::Kind::Arr) {
    ++f.pos;
    f.st = kAAfter;
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
  if (stack_.size() >= kMaxDepth) return Res::Bad;
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
      for (int32_t a : n.alternatives) {
        if (can_start(a, c)) return start_value(a, c);
      }
      return Res::Bad;
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
      return str(f, c);
    case Frame::Kind::Num:
      return num(f, c);
    case Frame::Kind::Obj:
      return obj(f, c);
    case Frame::Kind::Arr:
      return arr(f, c);
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

SchemaPrefix::Res SchemaPrefix::str(Frame& f, unsigned char c) {
  switch (f.st) {
    case kSStart:
      if (c != '"') return Res::Bad;
      f.st = kSIn;
      return Res::More;
    case kSIn:
      if (c == '"') return Res::Done;
      if (c == '\\') {
        f.st = kSEsc;
        return Res::More;
      }
      if (c < 0x20) return Res::Bad;
      if (c < 0x80) return Res::More;
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
      f.st = kSUtf8;
      return Res::More;
    case kSUtf8:
      if (c < f.lo || c > f.hi) return Res::Bad;
      f.lo = 0x80;
      f.hi = 0xBF;
      if (--f.left == 0) f.st = kSIn;
      return Res::More;
    case kSEsc:
      if (c == 'u') {
        f.left = 4;
        f.st = kSHex;
        return Res::More;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        f.st = kSIn;
        return Res::More;
      }
      return Res::Bad;
    case kSHex:
      if (!is_hex(c)) return Res::Bad;
      if (--f.left == 0) f.st = kSIn;
      return Res::More;
  }
  return Res::Bad;
}

SchemaPrefix::Res SchemaPrefix::num(Frame& f, unsigned char c) {
  switch (f.st) {
    case kNStart:
      if (c == '-') {
        f.st = kNMinus;
        return Res::More;
      }
      [[fallthrough]];
    case kNMinus:
      if (c == '0') {
        f.st = kNZero;
        return Res::More;
      }
      if (c >= '1' && c <= '9') {
        f.st = kNInt;
        return Res::More;
      }
      return Res::Bad;
    case kNZero:
    case kNInt:
      if (f.st == kNInt && is_digit(c)) return Res::More;
      if (!f.integer && c == '.') {
        f.st = kNDot;
        return Res::More;
      }
      if (!f.integer && (c == 'e' || c == 'E')) {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNDot:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNFrac;
      return Res::More;
    case kNFrac:
      if (is_digit(c)) return Res::More;
      if (c == 'e' || c == 'E') {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNExpMark:
      if (c == '+' || c == '-') {
        f.st = kNExpSign;
        return Res::More;
      }
      [[fallthrough]];
    case kNExpSign:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNExp;
      return Res::More;
    case kNExp:
      return is_digit(c) ? Res::More : Res::Ended;
  }
  return Res::Bad;
}

uint64_t SchemaPrefix::key_mask(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  uint64_t mask = 0;
  for (size_t k = f.pos; k < n.keys.size(); ++k) {
    mask |= 1ull << k;
    if (n.required[k]) break;  // a required key cannot be skipped
  }
  return mask;
}

bool SchemaPrefix::may_close(const Frame& f) const {
  const auto& n = schema_->node(f.node);
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
        pending_node_ = -2;
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
        if (!n.free && key_mask(f) == 0) return Res::Bad;
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
      pending_node_ = n.items;
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

}  // namespace vkr
