// test_server_features.cpp: the OpenAI-style features of `vkrwkv serve` over HTTP on the bundled
// model: logprobs (values = a Session's log-softmax), echo and prompt scoring (= the GPU's own
// NLL), batches of prompts and n choices (= single requests), JSON / JSON-schema response formats
// (replies are prefixes of valid texts), the token endpoints, the API key and /metrics.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "grammar.hpp"
#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "server_test.hpp"
#include "session.hpp"
#include "string_pattern.hpp"
#include "support/gpu_env.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

// Log-probabilities: greedy tokens are the most likely of their top list, the values are the
// log-softmax of a Session's own logits, chat and completions shapes, streams carry the same
// values chunk by chunk, and bad values are refused naming the field.
TEST_F(ServerTest, LogprobsOfTheGeneratedTokens) {
  const std::string prompt = "In the beginning God";
  auto [status, r] =
      post("/v1/completions",
           {{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 3}});
  ASSERT_EQ(status, 200) << r.dump();
  const auto& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 6u) << lp.dump();
  std::string joined;
  size_t offset = 0;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(lp["text_offset"][i], offset);
    joined += lp["tokens"][i].get<std::string>();
    offset += lp["tokens"][i].get<std::string>().size();
    const auto& top = lp["top_logprobs"][i];
    ASSERT_EQ(top.size(), 3u) << top.dump();
    float best = -1e30f;
    for (const auto& [t, v] : top.items()) best = std::max(best, v.get<float>());
    EXPECT_FLOAT_EQ(lp["token_logprobs"][i].get<float>(), best) << "greedy picks the most likely";
  }
  EXPECT_EQ(joined, r["choices"][0]["text"]);
  // The values: log-softmax of the logits a Session gives after the prompt and the first token.
  const Tokenizer& tok = *model().tokenizer();
  Session s(model(), 1);
  auto logits = s.eval(0, tok.encode(prompt, true));
  for (int i = 0; i < 2; ++i) {
    double sum = 0;
    const float mx = *std::max_element(logits.begin(), logits.end());
    for (float l : logits) sum += std::exp(static_cast<double>(l - mx));
    const auto id =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(lp["tokens"][i], tok.token_bytes(id));
    EXPECT_NEAR(lp["token_logprobs"][i].get<double>(), mx - (mx + std::log(sum)), 1e-4);
    const int32_t next[] = {id};
    logits = s.eval(0, next);
  }
  // Chat shape, and a stream gives the same entries.
  json chat = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
               {"max_tokens", 5},
               {"temperature", 0},
               {"logprobs", true},
               {"top_logprobs", 2}};
  auto [s2, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s2, 200) << c.dump();
  const auto& content = c["choices"][0]["logprobs"]["content"];
  ASSERT_FALSE(content.empty());
  std::string text;
  for (const auto& e : content) {
    text += e["token"].get<std::string>();
    EXPECT_EQ(e["top_logprobs"].size(), 2u);
    EXPECT_EQ(e["bytes"].size(), e["token"].get<std::string>().size());
    EXPECT_LE(e["logprob"].get<float>(), 0.0f);
  }
  EXPECT_EQ(text, c["choices"][0]["message"]["content"]);
  std::vector<json> events;
  stream("/v1/chat/completions", chat, events);
  json streamed = json::array();
  for (const auto& e : events) {
    const auto& l = e["choices"][0]["logprobs"];
    if (l.is_object()) {
      for (const auto& x : l["content"]) streamed.push_back(x);
    }
  }
  EXPECT_EQ(streamed, content);
  // No logprobs asked for: null.
  auto [s3, plain] = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 2}});
  ASSERT_EQ(s3, 200);
  EXPECT_TRUE(plain["choices"][0]["logprobs"].is_null());
  const std::pair<json, std::string> cases[] = {
      {{{"prompt", "x"}, {"logprobs", 21}}, "field 'logprobs' must be in [0, 20]"},
      {{{"prompt", "x"}, {"logprobs", true}}, "field 'logprobs' must be an integer in [0, 20]"},
  };
  for (const auto& [body, message] : cases) {
    auto [st, e] = post("/v1/completions", body);
    EXPECT_EQ(st, 400) << body.dump();
    EXPECT_NE(e["error"]["message"].get<std::string>().find(message), std::string::npos)
        << e.dump();
  }
  auto [s4, e4] = post("/v1/chat/completions",
                       {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"top_logprobs", 2}});
  EXPECT_EQ(s4, 400);
  EXPECT_EQ(e4["error"]["message"], "field 'top_logprobs' needs \"logprobs\": true");
}

