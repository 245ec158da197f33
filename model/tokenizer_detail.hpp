// Private interface between the common Tokenizer (tokenizer.cpp) and its two algorithms.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer.hpp"

namespace vkr::detail {

// One tokenization algorithm, applied to text that contains no special-token matches.
class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;
  // Appends the ids for `text` (any bytes, valid UTF-8 or not) to `out`.
  virtual void encode(std::string_view text, std::vector<int32_t>& out) const = 0;
};

// Both factories fill raw_bytes[id] for every ordinary token (Normal/Unknown/Byte/Undefined) and
// leave the other entries alone; tokenizer.cpp fills CONTROL / USER_DEFINED / UNUSED ones.
// `types` has one entry per token. Both throw Error(BadModelFile) on an unusable vocabulary.

// gpt2-style byte-level BPE with the qwen2 pre-tokenizer (tokenizer_bpe.cpp).
std::unique_ptr<TokenizerModel> make_bpe_model(const TokenizerVocab& vocab,
                                               const std::vector<TokenType>& types,
                                               std::vector<std::string>& raw_bytes);

// RWKV World: escaped tokens, byte trie, greedy longest match (tokenizer_world.cpp).
std::unique_ptr<TokenizerModel> make_world_model(const TokenizerVocab& vocab,
                                                 const std::vector<TokenType>& types,
                                                 std::vector<std::string>& raw_bytes);

// True for the token types the algorithms own (everything but CONTROL, USER_DEFINED, UNUSED).
inline bool is_ordinary(TokenType type) {
  return type != TokenType::Control && type != TokenType::UserDefined && type != TokenType::Unused;
}

}  // namespace vkr::detail
