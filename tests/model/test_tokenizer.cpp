// Tokenizers on the real vocabularies vs llama.cpp's goldens (../shared/refmodels/tokenizer).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <vkr/error.hpp>

#include "gguf.hpp"
#include "tokenizer.hpp"

namespace vkr {
namespace {

const std::string kDir = std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/";

// Loaded once per suite: building the 152k-token Qwen2 vocabulary takes a noticeable moment.
struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  nlohmann::json goldens;
};

Loaded load(const std::string& vocab_file, const std::string& golden_file) {
  const gguf::File file = gguf::File::open(kDir + vocab_file);
  Loaded out{std::make_unique<Tokenizer>(vocab_from_gguf(file)), {}};
  std::ifstream in(kDir + golden_file);
  out.goldens = nlohmann::json::parse(in);
  return out;
}

std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

// Streams ids one at a time and checks that every chunk is valid UTF-8 on its own.
std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool render_special) {
  StreamDecoder decoder(tok, render_special);
  std::string out;
  for (int32_t id : ids) {
    const std::string chunk = decoder.push(id);
    EXPECT_EQ(sanitize_utf8(chunk), chunk) << "chunk after id " << id << " is not valid UTF-8";
    out += chunk;
  }
  return out + decoder.flush();
}

class Qwen2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Loaded(load("vocab-qwen2.gguf", "goldens-qwen2.json"));
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static const Tokenizer& tok() { return *data_->tokenizer; }
  static const nlohmann::json& cases() { return data_->goldens.at("cases"); }
  static Loaded* data_;
};
Loaded* Qwen2::data_ = nullptr;

class World : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Loaded(load("vocab-rwkv-world.gguf", "goldens-rwkv-world.json"));
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static const Tokenizer& tok() { return *data_->tokenizer; }
  static const nlohmann::json& cases() { return data_->goldens.at("cases"); }
  static Loaded* data_;
};
Loaded* World::data_ = nullptr;

// Deliberate difference from llama.cpp (README item 2): llama.cpp promotes the ordinary Qwen BPE
// token "</s>" (128247) to CONTROL by its text (a workaround for another model). We follow the
// vocabulary's own token type, so "</s>" stays text even with parse_special.
std::vector<int32_t> expected_parse_special(const nlohmann::json& c) {
  if (c.at("text").get<std::string>().find("</s>") != std::string::npos) return ids_of(c.at("ids"));
  return ids_of(c.at("ids_parse_special"));
}

void check_goldens(const Tokenizer& tok, const nlohmann::json& cases, bool qwen) {
  ASSERT_EQ(cases.size(), 64u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    SCOPED_TRACE(testing::Message() << "text: \"" << text << "\"");
    const std::vector<int32_t> ids = ids_of(c.at("ids"));
    const std::vector<int32_t> special =
        qwen ? expected_parse_special(c) : ids_of(c.at("ids_parse_special"));
    EXPECT_EQ(tok.encode(text, false), ids);
    EXPECT_EQ(tok.encode(text, true), special);
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_EQ(tok.decode(special, /*render_special=*/true), text);
    EXPECT_EQ(stream(tok, ids, false), text);
    EXPECT_EQ(stream(tok, special, true), text);
  }
}

TEST_F(Qwen2, Goldens) { check_goldens(tok(), cases(), true); }
TEST_F(World, Goldens) { check_goldens(tok(), cases(), false); }

TEST_F(Qwen2, VocabularyFacts) {
  EXPECT_EQ(tok().n_vocab(), 152064);
  EXPECT_EQ(tok().model_name(), "gpt2");
  EXPECT_EQ(tok().bos_id(), 151643);
  EXPECT_EQ(tok().eos_id(), 151645);
  EXPECT_EQ(tok().eot_id(), 151645);
  EXPECT_EQ(tok().find_token("<|im_end|>"), 151645);
  EXPECT_EQ(tok().find_token("<|endoftext|>"), 151643);
  EXPECT_EQ(tok().find_token(" "), 220);
  EXPECT_EQ(tok().find_token("\n"), 198);
  EXPECT_EQ(tok().find_token("no such token, surely"), std::nullopt);
  EXPECT_TRUE(tok().is_control(151644));
  EXPECT_FALSE(tok().is_control(151657));  // <tool_call> is USER_DEFINED
  EXPECT_EQ(tok().token_type(151657), TokenType::UserDefined);
  EXPECT_EQ(tok().token_type(151700), TokenType::Unused);
  EXPECT_EQ(tok().token_bytes(151700), "");
  EXPECT_TRUE(tok().is_eog(151643));
  EXPECT_TRUE(tok().is_eog(151645));
  EXPECT_FALSE(tok().is_eog(151644));
  EXPECT_FALSE(tok().is_eog(128247));  // "</s>" is ordinary text here (see above)
  EXPECT_EQ(tok().token_bytes(220), " ");
  EXPECT_THROW(tok().token_bytes(-1), Error);
  EXPECT_THROW(tok().token_bytes(152064), Error);
}

