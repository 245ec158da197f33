// test_c_api.cpp: C API results: logits equal the C++ Session's, state save/load round trip,
// tokenizer round trip, greedy eval = argmax of the logits, handles freed in any order, a model
// split over two contexts (freed first) equal to the whole one, batched decode = separate
// decodes, a copied state = the original, the C sampler = the C++ one.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "c_api_fixture.hpp"
#include "json_constraint.hpp"
#include "model.hpp"
#include "sampler.hpp"
#include "session.hpp"
#include "vkrwkv.hpp"

namespace vkr::test {
namespace {

const std::vector<int32_t> kIds = {1, 17, 300, 842, 9, 77, 123};

TEST_F(CapiTest, EvalLogitsEqualCppSession) {
  vkrwkv_session_reset(session_, 0);
  const auto got = eval(0, kIds);
  LoadOptions opt;
  opt.progress = false;
  auto model = Model::load(ctx(), kCapiModel, opt);
  Session session(*model);
  const auto want = session.eval(0, kIds);
  ASSERT_EQ(got.size(), want.size());
  size_t bad = got.size();
  for (size_t i = 0; i < got.size() && bad == got.size(); ++i) {
    if (got[i] != want[i]) bad = i;  // same device, same kernels: bitwise equal
  }
  EXPECT_EQ(bad, got.size()) << "first difference at " << bad << ": " << got[bad] << " vs "
                             << want[bad];
}

TEST_F(CapiTest, StateSaveLoadRoundTrip) {
  const long long size = vkrwkv_state_size(session_);
  ASSERT_GT(size, 0) << vkrwkv_last_error();
  std::vector<std::byte> saved(static_cast<size_t>(size));
  ASSERT_EQ(vkrwkv_session_reset(session_, 0), 0);
  eval(0, {5, 6, 7});
  ASSERT_EQ(vkrwkv_state_save(session_, 0, saved.data(), size), 0) << vkrwkv_last_error();
  const auto after = eval(0, {8, 9});  // continues from the saved state
  // Restore into the other slot and into the same one: both must continue identically.
  ASSERT_EQ(vkrwkv_state_load(session_, 1, saved.data(), size), 0) << vkrwkv_last_error();
  EXPECT_EQ(eval(1, {8, 9}), after);
  ASSERT_EQ(vkrwkv_state_load(session_, 0, saved.data(), size), 0) << vkrwkv_last_error();
  EXPECT_EQ(eval(0, {8, 9}), after);
  // And a reset slot does not (the state matters).
  ASSERT_EQ(vkrwkv_session_reset(session_, 0), 0);
  EXPECT_NE(eval(0, {8, 9}), after);
}

TEST_F(CapiTest, GreedyEvalIsArgmaxOfLogits) {
  vkrwkv_session_reset(session_, 0);
  vkrwkv_session_reset(session_, 1);
  const auto logits = eval(0, kIds);
  const int id =
      vkrwkv_session_eval_greedy(session_, 1, kIds.data(), static_cast<int>(kIds.size()));
  ASSERT_GE(id, 0) << vkrwkv_last_error();
  EXPECT_EQ(id, std::max_element(logits.begin(), logits.end()) - logits.begin());
  // NULL logits: evaluated (state advanced) without a readback.
  ASSERT_EQ(vkrwkv_session_eval(session_, 1, kIds.data(), 1, nullptr), 0) << vkrwkv_last_error();
}

// The hidden state: n_embd floats, not all zero, and the state moves on as with eval() (the next
// token's logits agree); the values themselves are checked against the head in test_hidden.
TEST_F(CapiTest, HiddenStateAdvancesLikeEval) {
  const int C = vkrwkv_model_n_embd(model_);
  ASSERT_GT(C, 0) << vkrwkv_last_error();
  vkrwkv_session_reset(session_, 0);
  vkrwkv_session_reset(session_, 1);
  eval(0, kIds);
  std::vector<float> hidden(static_cast<size_t>(C), 0.0f);
  ASSERT_EQ(vkrwkv_session_eval_hidden(session_, 1, kIds.data(), static_cast<int>(kIds.size()),
                                       hidden.data()),
            0)
      << vkrwkv_last_error();
  EXPECT_TRUE(std::any_of(hidden.begin(), hidden.end(), [](float v) { return v != 0.0f; }));
  EXPECT_TRUE(std::all_of(hidden.begin(), hidden.end(), [](float v) { return std::isfinite(v); }));
  EXPECT_EQ(eval(0, {11}), eval(1, {11}));
  EXPECT_EQ(vkrwkv_session_eval_hidden(session_, 0, kIds.data(), 1, nullptr),
            VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("hidden is NULL"), std::string::npos)
      << vkrwkv_last_error();
}

TEST_F(CapiTest, TokenizeAndPiecesRoundTrip) {
  const char* text = "Hello world, 123!";
  const int n = vkrwkv_tokenize(model_, text, nullptr, 0);
  ASSERT_GT(n, 0) << vkrwkv_last_error();
  std::vector<int32_t> ids(static_cast<size_t>(n));
  ASSERT_EQ(vkrwkv_tokenize(model_, text, ids.data(), n), n) << vkrwkv_last_error();
  std::string back;
  for (int32_t id : ids) {
    char buf[256];
    const int len = vkrwkv_token_to_piece(model_, id, buf, sizeof(buf));
    ASSERT_GE(len, 0) << vkrwkv_last_error();
    back.append(buf, static_cast<size_t>(len));
  }
  EXPECT_EQ(back, text);
  EXPECT_GT(vkrwkv_model_n_vocab(model_), 0);
  EXPECT_GE(vkrwkv_session_max_tokens(session_), 1);
}

// Handles may be freed in any order: a session keeps its model and context alive and still
// evaluates after both were freed (same logits as before).
// Three sequences in one decode call (the third a copy of the first's state) give the logits
// each gives alone: within the rounding of a batched product, and the copy exactly the first's.
TEST_F(CapiTest, DecodeBatchEqualsSeparateDecodes) {
  const int V = vkrwkv_model_n_vocab(model_);
  vkrwkv_session *batch = nullptr, *alone = nullptr;
  ASSERT_EQ(vkrwkv_session_create(model_, 3, &batch), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_session_create(model_, 3, &alone), 0) << vkrwkv_last_error();
  ASSERT_GE(vkrwkv_session_max_batch(batch), 3);
  for (vkrwkv_session* s : {batch, alone}) {
    ASSERT_EQ(vkrwkv_session_eval(s, 0, kIds.data(), 4, nullptr), 0) << vkrwkv_last_error();
    ASSERT_EQ(vkrwkv_session_eval(s, 1, kIds.data() + 2, 5, nullptr), 0) << vkrwkv_last_error();
    ASSERT_EQ(vkrwkv_state_copy(s, 0, 2), 0) << vkrwkv_last_error();
  }
  for (int step = 0; step < 3; ++step) {
    const int32_t ids[3] = {10 + step, 20 + step, 10 + step};
    std::vector<float> got(3 * static_cast<size_t>(V));
    ASSERT_EQ(vkrwkv_session_decode_batch(batch, 0, ids, 3, got.data()), 0) << vkrwkv_last_error();
    for (int b = 0; b < 3; ++b) {
      std::vector<float> want(static_cast<size_t>(V));
      ASSERT_EQ(vkrwkv_session_eval(alone, b, &ids[b], 1, want.data()), 0) << vkrwkv_last_error();
      double worst = 0;
      for (int i = 0; i < V; ++i) {
        const double d =
            std::abs(got[static_cast<size_t>(b * V + i)] - want[static_cast<size_t>(i)]);
        worst = std::max(worst, d / (1e-5 + 1e-5 * std::abs(want[static_cast<size_t>(i)])));
      }
      EXPECT_LE(worst, 1.0) << "step " << step << " slot " << b;
    }
    EXPECT_TRUE(std::equal(got.begin(), got.begin() + V, got.begin() + 2 * V)) << "step " << step;
  }
  // Slots past the session, more than a call takes, a NULL output: errors naming them.
  const int32_t ids[4] = {1, 2, 3, 4};
  std::vector<float> out(4 * static_cast<size_t>(V));
  EXPECT_EQ(vkrwkv_session_decode_batch(batch, 1, ids, 3, out.data()),
            VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("slots 1..3 out of range (the session has 3"),
            std::string::npos)
      << vkrwkv_last_error();
  EXPECT_EQ(vkrwkv_session_decode_batch(batch, 0, ids, 3, nullptr), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vkrwkv_state_copy(batch, 0, 3), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("slot 3 out of range"), std::string::npos);
  vkrwkv_session_free(batch);
  vkrwkv_session_free(alone);
}

// The C sampler picks what the C++ Sampler picks from the same rows with the same parameters and
// accepted ids (penalties on); greedy parameters pick the argmax.
TEST(CapiSampler, EqualsCppSampler) {
  vkrwkv_sampler_params p{};
  ASSERT_EQ(vkrwkv_sampler_default_params(&p), 0);
  EXPECT_FLOAT_EQ(p.temperature, SamplerParams{}.temperature);
  EXPECT_EQ(p.top_k, SamplerParams{}.top_k);
  p.seed = 42;
  p.repeat_penalty = 1.3f;
  p.presence_penalty = 0.2f;
  SamplerParams q;
  q.seed = 42;
  q.repetition_penalty = 1.3f;
  q.presence_penalty = 0.2f;
  vkrwkv::Sampler c(p);
  Sampler cpp(q);
  std::mt19937 rng(7);
  std::normal_distribution<float> logit(0, 3);
  // One row with a little noise per draw: the same ids keep coming back, so the penalties on
  // the accepted ones change what is picked.
  std::vector<float> base(1000), row(1000);
  for (auto& x : base) x = logit(rng);
  std::normal_distribution<float> noise(0, 0.3f);
  for (int i = 0; i < 40; ++i) {
    for (size_t j = 0; j < row.size(); ++j) row[j] = base[j] + noise(rng);
    const int32_t a = c.sample(row), b = cpp.sample(row);
    ASSERT_EQ(a, b) << "draw " << i;
    c.accept(a);
    cpp.accept(b);
  }
  p.temperature = 0;
  vkrwkv::Sampler greedy(p);
  EXPECT_EQ(greedy.sample(row), std::max_element(row.begin(), row.end()) - row.begin());
  // Bad parameters and rows: errors naming them.
  p.top_p = 2;
  vkrwkv_sampler* bad = nullptr;
  EXPECT_EQ(vkrwkv_sampler_create(&p, &bad), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bad, nullptr);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("top_p"), std::string::npos)
      << vkrwkv_last_error();
  EXPECT_EQ(vkrwkv_sampler_sample(greedy.get(), row.data(), 0), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("n_vocab is 0"), std::string::npos);
  const std::vector<float> nans(4, std::nanf(""));
  EXPECT_EQ(vkrwkv_sampler_sample(greedy.get(), nans.data(), 4), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vkrwkv_sampler_accept(greedy.get(), -1), VKRWKV_ERROR_INVALID_ARGUMENT);
}

// vkrwkv_sampler_configure: llama-server's fields reach the C sampler (the same draws as the C++
// sampler with the same settings); bad settings are named and leave it unchanged.
TEST(CapiSampler, ConfigureWithLlamaServerFields) {
  vkrwkv::Sampler c;
  c.configure(R"({"seed": 9, "mirostat": 2, "mirostat_tau": 3, "logit_bias": {"3": -1.5}})");
  SamplerParams q;
  q.seed = 9;
  q.mirostat = 2;
  q.mirostat_tau = 3.0f;
  q.logit_bias = {{3, -1.5f}};
  Sampler cpp(q);
  std::mt19937 rng(3);
  std::normal_distribution<float> logit(0, 3);
  std::vector<float> row(500);
  for (int i = 0; i < 30; ++i) {
    for (auto& x : row) x = logit(rng);
    ASSERT_EQ(c.sample(row), cpp.sample(row)) << "draw " << i;
  }
  c.configure(R"({"temperature": 0, "logit_bias": [[7, false]]})");
  std::fill(row.begin(), row.end(), 0.0f);
  row[7] = 5.0f;
  row[8] = 4.0f;
  EXPECT_EQ(c.sample(row), 8);  // 7 is banned
  for (const char* bad : {"[1]", "{\"mirostat\": 5}", "{\"ignore_eos\": true}", "{oops",
                          "{\"samplers\": \"top_k;nope\"}"}) {
    EXPECT_EQ(vkrwkv_sampler_configure(c.get(), nullptr, bad), VKRWKV_ERROR_INVALID_ARGUMENT)
        << bad;
    EXPECT_NE(std::string(vkrwkv_last_error()).find("vkrwkv_sampler_configure"), std::string::npos)
        << vkrwkv_last_error();
  }
  EXPECT_EQ(c.sample(row), 8);  // unchanged by the refused settings
}

// A JSON constraint on the C sampler: a greedy reply of the model is a JSON object's start (the
// whole object once an end id comes), ids that cannot continue it are refused by accept(), and
// reset() restarts it from an empty object.
// Constrained samplers: greedy replies drawn through them after kIds in slot 0.
class CapiConstraintTest : public CapiTest {
 protected:
  void SetUp() override {
    CapiTest::SetUp();
    if (IsSkipped()) return;
    LoadOptions opt;
    opt.progress = false;
    cpp_model_ = Model::load(ctx(), kCapiModel, opt);  // its tokenizer checks the replies
  }
  static vkrwkv_sampler_params greedy() {
    vkrwkv_sampler_params p{};
    EXPECT_EQ(vkrwkv_sampler_default_params(&p), 0);
    p.temperature = 0;
    return p;
  }
  // Up to `max` ids (the text and whether an end id came).
  static std::pair<std::string, bool> reply(vkrwkv::Sampler& sampler, const Tokenizer& tok,
                                            int max) {
    vkrwkv_session_reset(session_, 0);
    auto row = eval(0, kIds);
    std::string text;
    for (int i = 0; i < max; ++i) {
      const int32_t id = sampler.sample(row);
      if (tok.is_eog(id)) return {text, true};
      sampler.accept(id);
      text += tok.token_bytes(id);
      row = eval(0, {id});
    }
    return {text, false};
  }

