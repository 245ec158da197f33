// test_scheduler.cpp: the request scheduler of `vkrwkv serve` (apps/scheduler.*) on the bundled
// model, without HTTP: requests run together (decode steps batched, prompts in pieces between
// them) give the text and log-probabilities each gives alone, kept states are reused by the
// longest matching request and replaced least recently used first, a cancelled request leaves the
// others right, and bad options, bad jobs and a scheduler destroyed with work left end with
// errors, never a hang.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>

#include "default_model_test.hpp"
#include "json_schema.hpp"
#include "scheduler.hpp"
#include "session.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::Finish;
using cli::Job;
using cli::Scheduler;
using cli::SchedulerOptions;

class SchedulerTest : public DefaultModelTest {
 protected:
  static std::shared_ptr<Job> job(const std::string& prompt, int n, float temperature = 0,
                                  uint32_t seed = 1) {
    auto j = std::make_shared<Job>();
    j->prompt = tok().encode(prompt, true);
    j->max_tokens = n;
    j->sampling.temperature = temperature;
    j->sampling.seed = seed;
    return j;
  }
  static std::string text_of(Job& j, std::vector<cli::TokenLogprob>* lps = nullptr) {
    std::string text;
    while (j.wait_text(text, lps)) {
    }
    return text;
  }

  // Greedy ids after `prompt` by a Session of its own, one token at a time.
  static std::vector<int32_t> greedy(const std::string& prompt, int n) {
    Session s(model(), 1);
    const auto logits = s.eval(0, tok().encode(prompt, true));
    int32_t id =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(id);
      if (tok().is_eog(id)) break;
      const int32_t next[] = {id};
      if (i + 1 < n) id = s.eval_argmax(0, next);
    }
    return out;
  }
};

const char* const kPrompts[] = {
    "In the beginning God created the heaven and the earth. And the earth was without form",
    "And the LORD said", "Blessed are", "Who made"};

// Four requests at once (two greedy, two sampled with seeds; prompts of 3 to 20 tokens run in
// pieces of 4) give the ids each gives alone on a scheduler that runs one request at a time, and
// the greedy ones those of a Session's own loop; their decode steps did share calls.
TEST_F(SchedulerTest, BatchedRequestsEqualOneAtATime) {
  auto make = [](int i) {
    auto j = job(kPrompts[i], 12, i % 2 ? 0.8f : 0.0f, 100 + i);
    j->logprobs = i < 2 ? 2 : -1;  // the first two also give log-probabilities
    return j;
  };
  // Text, and the log-probabilities where asked for.
  auto take = [](Job& j, std::vector<cli::TokenLogprob>& lps) {
    std::string text;
    while (j.wait_text(text, &lps)) {
    }
    return text;
  };
  std::vector<std::vector<int32_t>> alone;
  std::vector<std::string> alone_text;
  std::vector<std::vector<cli::TokenLogprob>> alone_lps(4);
  {
    Scheduler one(model(), tok(), {.parallel = 1, .kept = 0, .piece = 4});
    for (int i = 0; i < 4; ++i) {
      auto j = make(i);
      one.submit(j);
      alone_text.push_back(take(*j, alone_lps[i]));
      alone.push_back(j->ids);
    }
    EXPECT_EQ(one.stats().max_batch, 1u);
  }
  Scheduler many(model(), tok(), {.parallel = 4, .kept = 0, .piece = 4});
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(make(i));
    many.submit(jobs.back());
  }
  for (int i = 0; i < 4; ++i) {
    std::vector<cli::TokenLogprob> lps;
    EXPECT_EQ(take(*jobs[i], lps), alone_text[i]) << kPrompts[i];
    ASSERT_EQ(lps.size(), alone_lps[i].size()) << kPrompts[i];
    EXPECT_EQ(lps.size(), i < 2 ? jobs[i]->ids.size() : 0u);
    for (size_t t = 0; t < lps.size(); ++t) {
      EXPECT_EQ(lps[t].id, jobs[i]->ids[t]);
      EXPECT_NEAR(lps[t].logprob, alone_lps[i][t].logprob, 1e-4) << kPrompts[i] << " #" << t;
      ASSERT_EQ(lps[t].top.size(), 2u);
      EXPECT_GE(lps[t].top[0].second, lps[t].top[1].second);
      EXPECT_EQ(lps[t].top[0].first, alone_lps[i][t].top[0].first);
    }
    EXPECT_EQ(jobs[i]->ids, alone[i]) << kPrompts[i];
    EXPECT_EQ(jobs[i]->finish, Finish::Length);
    EXPECT_EQ(jobs[i]->cached_tokens, 0u);
  }
  EXPECT_EQ(alone[0], greedy(kPrompts[0], 12));
  EXPECT_EQ(alone[2], greedy(kPrompts[2], 12));
  const auto st = many.stats();
  EXPECT_GE(st.max_batch, 2u) << "the decode steps never shared a call";
  EXPECT_LT(st.decode_calls, st.decoded_rows);
  EXPECT_EQ(st.running, 0u);
  EXPECT_EQ(st.queued, 0u);
}

