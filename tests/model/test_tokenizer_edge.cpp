// Tokenizers on tiny hand-made vocabularies: merge order, validation errors, UTF-8 handling.
#include <gtest/gtest.h>

#include <string>
#include <vector>
#include <vkr/error.hpp>

#include "tokenizer.hpp"

namespace vkr {
namespace {

// Independent restatement of the GPT-2 byte -> code point table (spec §7.1 step 3).
std::string byte_level(std::string_view raw) {
  std::string out;
  for (char ch : raw) {
    const auto b = static_cast<uint8_t>(ch);
    uint32_t cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      uint32_t n = 0;
      for (uint32_t x = 0; x < b; ++x) {
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
      }
      cp = 0x100 + n;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// 256 byte tokens (ids 0..255 = bytes), then `extra` raw tokens, then merges as raw pairs.
TokenizerVocab tiny_bpe(const std::vector<std::string>& extra,
                        const std::vector<std::pair<std::string, std::string>>& merges) {
  TokenizerVocab v;
  v.model = "gpt2";
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b)
    v.tokens.push_back(byte_level(std::string(1, static_cast<char>(b))));
  for (const auto& t : extra) v.tokens.push_back(byte_level(t));
  for (const auto& [a, b] : merges) v.merges.push_back(byte_level(a) + " " + byte_level(b));
  v.token_types.assign(v.tokens.size(), 1);
  return v;
}

TEST(TinyBpe, LowestRankFirstAndLeftmostOnTies) {
  // ids: 256 "ab", 257 "bc", 258 "abc", 259 "aa"
  const Tokenizer tok(
      tiny_bpe({"ab", "bc", "abc", "aa"}, {{"b", "c"}, {"a", "b"}, {"a", "bc"}, {"a", "a"}}));
  // "bc" has the lower rank, so "abc" = a + bc -> "abc" via merge 2, not ab + c.
  EXPECT_EQ(tok.encode("abc", false), std::vector<int32_t>{258});
  // "abx": a+b -> "ab"; "ab"+"x" has no merge.
  EXPECT_EQ(tok.encode("abx", false), (std::vector<int32_t>{256, 'x'}));
  // "aaa": equal ranks, leftmost first -> "aa" + "a".
  EXPECT_EQ(tok.encode("aaa", false), (std::vector<int32_t>{259, 'a'}));
  // The qwen2 regex splits "ab cd": " cd" is its own piece, so nothing merges across the space.
  EXPECT_EQ(tok.encode("ab ab", false), (std::vector<int32_t>{256, ' ', 256}));
  EXPECT_EQ(tok.decode(tok.encode("aaaa abc", false)), "aaaa abc");
}

TEST(TinyBpe, SpecialTokensLongestFirst) {
  TokenizerVocab v = tiny_bpe({"ab"}, {{"a", "b"}});  // id 256 "ab"
  // 257 CONTROL, 258 CONTROL that starts with 257's text, 259 USER_DEFINED.
  v.tokens.insert(v.tokens.end(), {"<|x|>", "<|x|>yz", "<u>"});
  v.token_types.insert(v.token_types.end(), {3, 3, 4});
  const Tokenizer tok(v);
  EXPECT_EQ(tok.encode("<|x|>yz<|x|>", true), (std::vector<int32_t>{258, 257}));
  EXPECT_EQ(tok.encode("ab<u>ab", false), (std::vector<int32_t>{256, 259, 256}));
  EXPECT_EQ(tok.decode(tok.encode("<|x|>", false)), "<|x|>");
  EXPECT_EQ(tok.find_token("<u>"), 259);
}

template <typename F>
void expect_bad_model(F&& make, const std::string& needle) {
  try {
    make();
    ADD_FAILURE() << "expected BadModelFile mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadModelFile);
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
  }
}

TEST(TokenizerValidation, RejectsBadVocabularies) {
  const TokenizerVocab good = tiny_bpe({"ab"}, {{"a", "b"}});
  ASSERT_NO_THROW(Tokenizer{good});

  TokenizerVocab v = good;
  v.model = "bert";
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.model = 'bert'");
  v = good;
  v.pre = "llama3";
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.pre = 'llama3'");
  v = good;
  v.token_types.pop_back();
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.token_type has 256 entries");
  v = good;
  v.token_types[3] = 9;
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.token_type[3] = 9");
  v = good;
  v.merges.push_back(byte_level("ab") + " " + byte_level("ab"));  // "abab" is not a token
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.merges[1]");
  v = good;
  v.merges.push_back("nospace");
  expect_bad_model([&] { Tokenizer{v}; }, "is not of the form 'A B'");
  v = good;
  v.token_types[static_cast<size_t>('q')] = 5;  // byte 'q' no longer an ordinary token
  expect_bad_model([&] { Tokenizer{v}; }, "no token for byte 0x71");
  v = good;
  v.eos_id = 257;
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.eos_token_id = 257");
  v = good;
  v.tokens.clear();
  v.token_types.clear();
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.tokens is empty");
  v = good;
  v.tokens[256] = "\xe4\xb8\x80";  // U+4E00 is not a byte-level character
  expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.tokens[256]");
}

TokenizerVocab tiny_world() {
  TokenizerVocab v;
  v.model = "rwkv";
  v.tokens.push_back("<s>");
  v.token_types.push_back(3);
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(fmt::format("\\x{:02x}", b));
    v.token_types.push_back(1);
  }
  for (const char* t : {"ab", "abc", "\\n\\n", "\\\\", "\\'q", "\\xe4\\xbd\\xa0"}) {
    v.tokens.push_back(t);
    v.token_types.push_back(1);
  }
  v.tokens.push_back("[PAD263]");
  v.token_types.push_back(5);
  return v;
}

TEST(TinyWorld, GreedyLongestMatchAndUnescape) {
  const Tokenizer tok(tiny_world());
  EXPECT_EQ(tok.token_bytes(259), "\n\n");
  EXPECT_EQ(tok.token_bytes(260), "\\");
  EXPECT_EQ(tok.token_bytes(261), "'q");
  EXPECT_EQ(tok.token_bytes(262), "\xe4\xbd\xa0");
  EXPECT_EQ(tok.token_bytes(263), "");
  EXPECT_EQ(tok.encode("abcab", false), (std::vector<int32_t>{258, 257}));
  EXPECT_EQ(tok.encode("abd", false), (std::vector<int32_t>{257, 1 + 'd'}));
  EXPECT_EQ(tok.encode("\n\n\n", false), (std::vector<int32_t>{259, 1 + '\n'}));
  EXPECT_EQ(tok.encode("你", false), std::vector<int32_t>{262});
  EXPECT_EQ(tok.encode("[PAD263]", false).size(), 8u);  // unused slots are never matched
}

TEST(TinyWorld, RejectsMalformedEscapes) {
  for (const char* bad : {"\\x4", "\\xzz", "abc\\"}) {
    TokenizerVocab v = tiny_world();
    v.tokens[257] = bad;
    expect_bad_model([&] { Tokenizer{v}; }, "tokenizer.ggml.tokens[257]");
  }
  TokenizerVocab v = tiny_world();
  v.token_types[1 + 'z'] = 3;  // the byte 'z' is gone from the trie
  expect_bad_model([&] { Tokenizer{v}; }, "no token for byte 0x7a");
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(sanitize_utf8("plain ascii"), "plain ascii");
  EXPECT_EQ(sanitize_utf8("\xe4\xbd\xa0"), "\xe4\xbd\xa0");
  EXPECT_EQ(sanitize_utf8("\xff"), r);
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), r + r);          // overlong: two bad bytes
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), r + r + r);  // surrogate
  EXPECT_EQ(sanitize_utf8("\xe4\xbd"
                          "A"),
            r + "A");                                           // truncated then ASCII: one FFFD
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  size_t tail = 99;
  EXPECT_EQ(sanitize_utf8("ok\xf0\x9f\x98", true, &tail), "ok");
  EXPECT_EQ(tail, 3u);
  EXPECT_EQ(sanitize_utf8("ok\xf0\x9f\x98"), "ok" + r);
}

TEST(TinyWorld, StreamDecoderRenderSpecial) {
  const Tokenizer tok(tiny_world());
  StreamDecoder hidden(tok), shown(tok, true);
  EXPECT_EQ(hidden.push(0), "");
  EXPECT_EQ(shown.push(0), "<s>");
  // "你" split into single-byte tokens (ids 1 + byte).
  EXPECT_EQ(hidden.push(1 + 0xe4), "");
  EXPECT_EQ(hidden.push(1 + 0xbd), "");
  EXPECT_EQ(hidden.push(1 + 0xa0), "\xe4\xbd\xa0");
  hidden.push(1 + 0xe4);
  hidden.reset();
  EXPECT_EQ(hidden.flush(), "");
}

}  // namespace
}  // namespace vkr