  std::unique_ptr<Model> cpp_model_;
};

TEST_F(CapiConstraintTest, SamplerJsonConstraint) {
  const Tokenizer& tok = *cpp_model_->tokenizer();
  vkrwkv::Sampler sampler(greedy());
  sampler.accept(kIds.front());  // the prompt's ids come before the constraint
  ASSERT_EQ(vkrwkv_sampler_set_json(sampler.get(), model_, 1), 0) << vkrwkv_last_error();
  const auto [text, ended] = reply(sampler, tok, 60);
  JsonPrefix check;
  EXPECT_TRUE(check.push(text)) << text;
  EXPECT_NE(text.find('{'), std::string::npos) << text;
  if (ended) {
    EXPECT_TRUE(check.complete()) << text;
  }
  // A plain sampler on the same rows writes something else (the constraint did something).
  vkrwkv::Sampler plain(greedy());
  vkrwkv_session_reset(session_, 0);
  const auto first = eval(0, kIds);
  EXPECT_FALSE(tok.token_bytes(plain.sample(first)).starts_with("{"));
  // Refused ids, reset, removal.
  sampler.reset();
  const auto bad = tok.encode("In", false);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), bad.front()), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("cannot continue the JSON text"),
            std::string::npos)
      << vkrwkv_last_error();
  const auto brace = tok.encode("{", false);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), brace.front()), 0) << "reset: an empty object";
  EXPECT_EQ(vkrwkv_sampler_set_json(sampler.get(), nullptr, 1), VKRWKV_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(vkrwkv_sampler_set_json(sampler.get(), nullptr, 0), 0);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), bad.front()), 0) << "no constraint any more";
}

