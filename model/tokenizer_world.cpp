// RWKV World tokenizer (spec §7.2): unescape the stored tokens, build a byte trie, encode by greedy
// longest match over raw bytes (RWKV-LM's TRIE_TOKENIZER and llama.cpp agree on this).
#include <unordered_map>
#include <vkr/error.hpp>

#include "tokenizer_detail.hpp"

namespace vkr::detail {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes the converter's Python bytes-repr escaping: \t \n \r, \xhh, \<c> -> c; other characters
// are literal. Returns false on a dangling backslash or a bad \x escape.
bool unescape(std::string_view text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) return false;
    switch (text[i]) {
      case 't':
        out.push_back('\t');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'x': {
        if (i + 2 >= text.size()) return false;
        const int hi = hex_value(text[i + 1]);
        const int lo = hex_value(text[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        out.push_back(text[i]);
        break;
    }
  }
  return true;
}

class WorldModel final : public TokenizerModel {
 public:
  WorldModel(const TokenizerVocab& vocab, const std::vector<TokenType>& types,
             std::vector<std::string>& raw_bytes);
  void encode(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  static uint64_t edge_key(uint32_t node, uint8_t byte) {
    return (static_cast<uint64_t>(node) << 8) | byte;
  }
  void insert(std::string_view bytes, int32_t id);

  // Node 0 is the root. Edges live in one hash map instead of 256-wide child arrays: the World
  // vocabulary has ~300k trie nodes, which would be 300 MB as arrays.
  std::vector<int32_t> node_token_;               // token id ending at the node, or -1
  std::unordered_map<uint64_t, uint32_t> edges_;  // edge_key(node, byte) -> child node
};

WorldModel::WorldModel(const TokenizerVocab& vocab, const std::vector<TokenType>& types,
                       std::vector<std::string>& raw_bytes) {
  node_token_.push_back(-1);
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    // CONTROL tokens (id 0 "<s>") stay out of the trie: RWKV-LM's tokenizer has no such entry, so
    // the literal text "<s>" is ordinary text unless parse_special asks for it. llama.cpp puts
    // "<s>" in its trie; this is a deliberate difference (see tokenizer/README.md, item 4).
    if (!is_ordinary(types[i])) continue;
    require(unescape(vocab.tokens[i], raw_bytes[i]), ErrorCode::BadModelFile,
            "tokenizer.ggml.tokens[{}] = '{}' has a malformed escape", i,
            printable(vocab.tokens[i]));
    require(!raw_bytes[i].empty(), ErrorCode::BadModelFile, "tokenizer.ggml.tokens[{}] is empty",
            i);
    insert(raw_bytes[i], static_cast<int32_t>(i));
  }
  // Greedy matching needs every single byte as a fallback, or some inputs could not be encoded.
  for (uint32_t b = 0; b < 256; ++b) {
    const auto it = edges_.find(edge_key(0, static_cast<uint8_t>(b)));
    require(it != edges_.end() && node_token_[it->second] >= 0, ErrorCode::BadModelFile,
            "tokenizer.ggml.tokens has no token for byte 0x{:02x}; the World trie needs all 256",
            b);
  }
}

void WorldModel::insert(std::string_view bytes, int32_t id) {
  uint32_t node = 0;
  for (char c : bytes) {
    const auto [it, added] = edges_.try_emplace(edge_key(node, static_cast<uint8_t>(c)),
                                                static_cast<uint32_t>(node_token_.size()));
    if (added) node_token_.push_back(-1);
    node = it->second;
  }
  // Duplicate byte strings keep the first id, so encoding is deterministic.
  if (node_token_[node] < 0) node_token_[node] = id;
}

void WorldModel::encode(std::string_view text, std::vector<int32_t>& out) const {
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t node = 0;
    int32_t best_id = -1;
    size_t best_len = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const auto it = edges_.find(edge_key(node, static_cast<uint8_t>(text[i])));
      if (it == edges_.end()) break;
      node = it->second;
      if (node_token_[node] >= 0) {
        best_id = node_token_[node];
        best_len = i - pos + 1;
      }
    }
    // The constructor checked that every byte is a token, so best_len >= 1 here.
    out.push_back(best_id);
    pos += best_len;
  }
}

}  // namespace

std::unique_ptr<TokenizerModel> make_world_model(const TokenizerVocab& vocab,
                                                 const std::vector<TokenType>& types,
                                                 std::vector<std::string>& raw_bytes) {
  return std::make_unique<WorldModel>(vocab, types, raw_bytes);
}

}  // namespace vkr::detail
