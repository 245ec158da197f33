// test_server_infill.cpp: llama-server's POST /infill (server_infill_api.*): the FIM prompt built
// with Qwen2.5's vocabulary (ids spelled out by hand from the layout: repo, extra files, current
// file, prefix + prompt, suffix, middle), code that spells special-token text stays text, the
// FIM separators end a generation, field errors, and a vocabulary without FIM tokens refused by
// name (the bundled model's, over HTTP).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "server_infill_api.hpp"
#include "server_test.hpp"
#include "support/refmodels.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::find_fim_tokens;
using cli::infill_prompt;
using cli::parse_infill_input;
using cli::parse_infill_request;
using cli::RequestDefaults;

const Tokenizer& qwen() {
  static const Tokenizer tok = [] {
    const auto f = gguf::File::open(kRefDir / "tokenizer" / "vocab-qwen2.gguf");
    return Tokenizer(vocab_from_gguf(f));
  }();
  return tok;
}

std::string infill_error(const json& body, const Tokenizer& tok) {
  try {
    parse_infill_request(body.dump(), RequestDefaults{}, tok);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ServerInfill, FimTokensOfQwensVocabulary) {
  const Tokenizer& tok = qwen();
  const auto fim = find_fim_tokens(tok);
  ASSERT_TRUE(fim);
  EXPECT_EQ(tok.token_bytes(fim->prefix), "<|fim_prefix|>");
  EXPECT_EQ(tok.token_bytes(fim->suffix), "<|fim_suffix|>");
  EXPECT_EQ(tok.token_bytes(fim->middle), "<|fim_middle|>");
  ASSERT_TRUE(fim->repo && fim->file_sep);
  EXPECT_EQ(tok.token_bytes(*fim->repo), "<|repo_name|>");
  EXPECT_EQ(tok.token_bytes(*fim->file_sep), "<|file_sep|>");
  // The pad and separators end a middle (as llama.cpp's vocabularies have them); the FIM
  // markers themselves do not.
  for (const char* t : {"<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|endoftext|>"}) {
    EXPECT_TRUE(tok.is_eog(*tok.find_token(t))) << t;
  }
  EXPECT_FALSE(tok.is_eog(fim->prefix));
  EXPECT_FALSE(tok.is_eog(fim->middle));
}

TEST(ServerInfill, PromptLayout) {
  const Tokenizer& tok = qwen();
  const auto fim = *find_fim_tokens(tok);
  const json body = {
      {"input_prefix", "def add(a, b):\n    "},
      {"prompt", "ret"},
      {"input_suffix", "\n\nprint(add(1, 2))\n"},
      {"input_extra",
       {{{"filename", "util.py"}, {"text", "X = '<|fim_middle|>'\n"}}, {{"text", "pass\n"}}}}};
  const auto in = parse_infill_input(body.dump());
  ASSERT_EQ(in.extra.size(), 2u);
  EXPECT_EQ(in.extra[1].first, "tmp");  // a chunk without a filename
  std::vector<int32_t> want;
  auto add = [&](std::string_view text) {
    const auto ids = tok.encode(text, false);
    want.insert(want.end(), ids.begin(), ids.end());
  };
  want.push_back(*fim.repo);
  add("myproject\n");
  want.push_back(*fim.file_sep);
  add("util.py\n");
  add("X = '<|fim_middle|>'\n");
  want.push_back(*fim.file_sep);
  add("tmp\n");
  add("pass\n");
  want.push_back(*fim.file_sep);
  add("filename\n");
  want.push_back(fim.prefix);
  add("def add(a, b):\n    ");
  add("ret");
  want.push_back(fim.suffix);
  add("\n\nprint(add(1, 2))\n");
  want.push_back(fim.middle);
  const auto got = infill_prompt(in, tok, fim);
  EXPECT_EQ(got, want);
  // The file's "<|fim_middle|>" stayed text: the marker appears once, at the end.
  EXPECT_EQ(std::count(got.begin(), got.end(), fim.middle), 1);

  // The request: /completion's fields apply, the prompt is the ids above.
  json full = body;
  full.update({{"n_predict", 12}, {"temperature", 0.2}, {"stop", "\n\n"}});
  const auto q = parse_infill_request(full.dump(), RequestDefaults{}, tok);
  ASSERT_EQ(q.base.prompts.size(), 1u);
  ASSERT_TRUE(q.base.prompts[0].ids);
  EXPECT_EQ(*q.base.prompts[0].ids, want);
  EXPECT_EQ(q.base.max_tokens, 12);
  EXPECT_FLOAT_EQ(q.base.sampling.temperature, 0.2f);
  EXPECT_EQ(q.base.stop, std::vector<std::string>{"\n\n"});

  // Only a prefix: no extra files, still the repo and current-file headers.
  const auto bare = infill_prompt(parse_infill_input(R"({"input_prefix": "x = "})"), tok, fim);
  ASSERT_GE(bare.size(), 5u);
  EXPECT_EQ(bare.front(), *fim.repo);
  EXPECT_EQ(bare[bare.size() - 2], fim.suffix);
  EXPECT_EQ(bare.back(), fim.middle);
}

TEST(ServerInfill, FieldErrors) {
  const Tokenizer& tok = qwen();
  const std::pair<json, std::string> bad[] = {
      {{{"input_prefix", 3}}, "field 'input_prefix' must be a string"},
      {{{"input_suffix", {"a"}}}, "field 'input_suffix' must be a string"},
      {{{"prompt", {1, 2}}}, "field 'prompt' must be a string"},
      {{{"input_extra", "a"}}, "field 'input_extra' must be an array"},
      {{{"input_extra", {7}}}, "field 'input_extra[0]' must be an object"},
      {{{"input_extra", {{{"filename", "a"}}}}}, "field 'input_extra[0].text' must be a string"},
      {{{"input_extra", {{{"text", "a"}, {"filename", 1}}}}},
       "field 'input_extra[0].filename' must be a string"},
      {{{"n_predict", -3}}, "field 'n_predict'"},
  };
  for (const auto& [body, message] : bad) {
    EXPECT_NE(infill_error(body, tok).find(message), std::string::npos)
        << body.dump() << ": " << infill_error(body, tok);
  }
}

class ServerInfillHttp : public ServerTest {};

// The bundled model's vocabulary has no FIM tokens: a 400 that says so, before any work.
TEST_F(ServerInfillHttp, ModelWithoutFimTokensIsRefused) {
  auto [status, a] = post("/infill", {{"input_prefix", "In the"}, {"input_suffix", "earth"}});
  EXPECT_EQ(status, 400);
  EXPECT_NE(a.dump().find("no fill-in-the-middle tokens"), std::string::npos) << a.dump();
  auto [st2, b] = post("/infill", {{"input_prefix", 5}});
  EXPECT_EQ(st2, 400);
  EXPECT_NE(b.dump().find("input_prefix"), std::string::npos) << b.dump();
}

}  // namespace
}  // namespace vkr::test