TEST_F(Qwen2, EdgeCases) {
  EXPECT_TRUE(tok().encode("", true).empty());
  EXPECT_EQ(tok().encode("1234", false).size(), 4u);  // digits one by one
  EXPECT_EQ(tok().decode(tok().encode("   \n\n  \t ", false)), "   \n\n  \t ");
  // Special text inside words; CONTROL only with parse_special, USER_DEFINED always.
  const auto ids = tok().encode("a<|im_start|>b<tool_call>c", true);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 151644), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), 151657), ids.end());
  const auto plain = tok().encode("a<|im_start|>b<tool_call>c", false);
  EXPECT_EQ(std::find(plain.begin(), plain.end(), 151644), plain.end());
  EXPECT_NE(std::find(plain.begin(), plain.end(), 151657), plain.end());
  // Control tokens are dropped from decode unless asked for.
  EXPECT_EQ(tok().decode(tok().encode("x<|im_end|>y", true)), "xy");
}

// U+0085 (NEL) is Unicode White_Space, as in llama.cpp and HF (PCRE2's own \s leaves it out):
// "x \u0085!" splits as "x" " " "\u0085" "!". Were NEL punctuation, " \u0085!" would be one piece
// and BPE would merge " " with NEL's first byte (token "ĠÂ").
TEST_F(Qwen2, NextLineIsWhitespace) {
  std::vector<int32_t> pieces;
  for (const char* part : {"x", " ", "\u0085", "!"}) {
    const auto ids = tok().encode(part, false);
    pieces.insert(pieces.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(tok().encode("x \u0085!", false), pieces);
}

TEST_F(Qwen2, InvalidUtf8RoundTripsAsByteTokens) {
  const std::string bad = "ok \xff\xfe caf\xc3 \xe4\xbd end \xed\xa0\x80 \xc0\xaf";
  const auto ids = tok().encode(bad, false);
  EXPECT_EQ(tok().decode(ids), bad);
  // Each invalid byte is its own token: 0xff alone.
  EXPECT_NE(std::find(ids.begin(), ids.end(), *tok().find_token("\xff")), ids.end());
  EXPECT_EQ(stream(tok(), ids, false), sanitize_utf8(bad));
}

TEST_F(Qwen2, LongRunsDoNotBreakTheRegex) {
  for (const std::string& text :
       {std::string(200000, ' '), std::string(100000, 'a'),
        std::string(50000, '!') + std::string(50000, '\n'), std::string(30000, '7')}) {
    const auto ids = tok().encode(text, false);
    EXPECT_EQ(tok().decode(ids), text);
  }
}

TEST_F(Qwen2, StreamDecoderHoldsBackSplitCharacters) {
  // "€" is E2 82 AC; feed it as three byte tokens.
  StreamDecoder decoder(tok());
  EXPECT_EQ(decoder.push(*tok().find_token("\xe2")), "");
  EXPECT_EQ(decoder.push(*tok().find_token("\x82")), "");
  EXPECT_EQ(decoder.push(*tok().find_token("\xac")), "\xe2\x82\xac");
  EXPECT_EQ(decoder.flush(), "");
  // An unfinished character at the end becomes one U+FFFD.
  EXPECT_EQ(decoder.push(*tok().find_token("\xf0")), "");
  EXPECT_EQ(decoder.push(*tok().find_token("\x9f")), "");
  EXPECT_EQ(decoder.flush(), "\xef\xbf\xbd");
  // A broken sequence is replaced as soon as it is known to be broken.
  EXPECT_EQ(decoder.push(*tok().find_token("\xe2")), "");
  EXPECT_EQ(decoder.push(*tok().find_token("A")),
            "\xef\xbf\xbd"
            "A");
  // Emoji tokens from a real encoding, split however the BPE split them.
  const std::string emoji = "👨‍👩‍👧‍👦🇩🇪";
  EXPECT_EQ(stream(tok(), tok().encode(emoji, false), false), emoji);
}

TEST_F(World, VocabularyFacts) {
  EXPECT_EQ(tok().n_vocab(), 65536);
  EXPECT_EQ(tok().model_name(), "rwkv");
  EXPECT_EQ(tok().eot_id(), 261);
  EXPECT_EQ(tok().find_token("\n\n"), 261);
  EXPECT_EQ(tok().find_token("<s>"), 0);
  EXPECT_TRUE(tok().is_control(0));
  EXPECT_TRUE(tok().is_eog(261));
  EXPECT_EQ(tok().token_type(65535), TokenType::Unused);
  EXPECT_EQ(tok().encode("The Eiffel tower is in the city of", false),
            (std::vector<int32_t>{6699, 304, 25740, 109, 39990, 4600, 4596, 22590, 30449, 4706}));
}

TEST_F(World, ControlTokenOnlyWithParseSpecial) {
  // Deliberate difference from llama.cpp (README item 4): "<s>" is not in our trie, as in RWKV-LM.
  EXPECT_EQ(tok().encode("<s>", true), std::vector<int32_t>{0});
  const auto plain = tok().encode("<s>", false);
  EXPECT_EQ(std::find(plain.begin(), plain.end(), 0), plain.end());
  EXPECT_EQ(tok().decode(plain), "<s>");
}

TEST_F(World, EdgeCases) {
  EXPECT_TRUE(tok().encode("", false).empty());
  for (const std::string text : {"    ", "\n\n\n", "0123456789", "你好，世界 🚀", "\r\n\t"}) {
    EXPECT_EQ(tok().decode(tok().encode(text, false)), text);
    EXPECT_EQ(stream(tok(), tok().encode(text, false), false), text);
  }
  const std::string bad = "\xff\x80 abc \xe4\xbd";
  EXPECT_EQ(tok().decode(tok().encode(bad, false)), bad);
  const std::string long_text(100000, 'x');
  EXPECT_EQ(tok().decode(tok().encode(long_text, false)), long_text);
}

}  // namespace
}  // namespace vkr
