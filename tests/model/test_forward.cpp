// test_forward.cpp: the GPU forward pass vs llama.cpp's logits (../shared/refmodels) for every
// float and quantized model and both prompts, and the state contracts (on two reference models and
// the bundled default model): prefill(T) == T x decode(1), a split prefill == one call,
// save/restore (host and file) continues identically, batched slots == alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "forward_checks.hpp"
#include "kernels/gemm.hpp"
#include "model.hpp"
#include "reference/ops.hpp"
#include "sampler.hpp"
#include "session.hpp"
#include "support/compare.hpp"
#include "support/default_model.hpp"
#include "support/expect_error.hpp"
#include "support/gpu_env.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

bool is_float_model(const std::string& file) {
  const std::string dtype = model_entry(file).at("dtype");
  return dtype == "f32" || dtype == "f16";
}

std::vector<std::string> float_models() {
  std::vector<std::string> out;
  for (const auto& f : model_files()) {
    if (is_float_model(f)) out.push_back(f);
  }
  return out;
}

// The quantized reference files (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K of both archs): weights stay
// in their blocks on the device and the kernels decode them in place.
std::vector<std::string> quant_models() {
  std::vector<std::string> out;
  for (const auto& f : model_files()) {
    if (!is_float_model(f)) out.push_back(f);
  }
  return out;
}

}  // namespace

std::string param_name(const ::testing::TestParamInfo<std::string>& p) {
  std::string name = p.param.substr(0, p.param.find(".gguf"));
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

LoadOptions quiet(uint32_t max_tokens) {
  LoadOptions o;
  o.progress = false;
  o.max_tokens = max_tokens;
  o.sequences = 2;
  return o;
}

namespace {

// Every position of both prompts, run on `model` from a fresh state, vs llama.cpp's logits
// (`logits(prompt)`), within `max_tol` / `mean_tol`. Loaded with max_tokens = 64 (quiet()), the
// 158-token prompt runs as three calls (state carried between them), each long enough for the
// chunked WKV kernel.
template <class Tokens, class Logits>
void expect_logits(Model& model, const std::string& file, Tokens tokens_of, Logits logits_of,
                   double max_tol, double mean_tol) {
  const int V = static_cast<int>(model.config().V);
  Session session(model, 1);
  for (const std::string prompt : {"p16", "p150"}) {
    const std::vector<int32_t> tokens = tokens_of(prompt);
    const int T = static_cast<int>(tokens.size());
    const auto want = read_logits(logits_of(prompt), static_cast<size_t>(T) * V);
    session.state().reset(0);
    const auto got = session.eval(0, tokens, /*all_logits=*/true);
    ASSERT_EQ(got.size(), want.size());
    const CaseResult r = compare_logits(T, V, want, got, max_tol);
    std::printf(
        "[gpu-vs-llama.cpp] %-24s %-4s max|diff| %.3g (pos %d) mean|diff| %.3g argmax "
        "%d/%d (+%d excused) tol %.3g / %.3g\n",
        file.c_str(), prompt.c_str(), r.max_diff, r.max_pos, r.mean_diff, r.argmax_agree, T,
        r.excused, max_tol, mean_tol);
    EXPECT_LE(r.max_diff, max_tol) << file << " " << prompt << " at position " << r.max_pos;
    EXPECT_LE(r.mean_diff, mean_tol) << file << " " << prompt;
    EXPECT_TRUE(r.bad_argmax.empty()) << file << " " << prompt << ": argmax differs at "
                                      << r.bad_argmax.size() << " confident position(s)";
  }
}

std::string stem(const std::string& file) { return file.substr(0, file.size() - 5); }

}  // namespace

// Reference model `file` of ../shared/refmodels within the README's tolerances for its dtype.
void expect_matches_llamacpp(Model& model, const std::string& file) {
  const std::string dtype = model_entry(file).at("dtype");
  const Json& tol = manifest().at("tolerance").at(dtype);
  expect_logits(
      model, file, [&](const std::string& p) { return prompt_tokens(file, p); },
      [&](const std::string& p) {
        return kRefDir / fmt::format("{}.{}.logits.f32", stem(file), p);
      },
      tol.at("recommended_max_abs_diff").get<double>(),
      tol.at("recommended_mean_abs_diff").get<double>());
}

namespace {

class ForwardVsLlamaCpp : public GpuTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ForwardVsLlamaCpp, LogitsAtEveryPosition) {
  expect_matches_llamacpp(*Model::load(ctx(), kRefDir / GetParam(), quiet()), GetParam());
}

INSTANTIATE_TEST_SUITE_P(RefModels, ForwardVsLlamaCpp, ::testing::ValuesIn(float_models()),
                         param_name);
INSTANTIATE_TEST_SUITE_P(QuantRefModels, ForwardVsLlamaCpp, ::testing::ValuesIn(quant_models()),
                         param_name);

// llama-quantize's Q2_K / Q3_K_M / IQ4_XS / Q4_1 files (tests/data/llama_quant; with Q3_K, Q4_K,
// IQ4_NL, Q4_0 and Q6_K tensors mixed in as it chose) vs llama.cpp's logits.
class ForwardVsLlamaCppQuant : public GpuTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ForwardVsLlamaCppQuant, LogitsAtEveryPosition) {
  const std::string file = GetParam();
  const std::filesystem::path dir = llama_quant_dir_of(file);
  const LogitsTolerance tol = kLlamaQuantTolerance;
  expect_logits(
      *Model::load(ctx(), dir / file, quiet()), file,
      [&](const std::string& p) { return llama_quant_tokens(file, p); },
      [&](const std::string& p) { return dir / fmt::format("{}.{}.logits.f32", stem(file), p); },
      tol.max_abs, tol.mean_abs);
}

