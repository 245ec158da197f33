// gpt2-style byte-level BPE with the qwen2 pre-tokenizer (spec §7.1, matching llama.cpp).
//
// The merges run on token ids, not strings: byte-level unicode is a bijection on byte strings, so
// merging raw bytes and looking up (left id, right id) -> (rank, merged id) gives the same result
// as llama.cpp's string-based loop, without building strings per step.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <string>
#include <unordered_map>
#include <vkr/error.hpp>

#include "tokenizer_detail.hpp"

namespace vkr::detail {
namespace {

// llama.cpp's case-insensitive rewrite of Qwen2's tokenizer.json pattern. \p{N} is a single
// character: Qwen2 splits numbers digit by digit. PCRE2's \s (with UCP) leaves out U+0085, which
// Unicode's White_Space property, llama.cpp and HF's Rust regex all count as whitespace, so the
// pattern spells the set out: \t-\r, U+0085 and the Z categories (space, line and paragraph
// separators) are exactly White_Space.
std::string qwen2_pattern() {
  const std::string ws = R"(\t\n\x0B\f\r\x{85}\p{Z})";
  return R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))"  // contractions
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"                              // words, digits
         "| ?[^" + ws + R"(\p{L}\p{N}]+[\r\n]*)"                          // punctuation runs
         "|[" + ws + R"(]*[\r\n]+)"                                       // line breaks
         "|[" + ws + "]+(?![^" + ws + "])"                                // spaces not before text
         "|[" + ws + "]+";
}

// GPT-2 byte -> code point table: printable Latin-1 bytes map to themselves, the other 68 bytes
// to U+0100.. in increasing byte order (so ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
std::array<uint32_t, 256> byte_to_unicode() {
  std::array<uint32_t, 256> table{};
  uint32_t next = 0x100;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable =
        (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? b : next++;
  }
  return table;
}

// Inverse table indexed by code point (all targets are < U+0144); -1 = not a byte-level char.
std::array<int16_t, 0x144> unicode_to_byte() {
  std::array<int16_t, 0x144> inverse;
  inverse.fill(-1);
  const auto forward = byte_to_unicode();
  for (int16_t b = 0; b < 256; ++b) inverse[forward[b]] = b;
  return inverse;
}

// Byte-level unicode text -> raw bytes. Returns false if a character is outside the table or the
// text is not valid UTF-8 (every table code point is 1 or 2 UTF-8 bytes).
bool decode_byte_level(std::string_view text, const std::array<int16_t, 0x144>& inverse,
                       std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    uint32_t cp = 0;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < text.size() &&
               (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return false;
    }
    if (cp >= inverse.size() || inverse[cp] < 0) return false;
    out.push_back(static_cast<char>(inverse[cp]));
  }
  return true;
}

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
using Pcre2Code = std::unique_ptr<pcre2_code, CodeDeleter>;
using Pcre2MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

Pcre2Code compile_pattern(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // MATCH_INVALID_UTF: invalid byte sequences are never part of a match instead of failing the
  // whole call; encode() turns the bytes between matches into single-byte pieces.
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) {
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(error, message.data(), message.size());
    throw Error(ErrorCode::BadModelFile,
                fmt::format("pre-tokenizer regex does not compile at offset {}: {}", offset,
                            reinterpret_cast<const char*>(message.data())));
  }
  // JIT is an optional speed-up; without it (unsupported CPU, or no JIT in the build)
  // pcre2_match interprets the same pattern.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return Pcre2Code(code);
}

struct Merge {
  int32_t rank;
  int32_t result;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class BpeModel final : public TokenizerModel {
 public:
  BpeModel(const TokenizerVocab& vocab, const std::vector<TokenType>& types,
           std::vector<std::string>& raw_bytes);
  void encode(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  // Linked list of symbols; a merge absorbs the right symbol into the left one.
  struct Symbol {
    int32_t id;  // -1 once absorbed
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // symbol index; its order is the original text order, hence "leftmost"
    int32_t left_id;
    int32_t right_id;
  };
  struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Candidate> heap;
  };

  void build_merges(const TokenizerVocab& vocab,
                    const std::unordered_map<std::string_view, int32_t>& ids);
  void push_candidate(Scratch& s, int32_t left) const;
  void encode_piece(std::string_view piece, Scratch& s, std::vector<int32_t>& out) const;

  Pcre2Code regex_;
  std::array<int32_t, 256> byte_ids_{};
  std::unordered_map<uint64_t, Merge> merges_;  // pair_key(left, right) -> rank, merged id
};

BpeModel::BpeModel(const TokenizerVocab& vocab, const std::vector<TokenType>& types,
                   std::vector<std::string>& raw_bytes) {
  require(vocab.pre == "qwen2", ErrorCode::BadModelFile,
          "tokenizer.ggml.pre = '{}' is not supported for tokenizer.ggml.model 'gpt2' (only "
          "'qwen2')",
          printable(vocab.pre));
  const auto inverse = unicode_to_byte();
  std::unordered_map<std::string_view, int32_t> ids;
  ids.reserve(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (!is_ordinary(types[i])) continue;
    require(decode_byte_level(vocab.tokens[i], inverse, raw_bytes[i]), ErrorCode::BadModelFile,
            "tokenizer.ggml.tokens[{}] = '{}' is not byte-level BPE text", i,
            printable(vocab.tokens[i]));
    ids.emplace(raw_bytes[i], static_cast<int32_t>(i));
  }
  // Every byte needs a token of its own, or some inputs could not be encoded at all.
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const auto it = ids.find(std::string_view(&c, 1));
    require(it != ids.end(), ErrorCode::BadModelFile,
            "tokenizer.ggml.tokens has no token for byte 0x{:02x}; byte-level BPE needs all 256",
            b);
    byte_ids_[b] = it->second;
  }
  build_merges(vocab, ids);
  regex_ = compile_pattern(qwen2_pattern());
}