// echo (what lm-evaluation-harness's loglikelihood tasks send: echo, logprobs 1, max_tokens 1):
// the text starts with the prompt's, the prompt's tokens come first in the log-probabilities
// (the first null), each equal to minus the GPU's own NLL of it (Session::eval_nll, another
// code path); a batch of prompts gives each one's choice at its index, as alone; a stream gives
// the whole response's text and entries.
TEST_F(ServerTest, EchoScoresThePromptAndBatchesGiveOneChoiceEach) {
  const std::string prompt = "In the beginning God created the heaven";
  const auto ids = model().tokenizer()->encode(prompt, true);
  const json body = {{"prompt", {ids}}, {"max_tokens", 1}, {"temperature", 0},
                     {"logprobs", 1},   {"echo", true},    {"seed", 1234}};
  auto [status, r] = post("/v1/completions", body);
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_EQ(r["choices"].size(), 1u);
  const auto& choice = r["choices"][0];
  const auto& lp = choice["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), ids.size() + 1) << lp.dump();
  EXPECT_EQ(choice["text"], prompt + greedy(prompt, 1));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  std::string joined;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EXPECT_EQ(lp["text_offset"][i], joined.size());
    joined += lp["tokens"][i].get<std::string>();
  }
  EXPECT_EQ(joined, choice["text"]);
  Session s(model(), 1);
  const auto nll = s.eval_nll(0, std::span(ids).first(ids.size() - 1), std::span(ids).subspan(1));
  for (size_t t = 1; t < ids.size(); ++t) {
    EXPECT_EQ(lp["tokens"][t], model().tokenizer()->token_bytes(ids[t]));
    EXPECT_NEAR(lp["token_logprobs"][t].get<double>(), -nll[t - 1], 2e-3) << "prompt token " << t;
    ASSERT_EQ(lp["top_logprobs"][t].size(), 1u);
    EXPECT_GE(lp["top_logprobs"][t].begin()->get<double>(),
              lp["token_logprobs"][t].get<double>() - 1e-6);
  }
  EXPECT_EQ(r["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  // echo without logprobs, max_tokens 0: the prompt's text alone
  // (it ran like any prompt, so a state of the prompt but its last token is kept now).
  auto [s3, bare] =
      post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}});
  ASSERT_EQ(s3, 200) << bare.dump();
  EXPECT_EQ(bare["choices"][0]["text"], prompt);
  EXPECT_TRUE(bare["choices"][0]["logprobs"].is_null());
  // The same prompt with logprobs again: that kept state is not used (every position's logits
  // are needed), so the same values and nothing cached.
  auto [s2, again] = post("/v1/completions", body);
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(again["choices"][0]["logprobs"]["token_logprobs"], lp["token_logprobs"]);
  EXPECT_EQ(again["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  // A batch of text and id prompts: each choice = that prompt alone.
  const json batch = {
      {"prompt", {"And the LORD said", ids, "Blessed are"}}, {"max_tokens", 5}, {"temperature", 0}};
  auto [s4, b] = post("/v1/completions", batch);
  ASSERT_EQ(s4, 200) << b.dump();
  ASSERT_EQ(b["choices"].size(), 3u);
  const std::string texts[] = {"And the LORD said", prompt, "Blessed are"};
  size_t prompt_tokens = 0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b["choices"][i]["index"], i);
    EXPECT_EQ(b["choices"][i]["text"], greedy(texts[i], 5)) << texts[i];
    prompt_tokens += model().tokenizer()->encode(texts[i], true).size();
  }
  EXPECT_EQ(b["usage"]["prompt_tokens"], prompt_tokens);
  // Streamed: per choice, the pieces join to the whole response's text and logprobs entries.
  json streamed_body = batch;
  streamed_body["echo"] = true;
  streamed_body["logprobs"] = 2;
  auto [s5, whole] = post("/v1/completions", streamed_body);
  ASSERT_EQ(s5, 200);
  std::vector<json> events;
  stream("/v1/completions", streamed_body, events);
  std::vector<std::string> text(3);
  std::vector<json> tokens(3, json::array());
  for (const auto& e : events) {
    const auto& c = e["choices"][0];
    const size_t i = c["index"].get<size_t>();
    ASSERT_LT(i, 3u);
    text[i] += c["text"].get<std::string>();
    if (c.contains("logprobs")) {
      for (const auto& t : c["logprobs"]["tokens"]) tokens[i].push_back(t);
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(text[i], whole["choices"][i]["text"]) << i;
    EXPECT_EQ(tokens[i], whole["choices"][i]["logprobs"]["tokens"]) << i;
    EXPECT_EQ(text[i].substr(0, texts[i].size()), texts[i]);
  }
  EXPECT_TRUE(events.back().contains("usage"));
  // A bad prompt anywhere in the batch: a 400 naming it, and nothing runs.
  auto [s6, e6] = post("/v1/completions", {{"prompt", {json{1, 2}, json{3, 1 << 30}}}});
  EXPECT_EQ(s6, 400);
  EXPECT_EQ(e6["error"]["message"],
            fmt::format("prompt 1: token id {} at position 1 is outside the vocabulary [0, {})",
                        1 << 30, model().config().V));
}

