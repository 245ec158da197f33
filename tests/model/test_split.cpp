// test_split.cpp: a model split by layers over several devices. CI has one device (lavapipe), so
// the "devices" are two contexts on it (each its own VkDevice, memory and queue: nothing can be
// shared between them except through the host, as between two GPUs) and a context used twice.
// A split model must compute exactly what the whole model computes on one device: the same
// logits bit for bit for every kind of call, llama.cpp's logits, the same state bytes (a state
// moves between split and whole); each part holds only its tensors; bad splits and what needs
// one device are refused with errors naming the problem. Also: a model in several files.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>

#include "forward_checks.hpp"
#include "gguf_split_writer.hpp"
#include "model.hpp"
#include "session.hpp"
#include "support/expect_error.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

// The test context and another one on the same device.
class TwoDevices : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    other_ = Context::create(test_options());
  }
  void TearDown() override {
    if (other_) expect_no_validation_messages(*other_);
    other_.reset();
    GpuTest::TearDown();
  }
  std::unique_ptr<Model> load_split(const std::string& file, std::vector<Context*> devices,
                                    std::vector<uint32_t> split, uint32_t max_tokens = 32) {
    LoadOptions o = quiet(max_tokens);
    o.layer_split = std::move(split);
    return Model::load(devices, kRefDir / file, o);
  }
  std::unique_ptr<Context> other_;
};

class SplitModel : public TwoDevices, public ::testing::WithParamInterface<std::string> {};

// Every kind of call on the split model == the same call on the whole model, bit for bit: the
// same kernels run on the same rows, and the hand-off copies f32 rows exactly. Splits: first
// layer alone, last layer alone, and three parts (the middle one on the other device).
TEST_P(SplitModel, EveryCallMatchesOneDeviceBitForBit) {
  const std::string file = GetParam();
  auto whole = Model::load(ctx(), kRefDir / file, quiet(32));
  const uint32_t L = whole->config().n_layer;
  struct Case {
    std::vector<Context*> devices;
    std::vector<uint32_t> split;
  };
  std::vector<Case> cases{{{&ctx(), other_.get()}, {1, L - 1}},
                          {{other_.get(), &ctx()}, {L - 1, 1}}};
  if (L >= 3) cases.push_back({{&ctx(), other_.get(), &ctx()}, {1, 1, L - 2}});
  const auto tokens = prompt_tokens(file, "p150");
  const auto prompt = std::span(tokens).first(40);  // two calls of 32 rows
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.split.size() << " parts, first " << c.split[0]);
    auto split = load_split(file, c.devices, c.split);
    ASSERT_EQ(split->parts().size(), c.split.size());
    Session a(*whole, 2), b(*split, 2);
    EXPECT_EQ(a.eval(0, prompt, true), b.eval(0, prompt, true));
    for (size_t t = 0; t < 3; ++t) {  // decode steps: replayed after the first
      const auto id = std::span(tokens).subspan(40 + t, 1);
      EXPECT_EQ(a.eval(0, id), b.eval(0, id)) << "step " << t;
      EXPECT_EQ(a.eval_argmax(1, id), b.eval_argmax(1, id)) << "step " << t;
    }
    EXPECT_GT(b.replay_stats().replayed, 0u);
    // Prompts of several pieces (32 rows per call), the earlier pieces pipelined over the parts.
    const auto longer = std::span(tokens).first(100);
    a.state().reset(1);
    b.state().reset(1);
    EXPECT_EQ(a.eval(1, longer), b.eval(1, longer));
    EXPECT_EQ(a.eval_argmax(1, longer), b.eval_argmax(1, longer));
    EXPECT_EQ(a.state().save(1), b.state().save(1));
    const auto ids = std::span(tokens).subspan(50, 40), targets = std::span(tokens).subspan(51, 40);
    EXPECT_EQ(a.eval_nll(1, ids, targets), b.eval_nll(1, ids, targets));
    const auto ta = a.eval_topk(0, std::span(tokens).subspan(60, 5), 7);
    const auto tb = b.eval_topk(0, std::span(tokens).subspan(60, 5), 7);
    EXPECT_EQ(ta.ids, tb.ids);
    EXPECT_EQ(ta.logits, tb.logits);
    EXPECT_EQ(a.decode_batch(0, std::span(tokens).subspan(70, 2)),
              b.decode_batch(0, std::span(tokens).subspan(70, 2)));
    // The hidden state (embeddings): the last row over several pieces, and every row.
    EXPECT_EQ(a.eval_hidden(0, std::span(tokens).subspan(80, 40)),
              b.eval_hidden(0, std::span(tokens).subspan(80, 40)));
    EXPECT_EQ(a.eval_hidden(1, std::span(tokens).subspan(90, 20), true),
              b.eval_hidden(1, std::span(tokens).subspan(90, 20), true));
    EXPECT_EQ(a.state().save(0), b.state().save(0));
    EXPECT_EQ(a.state().save(1), b.state().save(1));
  }
}

