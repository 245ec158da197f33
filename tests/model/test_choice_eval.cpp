// test_choice_eval.cpp: the multiple-choice scores on the GPU (HellaSwag, Winogrande,
// --multiple-choice: the shared prefix run once, its state copied per continuation) vs llama.cpp's
// logits under llama-perplexity's scoring (tests/data/llama_hellaswag, llama_winogrande,
// llama_multiple_choice).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "choice_eval.hpp"
#include "forward_checks.hpp"
#include "hellaswag.hpp"
#include "model.hpp"
#include "session.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(VKR_SOURCE_DIR) / "tests" / "data";

// The model a reference run names: the bundled one or one of ../shared/refmodels.
std::unique_ptr<Model> load_run_model(Context& ctx, const std::string& model) {
  const fs::path path = model == "kjv-qrwkv6.gguf" ? kDefaultModelDir / model : kRefDir / model;
  return Model::load(ctx, path, quiet(32));
}

// Each HellaSwag task of tests/data/llama_hellaswag scored on the GPU, prefix once and its state
// copied per continuation, vs llama.cpp's logits under llama-perplexity's scoring: the same
// tokens, prefix, per-ending means (to f32 rounding of the logits) and choices.
TEST_F(GpuTest, HellaswagScoresMatchLlamaCpp) {
  const Json m = read_json(kData / "llama_hellaswag" / "manifest.json");
  for (const Json& run : m.at("runs")) {
    const std::string model = run.at("model");
    SCOPED_TRACE(model);
    auto md = load_run_model(ctx(), model);
    Session session(*md, 2);
    double worst = 0;
    for (const Json& task : run.at("tasks")) {
      std::array<std::vector<int32_t>, 4> seqs;
      for (size_t e = 0; e < 4; ++e) {
        seqs[e] =
            md->tokenizer()->encode(task.at("context").get<std::string>() + " " +
                                        task.at("endings").at(e).at("ending").get<std::string>(),
                                    false);
        EXPECT_EQ(seqs[e], task.at("seq_tokens").at(e).get<std::vector<int32_t>>());
      }
      const HellaswagScore s = score_hellaswag(session, seqs);
      EXPECT_EQ(s.prefix, task.at("common_prefix").get<size_t>());
      EXPECT_EQ(s.chosen, task.at("chosen").get<size_t>());
      for (size_t e = 0; e < 4; ++e) {
        const double want = task.at("endings").at(e).at("score_mean").get<double>();
        worst = std::max(worst, std::fabs(s.mean[e] - want));
      }
    }
    std::printf("[hellaswag] %s: max |mean log p diff| vs llama.cpp %.3g\n", model.c_str(), worst);
    EXPECT_LT(worst, 2e-3);
  }
}

// Winogrande tasks of tests/data/llama_winogrande scored on the GPU vs llama.cpp's logits under
// llama-perplexity's scoring: same tokens and choices, scores within f32 rounding of the logits,
// except where llama-perplexity reads the wrong row (its "FIXME: wrong first logits", flagged in
// the manifest), which we do not copy.
TEST_F(GpuTest, WinograndeScoresMatchLlamaCpp) {
  const Json m = read_json(kData / "llama_winogrande" / "manifest.json");
  for (const Json& run : m.at("runs")) {
    const std::string model = run.at("model");
    SCOPED_TRACE(model);
    auto md = load_run_model(ctx(), model);
    Session session(*md, 2);
    double worst = 0;
    int wrong_rows = 0;
    for (const Json& task : run.at("tasks")) {
      std::array<std::vector<int32_t>, 2> seqs;
      std::array<size_t, 2> n_base{};
      for (size_t c = 0; c < 2; ++c) {
        const Json& ch = task.at("choices").at(c);
        const std::string option = ch.at("option");
        seqs[c] = md->tokenizer()->encode(
            task.at("first").get<std::string>() + option + task.at("second").get<std::string>(),
            false);
        EXPECT_EQ(seqs[c], task.at("seq_tokens").at(c).get<std::vector<int32_t>>());
        n_base[c] =
            md->tokenizer()->encode(task.at("first").get<std::string>() + option, false).size();
        EXPECT_EQ(n_base[c], ch.at("n_base").get<size_t>());
      }
      const WinograndeScore s = score_winogrande(session, seqs, n_base);
      bool llama_wrong_row = false;
      for (size_t c = 0; c < 2; ++c) {
        const Json& ch = task.at("choices").at(c);
        bool right = true;
        for (const Json& t : ch.at("scored_tokens")) right = right && t.at("row_is_the_right_one");
        if (!right) {
          llama_wrong_row = true;
          ++wrong_rows;
          continue;
        }
        worst = std::max(worst, std::fabs(double(s.mean[c]) - ch.at("score").get<double>()));
      }
      if (!llama_wrong_row) {
        EXPECT_EQ(s.chosen, task.at("chosen").get<int>());
      }
    }
    std::printf(
        "[winogrande] %s: max |score diff| vs llama.cpp %.3g (%d scores skipped: "
        "llama.cpp's wrong row)\n",
        model.c_str(), worst, wrong_rows);
    EXPECT_LT(worst, 2e-3);
  }
}

