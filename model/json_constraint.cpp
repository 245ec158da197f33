// json_constraint.cpp: see json_constraint.hpp.
#include "json_constraint.hpp"

#include <algorithm>
#include <vector>

#include "vkr/error.hpp"

namespace vkr {

JsonConstraint::JsonConstraint(const Tokenizer& tok, std::shared_ptr<const JsonSchema> schema)
    : tok_(&tok),
      schema_(schema ? std::move(schema) : JsonSchema::any_object()),
      prefix_(*schema_),
      scratch_(*schema_) {
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

bool JsonConstraint::complete() const { return prefix_.may_end(); }

bool JsonConstraint::allows_text(int32_t id, const bool* first_ok, bool plain_ok) const {
  const IdClass& c = (*classes_)[static_cast<size_t>(id)];
  if (c.first < 0) return false;
  if (first_ok && !first_ok[c.first]) return false;
  if (plain_ok && c.plain) return true;
  scratch_ = prefix_;  // assignment reuses the scratch's storage: no allocation per id
  return scratch_.push(tok_->token_bytes(id));
}

bool JsonConstraint::allows(int32_t id) const {
  if (tok_->is_eog(id)) return prefix_.may_end();
  if (prefix_.complete() || id < 0 || id >= tok_->n_vocab()) return false;
  return allows_text(id, nullptr, prefix_.in_string_body());
}

void JsonConstraint::accept(int32_t id) {
  if (tok_->is_eog(id)) return;
  const bool ok = prefix_.push(tok_->token_bytes(id));
  require(ok, ErrorCode::InvalidArgument, "token {} does not continue the JSON text", id);
}

std::unique_ptr<TokenConstraint> JsonConstraint::fresh() const {
  auto c = std::make_unique<JsonConstraint>(*this);
  c->prefix_ = SchemaPrefix(*schema_);
  return c;
}

int32_t JsonConstraint::n_vocab() const { return tok_->n_vocab(); }

void JsonConstraint::allowed_ids(std::vector<uint8_t>& allowed) const {
  // The bytes that may come next decided once each, then every id.
  // done: nothing may follow; may_end: the end may (a root number may also go on).
  const bool done = prefix_.complete(), may_end = prefix_.may_end();
  bool first_ok[256];
  for (int b = 0; b < 256; ++b) {
    scratch_ = prefix_;
    first_ok[b] = !done && scratch_.push(static_cast<unsigned char>(b));
  }
  const bool plain_ok = prefix_.in_string_body();
  for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
    const bool ok = tok_->is_eog(id) ? may_end : !done && allows_text(id, first_ok, plain_ok);
    allowed[static_cast<size_t>(id)] = ok ? 1 : 0;
  }
}

}  // namespace vkr
