// test_choice_eval.cpp: the multiple-choice scores on the GPU (HellaSwag, Winogrande: the shared
// prefix run once, its state copied per continuation) vs llama.cpp's logits under
// llama-perplexity's scoring (tests/data/llama_hellaswag, llama_winogrande).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "choice_eval.hpp"
#include "forward_checks.hpp"
#include "model.hpp"
#include "session.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"

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

}  // namespace
}  // namespace vkr::test