// Each task of tests/data/llama_multiple_choice (2 to 8 answers) scored on the GPU vs llama.cpp's
// logits under llama-perplexity --multiple-choice's scoring: the same tokens, prefix, per-answer
// means (to f32 rounding of the logits) and choices.
TEST_F(GpuTest, MultipleChoiceScoresMatchLlamaCpp) {
  const Json m = read_json(kData / "llama_multiple_choice" / "manifest.json");
  for (const Json& run : m.at("runs")) {
    const std::string model = run.at("model");
    SCOPED_TRACE(model);
    auto md = load_run_model(ctx(), model);
    Session session(*md, 2);
    double worst = 0;
    for (const Json& task : run.at("tasks")) {
      std::vector<std::vector<int32_t>> seqs;
      for (const Json& a : task.at("answers")) {
        seqs.push_back(md->tokenizer()->encode(
            task.at("question").get<std::string>() + " " + a.get<std::string>(), false));
      }
      EXPECT_EQ(seqs, task.at("seq_tokens").get<std::vector<std::vector<int32_t>>>());
      const MultipleChoiceScore s = score_multiple_choice(session, seqs);
      EXPECT_EQ(s.prefix, task.at("common_prefix").get<size_t>());
      EXPECT_EQ(s.chosen, task.at("chosen").get<size_t>());
      const auto want = task.at("scores").get<std::vector<double>>();
      ASSERT_EQ(s.mean.size(), want.size());
      for (size_t a = 0; a < want.size(); ++a) {
        worst = std::max(worst, std::fabs(double(s.mean[a]) - want[a]));
      }
    }
    std::printf("[multiple choice] %s: max |mean log p diff| vs llama.cpp %.3g\n", model.c_str(),
                worst);
    EXPECT_LT(worst, 2e-3);
  }
}

// An answer whose tokens begin another's: the shared prefix stops one token short so each answer
// scores a token of its own, and every mean equals the one computed from each whole sequence run
// alone from a zero state (no state copying), with the same float sums.
TEST_F(GpuTest, MultipleChoiceAnswerThatBeginsAnother) {
  auto md = load_run_model(ctx(), "kjv-qrwkv6.gguf");
  Session session(*md, 2);
  const Tokenizer& tok = *md->tokenizer();
  const std::string q = "And God said unto Moses,";
  const std::vector<std::vector<int32_t>> seqs = {tok.encode(q + " I", false),
                                                  tok.encode(q + " I am", false),
                                                  tok.encode(q + " Go in peace", false)};
  ASSERT_EQ(std::vector<int32_t>(seqs[1].begin(), seqs[1].begin() + seqs[0].size()), seqs[0]);
  const MultipleChoiceScore s = score_multiple_choice(session, seqs);
  EXPECT_EQ(s.prefix, seqs[0].size() - 1);
  ASSERT_EQ(s.mean.size(), 3u);
  const size_t V = md->config().V;
  for (size_t a = 0; a < seqs.size(); ++a) {
    session.state().reset(0);
    const auto rows = session.eval(0, std::span(seqs[a]).first(seqs[a].size() - 1), true);
    float sum =
        prefix_token_logprob(std::span(rows).subspan((s.prefix - 1) * V, V), seqs[a][s.prefix]);
    for (size_t i = s.prefix + 1; i < seqs[a].size(); ++i) {
      sum += token_logprob(std::span(rows).subspan((i - 1) * V, V), seqs[a][i]);
    }
    const float want = sum / static_cast<float>(seqs[a].size() - s.prefix);
    EXPECT_NEAR(s.mean[a], want, 1e-4) << "answer " << a;
  }
  // No shared token at all (an empty question) is an error, not a score from nothing.
  const std::vector<std::vector<int32_t>> apart = {{1, 2}, {3, 4}};
  EXPECT_THROW(score_multiple_choice(session, apart), Error);
}

}  // namespace
}  // namespace vkr::test