INSTANTIATE_TEST_SUITE_P(LlamaQuant, ForwardVsLlamaCppQuant,
                         ::testing::ValuesIn(llama_quant_models()), param_name);
// The codebook i-quants (tests/data/llama_iquant: IQ1_S ... IQ3_S with what llama-quantize mixed
// in).
INSTANTIATE_TEST_SUITE_P(LlamaIquant, ForwardVsLlamaCppQuant,
                         ::testing::ValuesIn(llama_iquant_models()), param_name);

class QuantWeights : public GpuTest {};

// Quantized tensors live on the device as the file's blocks: the weights arena grows by the file's
// tensor bytes plus the derived f32 vectors and alignment, not by a dequantized copy (which would
// be ~4-7x larger), and the views carry the per-tensor types llama-quantize chose.
TEST_F(QuantWeights, DeviceBytesMatchFileBytes) {
  for (const std::string file : {"tiny-qrwkv6-Q4_K_M.gguf", "tiny-rwkv6-Q4_K_M.gguf"}) {
    const uint64_t before = ctx().arena(Lifetime::Weights).used_bytes();
    auto model = Model::load(ctx(), kRefDir / file, quiet());
    const uint64_t device = ctx().arena(Lifetime::Weights).used_bytes() - before;
    const uint64_t tensors = model->weights().file_bytes();
    const uint64_t derived = model->weights().device_bytes() - tensors;
    std::printf(
        "[quant-weights] %s: file tensor bytes %llu, weights arena +%llu bytes (%.2f%%; "
        "derived f32 vectors %llu)\n",
        file.c_str(), static_cast<unsigned long long>(tensors),
        static_cast<unsigned long long>(device),
        100.0 * static_cast<double>(device) / static_cast<double>(tensors),
        static_cast<unsigned long long>(derived));
    EXPECT_LE(device, tensors + tensors / 20) << file;  // within 5 %
    EXPECT_GE(device, tensors) << file;
    EXPECT_EQ(model->token_embd().dtype, DType::Q4_K) << file;
    EXPECT_EQ(model->output().dtype, DType::Q6_K) << file;
  }
  auto rwkv = Model::load(ctx(), kRefDir / "tiny-rwkv6-Q4_K_M.gguf", quiet());
  EXPECT_EQ(rwkv->layer(0).cm_value.dtype, DType::Q5_0);  // F = 896: the Q4_K fallback
}

// The reference models live in ../shared/refmodels, the bundled default model in model/default/.
std::filesystem::path model_path(const std::string& file) {
  return file == kDefaultModelFile ? kDefaultModelDir / file : kRefDir / file;
}

