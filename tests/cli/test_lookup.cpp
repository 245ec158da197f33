// test_lookup.cpp: prompt-lookup decoding (generation.hpp, Speculation) on the bundled model:
// the ids, text, finish and final state of generate() with guesses checked are those of plain
// decoding, greedy, sampled (penalties, a seed) and constrained, with stop strings and token
// limits ending a reply inside a run of kept guesses; guesses are really kept on a text that
// repeats its prompt; and Session::eval_last / eval_argmax_last, the checks' calls, return the
// rows eval() returns, with bad shapes refused by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "default_model_test.hpp"
#include "generation.hpp"
#include "gguf.hpp"
#include "grammar.hpp"
#include "model_draft.hpp"
#include "ngram_draft.hpp"
#include "quantize_model.hpp"
#include "sampler.hpp"
#include "scheduler.hpp"
#include "session.hpp"
#include "support/default_model.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

using cli::Finish;
using cli::Generated;
using cli::Job;
using cli::Scheduler;
using cli::Speculation;

// A prompt whose continuation repeats it: the bundled model, trained on the King James Bible,
// quotes Genesis 1 back and then falls into a repeating phrase; both are found by the lookup.
const char* const kRepeat =
    "In the beginning God created the heaven and the earth. And the earth was without form, and "
    "void; and darkness was upon the face of the deep.\n\nIn the beginning God created";

struct Outcome {
  Generated out;
  std::string text;
  std::vector<float> state;  // slot 0 afterwards
  Speculation spec;
};

class LookupTest : public DefaultModelTest {
 protected:
  // generate() after `prompt`, plainly (draft_max 0) or with guesses of up to draft_max tokens.
  // `guesser`: the drafter (default: prompt lookup of n-grams from ngram_min to 4 tokens).
  static Outcome run(const std::string& prompt, int n, const SamplerParams& params, int draft_max,
                     const std::vector<std::string>& stops = {}, const ConstraintSpec& spec = {},
                     int ngram_min = 1, Drafter* guesser = nullptr) {
    Session session(model(), draft_max > 0 ? 2 : 1);
    const auto ids = tok().encode(prompt, true);
    Sampler sampler(params);
    for (int32_t id : ids) sampler.accept(id);
    const auto logits = session.eval(0, ids);
    NgramDrafter lookup(ngram_min, 4);
    Drafter& drafter = guesser ? *guesser : lookup;
    drafter.add(ids);
    Outcome r;
    r.spec = Speculation{&drafter, 1, draft_max};
    r.spec.pace = false;  // guess wherever the drafter can: the counts do not depend on timing
    const auto constraint = spec.make(tok());
    r.out = cli::generate(
        session, tok(), sampler, logits, n, stops,
        [&](std::string_view t) {
          r.text += t;
          return true;
        },
        constraint.get(), draft_max > 0 ? &r.spec : nullptr);
    r.spec.drafter = nullptr;
    const auto bytes = session.state().save(0);
    r.state.resize(bytes.size() / 4);
    std::memcpy(r.state.data(), bytes.data(), bytes.size());
    return r;
  }

  // Same ids, text and finish; slot 0 holds the same state (up to the rounding of a call of
  // several tokens vs one).
  static void expect_same(const Outcome& plain, const Outcome& lookup) {
    EXPECT_EQ(lookup.out.ids, plain.out.ids);
    EXPECT_EQ(lookup.text, plain.text);
    EXPECT_EQ(lookup.out.finish, plain.out.finish);
    ASSERT_EQ(lookup.state.size(), plain.state.size());
    float scale = 0, diff = 0;
    for (size_t i = 0; i < plain.state.size(); ++i) {
      scale = std::max(scale, std::abs(plain.state[i]));
      diff = std::max(diff, std::abs(plain.state[i] - lookup.state[i]));
    }
    EXPECT_LE(diff, 1e-4f * std::max(scale, 1.0f)) << "state differs by " << diff;
  }
};

SamplerParams greedy() {
  SamplerParams p;
  p.temperature = 0;
  return p;
}

