// test_server_ollama.cpp: Ollama's API of `vkrwkv serve` (server_ollama*.cpp): requests made into
// the OpenAI routes' (options, format, raw, system, tool calls) and what is refused; over HTTP on
// the bundled model, /api/chat and /api/generate = the chat and completions routes' text,
// streams of JSON lines = the whole answer, the load request, embeddings = /v1/embeddings', and
// the model listings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "server_ollama_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::RequestDefaults;

std::string ollama_error(const json& body, bool chat) {
  try {
    chat ? cli::parse_ollama_chat(body.dump(), RequestDefaults{})
         : cli::parse_ollama_generate(body.dump(), RequestDefaults{});
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ServerOllamaApi, RequestsBecomeTheOpenAiRoutes) {
  RequestDefaults d;
  d.max_tokens = 21;
  const json calls = {{{"function", {{"name", "pray"}, {"arguments", {{"for", "rain"}}}}}}};
  auto q = cli::parse_ollama_chat(
      json{{"model", "m:latest"},
           {"messages",
            {{{"role", "system"}, {"content", "Be brief."}},
             {{"role", "user"}, {"content", "Rain?"}},
             {{"role", "assistant"}, {"content", ""}, {"tool_calls", calls}},
             {{"role", "tool"}, {"content", "It rained."}, {"tool_name", "pray"}}}},
           {"options",
            {{"temperature", 0.3},
             {"top_k", 5},
             {"num_predict", 9},
             {"num_ctx", 4096},
             {"stop", {"\n"}}}},
           {"format", {{"type", "integer"}}}}
          .dump(),
      d);
  EXPECT_EQ(q.model, "m:latest");
  ASSERT_EQ(q.base.messages.size(), 4u);
  ASSERT_EQ(q.base.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(q.base.messages[2].tool_calls[0].arguments["for"], "rain");
  EXPECT_FLOAT_EQ(q.base.sampling.temperature, 0.3f);
  EXPECT_EQ(q.base.sampling.top_k, 5);
  EXPECT_EQ(q.base.max_tokens, 9);
  EXPECT_EQ(q.base.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(q.base.constraint.schema);
  EXPECT_TRUE(q.base.stream) << "Ollama streams unless told not to";
  // num_predict -1: serve's -n; format "json": one JSON object; stream false.
  q = cli::parse_ollama_chat(json{{"messages", {{{"role", "user"}, {"content", "x"}}}},
                                  {"options", {{"num_predict", -1}}},
                                  {"format", "json"},
                                  {"stream", false}}
                                 .dump(),
                             d);
  EXPECT_EQ(q.base.max_tokens, 21);
  EXPECT_TRUE(q.base.constraint.json);
  EXPECT_FALSE(q.base.constraint.schema);
  EXPECT_FALSE(q.base.stream);
  // generate: the chat template with system, or the raw prompt.
  q = cli::parse_ollama_generate(json{{"prompt", "Hi"}, {"system", "Brief."}}.dump(), d);
  ASSERT_TRUE(q.base.chat);
  ASSERT_EQ(q.base.messages.size(), 2u);
  EXPECT_EQ(q.base.messages[1].content, "Hi");
  q = cli::parse_ollama_generate(json{{"prompt", "In the"}, {"raw", true}}.dump(), d);
  EXPECT_FALSE(q.base.chat);
  EXPECT_EQ(q.base.prompts.at(0).text, "In the");
  const std::tuple<json, bool, std::string> bad[] = {
      {json{{"model", "m"}}, true, "field 'messages' must be a non-empty array"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"aGk="}}}}}},
       true,
       "field 'messages[0].images' is not supported"},
      {{{"messages", {{{"content", "x"}}}}}, true, "field 'messages[0].role' must be a string"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"think", true}},
       true,
       "field 'think' is not supported"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"format", "yaml"}},
       true,
       "field 'format' must be \"json\" or a JSON schema"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"options", {{"num_predict", -3}}}},
       true,
       "field 'options.num_predict' must be"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"options", 3}},
       true,
       "field 'options' must be an object"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"stream", "yes"}},
       true,
       "field 'stream' must be true or false"},
      {json{{"model", "m"}}, false, "field 'prompt' must be a string"},
      {{{"prompt", "x"}, {"suffix", "y"}}, false, "field 'suffix' is not supported"},
      {{{"prompt", "x"}, {"template", "{{ .Prompt }}"}},
       false,
       "field 'template' is not supported"},
      {{{"prompt", "x"}, {"context", {1, 2}}}, false, "field 'context' is not supported"},
      {{{"prompt", "x"}, {"images", {"aGk="}}}, false, "field 'images' is not supported"},
  };
  for (const auto& [body, chat, message] : bad) {
    EXPECT_NE(ollama_error(body, chat).find(message), std::string::npos)
        << body.dump() << " -> " << ollama_error(body, chat);
  }
}

// The JSON lines of a streamed answer.
std::vector<json> lines_of(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(json::parse(l));
  }
  return out;
}

