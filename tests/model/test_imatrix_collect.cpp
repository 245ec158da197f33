// test_imatrix_collect.cpp: `vkrwkv imatrix`'s statistics, collected on the GPU during forward
// passes, vs the ones llama.cpp's own graph gave under llama-imatrix's rules for the same tokens
// and chunks (tests/data/llama_imatrix, made by model/tools/llama_imatrix_refs.py); a model split
// over two devices collects the same; bad chunking is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>

#include "activation_stats.hpp"
#include "forward_checks.hpp"
#include "imatrix_collect.hpp"
#include "model.hpp"
#include "session.hpp"
#include "support/expect_error.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_imatrix";

std::vector<int32_t> reference_tokens(const std::string& model) {
  const Json m = read_json(kDir / "manifest.json");
  for (const Json& e : m.at("models")) {
    if (e.at("model") == model) return e.at("tokens").get<std::vector<int32_t>>();
  }
  throw std::runtime_error("no " + model + " in " + (kDir / "manifest.json").string());
}

// Largest |ours - theirs| of an entry relative to the entry's largest value.
double rel_diff(const ImatrixEntry& a, const ImatrixEntry& b) {
  double diff = 0, scale = 0;
  for (size_t j = 0; j < a.sums.size(); ++j) {
    diff = std::max(diff, double(std::fabs(a.sums[j] - b.sums[j])));
    scale = std::max(scale, double(std::fabs(b.sums[j])));
  }
  return diff / std::max(scale, 1e-30);
}

class ImatrixCollect : public GpuTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ImatrixCollect, MatchesLlamaCpp) {
  const std::string model = GetParam();
  const auto ids = reference_tokens(model);
  const Imatrix want = read_imatrix(kDir / (fs::path(model).stem().string() + ".imatrix.gguf"));
  // 48 rows per call: each 64-token chunk runs in two pieces, so accumulation over calls counts.
  auto m = Model::load(ctx(), kRefDir / model, quiet(48));
  Session session(*m, 1);
  ImatrixRunOptions o;
  o.chunk = want.chunk_size;
  const ImatrixRun got = collect_imatrix(session, ids, o);
  EXPECT_EQ(got.imatrix.chunk_count, want.chunk_count);
  EXPECT_EQ(got.imatrix.chunk_size, want.chunk_size);
  EXPECT_TRUE(std::isfinite(got.nll));
  EXPECT_EQ(got.scored, uint64_t{want.chunk_count} * (want.chunk_size - 1));

  std::set<std::string> ours;
  double worst = 0;
  std::string worst_name;
  for (const auto& [name, e] : got.imatrix.entries) {
    ours.insert(name);
    const ImatrixEntry* w = want.find(name);
    ASSERT_NE(w, nullptr) << name << " is not in llama.cpp's imatrix";
    ASSERT_EQ(e.K, w->K) << name;
    EXPECT_EQ(e.counts, w->counts) << name;
    const double d = rel_diff(e, *w);
    if (d > worst) worst = d, worst_name = name;
    // Both sides run f16 weights with f32 math; activations differ by rounding order only.
    EXPECT_LT(d, 2e-3) << name;
  }
  std::printf("[imatrix] %s: %zu entries, worst relative diff %.3g (%s)\n", model.c_str(),
              ours.size(), worst, worst_name.c_str());
  // What llama.cpp collects beyond ours: the LoRA matrices, which stay f32 (never quantized).
  for (const auto& [name, e] : want.entries) {
    if (ours.count(name)) continue;
    EXPECT_TRUE(name.find("time_mix_w1") != std::string::npos ||
                name.find("time_mix_decay_w") != std::string::npos)
        << name << " is collected by llama.cpp but not by us";
  }
}

INSTANTIATE_TEST_SUITE_P(Refmodels, ImatrixCollect,
                         ::testing::Values("tiny-qrwkv6-f16.gguf", "tiny-rwkv6-f16.gguf"));