// A GBNF grammar through the C API: draws spell one of its texts and end where it ends; a grammar
// that does not parse names line and column; NULL removes the constraint.
TEST_F(CapiConstraintTest, SamplerGrammarConstraint) {
  const Tokenizer& tok = *cpp_model_->tokenizer();
  vkrwkv::Sampler sampler(greedy());
  const char* gbnf = "root ::= (\"yes\" | \"no\") \", \" [a-z]{2,5} \".\"";
  ASSERT_EQ(vkrwkv_sampler_set_grammar(sampler.get(), model_, gbnf), 0) << vkrwkv_last_error();
  const auto [text, ended] = reply(sampler, tok, 40);
  EXPECT_TRUE(ended) << text;
  EXPECT_TRUE(std::regex_match(text, std::regex("(yes|no), [a-z]{2,5}\\."))) << text;
  sampler.reset();  // the grammar from its start
  const auto bad = tok.encode(".", false);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), bad.front()), VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("cannot continue the grammar's text"),
            std::string::npos)
      << vkrwkv_last_error();
  EXPECT_EQ(vkrwkv_sampler_set_grammar(sampler.get(), model_, "root ::= \"a\" b"),
            VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("line 1, column 14: rule 'b' is not defined"),
            std::string::npos)
      << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_sampler_set_grammar(sampler.get(), nullptr, nullptr), 0);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), bad.front()), 0) << "no constraint any more";
}