void BpeModel::build_merges(const TokenizerVocab& vocab,
                            const std::unordered_map<std::string_view, int32_t>& ids) {
  require(!vocab.merges.empty(), ErrorCode::BadModelFile,
          "tokenizer.ggml.merges is missing or empty (required for tokenizer.ggml.model 'gpt2')");
  const auto inverse = unicode_to_byte();
  merges_.reserve(vocab.merges.size());
  std::string left, right;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    const size_t space = merge.find(' ', 1);
    require(space != std::string::npos && space + 1 < merge.size(), ErrorCode::BadModelFile,
            "tokenizer.ggml.merges[{}] = '{}' is not of the form 'A B'", rank, printable(merge));
    const bool ok = decode_byte_level(std::string_view(merge).substr(0, space), inverse, left) &&
                    decode_byte_level(std::string_view(merge).substr(space + 1), inverse, right);
    require(ok, ErrorCode::BadModelFile, "tokenizer.ggml.merges[{}] = '{}' is not byte-level text",
            rank, printable(merge));
    const auto l = ids.find(left), r = ids.find(right), m = ids.find(left + right);
    require(l != ids.end() && r != ids.end() && m != ids.end(), ErrorCode::BadModelFile,
            "tokenizer.ggml.merges[{}] = '{}' refers to a token missing from tokenizer.ggml.tokens",
            rank, printable(merge));
    // A repeated pair keeps its first (lowest) rank, as a rank lookup by string would.
    merges_.try_emplace(pair_key(l->second, r->second),
                        Merge{static_cast<int32_t>(rank), m->second});
  }
}

void BpeModel::push_candidate(Scratch& s, int32_t left) const {
  if (left < 0) return;
  const int32_t right = s.symbols[left].next;
  if (right < 0) return;
  const auto it = merges_.find(pair_key(s.symbols[left].id, s.symbols[right].id));
  if (it == merges_.end()) return;
  s.heap.push_back({it->second.rank, left, s.symbols[left].id, s.symbols[right].id});
  std::push_heap(s.heap.begin(), s.heap.end(), [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;  // min-heap on (rank, left)
  });
}

void BpeModel::encode_piece(std::string_view piece, Scratch& s, std::vector<int32_t>& out) const {
  const auto n = static_cast<int32_t>(piece.size());
  s.symbols.clear();
  s.heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    s.symbols.push_back({byte_ids_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(s, i);
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), later);
    const Candidate c = s.heap.back();
    s.heap.pop_back();
    Symbol& left = s.symbols[c.left];
    // Entries go stale when a neighbour was merged first; the pair is still real only if both
    // symbols still hold the ids it was made from.
    if (left.id != c.left_id || left.next < 0 || s.symbols[left.next].id != c.right_id) continue;
    Symbol& right = s.symbols[left.next];
    left.id = merges_.at(pair_key(c.left_id, c.right_id)).result;
    left.next = right.next;
    if (right.next >= 0) s.symbols[right.next].prev = c.left;
    right.id = -1;
    push_candidate(s, left.prev);
    push_candidate(s, c.left);
  }
  for (int32_t i = 0; i >= 0; i = s.symbols[i].next) out.push_back(s.symbols[i].id);
}

void BpeModel::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  const Pcre2MatchData match(pcre2_match_data_create_from_pattern(regex_.get(), nullptr));
  require(match != nullptr, ErrorCode::OutOfHostMemory, "pcre2_match_data_create failed");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  Scratch scratch;
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(regex_.get(), subject, text.size(), pos, 0, match.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // Very long runs can exhaust the JIT's small stack; the interpreter uses the heap.
      rc = pcre2_match(regex_.get(), subject, text.size(), pos, PCRE2_NO_JIT, match.get(), nullptr);
    }
    size_t start = text.size(), end = text.size();
    if (rc >= 0) {
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
      start = ovector[0];
      end = ovector[1];
    } else if (rc != PCRE2_ERROR_NOMATCH) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(rc, message.data(), message.size());
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("pre-tokenizer regex failed at byte {}: {}", pos,
                              reinterpret_cast<const char*>(message.data())));
    }
    // Every valid character matches some alternative, so what lies between matches is invalid
    // UTF-8: each such byte becomes its own byte token, which keeps decode(encode(x)) == x.
    for (; pos < start; ++pos) out.push_back(byte_ids_[static_cast<uint8_t>(text[pos])]);
    if (end > start) {
      encode_piece(text.substr(start, end - start), scratch, out);
      pos = end;
    } else if (start < text.size()) {
      // The pattern has no empty alternative; this only guards against looping forever.
      out.push_back(byte_ids_[static_cast<uint8_t>(text[start])]);
      pos = start + 1;
    }
  }
}

}  // namespace

std::unique_ptr<TokenizerModel> make_bpe_model(const TokenizerVocab& vocab,
                                               const std::vector<TokenType>& types,
                                               std::vector<std::string>& raw_bytes) {
  return std::make_unique<BpeModel>(vocab, types, raw_bytes);
}

}  // namespace vkr::detail