// A model split over two contexts collects every entry on its own part's device: the same
// numbers as the whole model (both run the same kernels on the same rows).
TEST_F(GpuTest, ImatrixOfASplitModelEqualsTheWholeModels) {
  const std::string model = "tiny-rwkv6-f16.gguf";
  const auto ids = reference_tokens(model);
  auto other = Context::create(test_options());
  ImatrixRunOptions o;
  o.chunk = 64;
  o.head = true;
  auto whole = Model::load(ctx(), kRefDir / model, quiet(64));
  Session ws(*whole, 1);
  const ImatrixRun a = collect_imatrix(ws, ids, o);
  Context* devices[] = {&ctx(), other.get()};
  LoadOptions lo = quiet(64);
  lo.layer_split = {1, whole->config().n_layer - 1};
  auto split = Model::load(devices, kRefDir / model, lo);
  Session ss(*split, 1);
  const ImatrixRun b = collect_imatrix(ss, ids, o);
  ASSERT_EQ(a.imatrix.entries.size(), b.imatrix.entries.size());
  EXPECT_EQ(a.imatrix.entries.back().first, "output.weight");
  for (size_t i = 0; i < a.imatrix.entries.size(); ++i) {
    EXPECT_EQ(a.imatrix.entries[i].first, b.imatrix.entries[i].first);
    EXPECT_EQ(a.imatrix.entries[i].second.sums, b.imatrix.entries[i].second.sums)
        << a.imatrix.entries[i].first;
  }
  // The head saw every row (each position is scored), as with llama-imatrix --process-output.
  EXPECT_EQ(a.imatrix.entries.back().second.counts, std::vector<double>{128.0});
  expect_no_validation_messages(*other);
}

// Two runs over the two halves, merged (vkrwkv imatrix --in-file), equal one run over both: the
// same per-call sums, added in another order (f32 rounding only).
TEST_F(GpuTest, ImatrixRunsMergeLikeOneRun) {
  const std::string model = "tiny-qrwkv6-f16.gguf";
  const auto ids = reference_tokens(model);
  auto m = Model::load(ctx(), kRefDir / model, quiet(64));
  Session session(*m, 1);
  ImatrixRunOptions o;
  o.chunk = 64;
  const ImatrixRun both = collect_imatrix(session, ids, o);
  Imatrix merged = collect_imatrix(session, std::span(ids).first(64), o).imatrix;
  merged.merge(collect_imatrix(session, std::span(ids).subspan(64, 64), o).imatrix);
  EXPECT_EQ(merged.chunk_count, both.imatrix.chunk_count);
  ASSERT_EQ(merged.entries.size(), both.imatrix.entries.size());
  for (const auto& [name, e] : both.imatrix.entries) {
    const ImatrixEntry* got = merged.find(name);
    ASSERT_NE(got, nullptr) << name;
    ASSERT_EQ(got->sums.size(), e.sums.size()) << name;
    for (size_t j = 0; j < e.sums.size(); ++j)
      EXPECT_NEAR(got->sums[j], e.sums[j], 1e-6 * e.sums[j]) << name << " column " << j;
    EXPECT_EQ(got->counts, e.counts) << name;
  }
}

// A stop request ends the run after the chunk in progress with what it collected; one before
// any chunk finished is an error (nothing to save).
TEST_F(GpuTest, ImatrixStopsBetweenChunks) {
  const std::string model = "tiny-rwkv6-f16.gguf";
  const auto ids = reference_tokens(model);
  auto m = Model::load(ctx(), kRefDir / model, quiet(64));
  Session session(*m, 1);
  std::atomic<bool> stop{false};
  ImatrixRunOptions o;
  o.chunk = 32;
  o.stop = &stop;
  o.progress = [&](uint32_t done, uint32_t, double) { stop = done == 2; };
  const ImatrixRun r = collect_imatrix(session, ids, o);
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.imatrix.chunk_count, 2u);
  EXPECT_EQ(r.imatrix.entries.front().second.counts, std::vector<double>{64});
  o.progress = nullptr;
  expect_error([&] { collect_imatrix(session, ids, o); }, ErrorCode::InvalidArgument,
               {"interrupted before the first chunk"});
}

TEST_F(GpuTest, ImatrixRefusesTextsWithoutAWholeChunk) {
  auto m = Model::load(ctx(), kRefDir / "tiny-qrwkv6-f16.gguf", quiet(32));
  Session session(*m, 1);
  const std::vector<int32_t> ids(100, 1);
  ImatrixRunOptions o;
  o.chunk = 128;
  expect_error([&] { collect_imatrix(session, ids, o); }, ErrorCode::InvalidArgument,
               {"100 tokens", "128"});
  o.chunk = 1;
  expect_error([&] { collect_imatrix(session, ids, o); }, ErrorCode::InvalidArgument,
               {"at least 2"});
  // The session is usable afterwards, without statistics attached.
  EXPECT_EQ(session.eval(0, ids).size(), m->config().V);
}

}  // namespace
}  // namespace vkr::test