// A JSON schema through the C API, with a root that is not an object (a classifier's enum): the
// reply is one of its values and ends there; a schema outside the subset is named; NULL removes.
TEST_F(CapiConstraintTest, SamplerJsonSchemaConstraint) {
  const Tokenizer& tok = *cpp_model_->tokenizer();
  vkrwkv::Sampler sampler(greedy());
  ASSERT_EQ(
      vkrwkv_sampler_set_json_schema(sampler.get(), model_, R"({"enum": ["light", "darkness"]})"),
      0)
      << vkrwkv_last_error();
  const auto [text, ended] = reply(sampler, tok, 20);
  EXPECT_TRUE(ended) << text;
  EXPECT_TRUE(std::regex_match(text, std::regex("\\s*\"(light|darkness)\""))) << text;
  // An integer root: the end comes only where the number may end.
  ASSERT_EQ(vkrwkv_sampler_set_json_schema(sampler.get(), model_,
                                           R"({"type": "integer", "minimum": 10})"),
            0)
      << vkrwkv_last_error();
  const auto [number, number_ended] = reply(sampler, tok, 20);
  if (number_ended) {
    EXPECT_TRUE(std::regex_match(number, std::regex("\\s*[1-9][0-9]+"))) << number;
  } else {
    EXPECT_TRUE(std::regex_match(number, std::regex("\\s*[1-9][0-9]*"))) << number;
  }
  EXPECT_EQ(vkrwkv_sampler_set_json_schema(sampler.get(), model_, R"({"not": {}})"),
            VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("'not'"), std::string::npos)
      << vkrwkv_last_error();
  EXPECT_EQ(vkrwkv_sampler_set_json_schema(sampler.get(), model_, "{\"type\": "),
            VKRWKV_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vkrwkv_last_error()).find("the schema is not JSON"), std::string::npos)
      << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_sampler_set_json_schema(sampler.get(), nullptr, nullptr), 0);
  const auto dot = tok.encode(".", false);
  EXPECT_EQ(vkrwkv_sampler_accept(sampler.get(), dot.front()), 0) << "no constraint any more";
}