// The manifest's p150 ids for a reference model; the first 160 ids of its held-out text for the
// bundled model (which the manifest does not list).
std::vector<int32_t> state_tokens(const Model& model, const std::string& file) {
  if (file != kDefaultModelFile) return prompt_tokens(file, "p150");
  auto ids = model.tokenizer()->encode(read_text_file(kDefaultModelDir / "kjv-heldout.txt"),
                                       /*parse_special=*/false);
  ids.resize(160);
  return ids;
}

// Tolerance (atol = rtol) of comparisons between two ways of computing the same logits or state:
// f32 accumulation-order noise, except where prefill GEMMs run on tensor cores (f16 weights on a
// VK_NV_cooperative_matrix device), which round activations to f16: there an upstream difference
// of one f32 ulp can flip an f16 rounding and move a product by ~1e-3 relative (H100, bundled
// f16 model, split prefill: max |diff| 1.3e-3 at logits ~7, NMSE 2e-8).
double path_tolerance(Context& ctx, const Model& model) {
  const bool f16_activations =
      model.layer(0).wr.dtype == DType::F16 &&
      kernels::choose_gemm_path(ctx.caps(), DType::F16, kernels::Epilogue::None) ==
          kernels::GemmPath::CoopMatNV;
  return f16_activations ? 5e-3 : 1e-4;
}

class ForwardState : public GpuTest, public ::testing::WithParamInterface<std::string> {};

// prefill(T) == T x decode(1) (logits of every step and the final state), and a prefill split in
// two calls == one call.
TEST_P(ForwardState, PrefillEqualsDecodeStepsAndSplitCalls) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet(128));
  const auto tokens = state_tokens(*model, file);
  const size_t T = 100;
  const std::span<const int32_t> ids(tokens.data(), T);
  const size_t V = model->config().V;
  Session s(*model, 2);
  const auto all = s.eval(0, ids, true);
  const auto state_prefill = s.state().save(0);
  std::vector<float> steps;
  for (size_t t = 0; t < T; ++t) {
    auto l = s.eval(1, ids.subspan(t, 1));
    steps.insert(steps.end(), l.begin(), l.end());
  }
  const double tol = path_tolerance(ctx(), *model);
  EXPECT_TRUE(all_close(all, steps, tol, tol, file + " prefill vs decode logits"));
  const auto state_decode = s.state().save(1);
  EXPECT_TRUE(all_close(
      std::span(reinterpret_cast<const float*>(state_prefill.data()), state_prefill.size() / 4),
      std::span(reinterpret_cast<const float*>(state_decode.data()), state_decode.size() / 4), tol,
      tol, file + " prefill vs decode state"));
  // Split: 37 + 63 tokens.
  s.state().reset(1);
  s.eval(1, ids.first(37));
  const auto last = s.eval(1, ids.subspan(37));
  EXPECT_TRUE(
      all_close(std::span(all).subspan((T - 1) * V, V), last, tol, tol, file + " split prefill"));
}

// State saved (host bytes and a file) and restored into another slot continues identically;
// a state file of another model is refused.
TEST_P(ForwardState, SaveRestoreContinuesIdentically) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  Session s(*model, 2);
  s.eval(0, std::span(tokens).first(50));
  const auto path = std::filesystem::temp_directory_path() / ("vkr-state-" + file + ".bin");
  s.state().save_file(0, path, std::span(tokens).first(50));
  const auto next = std::span(tokens).subspan(50, 20);
  const auto a = s.eval(0, next);
  const auto read = s.state().load_file(1, path);  // the ids come back with the state
  EXPECT_EQ(read, std::vector<int32_t>(tokens.begin(), tokens.begin() + 50));
  const auto b = s.eval(1, next);
  EXPECT_EQ(a, b);
  s.state().load(1, s.state().save(0));
  EXPECT_EQ(s.state().save(0), s.state().save(1));
  std::filesystem::remove(path);
}