// More requests than slots: the rest queue and run as slots free up (the running ones move down
// to adjacent slots as others finish early, at different lengths).
TEST_F(SchedulerTest, MoreRequestsThanSlots) {
  Scheduler s(model(), tok(), {.parallel = 2, .kept = 0, .piece = 64});
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 6; ++i) {
    jobs.push_back(job(kPrompts[i % 4], 3 + 4 * (i % 3)));
    s.submit(jobs.back());
  }
  for (int i = 0; i < 6; ++i) {
    text_of(*jobs[i]);
    EXPECT_EQ(jobs[i]->ids, greedy(kPrompts[i % 4], 3 + 4 * (i % 3))) << i;
  }
  EXPECT_LE(s.stats().max_batch, 2u);
}

// Kept states: a request continuing an earlier one (its prompt and reply, then more) runs only
// the new tokens; the same prompt again runs only its last token; with two states kept, the
// least recently used one goes first.
TEST_F(SchedulerTest, KeptStatesAreReusedAndReplaced) {
  Scheduler s(model(), tok(), {.parallel = 1, .kept = 2, .piece = 0});
  auto run = [&](const std::vector<int32_t>& prompt, int n) {
    auto j = std::make_shared<Job>();
    j->prompt = prompt;
    j->max_tokens = n;
    j->sampling.temperature = 0;
    s.submit(j);
    text_of(*j);
    return j;
  };
  const auto a = tok().encode(kPrompts[1], true);
  auto ja = run(a, 6);
  EXPECT_EQ(ja->cached_tokens, 0u);
  // a + its reply but the last id (never run) + more
  auto a2 = a;
  a2.insert(a2.end(), ja->ids.begin(), ja->ids.end());
  const auto more = tok().encode(" and", false);
  a2.insert(a2.end(), more.begin(), more.end());
  auto ja2 = run(a2, 6);
  EXPECT_EQ(ja2->cached_tokens, a.size() + ja->ids.size() - 1);
  Session fresh(model(), 1);
  fresh.eval(0, std::span(a2).first(a2.size() - 1));
  const int32_t last[] = {a2.back()};
  int32_t id = fresh.eval_argmax(0, last);
  EXPECT_EQ(ja2->ids.front(), id);
  // kept now: a2 but its last, a2 + reply but its last. The same a2 again: all but one cached.
  auto ja3 = run(a2, 6);
  EXPECT_EQ(ja3->cached_tokens, a2.size() - 1);
  EXPECT_EQ(ja3->ids, ja2->ids);
  // Two other prompts replace both states (least recently used first) ...
  run(tok().encode(kPrompts[2], true), 2);
  auto jb = run(tok().encode(kPrompts[3], true), 2);
  EXPECT_EQ(jb->cached_tokens, 0u);
  // ... so `a` starts from nothing again, and gives the same reply.
  auto ja4 = run(a, 6);
  EXPECT_EQ(ja4->cached_tokens, 0u);
  EXPECT_EQ(ja4->ids, ja->ids);
}