// n choices per prompt: choice prompt * n + k samples with seed + k, so it is the text a request
// of that prompt with that seed gives; chat too.
TEST_F(ServerTest, ChoicesPerPromptSampleWithSeedPlusK) {
  const std::string prompts[] = {"In the beginning", "And God said"};
  const json body = {{"prompt", prompts},  {"n", 3},     {"max_tokens", 6},
                     {"temperature", 1.0}, {"seed", 42}, {"top_k", 40}};
  auto [status, r] = post("/v1/completions", body);
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_EQ(r["choices"].size(), 6u);
  std::set<std::string> distinct;
  for (size_t c = 0; c < 6; ++c) {
    EXPECT_EQ(r["choices"][c]["index"], c);
    json alone = body;
    alone.erase("n");
    alone["prompt"] = prompts[c / 3];
    alone["seed"] = 42 + c % 3;
    auto [s1, one] = post("/v1/completions", alone);
    ASSERT_EQ(s1, 200);
    EXPECT_EQ(r["choices"][c]["text"], one["choices"][0]["text"]) << "choice " << c;
    distinct.insert(r["choices"][c]["text"].get<std::string>());
  }
  EXPECT_GT(distinct.size(), 2u) << "the seeds differ, so should most texts";
  EXPECT_EQ(r["usage"]["completion_tokens"], 36);
  json chat = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
               {"n", 2},
               {"max_tokens", 4},
               {"temperature", 0}};
  auto [s2, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s2, 200) << c.dump();
  ASSERT_EQ(c["choices"].size(), 2u);
  EXPECT_EQ(c["choices"][1]["index"], 1);
  EXPECT_EQ(c["choices"][0]["message"], c["choices"][1]["message"]) << "greedy: the same reply";
}