// Two sequences decoded in one batch give the logits each gives alone (no leak between slots).
TEST_P(ForwardState, BatchedSlotsMatchSeparateRuns) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  Session alone(*model, 2), batch(*model, 2);
  const auto pa = std::span(tokens).first(20), pb = std::span(tokens).subspan(30, 33);
  alone.eval(0, pa);
  alone.eval(1, pb);
  batch.eval(0, pa);
  batch.eval(1, pb);
  for (int step = 0; step < 3; ++step) {
    const int32_t ta = tokens[100 + step], tb = tokens[120 + step];
    const auto la = alone.eval(0, std::span(&ta, 1));
    const auto lb = alone.eval(1, std::span(&tb, 1));
    const int32_t both[] = {ta, tb};
    const auto lab = batch.decode_batch(0, both);
    const size_t V = model->config().V;
    EXPECT_TRUE(all_close(la, std::span(lab).first(V), 1e-5, 1e-5, "slot 0"));
    EXPECT_TRUE(all_close(lb, std::span(lab).subspan(V), 1e-5, 1e-5, "slot 1"));
  }
}

// The GPU argmax path (greedy decoding) picks the same id as the host argmax of the logits.
TEST_P(ForwardState, GpuArgmaxMatchesHostArgmax) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  Session a(*model, 1), b(*model, 1);
  for (size_t t = 0; t < 12; ++t) {
    const auto ids = std::span(tokens).subspan(t * 5, 5);
    const auto logits = a.eval(0, ids);
    const int32_t want =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(b.eval_argmax(0, ids), want) << "step " << t;
  }
}

// The GPU top-k path (sampling) returns the k largest logits of the same row, and the sampler
// picks the same ids from them as from the whole row.
TEST_P(ForwardState, GpuTopKFeedsTheSamplerExactly) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  Session a(*model, 1), b(*model, 1);
  SamplerParams sp;
  sp.repetition_penalty = 1.2f;
  sp.seed = 5;
  Sampler whole(sp), cand(sp);
  for (size_t t = 0; t < 10; ++t) {
    const auto ids = std::span(tokens).subspan(t * 3, 3);
    const auto logits = a.eval(0, ids);
    const size_t k = cand.candidates_needed(logits.size());
    const auto top = b.eval_topk(0, ids, static_cast<uint32_t>(k));
    ASSERT_EQ(top.ids.size(), k);
    std::vector<float> sorted = logits;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(k - 1), sorted.end(),
                     std::greater<>());
    for (size_t i = 0; i < k; ++i) {  // every returned logit is the row's and among its k largest
      ASSERT_EQ(top.logits[i], logits[top.ids[i]]) << "step " << t;
      ASSERT_GE(top.logits[i], sorted[k - 1]) << "step " << t;
      if (i > 0) {
        ASSERT_LT(top.ids[i - 1], top.ids[i]);
      }
    }
    const int32_t x = whole.sample(logits), y = cand.sample_candidates(top.ids, top.logits);
    EXPECT_EQ(x, y) << "step " << t;
    whole.accept(x);
    cand.accept(y);
    for (int32_t id : ids) {
      whole.accept(id);
      cand.accept(id);
    }
  }
  EXPECT_THROW(b.eval_topk(0, std::span(tokens).first(1), 0), Error);
}

// Where the logits buffer is not host-visible (discrete GPUs; here forced with unmapped device
// memory) the forward's own submission copies the logits to a readback buffer: same logits as the
// mapped path for last-token, all-position (several pieces, the buffer regrown) and batched calls.
TEST_P(ForwardState, UnmappedLogitsReadBackInTheSameSubmission) {
  const std::string file = GetParam();
  ContextOptions opt = test_options();
  opt.map_device_memory = false;
  auto unmapped_ctx = Context::create(opt);
  auto mapped = Model::load(ctx(), model_path(file), quiet());
  auto unmapped = Model::load(*unmapped_ctx, model_path(file), quiet());
  const auto tokens = state_tokens(*mapped, file);
  Session a(*mapped, 2, 16), b(*unmapped, 2, 16);
  const auto prompt = std::span(tokens).first(40);
  EXPECT_EQ(a.eval(0, prompt), b.eval(0, prompt));
  for (size_t t = 0; t < 3; ++t) {
    const auto id = std::span(tokens).subspan(40 + t, 1);
    EXPECT_EQ(a.eval(0, id), b.eval(0, id)) << "step " << t;
  }
  EXPECT_EQ(a.eval(1, prompt, true), b.eval(1, prompt, true));
  EXPECT_EQ(a.decode_batch(0, std::span(tokens).subspan(50, 2)),
            b.decode_batch(0, std::span(tokens).subspan(50, 2)));
  expect_no_validation_messages(*unmapped_ctx);
}