TEST(CapiLifetime, HandlesFreedInAnyOrder) {
  if (!gpu_context()) GTEST_SKIP() << "no Vulkan device";
  vkrwkv_context* ctx = nullptr;
  vkrwkv_model* model = nullptr;
  vkrwkv_session* s = nullptr;
  ASSERT_EQ(vkrwkv_context_create(-1, &ctx), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_model_load(ctx, kCapiModel.c_str(), &model), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_session_create(model, 1, &s), 0) << vkrwkv_last_error();
  const int V = vkrwkv_model_n_vocab(model);
  std::vector<float> before(static_cast<size_t>(V)), after(before.size());
  const int32_t ids[] = {3, 14, 15};
  ASSERT_EQ(vkrwkv_session_eval(s, 0, ids, 3, before.data()), 0) << vkrwkv_last_error();
  vkrwkv_context_destroy(ctx);  // context first, then the model: the session still works
  vkrwkv_model_free(model);
  ASSERT_EQ(vkrwkv_session_reset(s, 0), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_session_eval(s, 0, ids, 3, after.data()), 0) << vkrwkv_last_error();
  EXPECT_EQ(before, after);
  vkrwkv_session_free(s);
}

// A model split over two contexts (two VkDevices on the one CI device) gives the logits of the
// whole model bit for bit, and state bytes move between the two; the contexts may go first.
// Bad splits are refused naming the problem; a split session cannot record into a host command
// buffer.
TEST_F(CapiTest, SplitModelEqualsWholeModel) {
  vkrwkv_context* a = nullptr;
  vkrwkv_context* b = nullptr;
  ASSERT_EQ(vkrwkv_context_create(-1, &a), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_context_create(-1, &b), 0) << vkrwkv_last_error();
  vkrwkv_context* both[] = {a, b};
  const int layers[] = {3, 1};
  vkrwkv_model* split = nullptr;
  ASSERT_EQ(vkrwkv_model_load_split(both, 2, kCapiModel.c_str(), layers, &split), 0)
      << vkrwkv_last_error();
  EXPECT_EQ(vkrwkv_model_n_devices(split), 2);
  EXPECT_EQ(vkrwkv_model_n_devices(model_), 1);
  vkrwkv_session* s = nullptr;
  ASSERT_EQ(vkrwkv_session_create(split, 1, &s), 0) << vkrwkv_last_error();
  vkrwkv_context_destroy(a);  // the model and session keep both devices alive
  vkrwkv_context_destroy(b);
  vkrwkv_model_free(split);
  vkrwkv_session_reset(session_, 0);
  const auto want = eval(0, kIds);
  std::vector<float> got(want.size());
  ASSERT_EQ(vkrwkv_session_eval(s, 0, kIds.data(), static_cast<int>(kIds.size()), got.data()), 0)
      << vkrwkv_last_error();
  EXPECT_EQ(got, want);
  const long long size = vkrwkv_state_size(s);
  ASSERT_EQ(size, vkrwkv_state_size(session_));
  std::vector<std::byte> state(static_cast<size_t>(size)), whole(state.size());
  ASSERT_EQ(vkrwkv_state_save(s, 0, state.data(), size), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_state_save(session_, 0, whole.data(), size), 0) << vkrwkv_last_error();
  EXPECT_EQ(state, whole);
  vkrwkv_forward_io io{};
  expect_error(vkrwkv_session_forward_io(s, 1, &io), VKRWKV_ERROR_INVALID_ARGUMENT, "one device");
  vkrwkv_session_free(s);

  vkrwkv_context* c = nullptr;
  ASSERT_EQ(vkrwkv_context_create(-1, &c), 0) << vkrwkv_last_error();
  vkrwkv_context* twice[] = {c, c};
  const int bad_sum[] = {1, 1}, zero[] = {4, 0};
  vkrwkv_model* m = nullptr;
  expect_error(vkrwkv_model_load_split(twice, 2, kCapiModel.c_str(), bad_sum, &m),
               VKRWKV_ERROR_INVALID_ARGUMENT, "sum to 2");
  expect_error(vkrwkv_model_load_split(twice, 2, kCapiModel.c_str(), zero, &m),
               VKRWKV_ERROR_INVALID_ARGUMENT, "layers[1] = 0");
  expect_error(vkrwkv_model_load_split(twice, 0, kCapiModel.c_str(), nullptr, &m),
               VKRWKV_ERROR_INVALID_ARGUMENT, "n_ctxs = 0");
  vkrwkv_context* with_null[] = {c, nullptr};
  expect_error(vkrwkv_model_load_split(with_null, 2, kCapiModel.c_str(), nullptr, &m),
               VKRWKV_ERROR_INVALID_ARGUMENT, "ctxs[1] is NULL");
  EXPECT_EQ(m, nullptr);
  ASSERT_EQ(vkrwkv_model_load_split(twice, 2, kCapiModel.c_str(), nullptr, &m), 0)
      << vkrwkv_last_error();  // by free memory, two parts on one device
  EXPECT_EQ(vkrwkv_model_n_devices(m), 2);
  vkrwkv_model_free(m);
  vkrwkv_context_destroy(c);
}