// response_format json_object: the reply is always the start of a JSON object (the whole object
// when it ended with "stop"), on both endpoints and in streams; other types are a 400.
TEST_F(ServerTest, JsonResponseFormatConstrainsTheReply) {
  const json fmt_obj = {{"type", "json_object"}};
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto [status, r] = post("/v1/completions", {{"prompt", "And Noah said"},
                                                {"max_tokens", 48},
                                                {"temperature", 0.9},
                                                {"seed", seed},
                                                {"response_format", fmt_obj}});
    ASSERT_EQ(status, 200) << r.dump();
    const std::string text = r["choices"][0]["text"];
    JsonPrefix check;
    EXPECT_TRUE(check.push(text)) << text;
    EXPECT_NE(text.find('{'), std::string::npos) << text;
    if (r["choices"][0]["finish_reason"] == "stop") {
      EXPECT_TRUE(json::parse(text).is_object()) << text;
    }
  }
  json chat = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
               {"max_tokens", 40},
               {"temperature", 0},
               {"response_format", fmt_obj}};
  auto [s2, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s2, 200) << c.dump();
  const std::string reply = c["choices"][0]["message"]["content"];
  JsonPrefix check;
  EXPECT_TRUE(check.push(reply)) << reply;
  std::vector<json> events;
  EXPECT_EQ(stream("/v1/chat/completions", chat, events), reply);
  // Without the constraint the same request writes prose, which is no JSON prefix.
  chat.erase("response_format");
  auto [s3, plain] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s3, 200);
  JsonPrefix prose;
  EXPECT_FALSE(prose.push(plain["choices"][0]["message"]["content"].get<std::string>()));
  for (const auto& [rf, message] : std::vector<std::pair<json, std::string>>{
           {{{"type", "grammar"}},
            "field 'response_format' type 'grammar' is not supported (\"text\", \"json_object\" "
            "and \"json_schema\" are)"},
           {"json", "field 'response_format' must be an object with a \"type\""}}) {
    auto [st, e] = post("/v1/completions", {{"prompt", "x"}, {"response_format", rf}});
    EXPECT_EQ(st, 400);
    EXPECT_EQ(e["error"]["message"], message);
  }
  auto [s4, text_ok] =
      post("/v1/completions",
           {{"prompt", "In"}, {"max_tokens", 2}, {"response_format", {{"type", "text"}}}});
  EXPECT_EQ(s4, 200) << text_ok.dump();
  // json_schema: keys in the schema's order (not the sorted order of a plain JSON parse), values
  // of their types; the reply is a prefix of a matching text, and a whole one when it stopped.
  const std::string schema_text = R"({"type":"object","properties":{
      "verse":{"type":"string"},"chapter":{"type":"integer"},
      "book":{"enum":["Genesis","Exodus"]}},"required":["verse","chapter","book"]})";
  const auto schema = JsonSchema::compile(nlohmann::ordered_json::parse(schema_text));
  const std::string body = R"({"prompt":"And God said","max_tokens":64,"temperature":0.7,"seed":)";
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string req = body + std::to_string(seed) +
                            R"(,"response_format":{"type":"json_schema","json_schema":{"name":"v",)"
                            R"("strict":true,"schema":)" +
                            schema_text + "}}}";
    auto res = client_->Post("/v1/completions", req, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json r = json::parse(res->body);
    const std::string text = r["choices"][0]["text"];
    SchemaPrefix p(*schema);
    EXPECT_TRUE(p.push(text)) << text;
    EXPECT_NE(text.find("\"verse\""), std::string::npos) << "the first key is verse: " << text;
    if (r["choices"][0]["finish_reason"] == "stop") {
      EXPECT_TRUE(p.complete()) << text;
    }
  }
  // A root that is not an object (a classifier's enum, as llama-server takes): one of its values.
  auto [s_enum, r_enum] =
      post("/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", "Light or darkness?"}}}},
            {"max_tokens", 40},  // leading whitespace is bounded (a line break, 20 spaces or tabs)
            {"response_format",
             {{"type", "json_schema"},
              {"json_schema", {{"schema", {{"enum", {"light", "darkness", "both"}}}}}}}}});
  ASSERT_EQ(s_enum, 200) << r_enum.dump();
  EXPECT_EQ(r_enum["choices"][0]["finish_reason"], "stop") << r_enum.dump();
  const std::string word = r_enum["choices"][0]["message"]["content"];
  EXPECT_TRUE(std::regex_match(word, std::regex("\\s*\"(light|darkness|both)\""))) << word;
  auto [s5, e5] =
      post("/v1/completions",
           {{"prompt", "x"},
            {"response_format",
             {{"type", "json_schema"},
              {"json_schema",
               {{"schema",
                 {{"type", "object"},
                  {"properties", {{"a", {{"type", "string"}, {"format", "regex"}}}}}}}}}}}});
  EXPECT_EQ(s5, 400);
  EXPECT_EQ(e5["error"]["message"],
            "field 'response_format.json_schema.schema' json schema at '/properties/a': format "
            "'regex' is not supported (supported: " +
                std::string(StringPattern::kFormats) + ")");
  auto [s6, e6] =
      post("/v1/completions", {{"prompt", "x"}, {"response_format", {{"type", "json_schema"}}}});
  EXPECT_EQ(s6, 400);
  EXPECT_EQ(e6["error"]["message"], "field 'response_format.json_schema.schema' is missing");
  // llama-server's top-level "json_schema": the same constraint (keys in the schema's order).
  auto res = client_->Post("/v1/completions",
                           R"({"prompt":"And God said","max_tokens":64,"temperature":0,)"
                           R"("json_schema":)" +
                               schema_text + "}",
                           "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string top = json::parse(res->body)["choices"][0]["text"];
  SchemaPrefix tp(*schema);
  EXPECT_TRUE(tp.push(top) && top.find("\"verse\"") != std::string::npos) << top;
  auto [s7, e7] = post("/v1/completions", {{"prompt", "x"}, {"json_schema", "object"}});
  EXPECT_EQ(s7, 400);
  EXPECT_EQ(e7["error"]["message"], "field 'json_schema' must be an object (a JSON schema)");
}