TEST_F(LookupTest, GreedyTextIsThePlainTextAndGuessesAreKept) {
  const auto plain = run(kRepeat, 120, greedy(), 0);
  for (int draft : {1, 4, 8}) {
    SCOPED_TRACE(draft);
    const auto lookup = run(kRepeat, 120, greedy(), draft);
    expect_same(plain, lookup);
    EXPECT_GT(lookup.spec.checks, 0u);
    // The text repeats its prompt and then itself: most guesses are right.
    EXPECT_GT(lookup.spec.accepted, lookup.spec.drafted / 2)
        << lookup.spec.accepted << " of " << lookup.spec.drafted;
    // Fewer calls than tokens: each check gave its kept guesses and one more id.
    EXPECT_LT(lookup.spec.checks, 120u);
  }
}

TEST_F(LookupTest, SampledTextIsThePlainText) {
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_p = 0.95f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.1f;
  for (uint32_t seed : {1u, 7u, 42u}) {
    SCOPED_TRACE(seed);
    p.seed = seed;
    const auto plain = run(kRepeat, 80, p, 0);
    const auto lookup = run(kRepeat, 80, p, 6);
    expect_same(plain, lookup);
    EXPECT_GT(lookup.spec.checks, 0u);
  }
}

TEST_F(LookupTest, ConstrainedTextIsThePlainText) {
  ConstraintSpec spec;
  spec.grammar = Grammar::parse(
      "root ::= (\" In the beginning God created \" word (\" \" word)* \".\")+\n"
      "word ::= [a-z]+\n");
  const auto plain = run(kRepeat, 60, greedy(), 0, {}, spec);
  const auto lookup = run(kRepeat, 60, greedy(), 5, {}, spec);
  expect_same(plain, lookup);
  EXPECT_GT(lookup.spec.accepted, 0u);
  SamplerParams p;
  p.temperature = 0.7f;
  p.seed = 3;
  ConstraintSpec json;
  json.json = true;
  expect_same(run(kRepeat, 50, p, 0, {}, json), run(kRepeat, 50, p, 5, {}, json));
}

// Replies ended by every token limit from 1 to 20 and by stop strings, wherever that falls in a
// check (before, inside and after its kept guesses): same ids, text, finish and state.
TEST_F(LookupTest, LimitsAndStopsInsideChecks) {
  const auto full = run(kRepeat, 20, greedy(), 0);
  for (int n = 1; n <= 20; ++n) {
    SCOPED_TRACE(n);
    expect_same(run(kRepeat, n, greedy(), 0), run(kRepeat, n, greedy(), 4));
  }
  // Stop strings cut from the plain text at several places.
  for (size_t at : {size_t{3}, full.text.size() / 2, full.text.size() - 2}) {
    const std::string stop = full.text.substr(at, 2);
    SCOPED_TRACE(stop);
    const auto plain = run(kRepeat, 40, greedy(), 0, {stop});
    EXPECT_EQ(plain.out.finish, Finish::Stop);
    expect_same(plain, run(kRepeat, 40, greedy(), 4, {stop}));
  }
}

// A text with nothing to look up: no guesses, the plain path only.
TEST_F(LookupTest, NoMatchNoCheck) {
  const auto lookup = run("Who", 1, greedy(), 8, {}, {}, 4);
  EXPECT_EQ(lookup.spec.checks, 0u);
  expect_same(run("Who", 1, greedy(), 0), lookup);
}

