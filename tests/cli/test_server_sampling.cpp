// The server's llama-server sampling fields: parsed and checked, then applied (logit bias bans,
// ignore_eos, DRY, mirostat, the order) on the bundled model; prompt-lookup decoding
// (serve --lookup, "speculative.n_max").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

TEST(ServerApi, ParsesLlamaSamplingFields) {
  cli::RequestDefaults d;
  d.sampling.logit_bias = {{3, 1.0f}};
  auto q = cli::parse_request(
      R"({"prompt":"x","typical_p":0.7,"top_n_sigma":1.5,"xtc_probability":0.5,
          "xtc_threshold":0.2,"dynatemp_range":0.3,"dynatemp_exponent":2,"min_keep":2,
          "dry_multiplier":0.8,"dry_base":1.5,"dry_allowed_length":3,"dry_penalty_last_n":64,
          "dry_sequence_breakers":["\n","Amen"],"mirostat":2,"mirostat_tau":4,"mirostat_eta":0.2,
          "samplers":["top_k","temperature","min_p"],"ignore_eos":true,
          "logit_bias":{"15":-100,"Lord":false}})",
      false, d);
  const SamplerParams& s = q.sampling;
  EXPECT_FLOAT_EQ(s.typical_p, 0.7f);
  EXPECT_FLOAT_EQ(s.top_n_sigma, 1.5f);
  EXPECT_FLOAT_EQ(s.xtc_probability, 0.5f);
  EXPECT_FLOAT_EQ(s.xtc_threshold, 0.2f);
  EXPECT_FLOAT_EQ(s.dynatemp_range, 0.3f);
  EXPECT_FLOAT_EQ(s.dynatemp_exponent, 2.0f);
  EXPECT_EQ(s.min_keep, 2);
  EXPECT_FLOAT_EQ(s.dry_multiplier, 0.8f);
  EXPECT_FLOAT_EQ(s.dry_base, 1.5f);
  EXPECT_EQ(s.dry_allowed_length, 3);
  EXPECT_EQ(s.dry_penalty_last_n, 64);
  EXPECT_EQ(s.dry_sequence_breakers, (std::vector<std::string>{"\n", "Amen"}));
  EXPECT_EQ(s.mirostat, 2);
  EXPECT_FLOAT_EQ(s.mirostat_tau, 4.0f);
  EXPECT_FLOAT_EQ(s.mirostat_eta, 0.2f);
  EXPECT_EQ(s.order, parse_sampler_order("top_k;temperature;min_p"));
  EXPECT_TRUE(q.extras.ignore_eos);
  ASSERT_EQ(s.logit_bias.size(), 1u);  // the request's list replaces the default one
  EXPECT_EQ(s.logit_bias[0].id, 15);
  EXPECT_FLOAT_EQ(s.logit_bias[0].bias, -100.0f);
  ASSERT_EQ(q.extras.text_bias.size(), 1u);
  EXPECT_EQ(q.extras.text_bias[0].first, "Lord");
  auto arr = cli::parse_request(R"({"prompt":"x","logit_bias":[[7,1.5],["And",false]],
                                    "samplers":"kpt"})",
                                false, d);
  ASSERT_EQ(arr.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(arr.sampling.logit_bias[0].id, 7);
  EXPECT_EQ(arr.sampling.order, parse_sampler_order("top_k;top_p;temperature"));
  EXPECT_EQ(cli::parse_request(R"({"prompt":"x"})", false, d).sampling.logit_bias.size(), 1u);
  auto expect_error = [&](const char* body, const std::string& msg) {
    try {
      cli::parse_request(body, false, d);
      ADD_FAILURE() << "no error for " << body;
    } catch (const Error& e) {
      EXPECT_EQ(e.message(), msg) << body;
    }
  };
  expect_error(R"({"prompt":"x","mirostat":3})", "field 'mirostat' must be in [0, 2] (got 3)");
  expect_error(R"({"prompt":"x","typical_p":"a"})", "field 'typical_p' must be a number");
  expect_error(R"({"prompt":"x","min_keep":1.5})", "field 'min_keep' must be an integer");
  expect_error(R"({"prompt":"x","logit_bias":{"5":true}})",
               "field 'logit_bias' 5: true is not a bias (false bans the token)");
  expect_error(R"({"prompt":"x","logit_bias":[[5]]})",
               "field 'logit_bias' entry 0: must be [token, bias]");
  expect_error(R"({"prompt":"x","logit_bias":5})",
               "field 'logit_bias' must be an object {\"token id\": bias} or an array of "
               "[token, bias]");
  expect_error(R"({"prompt":"x","dry_sequence_breakers":[""]})",
               "field 'dry_sequence_breakers' must be an array of non-empty strings");
  expect_error(R"({"prompt":"x","samplers":["top_k","bogus"]})",
               "field 'samplers' sampler order 'top_k;bogus;': unknown sampler 'bogus' (known: "
               "top_k, top_p, min_p, typ_p, temperature, xtc, top_n_sigma, dry, penalties)");
  expect_error(R"({"prompt":"x","samplers":["top_k","top_k"]})",
               "sampler order lists 'top_k' twice");
  expect_error(R"({"prompt":"x","ignore_eos":1})", "field 'ignore_eos' must be true or false");
}