// An echoed prompt with log-probabilities (prompt_logprobs): its ids come first, the first
// unscored, each scored under the logits of a Session's all-position eval of the prompt, though
// the scheduler runs it in pieces of 3 and a kept state of the same prompt exists (it must not
// be used: those positions' logits are needed); the reply and its log-probabilities are a plain
// request's.
TEST_F(SchedulerTest, EchoedPromptIsScoredInPieces) {
  Scheduler s(model(), tok(), {.parallel = 2, .kept = 2, .piece = 3});
  const auto prompt = tok().encode(kPrompts[0], true);
  auto plain = job(kPrompts[0], 4);
  plain->logprobs = 2;
  s.submit(plain);
  std::vector<cli::TokenLogprob> plain_lps, lps;
  const std::string text = text_of(*plain, &plain_lps);
  auto echo = job(kPrompts[0], 4);
  echo->logprobs = 2;
  echo->prompt_logprobs = true;
  s.submit(echo);
  const std::string echo_text = text_of(*echo, &lps);
  EXPECT_EQ(echo_text, text);  // the text is the reply's; the server puts the prompt before it
  EXPECT_EQ(echo->cached_tokens, 0u);
  EXPECT_EQ(echo->ids, plain->ids);
  ASSERT_EQ(lps.size(), prompt.size() + plain_lps.size());
  EXPECT_FALSE(lps[0].scored);
  EXPECT_EQ(lps[0].id, prompt[0]);
  Session ref(model(), 1);
  const auto rows = ref.eval(0, prompt, true);
  const size_t V = model().config().V;
  for (size_t t = 1; t < prompt.size(); ++t) {
    const auto want = cli::token_logprob(std::span(rows).subspan((t - 1) * V, V), prompt[t], 2);
    ASSERT_TRUE(lps[t].scored) << t;
    EXPECT_EQ(lps[t].id, prompt[t]);
    EXPECT_NEAR(lps[t].logprob, want.logprob, 1e-4) << "prompt token " << t;
    ASSERT_EQ(lps[t].top.size(), 2u);
    EXPECT_EQ(lps[t].top[0].first, want.top[0].first) << t;
  }
  for (size_t i = 0; i < plain_lps.size(); ++i) {
    const auto& got = lps[prompt.size() + i];
    EXPECT_EQ(got.id, plain_lps[i].id);
    EXPECT_NEAR(got.logprob, plain_lps[i].logprob, 1e-4) << "reply token " << i;
  }
  // max_tokens 0: the prompt's entries only.
  auto zero = job(kPrompts[1], 0);
  zero->logprobs = 0;
  zero->prompt_logprobs = true;
  s.submit(zero);
  std::vector<cli::TokenLogprob> zero_lps;
  EXPECT_EQ(text_of(*zero, &zero_lps), "");
  EXPECT_EQ(zero_lps.size(), zero->prompt.size());
  EXPECT_TRUE(zero->ids.empty());
}

