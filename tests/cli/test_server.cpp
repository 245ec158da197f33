// test_server.cpp: `vkrwkv serve` (apps/server.*) over HTTP on the bundled model: greedy text
// equals a Session's own greedy loop, streams equal whole responses, the state kept between
// requests gives the same text as a fresh start (and says how many tokens it reused), bad
// requests get a 400 naming the field, and a client that hangs up mid-stream leaves the server
// working, a busy port is an error naming it. The JSON parsing alone (server_api.*) is checked
// without a device at the end. The API features (logprobs, echo, batches, JSON formats, token
// endpoints, API key, metrics) are in test_server_features.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "server.hpp"
#include "server_test.hpp"
#include "session.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::ChatTemplate;

TEST_F(ServerTest, HealthAndModels) {
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  EXPECT_EQ(json::parse(h->body)["requests"],
            json({{"running", 0}, {"queued", 0}, {"parallel", 4}}));
  auto m = client_->Get("/v1/models");
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->body)["data"][0]["id"], kDefaultModelFile);
  auto missing = client_->Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(json::parse(missing->body)["error"]["message"].get<std::string>().find("/v1/nothing"),
            std::string::npos);
}

TEST_F(ServerTest, GreedyCompletionEqualsSessionLoop) {
  const std::string prompt = "In the beginning God";
  auto [status, r] =
      post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"], greedy(prompt, 12));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  const auto ids = model().tokenizer()->encode(prompt, true);
  EXPECT_EQ(r["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], 12);
  EXPECT_EQ(r["usage"]["total_tokens"], ids.size() + 12);
  // Token ids as the prompt: the same text.
  auto [s2, r2] =
      post("/v1/completions", {{"prompt", ids}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["choices"][0]["text"], r["choices"][0]["text"]);
}

TEST_F(ServerTest, StreamEqualsWholeResponse) {
  for (const bool chat : {false, true}) {
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    json body = {{"max_tokens", 10}, {"temperature", 0}};
    if (chat) {
      body["messages"] = {{{"role", "user"}, {"content", "Who made the heaven?"}}};
    } else {
      body["prompt"] = "And the LORD said";
    }
    auto [status, whole] = post(path, body);
    ASSERT_EQ(status, 200) << whole.dump();
    std::vector<json> events;
    const std::string text = stream(path, body, events);
    ASSERT_GE(events.size(), 2u);
    const auto& w = whole["choices"][0];
    EXPECT_EQ(text, chat ? w["message"]["content"] : w["text"]);
    const auto& last = events.back();
    EXPECT_EQ(last["choices"][0]["finish_reason"], w["finish_reason"]);
    EXPECT_EQ(last["usage"]["completion_tokens"], whole["usage"]["completion_tokens"]);
    EXPECT_EQ(events.front()["object"], chat ? "chat.completion.chunk" : "text_completion");
    if (chat) {
      EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
    }
  }
}

// A chat's second turn reuses the state of the first (only the new tokens run) and says so; its
// reply equals the one a fresh start gives.
TEST_F(ServerTest, KeptStateGivesTheSameTextAsAFreshStart) {
  json turn1 = {{"messages", {{{"role", "user"}, {"content", "Who made the heaven?"}}}},
                {"max_tokens", 8},
                {"temperature", 0}};
  auto [s1, r1] = post("/v1/chat/completions", turn1);
  ASSERT_EQ(s1, 200) << r1.dump();
  EXPECT_EQ(r1["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  json turn2 = turn1;
  turn2["messages"].push_back(r1["choices"][0]["message"]);
  turn2["messages"].push_back({{"role", "user"}, {"content", "And the earth?"}});
  auto [s2, r2] = post("/v1/chat/completions", turn2);
  ASSERT_EQ(s2, 200) << r2.dump();
  const size_t cached = r2["usage"]["prompt_tokens_details"]["cached_tokens"];
  EXPECT_GE(cached, r1["usage"]["prompt_tokens"].get<size_t>());
  EXPECT_LT(cached, r2["usage"]["prompt_tokens"].get<size_t>());
  // The reply equals a fresh start's (a Session of its own over the whole prompt).
  const ChatTemplate tmpl(model().config().arch);
  const std::vector<cli::ChatMessage> messages = {
      {"user", "Who made the heaven?"},
      {"assistant", r1["choices"][0]["message"]["content"]},
      {"user", "And the earth?"}};
  EXPECT_EQ(r2["choices"][0]["message"]["content"], greedy(tmpl.prompt(messages), 8));
  // Something else in between, then turn 2 again: its prompt's state was kept (all but its last
  // token), and not overwritten by the request in between.
  auto [s3, r3] = post("/v1/completions", {{"prompt", "Blessed are"}, {"max_tokens", 3}});
  ASSERT_EQ(s3, 200) << r3.dump();
  auto [s4, r4] = post("/v1/chat/completions", turn2);
  ASSERT_EQ(s4, 200) << r4.dump();
  EXPECT_EQ(r4["usage"]["prompt_tokens_details"]["cached_tokens"],
            r2["usage"]["prompt_tokens"].get<size_t>() - 1);
  EXPECT_EQ(r4["choices"][0]["message"]["content"], r2["choices"][0]["message"]["content"]);
  // And once more: the same.
  auto [s5, r5] = post("/v1/chat/completions", turn2);
  ASSERT_EQ(s5, 200) << r5.dump();
  EXPECT_EQ(r5["usage"]["prompt_tokens_details"]["cached_tokens"],
            r2["usage"]["prompt_tokens"].get<size_t>() - 1);
  EXPECT_EQ(r5["choices"][0]["message"]["content"], r2["choices"][0]["message"]["content"]);
  // The chat prompt is the template's text (what `generate --chat` feeds too).
  const auto ids =
      model().tokenizer()->encode(tmpl.prompt({{"user", "Who made the heaven?"}}), true);
  EXPECT_EQ(r1["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(r1["choices"][0]["message"]["content"],
            greedy(tmpl.prompt({{"user", "Who made the heaven?"}}), 8));
}

// A completion continued by the next request (its prompt = the last prompt + the reply + more):
// the kept state holds the prompt and the reply but its last token (never run: nothing needed its
// logits), which runs with the new text; the text equals a fresh run.
TEST_F(ServerTest, ContinuingTheLastReply) {
  const std::string p1 = "In the beginning God";
  auto [s1, r1] = post("/v1/completions", {{"prompt", p1}, {"max_tokens", 6}, {"temperature", 0}});
  ASSERT_EQ(s1, 200) << r1.dump();
  ASSERT_EQ(r1["choices"][0]["finish_reason"], "length");
  const std::string p2 = p1 + r1["choices"][0]["text"].get<std::string>() + " and";
  auto [s2, r2] = post("/v1/completions", {{"prompt", p2}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(s2, 200) << r2.dump();
  // (the reply's text tokenizes back to the sampled ids here, so the reply's state is reused)
  EXPECT_EQ(r2["usage"]["prompt_tokens_details"]["cached_tokens"],
            r1["usage"]["total_tokens"].get<size_t>() - 1);
  EXPECT_EQ(r2["choices"][0]["text"], greedy(p2, 8));
}

TEST_F(ServerTest, StopStringsEndTheText) {
  const std::string full = greedy("In the beginning God", 12);
  const auto cut = full.find("Levites");
  ASSERT_NE(cut, std::string::npos) << full;
  auto [status, r] = post("/v1/completions", {{"prompt", "In the beginning God"},
                                              {"max_tokens", 12},
                                              {"temperature", 0},
                                              {"stop", {"Levites", "never"}}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["choices"][0]["text"], full.substr(0, cut));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerTest, BadRequestsNameTheProblem) {
  const std::pair<json, std::string> cases[] = {
      {json::object(), "field 'prompt' is missing"},
      {{{"prompt", "x"}, {"temperature", "hot"}}, "field 'temperature' must be a number"},
      {{{"prompt", "x"}, {"max_tokens", -1}}, "field 'max_tokens' must be in [0, 1048576]"},
      {{{"prompt", "x"}, {"n", 0}}, "field 'n' must be in [1, 256]"},
      {{{"prompt", "x"}, {"n", 1.5}}, "field 'n' must be an integer"},
      {{{"prompt", {"a", "b", "c"}}, {"n", 100}},
       "field 'n' 100 x 3 prompts: at most 256 choices per request"},
      {{{"prompt", "x"}, {"stop", {1}}}, "field 'stop' must be a string or an array of strings"},
      {{{"prompt", "x"}, {"top_p", 2}}, "field 'top_p' must be in [0, 1]"},
      {{{"prompt", {1, 99999999}}}, "outside the vocabulary"},
      {{{"prompt", ""}}, "the prompt is empty after tokenization"},
  };
  for (const auto& [body, message] : cases) {
    auto [status, r] = post("/v1/completions", body);
    EXPECT_EQ(status, 400) << body.dump();
    const std::string got = r["error"]["message"];
    EXPECT_NE(got.find(message), std::string::npos) << body.dump() << " -> " << got;
    EXPECT_EQ(r["error"]["type"], "invalid_request_error");
  }
  auto [s1, r1] =
      post("/v1/chat/completions", {{"messages", {{{"role", "robot"}, {"content", "x"}}}}});
  EXPECT_EQ(s1, 400);
  EXPECT_EQ(r1["error"]["message"],
            "field 'messages[0].role' 'robot' is not one of system, user, assistant, tool");
  auto [s2, r2] = post("/v1/chat/completions", {{"messages", json::array()}});
  EXPECT_EQ(s2, 400);
  EXPECT_EQ(r2["error"]["message"], "field 'messages' must be a non-empty array");
  auto raw = client_->Post("/v1/completions", "{not json", "application/json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 400);
  EXPECT_NE(raw->body.find("the body is not JSON"), std::string::npos) << raw->body;
  // The server still answers after all of them.
  auto [s3, r3] = post("/v1/completions", {{"prompt", "And"}, {"max_tokens", 2}});
  EXPECT_EQ(s3, 200) << r3.dump();
}

// A client that hangs up after the first piece cancels its generation; the next request is served
// and gets the full greedy text (the kept state is not left half-updated).
TEST_F(ServerTest, ClientHangingUpMidStream) {
  json body = {
      {"prompt", "In the beginning God"}, {"max_tokens", 40}, {"temperature", 0}, {"stream", true}};
  int chunks = 0;
  httplib::Client cut("127.0.0.1", port_);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };
  const auto r = cut.send(req);
  EXPECT_FALSE(r);  // the receiver stopped the transfer
  auto [status, whole] =
      post("/v1/completions",
           {{"prompt", "In the beginning God"}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << whole.dump();
  EXPECT_EQ(whole["choices"][0]["text"], greedy("In the beginning God", 12));
}

// Requests from several clients at once run together (their decode steps batched: see
// test_scheduler.cpp), each with its own answer.
TEST_F(ServerTest, ConcurrentRequests) {
  const std::string prompts[] = {"In the beginning God", "And the LORD said", "Blessed are"};
  std::vector<std::string> got(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(std::chrono::seconds(60));
      json body = {{"prompt", prompts[i]}, {"max_tokens", 6}, {"temperature", 0}};
      auto res = c.Post("/v1/completions", body.dump(), "application/json");
      if (res && res->status == 200) got[i] = json::parse(res->body)["choices"][0]["text"];
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], greedy(prompts[i], 6)) << prompts[i];
}

// A port already taken, or an address that is not this machine's: an error naming it.
TEST_F(ServerTest, BindErrorsNameTheAddress) {
  ServeOptions o;
  o.port = port_;
  Server second(model(), o);
  try {
    second.bind();
    ADD_FAILURE() << "bound a port that is in use";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), fmt::format("cannot listen on 127.0.0.1:{} (address in use, or not an "
                                       "address of this machine)",
                                       port_));
  }
  o.host = "192.0.2.1";  // TEST-NET-1: never a local address
  Server third(model(), o);
  EXPECT_THROW(third.bind(), Error);
}

TEST(ServerApi, ParsesOpenAiFields) {
  cli::RequestDefaults d;
  d.max_tokens = 17;
  auto q = cli::parse_request(
      R"({"model":"any","prompt":["hi"],"temperature":0.5,"top_p":0.9,"top_k":5,"min_p":0.1,
          "seed":7,"stop":"END","presence_penalty":0.5,"frequency_penalty":-0.5,
          "repeat_penalty":1.1,"user":"ignored"})",
      false, d);
  ASSERT_EQ(q.prompts.size(), 1u);
  EXPECT_EQ(q.prompts[0].text, "hi");
  EXPECT_FALSE(q.prompts[0].ids);
  EXPECT_FALSE(q.echo);
  EXPECT_EQ(q.max_tokens, 17);
  EXPECT_FLOAT_EQ(q.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(q.sampling.top_p, 0.9f);
  EXPECT_EQ(q.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(q.sampling.min_p, 0.1f);
  EXPECT_EQ(q.sampling.seed, 7u);
  EXPECT_TRUE(q.seeded);
  EXPECT_EQ(q.stop, std::vector<std::string>{"END"});
  EXPECT_FLOAT_EQ(q.sampling.repetition_penalty, 1.1f);
  EXPECT_FALSE(q.stream);
  auto c = cli::parse_request(
      R"({"messages":[{"role":"system","content":"s"},
                      {"role":"user","content":[{"type":"text","text":"a"},
                                                {"type":"text","text":"b"}]}],
          "max_completion_tokens":3,"stream":true})",
      true, d);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_EQ(c.max_tokens, 3);
  EXPECT_TRUE(c.stream);
  EXPECT_FALSE(c.seeded);
  auto expect_error = [&](const char* body, bool chat, const std::string& msg) {
    try {
      cli::parse_request(body, chat, d);
      ADD_FAILURE() << "no error for " << body;
    } catch (const Error& e) {
      EXPECT_EQ(e.message(), msg) << body;
    }
  };
  expect_error("[1]", false, "the body must be a JSON object");
  expect_error(R"({"prompt":"x","echo":1})", false, "field 'echo' must be true or false");
  expect_error(R"({"prompt":[]})", false,
               "field 'prompt' must be a string, an array of token ids, or an array of those (one "
               "choice each)");
  expect_error(R"({"prompt":["a",[1,2],[]]})", false,
               "field 'prompt[2]' must be a string or a non-empty array of token ids");
  expect_error(R"({"prompt":[[1,-2]]})", false, "field 'prompt[0]' has a negative token id");
  expect_error(R"({"prompt":[1,"a"]})", false,
               "field 'prompt[0]' must be a string or a non-empty array of token ids");
  const std::string too_many = json{{"prompt", std::vector<std::string>(257, "a")}}.dump();
  expect_error(too_many.c_str(), false,
               "field 'prompt' holds 257 prompts (at most 256 per request)");
  auto batch = cli::parse_request(R"({"prompt":["a",[5,6]],"echo":true,"logprobs":1})", false, d);
  ASSERT_EQ(batch.prompts.size(), 2u);
  EXPECT_EQ(batch.prompts[0].text, "a");
  EXPECT_EQ(batch.prompts[1].ids, (std::vector<int32_t>{5, 6}));
  EXPECT_TRUE(batch.echo);
  EXPECT_EQ(batch.logprobs, 1);
  EXPECT_EQ(cli::parse_request(R"({"prompt":[[7]]})", false, d).prompts[0].ids,
            std::vector<int32_t>{7});
  EXPECT_EQ(cli::parse_tokenize(R"({"prompt":"a","add_special_tokens":false})"),
            std::make_pair(std::string("a"), true));
  EXPECT_EQ(cli::parse_tokenize(R"({"content":"a","parse_special":false})"),
            std::make_pair(std::string("a"), false));
  expect_error(R"({"prompt":"x","stream":"yes"})", false, "field 'stream' must be true or false");
  expect_error(R"({"prompt":"x","seed":1.5})", false, "field 'seed' must be an integer");
  expect_error(R"({"prompt":"x","stop":[""]})", false,
               "field 'stop' must not contain an empty string");
  expect_error(R"({"messages":[{"role":"user"}]})", true, "field 'messages[0].content' is missing");
  expect_error(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true,
               "field 'messages[0].content' parts must be {\"type\": \"text\", \"text\": \"...\"} "
               "(only text is served)");
  expect_error(R"({"messages":[{"role":"user","content":"x"}],"functions":[]})", true,
               "field 'functions' (OpenAI's deprecated form) is not supported: send \"tools\" "
               "and \"tool_choice\"");
  expect_error(R"({"messages":[{"role":"user","content":"x"}],"tools":{}})", true,
               "field 'tools' must be an array of {\"type\": \"function\", ...}");
}

}  // namespace
}  // namespace vkr::test
