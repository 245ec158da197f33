// grammar_constraint.hpp: sampling constrained to the texts of a GBNF grammar (grammar.hpp), at
// token level over a vocabulary: `generate --grammar` / `--grammar-file`, the server's "grammar"
// field, vkrwkv_sampler_set_grammar(). A token is allowed when its bytes keep the text a prefix
// of one of the grammar's texts (a token that ends inside a UTF-8 character when some character
// it may begin fits; never one that is not UTF-8), end-of-generation tokens when the text so far
// is a whole one; tokens that print nothing (control tokens) or start with a NUL byte never.
// Generation ends at an end-of-generation token (the only ones left once the grammar can go no
// further) or at the token limit.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "grammar.hpp"
#include "token_constraint.hpp"
#include "tokenizer.hpp"

namespace vkr {

class GrammarConstraint final : public TokenConstraint {
 public:
  GrammarConstraint(const Tokenizer& tok, std::shared_ptr<const Grammar> grammar);

  bool allows(int32_t id) const override;
  void accept(int32_t id) override;
  bool complete() const override { return prefix_.complete(); }
  std::unique_ptr<TokenConstraint> fresh() const override;
  const char* what() const override { return "the grammar's text"; }

  // Nodes the recognizer keeps at most before accept() compacts them.
  static constexpr size_t kCompactAt = 1u << 18;

  int32_t n_vocab() const override { return tok_->n_vocab(); }
  // The ids in byte order, so ids that share first bytes share the recognizer's work on them and
  // a refused prefix refuses every id that starts with it.
  void allowed_ids(std::vector<uint8_t>& allowed) const override;

 private:
  const Tokenizer* tok_;
  std::shared_ptr<const Grammar> grammar_;
  GrammarPrefix prefix_;
  mutable GrammarPrefix scratch_;                       // allows()' trial
  mutable std::vector<GrammarPrefix> depth_;            // allowed_ids(): after byte i of an id
};

}  // namespace vkr
