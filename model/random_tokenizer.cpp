// Generated tokenizer vocabularies for random models: enough structure (byte coverage, merges,
// word pieces, an end-of-text token) for the real tokenizers to load and for `generate` to print
// word-like text.
#include <array>
#include <set>
#include <string_view>
#include <vkr/error.hpp>

#include "random_model.hpp"

namespace vkr {
namespace {

constexpr int32_t kNormal = 1, kControl = 3;

// Letters by English frequency, so the short pieces the generator makes first are the common ones.
constexpr std::string_view kLetters = "etaoinshrdlucmfwypvbgkjqxz";

// GPT-2 byte -> code point table (spec §7.1 step 3), UTF-8 encoded.
std::array<std::string, 256> byte_symbols() {
  std::array<std::string, 256> out;
  uint32_t next = 0x100;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    const uint32_t cp = printable ? b : next++;
    if (cp < 0x80) {
      out[b] = std::string(1, static_cast<char>(cp));
    } else {  // every table code point is below U+0800: two UTF-8 bytes
      out[b] = {static_cast<char>(0xc0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3f))};
    }
  }
  return out;
}

// Word pieces in a fixed order: " x", then every piece extended by every letter, breadth first.
// Each piece is (left piece, right letter) so it has a merge whose parts already exist.
struct Piece {
  std::string text;
  size_t left;  // index into the piece list, or npos for a first-level piece
  char right;
};

std::vector<Piece> word_pieces(size_t count) {
  std::vector<Piece> pieces;
  std::set<std::string> seen;
  for (char c : kLetters) {
    if (pieces.size() == count) return pieces;
    pieces.push_back({std::string(" ") + c, std::string::npos, c});
  }
  for (char a : kLetters) {
    for (char b : kLetters) {
      if (pieces.size() == count) return pieces;
      pieces.push_back({std::string{a, b}, std::string::npos, b});
    }
  }
  for (size_t i = 0; pieces.size() < count; ++i) {
    for (char c : kLetters) {
      if (pieces.size() == count) break;
      std::string text = pieces[i].text + c;
      if (seen.insert(text).second) pieces.push_back({std::move(text), i, c});
    }
  }
  return pieces;
}

// The converter's escaping of a bytes repr (spec §7.2): printable ASCII literal, backslash
// doubled, \t \n \r, everything else \xhh.
std::string world_escape(std::string_view raw) {
  std::string out;
  for (char ch : raw) {
    const auto b = static_cast<unsigned char>(ch);
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (b >= 0x20 && b < 0x7f) {
      out.push_back(ch);
    } else {
      constexpr std::string_view hex = "0123456789abcdef";
      out += {'\\', 'x', hex[b >> 4], hex[b & 15]};
    }
  }
  return out;
}

}  // namespace

RandomVocab random_bpe_vocab(uint32_t V) {
  require(V >= 258, ErrorCode::InvalidArgument,
          "vocab {} is too small for a BPE tokenizer (256 bytes + 1 merge + end-of-text)", V);
  RandomVocab v;
  const auto symbols = byte_symbols();
  v.tokens.assign(symbols.begin(), symbols.end());
  const auto pieces = word_pieces(V - 257);
  auto bpe_text = [&](std::string_view raw) {
    std::string s;
    for (char c : raw) s += symbols[static_cast<unsigned char>(c)];
    return s;
  };
  for (const Piece& p : pieces) {
    const std::string left = p.left == std::string::npos
                                 ? bpe_text(p.text.substr(0, p.text.size() - 1))
                                 : bpe_text(pieces[p.left].text);
    v.merges.push_back(left + " " + bpe_text(std::string(1, p.right)));
    v.tokens.push_back(bpe_text(p.text));
  }
  v.token_types.assign(v.tokens.size(), kNormal);
  v.eos_id = static_cast<int32_t>(v.tokens.size());
  v.tokens.push_back("<|endoftext|>");
  v.token_types.push_back(kControl);
  return v;
}

RandomVocab random_world_vocab(uint32_t V) {
  require(V >= 257, ErrorCode::InvalidArgument,
          "vocab {} is too small for a World tokenizer (<s> + 256 bytes)", V);
  RandomVocab v;
  v.tokens.push_back("<s>");
  v.token_types.push_back(kControl);
  for (uint32_t b = 0; b < 256; ++b) {
    v.tokens.push_back(world_escape(std::string(1, static_cast<char>(b))));
  }
  for (const Piece& p : word_pieces(V - 257)) v.tokens.push_back(world_escape(p.text));
  v.token_types.resize(v.tokens.size(), kNormal);
  return v;
}

}  // namespace vkr