// Scored continuations of one context (how evaluation harnesses ask for log-likelihoods): every
// position's scores are those of a Session's all-position eval, though the later prompts start
// from a checkpoint the first one kept at the shared context. Together: the first stops there,
// the others wait for it and run only their own tokens. One after another: the second keeps the
// checkpoint (its prefix with the first, kept whole), the third uses it.
TEST_F(SchedulerTest, ScoredContinuationsShareTheirContext) {
  const std::vector<int32_t> ctx = tok().encode(kPrompts[0], true);
  std::vector<std::vector<int32_t>> prompts;
  for (const char* cont : {" God", " light", " waters"}) {
    std::vector<int32_t> p = ctx;
    const auto more = tok().encode(cont, false);
    p.insert(p.end(), more.begin(), more.end());
    prompts.push_back(p);
  }
  ASSERT_NE(prompts[0][ctx.size()], prompts[1][ctx.size()]);
  ASSERT_NE(prompts[0][ctx.size()], prompts[2][ctx.size()]);
  const size_t V = model().config().V;
  auto scored = [&](const std::vector<int32_t>& p) {
    auto j = std::make_shared<Job>();
    j->prompt = p;
    j->max_tokens = 0;
    j->logprobs = 1;
    j->prompt_logprobs = true;
    return j;
  };
  auto check = [&](Job& j, const std::vector<cli::TokenLogprob>& lps) {
    ASSERT_EQ(lps.size(), j.prompt.size());
    EXPECT_FALSE(lps[0].scored);
    Session ref(model(), 1);
    const auto rows = ref.eval(0, j.prompt, true);
    for (size_t t = 1; t < j.prompt.size(); ++t) {
      const auto want = cli::token_logprob(std::span(rows).subspan((t - 1) * V, V), j.prompt[t], 1);
      EXPECT_EQ(lps[t].id, j.prompt[t]) << t;
      EXPECT_NEAR(lps[t].logprob, want.logprob, 1e-4) << "position " << t;
      ASSERT_EQ(lps[t].top.size(), 1u);
      EXPECT_EQ(lps[t].top[0].first, want.top[0].first) << t;
    }
  };
  {
    Scheduler s(model(), tok(), {.parallel = 3, .kept = 4, .piece = 4});
    std::vector<std::shared_ptr<Job>> jobs;
    for (const auto& p : prompts) jobs.push_back(scored(p));
    for (const auto& j : jobs) s.submit(j);
    for (const auto& j : jobs) {
      std::vector<cli::TokenLogprob> lps;
      EXPECT_EQ(text_of(*j, &lps), "");
      check(*j, lps);
    }
    EXPECT_EQ(jobs[0]->cached_tokens, 0u);
    EXPECT_EQ(jobs[1]->cached_tokens, ctx.size());
    EXPECT_EQ(jobs[2]->cached_tokens, ctx.size());
  }
  Scheduler s(model(), tok(), {.parallel = 2, .kept = 4, .piece = 4});
  std::vector<size_t> cached;
  for (const auto& p : prompts) {
    auto j = scored(p);
    s.submit(j);
    std::vector<cli::TokenLogprob> lps;
    text_of(*j, &lps);
    check(*j, lps);
    cached.push_back(j->cached_tokens);
  }
  EXPECT_EQ(cached, (std::vector<size_t>{0, 0, ctx.size()}));  // short: no tail checkpoint
  // A long context one choice at a time: the first keeps a checkpoint 32 tokens before its end,
  // the second starts there and keeps one at the shared context, the third starts there.
  {
    Scheduler seq(model(), tok(), {.parallel = 1, .kept = 6, .piece = 16});
    std::vector<int32_t> long_ctx;
    while (long_ctx.size() < 100) long_ctx.insert(long_ctx.end(), ctx.begin(), ctx.end());
    std::vector<size_t> got;
    for (const auto& p : prompts) {
      auto j = scored(long_ctx);
      j->prompt.insert(j->prompt.end(), p.begin() + static_cast<ptrdiff_t>(ctx.size()), p.end());
      seq.submit(j);
      std::vector<cli::TokenLogprob> lps;
      text_of(*j, &lps);
      check(*j, lps);
      got.push_back(j->cached_tokens);
    }
    const size_t first_len = long_ctx.size() + prompts[0].size() - ctx.size();
    EXPECT_EQ(got, (std::vector<size_t>{0, first_len - 32, long_ctx.size()}));
  }
  // A different number of top ids cannot use the checkpoint's scores: it runs every position.
  auto other = scored(prompts[1]);
  other->prompt.push_back(prompts[2].back());
  other->logprobs = 2;
  s.submit(other);
  std::vector<cli::TokenLogprob> lps;
  text_of(*other, &lps);
  EXPECT_EQ(other->cached_tokens, 0u);
  EXPECT_EQ(lps.size(), other->prompt.size());
}

// A request whose JSON schema no text can satisfy (each object requires another inside it, past
// the nesting bound: ~2000 tokens of the bundled model's padding) ends with an error naming that,
// mid-reply; the request decoded in the same calls gives the text it gives alone.
TEST_F(SchedulerTest, UnsatisfiableSchemaEndsOnlyItsRequest) {
  Scheduler s(model(), tok(), {.parallel = 2, .kept = 2, .piece = 0});
  auto bad = job(kPrompts[0], 5000);
  bad->constraint.json = true;
  bad->constraint.schema = JsonSchema::compile(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]})"));
  // Greedy on this prompt runs > 3000 tokens without an end id: still decoding when `bad` fails.
  auto good = job(kPrompts[1], 100000);
  s.submit(bad);
  s.submit(good);
  try {
    text_of(*bad);
    ADD_FAILURE() << "an unsatisfiable schema gave a reply";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("no token of the vocabulary can continue the JSON text"),
              std::string::npos)
        << e.message();
  }
  EXPECT_GT(bad->ids.size(), 50u) << "it failed mid-reply, at the nesting bound";
  std::string more;
  ASSERT_TRUE(good->wait_text(more)) << "the other request goes on";
  good->cancel();
  text_of(*good);
  EXPECT_EQ(good->finish, Finish::Cancelled);
  ASSERT_GE(good->ids.size(), 200u);
  EXPECT_EQ(std::vector<int32_t>(good->ids.begin(), good->ids.begin() + 200),
            greedy(kPrompts[1], 200));
}