// The C++ wrapper's split constructor: a model over two contexts, and a layer count per device
// checked before the C call (which reads n_ctxs counts).
TEST_F(CapiTest, WrapperSplitsAModel) {
  vkrwkv::Context a, b;
  vkrwkv::Model split({&a, &b}, kCapiModel, {2, 2});
  EXPECT_EQ(split.n_devices(), 2);
  EXPECT_EQ(split.n_vocab(), vkrwkv_model_n_vocab(model_));
  try {
    vkrwkv::Model bad({&a, &b}, kCapiModel, {4});
    ADD_FAILURE() << "a layer count for one of two devices was accepted";
  } catch (const vkrwkv::Error& e) {
    EXPECT_EQ(e.code(), VKRWKV_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("1 layer counts for 2 devices"), std::string::npos)
        << e.what();
  }
}

// State files: the state and the ids it read come back (as many ids as the buffer holds, the
// count always), a file of the C++ wrapper is read by the C call and back, and bad calls and
// files are refused with their codes.
TEST_F(CapiTest, StateFilesCarryTheTokens) {
  const std::string path = (std::filesystem::temp_directory_path() / "vkr-capi-state.bin").string();
  const std::vector<int32_t> read = {5, 6, 7};
  ASSERT_EQ(vkrwkv_session_reset(session_, 0), 0);
  eval(0, read);
  ASSERT_EQ(vkrwkv_state_save_file(session_, 0, path.c_str(), read.data(), 3), 0)
      << vkrwkv_last_error();
  const auto after = eval(0, {8, 9});
  int32_t two[2] = {-1, -1};
  EXPECT_EQ(vkrwkv_state_load_file(session_, 1, path.c_str(), two, 2), 3) << vkrwkv_last_error();
  EXPECT_EQ(two[0], 5);
  EXPECT_EQ(two[1], 6);
  EXPECT_EQ(eval(1, {8, 9}), after);
  EXPECT_EQ(vkrwkv_state_load_file(session_, 1, path.c_str(), nullptr, 0), 3);
  // None recorded.
  ASSERT_EQ(vkrwkv_state_save_file(session_, 1, path.c_str(), nullptr, 0), 0);
  EXPECT_EQ(vkrwkv_state_load_file(session_, 0, path.c_str(), nullptr, 0), 0);
  // The wrapper over the same calls.
  vkrwkv::Context c;
  vkrwkv::Model m(c, kCapiModel);
  vkrwkv::Session w(m, 1);
  w.load_state_file(0, path);
  w.save_state_file(0, path, {1, 2});
  EXPECT_EQ(w.load_state_file(0, path), (std::vector<int32_t>{1, 2}));
  // Refusals.
  expect_error(vkrwkv_state_save_file(session_, 0, path.c_str(), nullptr, 2),
               VKRWKV_ERROR_INVALID_ARGUMENT, "tokens");
  expect_error(vkrwkv_state_save_file(session_, 0, path.c_str(), read.data(), -1),
               VKRWKV_ERROR_INVALID_ARGUMENT, "n_tokens -1 is negative");
  expect_error(vkrwkv_state_load_file(session_, 0, path.c_str(), nullptr, 4),
               VKRWKV_ERROR_INVALID_ARGUMENT, "tokens");
  expect_error(vkrwkv_state_load_file(session_, 0, "/nonexistent/x.state", nullptr, 0),
               VKRWKV_ERROR_IO, "cannot open state file");
  std::ofstream(path) << "junk";
  expect_error(vkrwkv_state_load_file(session_, 0, path.c_str(), nullptr, 0),
               VKRWKV_ERROR_BAD_MODEL, "not a vkrwkv state file");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace vkr::test