TEST_F(ServerTest, OllamaChatAndGenerateAreTheOpenAiRoutesText) {
  const json messages = {{{"role", "system"}, {"content", "Be brief."}},
                         {{"role", "user"}, {"content", "Who made the heaven?"}}};
  auto [s1, c] =
      post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(s1, 200);
  const json body = {{"model", "kjv"},
                     {"messages", messages},
                     {"stream", false},
                     {"options", {{"temperature", 0}, {"num_predict", 8}}}};
  auto [s2, o] = post("/api/chat", body);
  ASSERT_EQ(s2, 200) << o.dump();
  EXPECT_EQ(o["model"], "kjv");
  EXPECT_EQ(o["message"]["role"], "assistant");
  EXPECT_EQ(o["message"]["content"], c["choices"][0]["message"]["content"]);
  EXPECT_EQ(o["done"], true);
  EXPECT_EQ(o["done_reason"], c["choices"][0]["finish_reason"] == "length" ? "length" : "stop");
  EXPECT_EQ(o["eval_count"], c["usage"]["completion_tokens"]);
  EXPECT_TRUE(std::regex_match(o["created_at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")));
  // Streamed (the default): lines of pieces, then the end with the counts.
  json streamed = body;
  streamed.erase("stream");
  auto res = client_->Post("/api/chat", streamed.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = lines_of(res->body);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["done"], false);
    text += lines[i]["message"]["content"].get<std::string>();
  }
  text += lines.back()["message"]["content"].get<std::string>();
  EXPECT_EQ(text, o["message"]["content"]);
  EXPECT_EQ(lines.back()["done"], true);
  EXPECT_EQ(lines.back()["eval_count"], o["eval_count"]);
  // generate: with the template (system + prompt) = the chat text; raw = /v1/completions'.
  auto [s3, g] = post("/api/generate", {{"prompt", "Who made the heaven?"},
                                        {"system", "Be brief."},
                                        {"stream", false},
                                        {"options", {{"temperature", 0}, {"num_predict", 8}}}});
  ASSERT_EQ(s3, 200) << g.dump();
  EXPECT_EQ(g["response"], o["message"]["content"]);
  auto [s4, raw] = post("/api/generate", {{"prompt", "In the beginning"},
                                          {"raw", true},
                                          {"stream", false},
                                          {"options", {{"temperature", 0}, {"num_predict", 6}}}});
  ASSERT_EQ(s4, 200);
  EXPECT_EQ(raw["response"], greedy("In the beginning", 6));
  // The load request (an empty prompt) runs nothing.
  auto [s5, load] = post("/api/generate", {{"model", "kjv"}, {"prompt", ""}});
  ASSERT_EQ(s5, 200);
  EXPECT_EQ(load["done_reason"], "load");
  // A JSON schema as the format.
  auto [s6, f] = post("/api/generate", {{"prompt", "How many?"},
                                        {"format", {{"type", "integer"}}},
                                        {"stream", false},
                                        {"options", {{"temperature", 0}, {"num_predict", 6}}}});
  ASSERT_EQ(s6, 200) << f.dump();
  EXPECT_TRUE(std::regex_match(f["response"].get<std::string>(), std::regex(R"(\s*-?\d*)")))
      << f["response"];
  // Errors: Ollama's shape.
  auto [s7, e] = post("/api/chat", {{"messages", json::array()}});
  EXPECT_EQ(s7, 400);
  EXPECT_EQ(e["error"], "field 'messages' must be a non-empty array");
}

TEST_F(ServerTest, OllamaEmbeddingsAndListings) {
  auto [s1, v1] = post("/v1/embeddings", {{"input", {"In the beginning", "And God"}}});
  ASSERT_EQ(s1, 200);
  auto [s2, o] = post("/api/embed", {{"model", "kjv"}, {"input", {"In the beginning", "And God"}}});
  ASSERT_EQ(s2, 200) << o.dump();
  ASSERT_EQ(o["embeddings"].size(), 2u);
  EXPECT_EQ(o["embeddings"][0], v1["data"][0]["embedding"]);
  EXPECT_EQ(o["embeddings"][1], v1["data"][1]["embedding"]);
  EXPECT_EQ(o["prompt_eval_count"], v1["usage"]["prompt_tokens"]);
  auto [s3, old] = post("/api/embeddings", {{"model", "kjv"}, {"prompt", "In the beginning"}});
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(old["embedding"], v1["data"][0]["embedding"]);
  auto [s4, e] = post("/api/embed", {{"input", 3}});
  EXPECT_EQ(s4, 400);
  EXPECT_EQ(e["error"], "field 'input' must be a text or a list of texts");
  auto tags = client_->Get("/api/tags");
  ASSERT_TRUE(tags);
  const json t = json::parse(tags->body);
  ASSERT_EQ(t["models"].size(), 1u);
  EXPECT_EQ(t["models"][0]["name"], "kjv-qrwkv6.gguf");
  EXPECT_EQ(t["models"][0]["details"]["family"], "rwkv6qwen2");
  EXPECT_GT(t["models"][0]["size"].get<uint64_t>(), 0u);
  auto [s5, show] = post("/api/show", {{"model", "kjv-qrwkv6.gguf"}});
  ASSERT_EQ(s5, 200);
  EXPECT_EQ(show["model_info"]["rwkv6qwen2.embedding_length"], model().config().C);
  EXPECT_NE(std::find(show["capabilities"].begin(), show["capabilities"].end(), "tools"),
            show["capabilities"].end());
  auto ps = client_->Get("/api/ps");
  ASSERT_TRUE(ps);
  EXPECT_EQ(json::parse(ps->body)["models"].size(), 1u);
  auto version = client_->Get("/api/version");
  ASSERT_TRUE(version);
  EXPECT_TRUE(json::parse(version->body)["version"].is_string());
}

}  // namespace
}  // namespace vkr::test