// A request cancelled mid-reply ends as Cancelled at the next step; the requests batched with it
// give the text they give alone.
TEST_F(SchedulerTest, CancelledRequestLeavesTheOthersRight) {
  Scheduler s(model(), tok(), {.parallel = 3, .kept = 4, .piece = 0});
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 3; ++i) {
    jobs.push_back(job(kPrompts[i], i == 1 ? 1000 : 16));
    s.submit(jobs.back());
  }
  std::string first;
  ASSERT_TRUE(jobs[1]->wait_text(first));
  jobs[1]->cancel();
  text_of(*jobs[1]);
  EXPECT_EQ(jobs[1]->finish, Finish::Cancelled);
  EXPECT_LT(jobs[1]->ids.size(), 1000u);
  for (int i : {0, 2}) {
    text_of(*jobs[i]);
    EXPECT_EQ(jobs[i]->ids, greedy(kPrompts[i], 16)) << kPrompts[i];
  }
}

// A stop string ends a reply as it would end the generate loop; max_tokens 0 runs the prompt
// only; a prompt with one token works (nothing before its last token to keep).
TEST_F(SchedulerTest, StopsAndEdgeLengths) {
  Scheduler s(model(), tok(), {.parallel = 2, .kept = 2, .piece = 0});
  const std::string full = tok().decode(greedy(kPrompts[0], 12));
  ASSERT_GT(full.size(), 6u);
  auto j = job(kPrompts[0], 12);
  j->stops = {full.substr(4, 3)};
  s.submit(j);
  EXPECT_EQ(text_of(*j), full.substr(0, full.find(j->stops[0])));
  EXPECT_EQ(j->finish, Finish::Stop);
  auto zero = job(kPrompts[1], 0);
  s.submit(zero);
  EXPECT_EQ(text_of(*zero), "");
  EXPECT_TRUE(zero->ids.empty());
  EXPECT_EQ(zero->finish, Finish::Length);
  auto one = std::make_shared<Job>();
  one->prompt = {tok().encode(kPrompts[2], true).back()};
  one->max_tokens = 3;
  one->sampling.temperature = 0;
  s.submit(one);
  text_of(*one);
  EXPECT_EQ(one->ids.size(), 3u);
}

TEST_F(SchedulerTest, BadOptionsAndJobsAreErrors) {
  const uint32_t max = Session(model(), 1).max_batch();
  for (uint32_t parallel : {0u, max + 1}) {
    try {
      Scheduler s(model(), tok(), {.parallel = parallel, .kept = 0, .piece = 0});
      ADD_FAILURE() << "no error for --parallel " << parallel;
    } catch (const Error& e) {
      EXPECT_EQ(e.message(), fmt::format("--parallel {}: must be in [1, {}] (the sequences one "
                                         "forward call runs; --batch sets its rows)",
                                         parallel, max));
    }
  }
  Scheduler s(model(), tok(), {.parallel = 1, .kept = 0, .piece = 0});
  EXPECT_THROW(s.submit(std::make_shared<Job>()), Error);
  // Ids outside the vocabulary end that job with the Session's error; the next one runs.
  auto bad = std::make_shared<Job>();
  bad->prompt = {1, 2, -5, 3};
  bad->max_tokens = 2;
  s.submit(bad);
  std::string text;
  try {
    while (bad->wait_text(text)) {
    }
    ADD_FAILURE() << "no error for id -5";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("outside the vocabulary"), std::string::npos) << e.message();
  }
  auto good = job(kPrompts[2], 4);
  s.submit(good);
  text_of(*good);
  EXPECT_EQ(good->ids, greedy(kPrompts[2], 4));
}

// A scheduler destroyed with requests running and queued ends each with an error.
TEST_F(SchedulerTest, StoppingEndsEveryJob) {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    Scheduler s(model(), tok(), {.parallel = 1, .kept = 0, .piece = 0});
    for (int i = 0; i < 3; ++i) {
      jobs.push_back(job(kPrompts[i], 100000));
      s.submit(jobs.back());
    }
    std::string first;
    ASSERT_TRUE(jobs[0]->wait_text(first));
  }
  // The running one may have ended on its own just before; the queued ones never ran.
  try {
    text_of(*jobs[0]);
  } catch (const Error&) {
  }
  for (int i : {1, 2}) {
    try {
      text_of(*jobs[i]);
      ADD_FAILURE() << "queued job " << i << " ended without an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.message(), "the server stopped before the request finished");
    }
  }
}

}  // namespace
}  // namespace vkr::test