// Speculative decoding with a draft model: the bundled model drafting for itself (every guess
// but a rounding tie kept), and a Q4_0 copy of it (a real draft: most guesses kept), give the
// plain text greedy and sampled; a draft model of another vocabulary is refused by name.
TEST_F(LookupTest, DraftModelGivesThePlainText) {
  SamplerParams sampled;
  sampled.temperature = 0.8f;
  sampled.top_p = 0.95f;
  sampled.seed = 9;
  {
    ModelDrafter self(model(), model());
    const auto plain = run(kRepeat, 60, greedy(), 0);
    const auto drafted = run(kRepeat, 60, greedy(), 4, {}, {}, 1, &self);
    expect_same(plain, drafted);
    EXPECT_GE(drafted.spec.accepted * 10, drafted.spec.drafted * 9)
        << drafted.spec.accepted << " of " << drafted.spec.drafted;
    ModelDrafter again(model(), model());
    expect_same(run("And the LORD said", 40, sampled, 0),
                run("And the LORD said", 40, sampled, 3, {}, {}, 1, &again));
  }
  const auto q4 = std::filesystem::temp_directory_path() /
                  ("vkr_draft_q4_" +
                   std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".gguf");
  {
    const gguf::File in = gguf::File::open(kDefaultModelDir / kDefaultModelFile);
    quantize_model(in, q4, QuantPreset::Q4_0);
  }
  {
    auto small = Model::load(*gpu_context(), q4);
    ModelDrafter q(*small, model());
    const auto plain = run(kRepeat, 60, greedy(), 0);
    const auto drafted = run(kRepeat, 60, greedy(), 4, {}, {}, 1, &q);
    expect_same(plain, drafted);
    EXPECT_GT(drafted.spec.accepted, 0u);
    EXPECT_LT(drafted.spec.checks, 60u);
    ModelDrafter again(*small, model());
    expect_same(run("And the LORD said", 40, sampled, 0),
                run("And the LORD said", 40, sampled, 3, {}, {}, 1, &again));
    // A probability cut-off guesses less (never a different text); 1 leaves almost nothing.
    ModelDrafter sure(*small, model()), certain(*small, model());
    sure.set_p_min(0.9f);
    certain.set_p_min(1.0f);
    const auto cut = run(kRepeat, 60, greedy(), 4, {}, {}, 1, &sure);
    const auto none = run(kRepeat, 60, greedy(), 4, {}, {}, 1, &certain);
    expect_same(plain, cut);
    expect_same(plain, none);
    EXPECT_LT(cut.spec.drafted, drafted.spec.drafted);
    EXPECT_LT(none.spec.drafted, cut.spec.drafted);
  }
  std::filesystem::remove(q4);
  auto other = Model::load(*gpu_context(), kRefDir / "micro-qrwkv6-f32.gguf");
  try {
    ModelDrafter bad(*other, model());
    ADD_FAILURE() << "a draft model of another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a draft model needs the same vocabulary"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("micro-qrwkv6-f32.gguf"), std::string::npos) << e.what();
  }
}

// `vkrwkv serve --lookup`: a request decoding alone checks guesses (greedy with log-probabilities,
// sampled, constrained, stopped by a stop string) and gives a plain scheduler's text, ids, finish
// and log-probabilities; its kept state serves the next turn (fewer tokens when it ended with
// kept guesses not yet run, never wrong ones); requests decoding together batch as before; and a
// request's lookup 0 checks nothing.
TEST_F(LookupTest, SchedulerRequestsGiveThePlainText) {
  const auto prompt = tok().encode(kRepeat, true);
  auto make = [&](int kind) {
    auto j = std::make_shared<Job>();
    j->prompt = prompt;
    j->max_tokens = 48;
    j->sampling.temperature = 0;
    if (kind == 0) j->logprobs = 2;
    if (kind == 1) {
      j->sampling.temperature = 0.8f;
      j->sampling.repetition_penalty = 1.1f;
      j->sampling.seed = 5;
    }
    if (kind == 2) j->constraint.json = true;
    if (kind == 3) j->stops = {" his glory, and his"};  // in the greedy reply, mid-repetition
    return j;
  };
  struct Result {
    std::string text;
    std::vector<int32_t> ids;
    std::vector<cli::TokenLogprob> lps;
    Finish finish;
    size_t next_cached;
    std::vector<int32_t> next_ids;
  };
  // Each kind alone, then a next turn continuing the first one's reply.
  auto serve = [&](int lookup) {
    Scheduler s(model(), tok(),
                {.parallel = 1, .kept = 2, .piece = 0, .lookup = lookup, .lookup_pace = false});
    std::vector<Result> out;
    for (int kind = 0; kind < 4; ++kind) {
      auto j = make(kind);
      s.submit(j);
      Result r;
      r.text = j->wait_all(&r.lps);
      r.ids = j->ids;
      r.finish = j->finish;
      auto next = std::make_shared<Job>();
      next->prompt = prompt;
      next->prompt.insert(next->prompt.end(), j->ids.begin(), j->ids.end());
      next->prompt.push_back(prompt[3]);
      next->max_tokens = 6;
      next->sampling.temperature = 0;
      s.submit(next);
      next->wait_all();
      r.next_cached = next->cached_tokens;
      r.next_ids = next->ids;
      out.push_back(std::move(r));
    }
    return std::make_pair(out, s.stats());
  };
  const auto [plain, plain_stats] = serve(0);
  const auto [lookup, stats] = serve(6);
  EXPECT_EQ(plain_stats.lookup_checks, 0u);
  EXPECT_GT(stats.lookup_checks, 0u);
  EXPECT_GT(stats.lookup_accepted, 0u);
  EXPECT_LT(stats.decode_calls, plain_stats.decode_calls);
  for (int kind = 0; kind < 4; ++kind) {
    SCOPED_TRACE(kind);
    const auto &a = plain[kind], &b = lookup[kind];
    EXPECT_EQ(b.text, a.text);
    EXPECT_EQ(b.ids, a.ids);
    EXPECT_EQ(b.finish, a.finish);
    ASSERT_EQ(b.lps.size(), a.lps.size());
    for (size_t t = 0; t < a.lps.size(); ++t) {
      EXPECT_EQ(b.lps[t].id, a.lps[t].id);
      EXPECT_NEAR(b.lps[t].logprob, a.lps[t].logprob, 1e-3) << t;
      ASSERT_EQ(b.lps[t].top.size(), 2u);
      EXPECT_EQ(b.lps[t].top[0].first, a.lps[t].top[0].first);
    }
    EXPECT_EQ(b.next_ids, a.next_ids);
    EXPECT_LE(b.next_cached, a.next_cached);
    EXPECT_GT(b.next_cached, prompt.size());
  }
  EXPECT_EQ(plain[0].lps.size(), plain[0].ids.size());
  EXPECT_EQ(plain[3].finish, Finish::Stop);

  // Two requests decoding together share batched calls (no checks); lookup 0 on a request.
  Scheduler s(model(), tok(),
              {.parallel = 2, .kept = 0, .piece = 0, .lookup = 6, .lookup_pace = false});
  auto a = make(3), b = make(3);
  b->lookup = 0;
  s.submit(a);
  s.submit(b);
  EXPECT_EQ(a->wait_all(), plain[3].text);
  EXPECT_EQ(b->wait_all(), plain[3].text);
  EXPECT_GE(s.stats().max_batch, 2u);
  auto c = make(0);
  c->lookup = 0;
  s.submit(c);
  c->wait_all();
  EXPECT_EQ(c->ids, plain[0].ids);
  const auto before = s.stats().lookup_checks;
  auto d = make(0);
  s.submit(d);
  d->wait_all();
  EXPECT_EQ(d->ids, plain[0].ids);
  EXPECT_GT(s.stats().lookup_checks, before);
}