// "grammar" (GBNF, llama-server's field): sampled replies are texts of the grammar (whole ones
// when they stopped), in completions, chat and streams; a broken grammar or one combined with a
// JSON response_format is a 400 naming the field (and the line and column).
TEST_F(ServerTest, GrammarFieldConstrainsTheReply) {
  const std::string gbnf = "root ::= (\"Yea\" | \"Nay\") \", \" [a-z]+ (\" \" [a-z]+){0,4} \".\"";
  const auto g = Grammar::parse(gbnf);
  for (uint64_t seed : {1u, 2u}) {
    auto [status, r] = post("/v1/completions", {{"prompt", "And Noah said"},
                                                {"max_tokens", 40},
                                                {"temperature", 0.9},
                                                {"seed", seed},
                                                {"grammar", gbnf}});
    ASSERT_EQ(status, 200) << r.dump();
    const std::string text = r["choices"][0]["text"];
    GrammarPrefix p(g);
    EXPECT_TRUE(p.push(text)) << text;
    if (r["choices"][0]["finish_reason"] == "stop") {
      EXPECT_TRUE(p.complete()) << text;
    }
  }
  json chat = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
               {"max_tokens", 30},
               {"temperature", 0},
               {"grammar", gbnf}};
  auto [s2, c] = post("/v1/chat/completions", chat);
  ASSERT_EQ(s2, 200) << c.dump();
  const std::string reply = c["choices"][0]["message"]["content"];
  GrammarPrefix p(g);
  EXPECT_TRUE(p.push(reply)) << reply;
  std::vector<json> events;
  EXPECT_EQ(stream("/v1/chat/completions", chat, events), reply);
  auto [s3, none] = post("/v1/completions", {{"prompt", "In"}, {"max_tokens", 2}, {"grammar", ""}});
  EXPECT_EQ(s3, 200) << "an empty grammar is none, as in llama-server: " << none.dump();
  for (const auto& [body, message] : std::vector<std::pair<json, std::string>>{
           {{{"prompt", "x"}, {"grammar", "root ::= \"a\" b"}},
            "field 'grammar' grammar: line 1, column 14: rule 'b' is not defined"},
           {{{"prompt", "x"}, {"grammar", 5}}, "field 'grammar' must be a string (GBNF text)"},
           {{{"prompt", "x"}, {"grammar", gbnf}, {"response_format", {{"type", "json_object"}}}},
            "field 'grammar' cannot be combined with a JSON response_format or schema"},
           {{{"prompt", "x"}, {"grammar", gbnf}, {"json_schema", {{"type", "object"}}}},
            "field 'grammar' cannot be combined with a JSON response_format or schema"}}) {
    auto [st, e] = post("/v1/completions", body);
    EXPECT_EQ(st, 400);
    EXPECT_EQ(e["error"]["message"], message);
  }
}

