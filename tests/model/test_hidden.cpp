// test_hidden.cpp: Session::eval_hidden, the final hidden state (the output norm's rows) that
// embeddings are pooled from. Checked against the logits themselves: the head's weights (from the
// file, dequantized on the host) times the hidden row must give the GPU's logits, so the rows are
// exactly what the head multiplies; every-row output, pieces and the state afterwards agree with
// eval().
#include <gtest/gtest.h>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "dequant.hpp"
#include "forward_checks.hpp"
#include "model.hpp"
#include "session.hpp"
#include "support/compare.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"

namespace vkr::test {
namespace {

std::filesystem::path path_of(const std::string& file) {
  return file == kDefaultModelFile ? kDefaultModelDir / file : kRefDir / file;
}

class HiddenState : public GpuTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(HiddenState, IsWhatTheHeadMultiplies) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), path_of(file), quiet(16));
  const auto& cfg = model->config();
  const size_t C = cfg.C, V = cfg.V;
  std::vector<int32_t> ids;
  for (int i = 0; i < 37; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 5) % V));
  Session a(*model, 1, 16), b(*model, 1, 16);
  const auto hidden = a.eval_hidden(0, ids);  // 37 tokens: three calls of at most 16
  ASSERT_EQ(hidden.size(), C);
  const auto logits = b.eval(0, ids);
  // The head on the host: output.weight (or the tied embedding) x the hidden row.
  const auto& f = model->file();
  const gguf::TensorInfo* out = f.tensor("output.weight");
  if (!out) out = f.tensor("token_embd.weight");
  ASSERT_TRUE(out);
  const auto w = dequantize_tensor(f, *out);
  ASSERT_EQ(w.size(), V * C);
  std::vector<float> want(V);
  for (size_t v = 0; v < V; ++v) {
    double sum = 0;
    for (size_t c = 0; c < C; ++c) sum += double{w[v * C + c]} * hidden[c];
    want[v] = static_cast<float>(sum);
  }
  EXPECT_TRUE(all_close(want, logits, 2e-3, 2e-3, "head(hidden) vs logits"));
  // The state moved on as with eval(): the next token's logits agree.
  const int32_t next[] = {7};
  EXPECT_TRUE(all_close(a.eval(0, next), b.eval(0, next), 1e-4, 1e-4, "after"));
  // Every row: the last one is the hidden state above, the first one the first token's alone.
  Session c(*model, 1, 16), d(*model, 1, 16);
  const auto rows = c.eval_hidden(0, ids, true);
  ASSERT_EQ(rows.size(), ids.size() * C);
  EXPECT_TRUE(all_close(hidden, std::span<const float>(rows).last(C), 1e-4, 1e-4, "last row"));
  EXPECT_TRUE(all_close(d.eval_hidden(0, std::span(ids).first(1)),
                        std::span<const float>(rows).first(C), 1e-4, 1e-4, "first row"));
  expect_no_validation_messages(ctx());
}

INSTANTIATE_TEST_SUITE_P(Models, HiddenState,
                         ::testing::Values("micro-rwkv6-f32.gguf", "micro-qrwkv6-f32.gguf",
                                           "tiny-qrwkv6-f16.gguf", kDefaultModelFile),
                         param_name);

}  // namespace
}  // namespace vkr::test
