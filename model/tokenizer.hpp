// Tokenizers for RWKV-6 / QRWKV6: Qwen2 byte-level BPE ("gpt2" + "qwen2") and the RWKV World trie.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vkr {

namespace gguf {
class File;
}

// llama.cpp / GGUF token types (tokenizer.ggml.token_type values).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

// Everything a tokenizer needs, in the form GGUF stores it (spec §7). Kept free of any GGUF type so
// tests and other loaders can build one by hand.
struct TokenizerVocab {
  std::string model;                 // tokenizer.ggml.model: "gpt2" or "rwkv"
  std::string pre;                   // tokenizer.ggml.pre: "qwen2" (gpt2 only)
  std::vector<std::string> tokens;   // stored token text (byte-level unicode / escaped / literal)
  std::vector<int32_t> token_types;  // TokenType per token; empty means all Normal
  std::vector<std::string> merges;   // gpt2 only: "A B", rank = index
  std::optional<int32_t> bos_id, eos_id, eot_id, pad_id;
};

// Reads tokenizer.ggml.* from an opened GGUF file (model/tokenizer_gguf.cpp). Throws BadModelFile
// when a required key is missing or has the wrong type.
TokenizerVocab vocab_from_gguf(const gguf::File& file);

namespace detail {
class TokenizerModel;
}

// An immutable tokenizer. encode()/decode() are const and safe to call from several threads.
class Tokenizer {
 public:
  // Validates the vocabulary (sizes, token types, merges, special ids, byte coverage) and throws
  // Error(BadModelFile) naming the offending key/value/token.
  explicit Tokenizer(const TokenizerVocab& vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text -> ids. No BOS is added (neither vocab wants one). With parse_special, CONTROL token text
  // (e.g. "<|im_end|>") becomes its id; USER_DEFINED tokens (e.g. "<tool_call>") are matched
  // whole either way. No NFC normalization (llama.cpp applies none; the goldens rely on that).
  // Invalid UTF-8 never throws: each invalid byte becomes its own byte token
  // (BPE) or is matched byte-wise (World), so decode() gives the input bytes back.
  std::vector<int32_t> encode(std::string_view text, bool parse_special) const;

  // Raw bytes a token stands for (may be part of a multibyte character). CONTROL and
  // USER_DEFINED tokens give their literal text; UNUSED tokens give "". Throws InvalidArgument
  // for an id outside [0, n_vocab).
  const std::string& token_bytes(int32_t id) const;
  // Concatenated bytes of `ids`; CONTROL tokens are left out unless render_special.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const;
  // Every id, sorted by token_bytes() (byte-wise), computed on first use (from any thread): how
  // constraints share the work on ids that start alike (grammar_constraint.hpp).
  const std::vector<int32_t>& ids_by_bytes() const;

  int32_t n_vocab() const noexcept { return static_cast<int32_t>(bytes_.size()); }
  TokenType token_type(int32_t id) const;
  bool is_control(int32_t id) const { return token_type(id) == TokenType::Control; }
  // End of generation: eos, eot, and CONTROL tokens whose text marks an end of turn/text.
  bool is_eog(int32_t id) const;
  std::optional<int32_t> bos_id() const noexcept { return bos_id_; }
  std::optional<int32_t> eos_id() const noexcept { return eos_id_; }
  std::optional<int32_t> eot_id() const noexcept { return eot_id_; }
  // Id of the token whose raw bytes (or CONTROL/USER_DEFINED text) equal `text`; special tokens
  // win over ordinary ones.
  std::optional<int32_t> find_token(std::string_view text) const;
  const std::string& model_name() const noexcept { return model_name_; }

 private:
  void validate_special_ids(const TokenizerVocab& vocab) const;
  void collect_special_tokens();
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;

  std::string model_name_;
  std::vector<std::string> bytes_;  // raw bytes per id
  std::vector<TokenType> types_;
  std::unordered_map<std::string_view, int32_t> by_bytes_;  // views into bytes_
  std::vector<int32_t> specials_;  // CONTROL / USER_DEFINED ids, longest text first
  std::vector<int32_t> eog_ids_;
  std::optional<int32_t> bos_id_, eos_id_, eot_id_;
  std::unique_ptr<detail::TokenizerModel> model_;
  struct ByteOrder {
    std::once_flag once;
    std::vector<int32_t> ids;
  };
  std::unique_ptr<ByteOrder> byte_order_ = std::make_unique<ByteOrder>();
};

// Turns a stream of ids into text that only ever contains complete UTF-8 characters: a multibyte
// character split across tokens is held back until its last byte arrives.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false)
      : tokenizer_(&tokenizer), render_special_(render_special) {}

  // Appends the token's bytes; returns the complete characters now available. Bytes that can
  // never become valid UTF-8 are returned as U+FFFD right away.
  std::string push(int32_t id);
  // Returns whatever is still held back (an unfinished sequence becomes U+FFFD) and clears it.
  std::string flush();
  void reset() { pending_.clear(); }

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  std::string pending_;
};

// Replaces every ill-formed part of `bytes` with U+FFFD (one per maximal ill-formed subpart, as
// Unicode recommends). If keep_incomplete_tail, a truncated but so far valid sequence at the end is
// not replaced; its length is stored in *tail_len.
std::string sanitize_utf8(std::string_view bytes, bool keep_incomplete_tail = false,
                          size_t* tail_len = nullptr);

}  // namespace vkr