// serve --model-draft: a request alone checks the draft model's guesses (the bundled model
// drafting for itself), requests together batch, each running request holds its own draft slots
// (freed when it ends), and the text is the plain scheduler's; another vocabulary is refused.
TEST_F(LookupTest, SchedulerDraftModelGivesThePlainText) {
  auto make = [&](const char* prompt, float temperature) {
    auto j = std::make_shared<Job>();
    j->prompt = tok().encode(prompt, true);
    j->max_tokens = 32;
    j->sampling.temperature = temperature;
    j->sampling.seed = 4;
    return j;
  };
  auto serve = [&](Model* draft) {
    Scheduler s(model(), tok(),
                {.parallel = 2, .kept = 2, .piece = 0, .lookup_pace = false, .draft = draft});
    std::vector<std::vector<int32_t>> ids;
    auto alone = make(kRepeat, 0);
    s.submit(alone);
    alone->wait_all();
    ids.push_back(alone->ids);
    auto a = make(kRepeat, 0), b = make("And the LORD said", 0.8f);
    s.submit(a);
    s.submit(b);
    a->wait_all();
    b->wait_all();
    ids.push_back(a->ids);
    ids.push_back(b->ids);
    auto again = make("And the LORD said", 0.8f);
    s.submit(again);
    again->wait_all();
    ids.push_back(again->ids);
    return std::make_pair(ids, s.stats());
  };
  const auto [plain, plain_stats] = serve(nullptr);
  const auto [drafted, stats] = serve(&model());
  EXPECT_EQ(drafted, plain);
  EXPECT_EQ(plain_stats.lookup_checks, 0u);
  EXPECT_GT(stats.lookup_checks, 0u);
  // (the sampled requests keep fewer of the greedy guesses than the greedy ones)
  EXPECT_GT(stats.lookup_accepted, 0u);
  EXPECT_LT(stats.decode_calls, plain_stats.decode_calls);
  auto other = Model::load(*gpu_context(), kRefDir / "micro-qrwkv6-f32.gguf");
  EXPECT_THROW(Scheduler(model(), tok(), {.parallel = 1, .draft = other.get()}), Error);
}

