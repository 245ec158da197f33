// test_server_native.cpp: llama-server's own routes of `vkrwkv serve` (server_native*.cpp):
// /completion's request parsing (prompt shapes, n_predict, n_probs, n_cmpl, refused and ignored
// fields), its answers over HTTP on the bundled model (the text = a Session's greedy text, stop
// types, tokens that spell the content, streams = whole answers, probabilities = the OpenAI
// route's), /props, /apply-template and the route aliases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat_template.hpp"
#include "server_native_api.hpp"
#include "server_test.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::NativeRequest;
using cli::parse_native_request;
using cli::RequestDefaults;

// The message of the Error parsing `body` throws ("" when it parses).
std::string native_error(const json& body) {
  try {
    parse_native_request(body.dump(), RequestDefaults{});
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ServerNativeApi, PromptShapes) {
  RequestDefaults d;
  auto parse = [&](const json& prompt) {
    return parse_native_request(json{{"prompt", prompt}}.dump(), d);
  };
  NativeRequest q = parse("In the");
  ASSERT_EQ(q.base.prompts.size(), 1u);
  EXPECT_EQ(q.base.prompts[0].text, "In the");
  EXPECT_FALSE(q.many);
  q = parse({5, 6, 7});
  ASSERT_EQ(q.base.prompts.size(), 1u);
  EXPECT_EQ(q.base.prompts[0].ids, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_FALSE(q.many);
  // Ids and texts mixed: one prompt, the runs of ids and the texts in order.
  q = parse({5, "ab", 6, 7, "c"});
  ASSERT_EQ(q.base.prompts.size(), 1u);
  const auto& parts = q.base.prompts[0].parts;
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].ids, (std::vector<int32_t>{5}));
  EXPECT_EQ(parts[1].text, "ab");
  EXPECT_FALSE(parts[1].ids);
  EXPECT_EQ(parts[2].ids, (std::vector<int32_t>{6, 7}));
  EXPECT_EQ(parts[3].text, "c");
  // Texts only: a list of prompts, each its own answer.
  q = parse({"a", "b"});
  ASSERT_EQ(q.base.prompts.size(), 2u);
  EXPECT_TRUE(q.many);
  q = parse(
      json::array({json::array({1, 2}), "x", json{{"prompt_string", "y"}}, json::array({3, "z"})}));
  ASSERT_EQ(q.base.prompts.size(), 4u);
  EXPECT_EQ(q.base.prompts[0].ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(q.base.prompts[2].text, "y");
  EXPECT_EQ(q.base.prompts[3].parts.size(), 2u);
  q = parse(json{{"prompt_string", "solo"}});
  EXPECT_EQ(q.base.prompts[0].text, "solo");
  EXPECT_FALSE(q.many);
  const std::pair<json, std::string> bad[] = {
      {json{{"n_predict", 3}}, "field 'prompt' is missing"},
      {{{"prompt", json::array()}}, "field 'prompt' must be a string, token ids"},
      {{{"prompt", 3}}, "field 'prompt' must be a string, token ids"},
      {{{"prompt", {1, -2}}}, "field 'prompt' holds the token id -2"},
      {{{"prompt", {"a", json::array()}}}, "field 'prompt[1]' must be a string"},
      {{{"prompt", {"a", {1, 2.5}}}}, "field 'prompt[1]' must be a string"},
      {{{"prompt", json{{"prompt_string", 3}}}}, "field 'prompt.prompt_string' must be a string"},
      {{{"prompt", json{{"prompt_string", "x"}, {"multimodal_data", {"aGk="}}}}},
       "field 'prompt.multimodal_data' is not supported"},
  };
  for (const auto& [body, message] : bad) {
    EXPECT_NE(native_error(body).find(message), std::string::npos)
        << body.dump() << " -> " << native_error(body);
  }
}

TEST(ServerNativeApi, FieldsAndWhatIsRefused) {
  RequestDefaults d;
  d.max_tokens = 77;
  auto parse = [&](json body) {
    body["prompt"] = "x";
    return parse_native_request(body.dump(), d);
  };
  // n_predict: -1 (llama-server's default) and absent give serve's -n; max_tokens is its alias.
  EXPECT_EQ(parse(json::object()).base.max_tokens, 77);
  EXPECT_EQ(parse({{"n_predict", -1}}).base.max_tokens, 77);
  EXPECT_EQ(parse({{"n_predict", 0}}).base.max_tokens, 0);
  EXPECT_EQ(parse({{"n_predict", 5}}).base.max_tokens, 5);
  EXPECT_EQ(parse({{"max_tokens", 6}}).base.max_tokens, 6);
  NativeRequest q = parse({{"n_probs", 3}, {"n_cmpl", 2}, {"return_tokens", true}});
  EXPECT_EQ(q.n_probs, 3);
  EXPECT_EQ(q.base.logprobs, 3);
  EXPECT_EQ(q.base.n, 2);
  EXPECT_TRUE(q.many);
  EXPECT_TRUE(q.return_tokens);
  EXPECT_EQ(parse(json::object()).base.logprobs, -1);
  // The OpenAI route's fields come through: sampling, stop, stream, seed, constraints.
  q = parse({{"temperature", 0.5},
             {"top_k", 7},
             {"stop", {"\n"}},
             {"stream", true},
             {"seed", 9},
             {"samplers", {"top_k", "temperature"}},
             {"json_schema", {{"type", "integer"}}}});
  EXPECT_FLOAT_EQ(q.base.sampling.temperature, 0.5f);
  EXPECT_EQ(q.base.sampling.top_k, 7);
  EXPECT_EQ(q.base.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(q.base.stream);
  EXPECT_TRUE(q.base.seeded);
  EXPECT_EQ(q.base.sampling.seed, 9u);
  EXPECT_EQ(q.base.sampling.order.size(), 2u);
  EXPECT_TRUE(q.base.constraint.schema);
  // KV-cache tuning is accepted (and type-checked); id_slot picks the cache slot.
  EXPECT_EQ(parse({{"cache_prompt", false},
                   {"id_slot", 2},
                   {"n_keep", -1},
                   {"n_discard", 4},
                   {"n_cache_reuse", 256},
                   {"lora", json::array()}})
                .base.cache_slot,
            2);
  EXPECT_EQ(parse({{"n_keep", 1}}).base.cache_slot, -1);
  const std::pair<json, std::string> bad[] = {
      {{{"n_predict", -2}}, "field 'n_predict' must be in [-1, 1048576]"},
      {{{"n_predict", 1.5}}, "field 'n_predict' must be an integer"},
      {{{"max_tokens", "9"}}, "field 'max_tokens' must be an integer"},
      {{{"n_probs", 21}}, "field 'n_probs' must be in [0, 20]"},
      {{{"n_cmpl", 0}}, "field 'n_cmpl' must be in [1, 256]"},
      {{{"n_cmpl", 200}, {"prompt", {"a", "b"}}}, "field 'n_cmpl' 200 x 2 prompts"},
      {{{"n_indent", 4}}, "field 'n_indent' is not supported"},
      {{{"t_max_predict_ms", 500}}, "field 't_max_predict_ms' is not supported"},
      {{{"lora", {{{"id", 0}, {"scale", 0.5}}}}}, "field 'lora' is not supported"},
      {{{"post_sampling_probs", true}}, "field 'post_sampling_probs' is not supported"},
      {{{"cache_prompt", "yes"}}, "field 'cache_prompt' must be true or false"},
      {{{"id_slot", -5}}, "field 'id_slot' must be in [-1,"},
      {{{"id_slot", 1.5}}, "field 'id_slot' must be an integer (-1: any slot)"},
      {{{"return_tokens", 1}}, "field 'return_tokens' must be true or false"},
      {{{"response_fields", "content"}}, "field 'response_fields' must be an array"},
      {{{"temperature", "hot"}}, "field 'temperature'"},
      {{{"grammar", "root ::= foo"}}, "field 'grammar'"},
  };
  for (auto [body, message] : bad) {
    if (!body.contains("prompt")) body["prompt"] = "x";
    EXPECT_NE(native_error(body).find(message), std::string::npos)
        << body.dump() << " -> " << native_error(body);
  }
}

TEST(ServerNativeApi, PickFieldsAndStopTypes) {
  const json answer = {
      {"content", "abc"}, {"stop", true}, {"generation_settings", {{"n_predict", 5}, {"seed", 3}}}};
  EXPECT_EQ(cli::pick_fields(answer, {"content", "generation_settings/n_predict", "missing",
                                      "content/deeper", "generation_settings/missing"}),
            (json{{"content", "abc"}, {"n_predict", 5}}));
  cli::NativeResult r;
  r.finish = cli::Finish::Length;
  EXPECT_EQ(cli::stop_type(r), "limit");
  r.finish = cli::Finish::Stop;
  EXPECT_EQ(cli::stop_type(r), "eos");
  r.stop_string.push_back('\n');  // (an assignment trips GCC 12's -Wrestrict)
  EXPECT_EQ(cli::stop_type(r), "word");
}

// The text `ids` spell.
std::string decode(const json& ids, const Tokenizer& tok) {
  return tok.decode(ids.get<std::vector<int32_t>>(), true);
}

TEST_F(ServerTest, NativeCompletionIsTheGreedyText) {
  const Tokenizer& tok = *model().tokenizer();
  const std::string prompt = "In the beginning God created";
  auto [status, r] =
      post("/completion",
           {{"prompt", prompt}, {"n_predict", 10}, {"temperature", 0}, {"return_tokens", true}});
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_TRUE(r.is_object()) << "one prompt: one object";
  EXPECT_EQ(r["content"], greedy(prompt, 10));
  EXPECT_EQ(decode(r["tokens"], tok), r["content"]);
  EXPECT_EQ(r["tokens_predicted"], 10);
  EXPECT_EQ(r["tokens_evaluated"], tok.encode(prompt, true).size());
  EXPECT_EQ(r["stop"], true);
  EXPECT_EQ(r["stop_type"], "limit");
  EXPECT_EQ(r["stopping_word"], "");
  EXPECT_EQ(r["prompt"], prompt);
  EXPECT_EQ(r["generation_settings"]["n_predict"], 10);
  EXPECT_EQ(r["generation_settings"]["temperature"], 0.0);
  EXPECT_EQ(r["timings"]["predicted_n"], 10);
  EXPECT_EQ(r["timings"]["prompt_n"].get<size_t>() + r["timings"]["cache_n"].get<size_t>(),
            r["tokens_evaluated"].get<size_t>());
  EXPECT_GE(r["timings"]["predicted_ms"].get<double>(), 0.0);
  // Without return_tokens, no tokens (llama-server's default).
  auto [s2, plain] = post("/completion", {{"prompt", prompt}, {"n_predict", 2}});
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(plain["tokens"], json::array());
  EXPECT_EQ(plain["generation_settings"]["n_predict"], 2);
  // No n_predict: serve's -n (8 in this fixture).
  auto [s3, deflt] = post("/completion", {{"prompt", prompt}, {"temperature", 0}});
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(deflt["content"], greedy(prompt, 8));
  EXPECT_EQ(deflt["generation_settings"]["n_predict"], 8);
}

TEST_F(ServerTest, NativeStopTypesAndStoppingWord) {
  const Tokenizer& tok = *model().tokenizer();
  const std::string prompt = "And God said";
  const std::string text = greedy(prompt, 12);
  // A stop string from the middle of the greedy text: the content ends before it.
  const size_t cut = text.find(' ', 3);
  ASSERT_NE(cut, std::string::npos) << text;
  const std::string word = text.substr(cut, 3);
  auto [status, r] =
      post("/completion",
           {{"prompt", prompt}, {"n_predict", 12}, {"temperature", 0}, {"stop", {"@@none", word}}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["content"], text.substr(0, text.find(word)));
  EXPECT_EQ(r["stop_type"], "word");
  EXPECT_EQ(r["stopping_word"], word);
  // An end-of-generation token (made certain by a bias): "eos", nothing written.
  const auto eos = tok.eos_id() ? tok.eos_id() : tok.eot_id();
  ASSERT_TRUE(eos);
  auto [s2, e] = post(
      "/completion",
      {{"prompt", prompt}, {"n_predict", 12}, {"temperature", 0}, {"logit_bias", {{*eos, 100}}}});
  ASSERT_EQ(s2, 200) << e.dump();
  EXPECT_EQ(e["content"], "");
  EXPECT_EQ(e["stop_type"], "eos");
  EXPECT_EQ(e["stopping_word"], "");
}

// A stream: events of text with the ids that spell it, then the whole answer with empty
// content; joined they are the non-streamed answer. No [DONE] (llama-server sends none here).
TEST_F(ServerTest, NativeStreamIsTheWholeAnswerInPieces) {
  const Tokenizer& tok = *model().tokenizer();
  const json body = {{"prompt", "In the beginning"},
                     {"n_predict", 9},
                     {"temperature", 0},
                     {"stop", {"xyzzy"}},
                     {"stream", true}};
  json whole_body = body;
  whole_body["stream"] = false;
  whole_body["return_tokens"] = true;
  auto [status, whole] = post("/completion", whole_body);
  ASSERT_EQ(status, 200) << whole.dump();
  auto res = client_->Post("/completion", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(res->body.find("[DONE]"), std::string::npos);
  std::vector<json> events;
  for (size_t at = 0; (at = res->body.find("data: ", at)) != std::string::npos;) {
    const size_t end = res->body.find("\n\n", at);
    events.push_back(json::parse(res->body.substr(at + 6, end - at - 6)));
    at = end;
  }
  ASSERT_GE(events.size(), 2u);
  std::string text;
  json ids = json::array();
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["stop"], false);
    EXPECT_EQ(e["index"], 0);
    EXPECT_EQ(decode(e["tokens"], tok), e["content"]) << "an event's ids spell its text";
    text += e["content"].get<std::string>();
    for (const auto& id : e["tokens"]) ids.push_back(id);
  }
  const json& last = events.back();
  EXPECT_EQ(last["stop"], true);
  EXPECT_EQ(last["content"], "");
  EXPECT_EQ(text, whole["content"]);
  EXPECT_EQ(ids, whole["tokens"]);
  EXPECT_EQ(last["tokens_predicted"], whole["tokens_predicted"]);
  EXPECT_EQ(last["stop_type"], "limit");
  EXPECT_EQ(last["generation_settings"]["stream"], true);
}

// n_probs: each generated token's entry has its id, text, bytes and the n most likely ids, with
// the values of the OpenAI route's logprobs (the same log-softmax); streams carry the same
// entries event by event.
TEST_F(ServerTest, NativeProbabilitiesMatchTheOpenAiRoute) {
  const std::string prompt = "In the beginning God";
  auto [status, r] = post("/completion", {{"prompt", prompt},
                                          {"n_predict", 5},
                                          {"temperature", 0},
                                          {"n_probs", 3},
                                          {"return_tokens", true}});
  ASSERT_EQ(status, 200) << r.dump();
  const json& probs = r["completion_probabilities"];
  ASSERT_EQ(probs.size(), 5u) << probs.dump();
  auto [s2, oai] =
      post("/v1/completions",
           {{"prompt", prompt}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 3}});
  ASSERT_EQ(s2, 200);
  const json& lp = oai["choices"][0]["logprobs"];
  for (size_t i = 0; i < 5; ++i) {
    const json& p = probs[i];
    EXPECT_EQ(p["id"], r["tokens"][i]);
    EXPECT_EQ(p["token"], lp["tokens"][i]);
    EXPECT_EQ(p["bytes"].size(), p["token"].get<std::string>().size());
    EXPECT_FLOAT_EQ(p["logprob"].get<float>(), lp["token_logprobs"][i].get<float>());
    ASSERT_EQ(p["top_logprobs"].size(), 3u);
    EXPECT_EQ(p["top_logprobs"][0]["id"], p["id"]) << "greedy: the most likely";
    for (const auto& t : p["top_logprobs"]) {
      EXPECT_FLOAT_EQ(t["logprob"].get<float>(),
                      lp["top_logprobs"][i][t["token"].get<std::string>()].get<float>());
    }
  }
  auto res = client_->Post("/completion",
                           json{{"prompt", prompt},
                                {"n_predict", 5},
                                {"temperature", 0},
                                {"n_probs", 3},
                                {"stream", true}}
                               .dump(),
                           "application/json");
  ASSERT_TRUE(res);
  json streamed = json::array();
  for (size_t at = 0; (at = res->body.find("data: ", at)) != std::string::npos;) {
    const size_t end = res->body.find("\n\n", at);
    const json e = json::parse(res->body.substr(at + 6, end - at - 6));
    at = end;
    if (e.contains("completion_probabilities")) {
      for (const auto& p : e["completion_probabilities"]) streamed.push_back(p);
    }
  }
  EXPECT_EQ(streamed, probs);
}

// A list of prompts (and n_cmpl) answers an array, each entry as its prompt alone; a mixed
// prompt of ids and text runs those tokens.
TEST_F(ServerTest, NativePromptListsAndMixedPrompts) {
  const Tokenizer& tok = *model().tokenizer();
  const auto head = tok.encode("In the", true), tail = tok.encode(" beginning", true);
  auto joined = head;
  joined.insert(joined.end(), tail.begin(), tail.end());
  ASSERT_EQ(joined, tok.encode("In the beginning", true)) << "the split keeps the tokens";
  json mixed = json::array();
  for (int32_t id : head) mixed.push_back(id);
  mixed.push_back(" beginning");
  auto [status, r] = post(
      "/completion",
      {{"prompt", json::array({mixed, "And God said"})}, {"n_predict", 6}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]["index"], 0);
  EXPECT_EQ(r[1]["index"], 1);
  EXPECT_EQ(r[0]["content"], greedy("In the beginning", 6));
  EXPECT_EQ(r[0]["tokens_evaluated"], joined.size());
  EXPECT_EQ(r[1]["content"], greedy("And God said", 6));
  auto [s2, one] = post("/completion", {{"prompt", mixed}, {"n_predict", 6}, {"temperature", 0}});
  ASSERT_EQ(s2, 200);
  ASSERT_TRUE(one.is_object());
  EXPECT_EQ(one["content"], r[0]["content"]);
  // n_cmpl: an array of n answers, seeds seed, seed + 1.
  auto [s3, n] =
      post("/completion", {{"prompt", "And"}, {"n_predict", 4}, {"n_cmpl", 2}, {"seed", 5}});
  ASSERT_EQ(s3, 200) << n.dump();
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0]["generation_settings"]["seed"], 5);
  EXPECT_EQ(n[1]["generation_settings"]["seed"], 6);
  // Ids outside the vocabulary, and a refused field: 400s naming them.
  auto [s4, e4] = post("/completion", {{"prompt", {1, 1 << 30}}});
  EXPECT_EQ(s4, 400);
  EXPECT_NE(e4["error"]["message"].get<std::string>().find("outside the vocabulary"),
            std::string::npos)
      << e4.dump();
  auto [s5, e5] = post("/completion", {{"prompt", "x"}, {"n_indent", 2}});
  EXPECT_EQ(s5, 400);
  EXPECT_NE(e5["error"]["message"].get<std::string>().find("n_indent"), std::string::npos);
}