TEST_F(ServerTest, SamplingFieldsApply) {
  const json greedy = {
      {"prompt", "In the beginning"}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 0}};
  auto [s0, base] = post("/v1/completions", greedy);
  ASSERT_EQ(s0, 200) << base.dump();
  const std::string first = base["choices"][0]["logprobs"]["tokens"][0];
  ASSERT_EQ(tok().encode(first, false).size(), 1u) << first;
  // Banning the greedy first token (by its text) changes the reply's first token.
  json ban = greedy;
  ban["logit_bias"] = json::array({json::array({first, false})});
  auto [s1, banned] = post("/v1/completions", ban);
  ASSERT_EQ(s1, 200) << banned.dump();
  EXPECT_NE(banned["choices"][0]["logprobs"]["tokens"][0], first);
  EXPECT_NE(banned["choices"][0]["text"], base["choices"][0]["text"]);
  // ignore_eos: the reply runs to max_tokens even where the model would end it.
  json long_one = {{"prompt", "In the beginning"}, {"max_tokens", 40},
                   {"temperature", 1.0},           {"seed", 3},
                   {"ignore_eos", true},           {"logit_bias", {{"4093", 30}}}};
  auto [s2, ran] = post("/v1/completions", long_one);
  ASSERT_EQ(s2, 200) << ran.dump();
  EXPECT_EQ(ran["usage"]["completion_tokens"], 40);
  EXPECT_EQ(ran["choices"][0]["finish_reason"], "length");
  // DRY, mirostat, XTC and an order: a seed gives the same text twice.
  for (const json& extra : {json{{"dry_multiplier", 0.8}, {"dry_allowed_length", 2}},
                            json{{"mirostat", 2}, {"mirostat_tau", 3.0}},
                            json{{"xtc_probability", 0.5}, {"xtc_threshold", 0.1}},
                            json{{"samplers", {"top_k", "min_p", "temperature"}}, {"top_k", 5}}}) {
    json r = {{"prompt", "And God said"}, {"max_tokens", 12}, {"temperature", 0.9}, {"seed", 11}};
    r.update(extra);
    auto [a, ra] = post("/v1/completions", r);
    auto [b, rb] = post("/v1/completions", r);
    ASSERT_EQ(a, 200) << ra.dump();
    ASSERT_EQ(b, 200);
    EXPECT_EQ(ra["choices"][0]["text"], rb["choices"][0]["text"]) << extra.dump();
  }
  auto [s3, outside] = post("/v1/completions", {{"prompt", "x"}, {"logit_bias", {{"99999", 1}}}});
  EXPECT_EQ(s3, 400);
  EXPECT_EQ(outside["error"]["message"],
            "logit_bias: token id 99999 is outside the vocabulary [0, 4096)");
}

// serve --lookup: the same replies as the plain server (greedy, streamed, chat), guesses counted
// in /metrics, "speculative" in /props; "speculative.n_max" 0 turns it off for a request, a bad
// one is a 400 naming the field.
TEST_F(ServerTest, LookupGivesThePlainReplies) {
  ServeOptions o;
  o.defaults.max_tokens = 40;
  o.scheduler.lookup = 6;
  o.scheduler.lookup_pace = false;
  OwnServer fast(model(), o);
  const json body = {
      {"prompt", "And God said, Let there be light: and there was light. And God said, Let"},
      {"max_tokens", 40},
      {"temperature", 0}};
  auto [a, plain] = post("/v1/completions", body);
  ASSERT_EQ(a, 200) << plain.dump();
  auto ask = [&](const json& b) {
    auto res = fast.client->Post("/v1/completions", b.dump(), "application/json");
    EXPECT_TRUE(res);
    return res ? std::make_pair(res->status, json::parse(res->body)) : std::make_pair(0, json());
  };
  auto counted = [&](const char* name) {
    auto m = fast.client->Get("/metrics");
    EXPECT_TRUE(m);
    const std::string key = std::string("\nvkrwkv_") + name + " ";
    const auto at = m ? m->body.find(key) : std::string::npos;
    EXPECT_NE(at, std::string::npos) << name;
    return at == std::string::npos ? -1.0 : std::stod(m->body.substr(at + key.size()));
  };
  auto [b, guessed] = ask(body);
  ASSERT_EQ(b, 200) << guessed.dump();
  EXPECT_EQ(guessed["choices"][0]["text"], plain["choices"][0]["text"]);
  EXPECT_GT(counted("lookup_checks_total"), 0);
  EXPECT_GT(counted("lookup_accepted_total"), 0);
  const double checks = counted("lookup_checks_total");
  json off = body;
  off["speculative.n_max"] = 0;
  auto [c, unguessed] = ask(off);
  ASSERT_EQ(c, 200);
  EXPECT_EQ(unguessed["choices"][0]["text"], plain["choices"][0]["text"]);
  EXPECT_EQ(counted("lookup_checks_total"), checks);
  json bad = body;
  bad["speculative.n_max"] = "many";
  auto [d, refused] = ask(bad);
  EXPECT_EQ(d, 400);
  EXPECT_NE(refused.dump().find("speculative.n_max"), std::string::npos) << refused.dump();
  json bad_p = body;
  bad_p["speculative.p_min"] = 2;
  auto [e, refused_p] = ask(bad_p);
  EXPECT_EQ(e, 400);
  EXPECT_NE(refused_p.dump().find("field 'speculative.p_min' must be in [0, 1]"), std::string::npos)
      << refused_p.dump();
  auto props = fast.client->Get("/props");
  ASSERT_TRUE(props);
  EXPECT_EQ(json::parse(props->body)["default_generation_settings"]["speculative"], true);
  auto plain_props = client_->Get("/props");
  ASSERT_TRUE(plain_props);
  EXPECT_EQ(json::parse(plain_props->body)["default_generation_settings"]["speculative"], false);
}

}  // namespace
}  // namespace vkr::test
