// test_server_embeddings.cpp: POST /v1/embeddings of `vkrwkv serve` on the bundled model: each
// input's vector = a Session's own final hidden state (last token, or the mean with --pooling
// mean) at unit length; lists, token ids and base64 give the same vectors; kept states make a
// later completion of the same text cheaper; bad inputs are 400s naming the field.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_test.hpp"
#include "support/compare.hpp"

namespace vkr::test {
namespace {

std::vector<float> unit(std::vector<double> v) {
  double n = 0;
  for (double x : v) n += x * x;
  std::vector<float> out;
  for (double x : v) out.push_back(static_cast<float>(x / std::sqrt(n)));
  return out;
}

// The vector a Session gives for `text`: the last row's hidden state, or the mean of the rows.
std::vector<float> expected(Model& model, const std::string& text, bool mean) {
  const auto ids = model.tokenizer()->encode(text, true);
  Session s(model, 1);
  const auto h = s.eval_hidden(0, ids, mean);
  const size_t C = model.config().C;
  std::vector<double> pooled(C, 0.0);
  for (size_t i = 0; i < h.size() / C; ++i) {
    for (size_t c = 0; c < C; ++c) pooled[c] += h[i * C + c];
  }
  return unit(pooled);
}

std::vector<float> floats(const json& v) { return v.get<std::vector<float>>(); }

std::vector<float> from_base64(const std::string& s) {
  auto digit = [](char c) -> uint32_t {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::vector<unsigned char> bytes;
  for (size_t i = 0; i + 3 < s.size(); i += 4) {
    uint32_t w = 0;
    int n = 0;
    for (size_t k = 0; k < 4; ++k) {
      w <<= 6;
      if (s[i + k] != '=') {
        w |= digit(s[i + k]);
        ++n;
      }
    }
    for (int k = 0; k < n - 1; ++k) bytes.push_back(static_cast<unsigned char>(w >> (16 - 8 * k)));
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST_F(ServerTest, EmbeddingsAreTheUnitLastHiddenState) {
  const std::string a = "In the beginning God created the heaven", b = "And God said";
  const auto ids_b = model().tokenizer()->encode(b, true);
  auto [status, r] =
      post("/v1/embeddings", {{"input", json::array({a, b, ids_b})}, {"model", "whatever"}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["object"], "list");
  ASSERT_EQ(r["data"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r["data"][i]["index"], i);
    EXPECT_EQ(r["data"][i]["object"], "embedding");
  }
  const auto ea = floats(r["data"][0]["embedding"]);
  ASSERT_EQ(ea.size(), model().config().C);
  EXPECT_TRUE(all_close(expected(model(), a, false), ea, 1e-5, 1e-5, "input a"));
  EXPECT_TRUE(all_close(expected(model(), b, false), floats(r["data"][1]["embedding"]), 1e-5, 1e-5,
                        "input b"));
  EXPECT_EQ(r["data"][1]["embedding"], r["data"][2]["embedding"]) << "ids = the same text";
  const size_t tokens = model().tokenizer()->encode(a, true).size() + 2 * ids_b.size();
  EXPECT_EQ(r["usage"]["prompt_tokens"], tokens);
  // base64: the same floats' bytes.
  auto [s2, r2] = post("/v1/embeddings", {{"input", a}, {"encoding_format", "base64"}});
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(from_base64(r2["data"][0]["embedding"].get<std::string>()), ea);
  // The embedded text's state is kept: a completion of it reuses it, with the same text.
  auto [s3, c] =
      post("/v1/completions", {{"prompt", a + " and"}, {"max_tokens", 4}, {"temperature", 0}});
  ASSERT_EQ(s3, 200);
  EXPECT_GT(c["usage"]["prompt_tokens_details"]["cached_tokens"].get<size_t>(), 0u);
  EXPECT_EQ(c["choices"][0]["text"], greedy(a + " and", 4));
  const std::pair<json, std::string> bad[] = {
      {json{{"model", "m"}}, "field 'input' is missing"},
      {{{"input", 3}}, "field 'input' must be a text, a list of texts"},
      {{{"input", json::array()}}, "field 'input' must be a text, a list of texts"},
      {{{"input", {"a", json::array()}}}, "field 'input[1]' must be a text or a non-empty list"},
      {{{"input", {1, -2}}}, "field 'input' must hold token ids"},
      {{{"input", ""}}, "the input is empty after tokenization"},
      {{{"input", {1, 1 << 30}}}, "outside the vocabulary"},
      {{{"input", "x"}, {"encoding_format", "hex"}}, "field 'encoding_format' must be"},
      {{{"input", "x"}, {"dimensions", 8}}, "field 'dimensions' must be 256"},
  };
  for (const auto& [body, message] : bad) {
    auto [st, e] = post("/v1/embeddings", body);
    EXPECT_EQ(st, 400) << body.dump();
    EXPECT_NE(e["error"]["message"].get<std::string>().find(message), std::string::npos)
        << body.dump() << " -> " << e.dump();
  }
}

TEST_F(ServerTest, EmbeddingsMeanPooling) {
  ServeOptions o;
  o.pooling = cli::Pooling::Mean;
  o.scheduler.piece = 3;  // the prompt comes in pieces: the sum goes across them
  OwnServer mean(model(), o);
  const std::string text = "In the beginning God created the heaven and the earth";
  auto res = mean.client->Post("/v1/embeddings", json{{"input", text}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json r = json::parse(res->body);
  EXPECT_TRUE(all_close(expected(model(), text, true), floats(r["data"][0]["embedding"]), 1e-5,
                        1e-5, "mean"));
  // A kept state is not a shortcut for the mean (it needs every row): the same again agrees.
  auto again =
      mean.client->Post("/v1/embeddings", json{{"input", text}}.dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(again->body)["data"][0]["embedding"], r["data"][0]["embedding"]);
}

}  // namespace
}  // namespace vkr::test