// GPU next-token NLL (perplexity) == the host's log-softmax of the same logits, across pieces
// (rows = 32: the 150-token prompt runs in several calls), and the state moves on as with eval().
TEST_P(ForwardState, GpuNllMatchesHostLogSoftmax) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  const size_t n = tokens.size() - 1, V = model->config().V;
  Session a(*model, 1, 32), b(*model, 1, 32);
  const auto ids = std::span(tokens).first(n);
  const auto logits = a.eval(0, ids, true);
  const auto nll = b.eval_nll(0, ids, std::span(tokens).subspan(1));
  ASSERT_EQ(nll.size(), n);
  std::vector<float> want(n);
  for (size_t t = 0; t < n; ++t) {
    want[t] = static_cast<float>(
        ref::nll(std::span<const float>(logits).subspan(t * V, V), tokens[t + 1]));
  }
  EXPECT_TRUE(all_close(want, nll, 1e-4, 1e-5, "nll"));
  const int32_t next[] = {tokens[n]};  // same state afterwards
  EXPECT_TRUE(all_close(a.eval(0, next), b.eval(0, next), 1e-6, 1e-6, "after"));
  EXPECT_THROW(b.eval_nll(0, ids, std::span(tokens).first(3)), Error);
}

// Replayed recordings (Session::set_replay, the default) give bit-identical results to recording
// every call afresh, through prompts and decode steps on two slots, every output kind (logits,
// argmax, top-k with the buffer regrown, NLL, batched decode), more distinct calls than the
// replay cache holds (evictions), and state resets / restores between replays.
TEST_P(ForwardState, ReplayedCallsEqualFreshRecordings) {
  const std::string file = GetParam();
  auto model = Model::load(ctx(), model_path(file), quiet());
  const auto tokens = state_tokens(*model, file);
  Session fresh(*model, 2), replay(*model, 2);
  fresh.set_replay(false);
  const auto both = [&](auto&& call) {
    const auto want = call(fresh);
    const auto got = call(replay);
    EXPECT_EQ(want, got);
  };
  both([&](Session& s) { return s.eval(0, std::span(tokens).first(20)); });
  both([&](Session& s) { return s.eval(1, std::span(tokens).subspan(40, 20)); });
  for (size_t step = 0; step < 6; ++step) {
    SCOPED_TRACE(step);
    const auto id = std::span(tokens).subspan(60 + step, 1);
    both([&](Session& s) { return s.eval(step % 2, id); });
    both([&](Session& s) { return s.eval_argmax(0, id); });
    both([&](Session& s) { return s.eval_topk(1, id, step < 3 ? 4 : 40).ids; });
    both([&](Session& s) { return s.decode_batch(0, std::span(tokens).subspan(70 + step, 2)); });
    if (step == 3) {
      for (Session* s : {&fresh, &replay}) s->state().reset(1);
    }
  }
  // k = 4 right after the top-k buffer grew: a stale recording would bind the freed buffer.
  for (uint32_t k : {3u, 100u, 3u}) {
    both([&](Session& s) { return s.eval_topk(1, std::span(tokens).subspan(78, 1), k).logits; });
  }
  both([&](Session& s) {
    return s.eval_nll(0, std::span(tokens).subspan(80, 8), std::span(tokens).subspan(81, 8));
  });
  both([&](Session& s) { return s.state().save(0); });
  both([&](Session& s) { return s.state().save(1); });
  EXPECT_EQ(fresh.replay_stats().replayed, 0u);
  EXPECT_GT(replay.replay_stats().replayed, 10u);
  EXPECT_LT(replay.replay_stats().recorded, fresh.replay_stats().recorded);
}