// The token endpoints use the served vocabulary, and name what is wrong in a bad body.
TEST_F(ServerTest, TokenizeAndDetokenize) {
  const std::string text = "In the beginning<|endoftext|> God";
  auto [s1, t] = post("/tokenize", {{"content", text}});
  ASSERT_EQ(s1, 200) << t.dump();
  const auto ids = model().tokenizer()->encode(text, true);
  EXPECT_EQ(t["tokens"].get<std::vector<int32_t>>(), ids);
  auto [s2, plain] = post("/tokenize", {{"content", text}, {"parse_special", false}});
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(plain["tokens"].get<std::vector<int32_t>>(), model().tokenizer()->encode(text, false));
  auto [s3, d] = post("/detokenize", {{"tokens", ids}});
  ASSERT_EQ(s3, 200) << d.dump();
  EXPECT_EQ(d["content"], model().tokenizer()->decode(ids, true));
  EXPECT_EQ(d["prompt"], d["content"]);
  // vLLM's form (lm-evaluation-harness's remote tokenizer): special-token text parsed, and
  // /tokenizer_info names the end-of-text token.
  auto [s4, v] = post("/tokenize", {{"prompt", text}, {"add_special_tokens", false}});
  ASSERT_EQ(s4, 200) << v.dump();
  EXPECT_EQ(v["tokens"].get<std::vector<int32_t>>(), ids);
  EXPECT_EQ(v["count"], ids.size());
  auto info = client_->Get("/tokenizer_info");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200);
  const json ti = json::parse(info->body);
  ASSERT_TRUE(ti["eos_token"].is_string()) << ti.dump();
  const auto eos = model().tokenizer()->encode(ti["eos_token"].get<std::string>(), true);
  ASSERT_EQ(eos.size(), 1u);
  EXPECT_TRUE(model().tokenizer()->is_eog(eos[0]));
  EXPECT_EQ(ti["vocab_size"], model().tokenizer()->n_vocab());
  const std::tuple<std::string, json, std::string> cases[] = {
      {"/tokenize", json::object(), "field 'content' must be a string"},
      {"/tokenize", {{"prompt", 5}}, "field 'prompt' must be a string"},
      {"/tokenize",
       {{"prompt", "x"}, {"add_special_tokens", "no"}},
       "field 'add_special_tokens' must be true or false"},
      {"/tokenize",
       {{"content", "x"}, {"parse_special", 1}},
       "field 'parse_special' must be true or false"},
      {"/detokenize", {{"tokens", "1 2"}}, "field 'tokens' must be an array of token ids"},
      {"/detokenize", {{"tokens", {1, -1}}}, "must hold token ids in [0, "},
  };
  for (const auto& [path, body, message] : cases) {
    auto [st, e] = post(path, body);
    EXPECT_EQ(st, 400) << path << " " << body.dump();
    EXPECT_NE(e["error"]["message"].get<std::string>().find(message), std::string::npos)
        << e.dump();
  }
  auto raw = client_->Post("/tokenize", "[1]", "application/json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 400);
  EXPECT_NE(raw->body.find("the body must be a JSON object"), std::string::npos);
}