// The pacing: guessing pauses while checks cost more than the ids they give would cost plainly,
// is retried after 16, 32, ... 256 plain steps, and goes on while checks pay.
TEST(LookupPacing, PausesWhileChecksDoNotPay) {
  Speculation s;
  EXPECT_TRUE(s.pays());  // nothing measured yet
  s.timed_plain(0.030);   // the first step also recorded and compiled
  s.timed_plain(0.004);
  EXPECT_TRUE(s.pays());  // no check yet
  s.timed_plain(0.005);   // the fastest step is kept
  EXPECT_EQ(s.plain_s, 0.004);
  s.timed_check(0.080, 1);
  EXPECT_TRUE(s.pays());    // one check timed: not yet decided
  s.timed_check(0.010, 1);  // 1 id for 2.5 steps' time
  EXPECT_FALSE(s.pays());
  int waited = 0;
  for (int retry : {16, 32, 64, 128, 256, 256}) {
    for (s.idle = 0; !s.pays(); ++s.idle) ++waited;
    EXPECT_EQ(s.idle, retry);
    s.timed_check(0.010, 1);  // the retry did not pay either
  }
  EXPECT_EQ(waited, 16 + 32 + 64 + 128 + 256 + 256);
  // Checks that keep their guesses pay: 3 ids per check (moving average) for 2.5 steps' time.
  for (int i = 0; i < 10; ++i) s.timed_check(0.010, 3);
  EXPECT_TRUE(s.pays());
  EXPECT_EQ(s.retry, Speculation::kRetry);
  EXPECT_GT(s.per_check, 2.5);
  s.pace = false;
  s.timed_check(0.010, 0);
  for (int i = 0; i < 20; ++i) s.timed_check(0.010, 0);
  EXPECT_TRUE(s.pays());  // unpaced: always
}

TEST_F(LookupTest, EvalLastReturnsTheLastRows) {
  Session all(model(), 1), last(model(), 2);
  const auto ids = tok().encode(kRepeat, true);
  const std::span<const int32_t> call(ids.data(), 9);
  const auto want = all.eval(0, call, /*all_logits=*/true);
  const size_t V = model().config().V;
  for (uint32_t n : {1u, 4u, 9u}) {
    SCOPED_TRACE(n);
    last.state().reset(1);
    const auto got = last.eval_last(1, call, n);
    ASSERT_EQ(got.size(), n * V);
    float worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[(9 - n) * V + i]));
    }
    EXPECT_LE(worst, 1e-3f);
    last.state().reset(1);
    const auto best = last.eval_argmax_last(1, call, n);
    ASSERT_EQ(best.size(), n);
    for (uint32_t r = 0; r < n; ++r) {
      const auto row = std::span(want).subspan((9 - n + r) * V, V);
      EXPECT_EQ(best[r], std::max_element(row.begin(), row.end()) - row.begin()) << "row " << r;
    }
  }
  // The state moved on as with eval(): both sessions' next logits agree.
  const int32_t next[] = {ids[9]};
  last.state().copy(1, 0);
  const auto a = all.eval(0, next), b = last.eval(0, next);
  for (size_t i = 0; i < V; ++i) ASSERT_NEAR(a[i], b[i], 1e-3f) << i;
}

TEST_F(LookupTest, EvalLastRefusesBadShapes) {
  Session s(model(), 1, 16);
  const std::vector<int32_t> ids(20, 5);
  auto refused = [&](std::span<const int32_t> call, uint32_t n, const char* what) {
    try {
      s.eval_last(0, call, n);
      ADD_FAILURE() << "accepted " << call.size() << " ids, " << n << " rows";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused(std::span(ids).first(4), 0, "the last 0 rows of 4 tokens");
  refused(std::span(ids).first(4), 5, "the last 5 rows of 4 tokens");
  refused(ids, 1, "20 tokens exceed the 16 rows of one call");
  refused({}, 1, "empty input");
  EXPECT_THROW(s.eval_argmax_last(3, std::span(ids).first(2), 1), Error);  // no slot 3
}

}  // namespace
}  // namespace vkr::test
