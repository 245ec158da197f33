// json_constraint.cpp: see json_constraint.hpp.
#include "json_constraint.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "vkr/error.hpp"

namespace vkr {

namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool JsonPrefix::push(std::string_view bytes) {
  for (char c : bytes) {
    if (!push(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool JsonPrefix::space(unsigned char c) {
  if (!is_space(c)) return false;
  return ++spaces_ <= kMaxSpaces;
}

void JsonPrefix::after_value() {
  if (stack_.empty()) {
    state_ = State::Done;
  } else {
    state_ = State::CommaOrClose;
  }
}

bool JsonPrefix::value_start(unsigned char c) {
  switch (c) {
    case '{':
    case '[':
      if (stack_.size() >= kMaxDepth) return false;
      stack_.push_back(static_cast<char>(c));
      state_ = c == '{' ? State::KeyOrClose : State::ValueOrClose;
      return true;
    case '"':
      key_ = false;
      state_ = State::String;
      return true;
    case '-':
      state_ = State::NumMinus;
      return true;
    case '0':
      state_ = State::NumZero;
      return true;
    case 't':
    case 'f':
    case 'n':
      literal_ = c == 't' ? "true" : c == 'f' ? "false" : "null";
      left_ = 1;  // the index of the next byte in literal_
      state_ = State::Literal;
      return true;
    default:
      if (c >= '1' && c <= '9') {
        state_ = State::NumInt;
        return true;
      }
      return false;
  }
}

// A byte that cannot extend the number ends it where the number is whole, and is then read as
// what follows the value.
bool JsonPrefix::end_number(unsigned char c) {
  after_value();
  return push(c);
}

bool JsonPrefix::push(unsigned char c) {
  if (state_ != State::String && state_ != State::Escape && state_ != State::Hex &&
      state_ != State::Utf8 && !is_space(c)) {
    spaces_ = 0;
  }
  switch (state_) {
    case State::Start:
      if (c == '{') return value_start(c);
      return space(c);
    case State::Value:
      return space(c) || value_start(c);
    case State::ValueOrClose:
      if (c == ']') {
        stack_.pop_back();
        after_value();
        return true;
      }
      return space(c) || value_start(c);
    case State::KeyOrClose:
      if (c == '}') {
        stack_.pop_back();
        after_value();
        return true;
      }
      [[fallthrough]];
    case State::Key:
      if (c == '"') {
        key_ = true;
        state_ = State::String;
        return true;
      }
      return space(c);
    case State::Colon:
      if (c == ':') {
        state_ = State::Value;
        return true;
      }
      return space(c);
    case State::CommaOrClose:
      if (c == ',') {
        state_ = stack_.back() == '{' ? State::Key : State::Value;
        return true;
      }
      if ((c == '}' && stack_.back() == '{') || (c == ']' && stack_.back() == '[')) {
        stack_.pop_back();
        after_value();
        return true;
      }
      return space(c);
    case State::String:
      if (c == '"') {
        if (key_) {
          state_ = State::Colon;
        } else {
          after_value();
        }
        return true;
      }
      if (c == '\\') {
        state_ = State::Escape;
        return true;
      }
      if (c < 0x20) return false;  // raw control characters must be escaped
      if (c < 0x80) return true;
      // UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        left_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        left_ = 2;
        if (c == 0xE0) lo_ = 0xA0;
        if (c == 0xED) hi_ = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        left_ = 3;
        if (c == 0xF0) lo_ = 0x90;
        if (c == 0xF4) hi_ = 0x8F;
      } else {
        return false;
      }
      state_ = State::Utf8;
      return true;
    case State::Utf8:
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (--left_ == 0) state_ = State::String;
      return true;
    case State::Escape:
      switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          state_ = State::String;
          return true;
        case 'u':
          left_ = 4;
          state_ = State::Hex;
          return true;
        default:
          return false;
      }
    case State::Hex:
      if (!is_hex(c)) return false;
      if (--left_ == 0) state_ = State::String;
      return true;
    case State::NumMinus:
      if (c == '0') {
        state_ = State::NumZero;
        return true;
      }
      if (c >= '1' && c <= '9') {
        state_ = State::NumInt;
        return true;
      }
      return false;
    case State::NumZero:
    case State::NumInt:
      if (state_ == State::NumInt && is_digit(c)) return true;
      if (c == '.') {
        state_ = State::NumDot;
        return true;
      }
      if (c == 'e' || c == 'E') {
        state_ = State::NumExpMark;
        return true;
      }
      return end_number(c);
    case State::NumDot:
      if (!is_digit(c)) return false;
      state_ = State::NumFrac;
      return true;
    case State::NumFrac:
      if (is_digit(c)) return true;
      if (c == 'e' || c == 'E') {
        state_ = State::NumExpMark;
        return true;
      }
      return end_number(c);
    case State::NumExpMark:
      if (c == '+' || c == '-') {
        state_ = State::NumExpSign;
        return true;
      }
      [[fallthrough]];
    case State::NumExpSign:
      if (!is_digit(c)) return false;
      state_ = State::NumExp;
      return true;
    case State::NumExp:
      if (is_digit(c)) return true;
      return end_number(c);
    case State::Literal:
      if (c != static_cast<unsigned char>(literal_[left_])) return false;
      if (literal_[++left_] == '\0') after_value();
      return true;
    case State::Done:
      return space(c);
  }
  return false;
}

JsonConstraint::JsonConstraint(const Tokenizer& tok, std::shared_ptr<const JsonSchema> schema)
    : tok_(&tok), schema_(std::move(schema)) {
  if (schema_) {
    prefix_.emplace<SchemaPrefix>(*schema_);
    scratch_ = prefix_;
  }
  auto classes = std::make_shared<std::vector<IdClass>>(static_cast<size_t>(tok.n_vocab()));
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const std::string& b = tok.token_bytes(id);
    if (b.empty() || tok.is_control(id)) continue;
    IdClass& c = (*classes)[static_cast<size_t>(id)];
    c.first = static_cast<unsigned char>(b[0]);
    c.plain = std::all_of(b.begin(), b.end(), [](char ch) {
      return ch >= 0x20 && ch <= 0x7E && ch != '"' && ch != '\\';
    });
  }
  classes_ = std::move(classes);
}

bool JsonConstraint::complete() const {
  return std::visit([](const auto& p) { return p.complete(); }, prefix_);
}

bool JsonConstraint::allows_text(int32_t id, const bool* first_ok, bool plain_ok) const {
  const IdClass& c = (*classes_)[static_cast<size_t>(id)];
  if (c.first < 0) return false;
  if (first_ok && !first_ok[c.first]) return false;
  if (plain_ok && c.plain) return true;
  scratch_ = prefix_;  // assignment reuses the scratch's storage: no allocation per id
  return std::visit([&](auto& p) { return p.push(tok_->token_bytes(id)); }, scratch_);
}

bool JsonConstraint::allows(int32_t id) const {
  if (tok_->is_eog(id)) return complete();
  if (complete() || id < 0 || id >= tok_->n_vocab()) return false;
  const bool plain_ok = std::visit([](const auto& p) { return p.in_string_body(); }, prefix_);
  return allows_text(id, nullptr, plain_ok);
}

void JsonConstraint::accept(int32_t id) {
  if (tok_->is_eog(id)) return;
  const bool ok = std::visit([&](auto& p) { return p.push(tok_->token_bytes(id)); }, prefix_);
  require(ok, ErrorCode::InvalidArgument, "token {} does not continue the JSON text", id);
}

int32_t JsonConstraint::sample(Sampler& sampler, std::span<const float> logits) const {
  require(logits.size() == static_cast<size_t>(tok_->n_vocab()), ErrorCode::InvalidArgument,
          "json constraint: {} logits for a vocabulary of {}", logits.size(), tok_->n_vocab());
  const int32_t first = sampler.sample(logits);
  if (allows(first)) return first;
  // The whole row: the bytes that may come next decided once each, then every id.
  std::vector<float> masked(logits.begin(), logits.end());
  const bool done = complete();
  bool first_ok[256];
  for (int b = 0; b < 256; ++b) {
    auto next = prefix_;
    first_ok[b] =
        !done && std::visit([&](auto& p) { return p.push(static_cast<unsigned char>(b)); }, next);
  }
  const bool plain_ok = std::visit([](const auto& p) { return p.in_string_body(); }, prefix_);
  bool any = false;
  for (int32_t id = 0; id < static_cast<int32_t>(masked.size()); ++id) {
    auto& l = masked[static_cast<size_t>(id)];
    if (std::isnan(l) || l == -INFINITY) continue;
    const bool ok = tok_->is_eog(id) ? done : !done && allows_text(id, first_ok, plain_ok);
    if (ok) {
      any = true;
    } else {
      l = -INFINITY;
    }
  }
  require(any, ErrorCode::InvalidArgument,
          "json constraint: no token of the vocabulary can continue the JSON text");
  return sampler.sample(masked);
}

}  // namespace vkr