// The split model against llama.cpp's logits (../shared/refmodels), every position of both
// prompts, on an automatic split (by free memory: the two contexts report the same heap).
TEST_P(SplitModel, MatchesLlamaCppOnAnAutomaticSplit) {
  Context* devices[] = {&ctx(), other_.get()};
  auto split = Model::load(devices, kRefDir / GetParam(), quiet());
  ASSERT_EQ(split->parts().size(), 2u);
  expect_matches_llamacpp(*split, GetParam());
}

// A state saved on the whole model continues identically on the split one and back (same bytes,
// same file format and fingerprint).
TEST_P(SplitModel, StateMovesBetweenWholeAndSplit) {
  const std::string file = GetParam();
  auto whole = Model::load(ctx(), kRefDir / file, quiet());
  auto split = load_split(file, {&ctx(), other_.get()}, {1, whole->config().n_layer - 1});
  EXPECT_EQ(whole->fingerprint(), split->fingerprint());
  const auto tokens = prompt_tokens(file, "p150");
  Session a(*whole, 1), b(*split, 1);
  a.eval(0, std::span(tokens).first(30));
  const auto path = std::filesystem::temp_directory_path() / ("vkr-split-" + file + ".state");
  a.state().save_file(0, path);
  b.state().load_file(0, path);
  const auto next = std::span(tokens).subspan(30, 10);
  EXPECT_EQ(a.eval(0, next), b.eval(0, next));
  b.eval(0, std::span(tokens).subspan(40, 7));
  a.state().load(0, b.state().save(0));
  const auto last = std::span(tokens).subspan(47, 3);
  EXPECT_EQ(a.eval(0, last), b.eval(0, last));
  std::filesystem::remove(path);
}

// Both architectures, f32 and f16 weights, head sizes 64 and 128, 2 to 4 layers.
INSTANTIATE_TEST_SUITE_P(RefModels, SplitModel,
                         ::testing::Values("tiny-qrwkv6-f16.gguf", "micro-rwkv6-f32.gguf",
                                           "tiny-rwkv6-f16.gguf", "h128-qrwkv6-f16.gguf"),
                         param_name);

class SplitParts : public TwoDevices {};

// Each part holds its layers' tensors (the embedding on the first, the head on the last) and
// their state; the parts' plans add up to the whole model's.
TEST_F(SplitParts, EachDeviceHoldsOnlyItsPart) {
  const std::string file = "tiny-qrwkv6-f16.gguf";
  auto whole = Model::load(ctx(), kRefDir / file, quiet());
  auto split = load_split(file, {&ctx(), other_.get()}, {1, 3}, 64);
  const auto& p = split->parts();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].ctx, &ctx());
  EXPECT_EQ(p[1].ctx, other_.get());
  EXPECT_TRUE(p[0].embed && !p[0].head && p[0].first == 0 && p[0].end == 1);
  EXPECT_TRUE(!p[1].embed && p[1].head && p[1].first == 1 && p[1].end == 4);
  EXPECT_EQ(&split->part_of_layer(0), &p[0]);
  EXPECT_EQ(&split->part_of_layer(3), &p[1]);
  EXPECT_TRUE(split->weights(0).find("token_embd.weight"));
  EXPECT_FALSE(split->weights(0).find("output.weight"));
  EXPECT_FALSE(split->weights(0).find("blk.1.time_mix_key.weight"));
  EXPECT_TRUE(split->weights(1).find("output.weight"));
  EXPECT_TRUE(split->weights(1).find("blk.3.ffn_down.weight"));
  EXPECT_FALSE(split->weights(1).find("token_embd.weight"));
  EXPECT_FALSE(split->weights(1).find("blk.0.time_mix_key.weight"));
  EXPECT_EQ(split->weights(0).file_bytes() + split->weights(1).file_bytes(),
            whole->weights().file_bytes());
  EXPECT_EQ(p[0].plan.weights + p[1].plan.weights, whole->plan().weights);
  EXPECT_EQ(p[0].plan.state_per_sequence + p[1].plan.state_per_sequence,
            whole->plan().state_per_sequence);
  EXPECT_LT(p[0].plan.scratch, p[1].plan.scratch);  // no logits buffer without the head
  // Each part's plan covers what a session allocates on its device (other_ holds only part 1;
  // the 64-token scratch the plan was made for, plus the head's small sampling buffers).
  const uint64_t before = other_->arena(Lifetime::Activations).used_bytes();
  Session s(*split, 1);
  EXPECT_LE(other_->arena(Lifetime::Activations).used_bytes() - before, p[1].plan.scratch);
  const uint64_t before_load = other_->arena(Lifetime::Activations).used_bytes();
  auto three = load_split(file, {&ctx(), other_.get(), &ctx()}, {1, 2, 1}, 64);
  const uint64_t before_mid = other_->arena(Lifetime::Activations).used_bytes();
  EXPECT_EQ(before_load, before_mid);  // loading allocates no activations
  Session s3(*three, 1);  // the middle part: hand-off in and out, no ids, no logits
  EXPECT_LE(other_->arena(Lifetime::Activations).used_bytes() - before_mid,
            three->parts()[1].plan.scratch);
}

