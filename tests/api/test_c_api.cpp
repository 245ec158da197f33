// test_c_api.cpp: C API results: logits equal the C++ Session's, state save/load round trip,
// tokenizer round trip, greedy eval = argmax of the logits, handles freed in any order.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "c_api_fixture.hpp"
#include "model.hpp"
#include "session.hpp"

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
  const int id = vkrwkv_session_eval_greedy(session_, 1, kIds.data(), static_cast<int>(kIds.size()));
  ASSERT_GE(id, 0) << vkrwkv_last_error();
  EXPECT_EQ(id, std::max_element(logits.begin(), logits.end()) - logits.begin());
  // NULL logits: evaluated (state advanced) without a readback.
  ASSERT_EQ(vkrwkv_session_eval(session_, 1, kIds.data(), 1, nullptr), 0) << vkrwkv_last_error();
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

}  // namespace
}  // namespace vkr::test