TEST_F(ServerTest, NativeResponseFieldsPropsAndTemplates) {
  auto [status, r] = post("/completion", {{"prompt", "And"},
                                          {"n_predict", 3},
                                          {"response_fields", {"content", "timings/predicted_n"}}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r.size(), 2u) << r.dump();
  EXPECT_TRUE(r["content"].is_string());
  EXPECT_EQ(r["predicted_n"], 3);
  auto props = client_->Get("/props");
  ASSERT_TRUE(props);
  ASSERT_EQ(props->status, 200);
  const json p = json::parse(props->body);
  EXPECT_EQ(p["total_slots"], ServeOptions{}.scheduler.parallel);
  EXPECT_EQ(p["default_generation_settings"]["params"]["n_predict"], 8);
  EXPECT_GT(p["default_generation_settings"]["n_ctx"].get<uint64_t>(), 0u);
  EXPECT_EQ(p["build_info"].get<std::string>().rfind("vkrwkv ", 0), 0u);
  EXPECT_EQ(p["modalities"]["vision"], false);
  EXPECT_TRUE(p["chat_template"].is_string());
  // /apply-template: the prompt chat completions feed the model.
  const json messages = {{{"role", "system"}, {"content", "Be brief."}},
                         {{"role", "user"}, {"content", "Who made the heaven?"}}};
  auto [s2, t] = post("/apply-template", {{"messages", messages}});
  ASSERT_EQ(s2, 200) << t.dump();
  const auto tmpl = cli::ChatTemplate::of(model());
  EXPECT_EQ(t["prompt"],
            tmpl.prompt({{"system", "Be brief.", {}}, {"user", "Who made the heaven?", {}}}));
  auto [s3, e3] = post("/apply-template", json::object());
  EXPECT_EQ(s3, 400);
  EXPECT_NE(e3["error"]["message"].get<std::string>().find("messages"), std::string::npos);
  // llama-server's aliases.
  auto [s4, c4] = post("/chat/completions",
                       {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}});
  EXPECT_EQ(s4, 200) << c4.dump();
  EXPECT_EQ(c4["object"], "chat.completion");
  auto [s5, c5] = post("/completions", {{"prompt", "And"}, {"n_predict", 2}});
  EXPECT_EQ(s5, 200);
  EXPECT_TRUE(c5.contains("stop_type"));
  auto models = client_->Get("/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
}

}  // namespace
}  // namespace vkr::test