// The chunk-parallel WKV path of the forward pass, which only GPUs pick by policy, forced on any
// device (CI's lavapipe included): its logits at every position and its final state equal the
// sequential path's (the shared test context), a prefill split 37 + 63 (partial chunks, the second
// call from a non-zero state) equals one call, and the reference models stay within llama.cpp's
// logits (../shared/refmodels).
class ForwardChunkParallel : public GpuTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ForwardChunkParallel, MatchesSequentialPathAndSplitCalls) {
  const std::string file = GetParam();
  ContextOptions opt = test_options();
  opt.wkv_kernel = ContextOptions::WkvKernelChoice::ChunkParallel;
  auto chunked_ctx = Context::create(opt);
  auto seq_model = Model::load(ctx(), model_path(file), quiet(128));
  auto cp_model = Model::load(*chunked_ctx, model_path(file), quiet(128));
  const auto tokens = state_tokens(*seq_model, file);
  const size_t T = 100;
  const std::span<const int32_t> ids(tokens.data(), T);
  const size_t V = seq_model->config().V;
  Session seq(*seq_model, 1), cp(*cp_model, 1);
  const auto want = seq.eval(0, ids, true);
  const auto got = cp.eval(0, ids, true);
  const double tol = path_tolerance(ctx(), *seq_model);
  EXPECT_TRUE(all_close(want, got, tol, tol, file + " chunk-parallel vs sequential logits"));
  const auto st_want = seq.state().save(0), st_got = cp.state().save(0);
  ASSERT_EQ(st_want.size(), st_got.size());
  EXPECT_TRUE(
      all_close(std::span(reinterpret_cast<const float*>(st_want.data()), st_want.size() / 4),
                std::span(reinterpret_cast<const float*>(st_got.data()), st_got.size() / 4), tol,
                tol, file + " chunk-parallel vs sequential state"));
  cp.state().reset(0);
  cp.eval(0, ids.first(37));
  const auto last = cp.eval(0, ids.subspan(37));
  EXPECT_TRUE(all_close(std::span(got).subspan((T - 1) * V, V), last, tol, tol,
                        file + " chunk-parallel split prefill"));
  if (file != kDefaultModelFile) {
    expect_matches_llamacpp(*Model::load(*chunked_ctx, kRefDir / file, quiet()), file);
  }
  expect_no_validation_messages(*chunked_ctx);
}

INSTANTIATE_TEST_SUITE_P(Micro, ForwardChunkParallel,
                         ::testing::Values("micro-rwkv6-f32.gguf", "micro-qrwkv6-f32.gguf",
                                           kDefaultModelFile),
                         param_name);

INSTANTIATE_TEST_SUITE_P(Micro, ForwardState,
                         ::testing::Values("micro-rwkv6-f32.gguf", "micro-qrwkv6-f32.gguf",
                                           kDefaultModelFile),
                         param_name);

class ForwardErrors : public GpuTest {};