// --api-key: every route but /health answers 401 (naming what to send) without the right
// "Authorization: Bearer" header, and works with it.
TEST_F(ServerTest, ApiKeyIsRequiredWhenSet) {
  ServeOptions o;
  o.api_key = "s3cret";
  OwnServer keyed(model(), o);
  httplib::Client& c = *keyed.client;
  const std::string body = json{{"prompt", "In"}, {"max_tokens", 1}}.dump();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* header : {"", "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "s3cret"}) {
    httplib::Headers h;
    if (*header) h.emplace("Authorization", header);
    auto r = c.Post("/v1/completions", h, body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << header;
    EXPECT_NE(r->body.find("invalid or missing API key"), std::string::npos) << r->body;
    for (const char* path : {"/v1/models", "/metrics"}) {
      auto m = c.Get(path, h);
      ASSERT_TRUE(m);
      EXPECT_EQ(m->status, 401) << path << " " << header;
    }
  }
  const httplib::Headers good = {{"Authorization", "Bearer s3cret"}};
  auto r = c.Post("/v1/completions", good, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto t = c.Post("/tokenize", good, R"({"content":"In"})", "application/json");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 200);
}

// --cors: an allowed origin's preflight gets 204 with the CORS headers (before the key check: a
// preflight carries no credentials), its requests get Access-Control-Allow-Origin (401s too, so
// the page can read why); another origin gets none, and its preflight a 403. Without --cors
// (the fixture's server) no CORS header is ever sent.
TEST_F(ServerTest, CorsOnlyForListedOrigins) {
  const httplib::Headers page = {{"Origin", "http://localhost:3000"}};
  auto plain = client_->Get("/v1/models", page);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_FALSE(plain->has_header("Access-Control-Allow-Origin"));

  ServeOptions o;
  o.api_key = "k";
  o.cors_origins = {"http://localhost:3000"};
  OwnServer cors(model(), o);
  httplib::Client& c = *cors.client;
  httplib::Headers preflight = page;
  preflight.emplace("Access-Control-Request-Method", "POST");
  preflight.emplace("Access-Control-Request-Headers", "authorization, content-type");
  auto pre = c.Options("/v1/chat/completions", preflight);
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"),
            std::string::npos);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  httplib::Headers keyed = page;
  keyed.emplace("Authorization", "Bearer k");
  auto ok =
      c.Post("/v1/completions", keyed, R"({"prompt":"In","max_tokens":1})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  auto denied = c.Get("/v1/models", page);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(denied->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  const httplib::Headers other = {{"Origin", "http://evil.example"}, {"Authorization", "Bearer k"}};
  auto foreign = c.Get("/v1/models", other);
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 200);  // curl-like clients are not browsers: CORS does not apply
  EXPECT_FALSE(foreign->has_header("Access-Control-Allow-Origin"));
  auto foreign_pre = c.Options("/v1/models", {{"Origin", "http://evil.example"}});
  ASSERT_TRUE(foreign_pre);
  EXPECT_EQ(foreign_pre->status, 403);
  EXPECT_FALSE(foreign_pre->has_header("Access-Control-Allow-Origin"));
}

// GET /metrics (Prometheus text): the counters add up to what the responses said.
TEST_F(ServerTest, MetricsCountWhatWasServed) {
  size_t prompt = 0, generated = 0;
  for (const char* p : {"In the beginning", "And God said"}) {
    auto [status, r] = post("/v1/completions", {{"prompt", p}, {"max_tokens", 5}});
    ASSERT_EQ(status, 200);
    prompt += r["usage"]["prompt_tokens"].get<size_t>();
    generated += r["usage"]["completion_tokens"].get<size_t>();
  }
  post("/v1/completions", {{"prompt", "x"}, {"top_p", 5}});  // a 400
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  auto value = [&](const std::string& name) {
    const std::string key = "\nvkrwkv_" + name + " ";
    const size_t at = res->body.find(key);
    EXPECT_NE(at, std::string::npos) << name << " missing:\n" << res->body;
    return at == std::string::npos ? -1.0 : std::stod(res->body.substr(at + key.size()));
  };
  EXPECT_EQ(value("completions_total"), 2);
  EXPECT_EQ(value("prompt_tokens_total"), static_cast<double>(prompt));
  EXPECT_EQ(value("generated_tokens_total"), static_cast<double>(generated));
  EXPECT_EQ(value("requests_rejected_total"), 1);
  EXPECT_EQ(value("requests_failed_total"), 0);
  EXPECT_GE(value("decode_calls_total"), 1);
  EXPECT_GT(value("prompt_seconds_total"), 0);
  EXPECT_EQ(value("requests_running"), 0);
  EXPECT_EQ(value("parallel"), 4);
  EXPECT_NE(res->body.find("# TYPE vkrwkv_generated_tokens_total counter"), std::string::npos);
}

}  // namespace
}  // namespace vkr::test