// plan_layer_split: explicit counts are checked; automatic splits follow free memory, give
// every device a layer and cover every layer.
TEST_F(SplitParts, LayerSplitPlans) {
  auto whole = Model::load(ctx(), kRefDir / "tiny-qrwkv6-f16.gguf", quiet());
  const auto& f = whole->file();
  const auto& c = whole->config();  // 4 layers
  const uint64_t G = 1ull << 30;
  auto split = [&](std::vector<uint64_t> free, std::vector<uint32_t> counts) {
    return plan_layer_split(f, c, free, counts);
  };
  EXPECT_EQ(split({G, G}, {3, 1}), (std::vector<uint32_t>{3, 1}));
  for (auto free : {std::vector<uint64_t>{G, G}, {G, 1}, {1, G}, {G, G, G}, {G, G, G, G}, {0, 0}}) {
    const auto s = split(free, {});
    ASSERT_EQ(s.size(), free.size());
    EXPECT_EQ(std::accumulate(s.begin(), s.end(), 0u), c.n_layer);
    for (uint32_t n : s) EXPECT_GE(n, 1u);
  }
  EXPECT_EQ(split({G, 1}, {}), (std::vector<uint32_t>{3, 1}));  // nearly all memory on device 0
  EXPECT_EQ(split({1, G}, {}), (std::vector<uint32_t>{1, 3}));
  expect_error([&] { split({G, G}, {2, 1}); }, ErrorCode::InvalidArgument,
               {"sum to 3", "4 layers"});
  expect_error([&] { split({G, G}, {4, 0}); }, ErrorCode::InvalidArgument,
               {"device 1", "0 layers"});
  expect_error([&] { split({G, G}, {4}); }, ErrorCode::InvalidArgument, {"1 counts", "2 devices"});
  expect_error([&] { split(std::vector<uint64_t>(5, G), {}); }, ErrorCode::InvalidArgument,
               {"5 devices", "4 layers"});
  expect_error([&] { split({}, {}); }, ErrorCode::InvalidArgument, {"no device"});
}

// What one command buffer or one timer must hold is refused on a split model, naming why.
TEST_F(SplitParts, OneDeviceOnlyCallsAreRefused) {
  auto split = load_split("micro-rwkv6-f32.gguf", {&ctx(), other_.get()}, {});
  Session s(*split, 1);
  expect_error([&] { s.io(1); }, ErrorCode::InvalidArgument, {"one device", "split over 2"});
  StageProfile profile;
  expect_error([&] { s.set_profile(&profile); }, ErrorCode::InvalidArgument,
               {"profiling", "split over 2"});
  std::vector<Context*> none;
  expect_error([&] { Model::load(none, kRefDir / "micro-rwkv6-f32.gguf", quiet()); },
               ErrorCode::InvalidArgument, {"no device"});
  std::vector<Context*> null_ctx{nullptr};
  expect_error([&] { Model::load(null_ctx, kRefDir / "micro-rwkv6-f32.gguf", quiet()); },
               ErrorCode::InvalidArgument, {"null device"});
}

// A model published in several files (llama-gguf-split's parts, here by size so tensors of one
// layer land in different parts) loads from its first part and computes the single file's
// logits bit for bit.
TEST_F(GpuTest, ModelInPartsMatchesTheSingleFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("vkr_split_files_{}", getpid());
  std::filesystem::create_directories(dir);
  gguf::SplitOptions o;
  o.max_bytes = 3'000'000;
  const auto parts = gguf::write_split(gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf"),
                                       (dir / "tiny").string(), o);
  ASSERT_GE(parts.size(), 3u);
  auto whole = Model::load(ctx(), kRefDir / "tiny-qrwkv6-f16.gguf", quiet(32));
  auto split = Model::load(ctx(), parts[0], quiet(32));
  EXPECT_EQ(split->file().n_shards(), parts.size());
  Session a(*whole, 1), b(*split, 1);
  const std::vector<int32_t> ids = {1, 2, 3, 40, 500, 7, 8};
  EXPECT_EQ(a.eval(0, ids, true), b.eval(0, ids, true));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vkr::test