TEST_F(ForwardErrors, BadInputsAreClearErrors) {
  auto model = Model::load(ctx(), kRefDir / "micro-qrwkv6-f32.gguf", quiet());
  Session s(*model, 1);
  auto expect_error = [](auto&& fn, ErrorCode code, std::string_view needle) {
    test::expect_error(fn, code, {needle});
  };
  expect_error([&] { s.eval(0, {}); }, ErrorCode::InvalidArgument, "empty");
  const int32_t bad[] = {1, 5000};
  expect_error([&] { s.eval(0, bad); }, ErrorCode::InvalidArgument, "position 1");
  const int32_t ok[] = {1};
  expect_error([&] { s.eval(3, ok); }, ErrorCode::InvalidArgument, "slot 3");
  // A state file of another model.
  auto other = Model::load(ctx(), kRefDir / "micro-rwkv6-f32.gguf", quiet());
  Session so(*other, 1);
  const auto path = std::filesystem::temp_directory_path() / "vkr-state-other.bin";
  so.state().save_file(0, path);
  expect_error([&] { s.state().load_file(0, path); }, ErrorCode::BadModelFile, "different model");
  // This model's own file, then broken: bytes past its end, a NaN, an inf, a short file.
  s.eval(0, ok);
  s.state().save_file(0, path);
  auto write_bytes = [&](const std::vector<std::byte>& b) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  std::vector<std::byte> good(std::filesystem::file_size(path));
  std::ifstream(path, std::ios::binary)
      .read(reinterpret_cast<char*>(good.data()), static_cast<std::streamsize>(good.size()));
  auto broken = [&](auto&& edit, std::string_view needle) {
    auto bytes = good;
    edit(bytes);
    write_bytes(bytes);
    expect_error([&] { s.state().load_file(0, path); }, ErrorCode::BadModelFile, needle);
  };
  broken([](auto& b) { b.push_back(std::byte{0}); }, "1 bytes follow the state");
  const size_t header = 32;  // magic, version, reserved, fingerprint, payload size
  ASSERT_EQ(good.size(), header + s.state().bytes_per_slot() + 8);  // + no ids (count 0)
  const size_t C = model->config().C;
  auto put = [](auto& b, size_t at, float v) { std::memcpy(b.data() + at, &v, sizeof v); };
  broken([&](auto& b) { put(b, header + 4 * 5, std::nanf("")); }, "layer 0 att_shift value #5");
  broken([&](auto& b) { put(b, header + 4 * (C + 7), INFINITY); }, "layer 0 wkv value #7");
  broken([&](auto& b) { b.resize(b.size() - 4); }, "truncated");
  std::vector<std::byte> nan_state(s.state().bytes_per_slot());
  put(nan_state, 4 * (C + 2), -INFINITY);
  expect_error([&] { s.state().load(0, nan_state); }, ErrorCode::InvalidArgument,
               "layer 0 wkv value #2 (byte");
  // The ids after the state: a count past the file's end, an id outside the vocabulary.
  const size_t count_at = header + s.state().bytes_per_slot();
  auto put_u64 = [](auto& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, sizeof v); };
  broken([&](auto& b) { put_u64(b, count_at, uint64_t{1} << 60); }, "token ids announced");
  broken(
      [&](auto& b) {
        put_u64(b, count_at, 2);
        const int32_t ids[2] = {1, static_cast<int32_t>(model->config().V)};
        const auto* p = reinterpret_cast<const std::byte*>(ids);
        b.insert(b.end(), p, p + sizeof ids);
      },
      "token #1 of the state is");
  // A version-1 file (no ids after the state) still loads, with no ids.
  auto v1 = good;
  v1.resize(count_at);
  const uint32_t one = 1;
  std::memcpy(v1.data() + 8, &one, sizeof one);
  write_bytes(v1);
  EXPECT_TRUE(s.state().load_file(0, path).empty());
  write_bytes(good);
  s.state().load_file(0, path);  // the intact file still loads after the refusals
  std::filesystem::remove(path);
  expect_error([&] { Model::load(ctx(), "/nonexistent.gguf", quiet()); }, ErrorCode::Io,
               "nonexistent");
}

// Invalid UTF-8 in a prompt is tokenized byte-wise and runs (no crash, finite logits).
TEST_F(ForwardErrors, InvalidUtf8PromptRuns) {
  auto model = Model::load(ctx(), kRefDir / "micro-qrwkv6-f32.gguf", quiet());
  ASSERT_NE(model->tokenizer(), nullptr);
  const auto ids = model->tokenizer()->encode("caf\xe9 \xff\xfe ok", true);
  ASSERT_FALSE(ids.empty());
  Session s(*model, 1);
  for (float v : s.eval(0, ids)) ASSERT_TRUE(std::isfinite(v));
}

// A prompt longer than the per-call rows runs in pieces (here 8 rows per call).
TEST_F(ForwardErrors, LongPromptRunsInPieces) {
  auto model = Model::load(ctx(), kRefDir / "micro-qrwkv6-f32.gguf", quiet(8));
  const auto tokens = prompt_tokens("micro-qrwkv6-f32.gguf", "p150");
  Session pieces(*model, 1);
  const auto a = pieces.eval(0, tokens);
  auto big = Model::load(ctx(), kRefDir / "micro-qrwkv6-f32.gguf", quiet(256));
  Session whole(*big, 1);
  const auto b = whole.eval(0, tokens);
  EXPECT_TRUE(all_close(b, a, 1e-4, 1e-4, "pieces vs one call"));
}

}  // namespace
}  // namespace vkr::test
