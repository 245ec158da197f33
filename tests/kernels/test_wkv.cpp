// test_wkv.cpp: wkv_decode, wkv_prefill and wkv_chunkpar (both modes, f32/f16 inputs) vs the CPU
// sequential reference, state carry-over between calls, the kernel policy, and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/wkv.hpp"
#include "kernels/wkv_chunkpar.hpp"
#include "kernels/wkv_decode.hpp"
#include "kernels/wkv_prefill.hpp"
#include "reference/wkv6.hpp"
#include "support/compare.hpp"
#include "support/gpu_env.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {

using kernels::WkvKernel;
using kernels::WkvMode;

// Log-decay regimes: near 1 (factored path, long memory), typical checkpoint values, strong
// decays (direct path: a chunk spans far beyond f32's e^88), and channels mixing both.
enum class Decay { NearOne, Typical, Strong, Mixed };

struct Case {
  WkvKernel kernel;
  WkvMode mode;
  int B, T, H, S;
  Decay decay = Decay::Typical;
  DType dtype = DType::F32;
  bool zero_state = false;
};

std::string describe(const Case& c) {
  return fmt::format("{} {} B={} T={} H={} S={} decay={} {} {}",
                     c.kernel == WkvKernel::Prefill    ? "prefill"
                     : c.kernel == WkvKernel::ChunkPar ? "chunkpar"
                                                       : "decode",
                     c.mode == WkvMode::Gla ? "gla" : "rwkv6", c.B, c.T, c.H, c.S,
                     static_cast<int>(c.decay), dtype_name(c.dtype),
                     c.zero_state ? "zero-state" : "state");
}

float f16_round(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

// Host-side inputs of one call; r/k/v already rounded to the storage dtype so the reference sees
// exactly what the GPU reads.
struct Inputs {
  std::vector<float> r, k, v, logw, u, state;
};

Inputs make_inputs(const Case& c, uint32_t seed) {
  test::Rng rng(seed);
  const size_t act = static_cast<size_t>(c.B) * c.T * c.H * c.S;
  Inputs in;
  in.r = rng.uniform_vec(act, -1.0f, 1.0f);
  in.k = rng.uniform_vec(act, -1.0f, 1.0f);
  in.v = rng.uniform_vec(act, -1.0f, 1.0f);
  in.logw.resize(act);
  for (size_t e = 0; e < act; ++e) {
    const size_t i = e % static_cast<size_t>(c.S);
    switch (c.decay) {
      case Decay::NearOne:
        in.logw[e] = rng.uniform(-2e-4f, -1e-5f);
        break;
      case Decay::Typical:
        in.logw[e] = -std::exp(rng.uniform(-6.0f, 1.0f));
        break;
      case Decay::Strong:
        in.logw[e] = rng.uniform(-60.0f, -20.0f);
        break;
      case Decay::Mixed:
        in.logw[e] = i % 3 == 0 ? rng.uniform(-60.0f, -20.0f) : rng.uniform(-1e-3f, -1e-5f);
        break;
    }
  }
  in.u = rng.uniform_vec(static_cast<size_t>(c.H) * c.S, -1.0f, 1.0f);
  in.state = c.zero_state
                 ? std::vector<float>(static_cast<size_t>(c.B) * c.H * c.S * c.S, 0.0f)
                 : rng.uniform_vec(static_cast<size_t>(c.B) * c.H * c.S * c.S, -1.0f, 1.0f);
  if (c.dtype == DType::F16) {
    for (auto* x : {&in.r, &in.k, &in.v})
      for (float& e : *x) e = f16_round(e);
  }
  return in;
}

class WkvTest : public test::GpuTest {
 protected:
  // Device buffer holding `data` in `dtype` (f32 or f16).
  Buffer upload(const std::vector<float>& data, DType dtype) {
    if (dtype == DType::F32) return make_buffer(data);
    std::vector<_Float16> h(data.begin(), data.end());
    Buffer b =
        Buffer::create(ctx(), Lifetime::Activations, h.size() * 2, MemoryUsage::Device, "f16");
    ctx().staging().upload(b, std::span<const _Float16>(h));
    return b;
  }

  // Runs `c.kernel` on `in`; returns y and updates in.state with the state it leaves.
  std::vector<float> run_gpu(const Case& c, Inputs& in) {
    const uint64_t B = c.B, T = c.T, H = c.H, S = c.S;
    Buffer r = upload(in.r, c.dtype), k = upload(in.k, c.dtype), v = upload(in.v, c.dtype);
    Buffer w = make_buffer(in.logw), u = make_buffer(in.u), st = make_buffer(in.state);
    Buffer y = make_buffer(std::max<size_t>(1, in.r.size()));
    const Shape act{B, T, H, S};
    kernels::WkvArgs a;
    a.mode = c.mode;
    a.r = Tensor::of(r, act, c.dtype);
    a.k = Tensor::of(k, act, c.dtype);
    a.v = Tensor::of(v, act, c.dtype);
    a.logw = Tensor::of(w, act, DType::F32);
    a.u = Tensor::of(u, Shape{H, S}, DType::F32);
    a.state = Tensor::of(st, Shape{B, H, S, S}, DType::F32);
    a.y = Tensor::of(y, act, DType::F32);
    a.scale = kernels::wkv_default_scale(c.mode, c.S);
    a.max_binding_bytes = max_binding_bytes_;
    Buffer scratch;
    if (c.kernel == WkvKernel::ChunkPar) {
      // The default size, or scratch_chunks_ chunks (several token windows per call).
      const uint64_t bytes =
          scratch_chunks_ ? scratch_chunks_ * kernels::wkv_chunkpar_chunk_bytes(c.B, c.H, c.S)
                          : kernels::wkv_chunkpar_scratch_bytes(ctx().caps(), c.B, c.T, c.H, c.S);
      scratch = Buffer::create(ctx(), Lifetime::Activations, bytes, MemoryUsage::Device, "scratch");
      a.scratch = Tensor::of(scratch, Shape{bytes / 4}, DType::F32);
    }
    Recorder rec(ctx());
    if (c.kernel == WkvKernel::Prefill) {
      kernels::wkv_prefill(ctx(), rec, a);
    } else if (c.kernel == WkvKernel::ChunkPar) {
      kernels::wkv_chunkpar(ctx(), rec, a, chunkpar_config_);
    } else {
      kernels::wkv_decode(ctx(), rec, a, decode_config_);
    }
    ctx().queue().submit(rec).wait();
    in.state = read(st);
    auto out = read(y);
    out.resize(in.r.size());
    return out;
  }

  std::optional<kernels::WkvDecodeConfig> decode_config_;      // the device's choice when empty
  uint64_t max_binding_bytes_ = 0;                             // WkvArgs::max_binding_bytes
  std::optional<kernels::WkvChunkParConfig> chunkpar_config_;  // likewise
  uint64_t scratch_chunks_ = 0;  // chunk-parallel scratch size in chunks; 0 = the default size

  // GPU vs wkv_sequential (double accumulation) on the same rounded inputs.
  void check(const Case& c, uint32_t seed) {
    SCOPED_TRACE(describe(c));
    Inputs in = make_inputs(c, seed);
    std::vector<float> ref_state = in.state, ref_y(in.r.size());
    const ref::WkvMode mode = c.mode == WkvMode::Gla ? ref::WkvMode::Gla : ref::WkvMode::Rwkv6;
    ref::wkv_sequential(mode, {c.B, c.T, c.H, c.S}, kernels::wkv_default_scale(c.mode, c.S), in.r,
                        in.k, in.v, in.logw, in.u, ref_state, ref_y);
    const std::vector<float> y = run_gpu(c, in);
    expect_match(ref_y, y, "y");
    expect_match(ref_state, in.state, "state");
  }

  // f32 arithmetic on identical inputs: errors are accumulation rounding over S-term dot products
  // and up to T-term state sums, relative to the data's magnitude (states grow like sqrt(T) when
  // decays are near 1), so atol scales with max |ref|; NMSE must stay near f32 epsilon^2.
  static void expect_match(const std::vector<float>& ref, const std::vector<float>& got,
                           const char* what) {
    double peak = 0;
    for (float x : ref) peak = std::max(peak, static_cast<double>(std::fabs(x)));
    EXPECT_TRUE(test::all_close(ref, got, 2e-5 * std::max(peak, 1.0), 1e-4, what));
    EXPECT_LT(test::nmse(ref, got), 1e-10) << what;
  }
};

constexpr WkvKernel kBoth[] = {WkvKernel::Decode, WkvKernel::Prefill};
constexpr WkvKernel kAll[] = {WkvKernel::Decode, WkvKernel::Prefill, WkvKernel::ChunkPar};
constexpr WkvMode kModes[] = {WkvMode::Rwkv6, WkvMode::Gla};

TEST_F(WkvTest, ChunkBoundariesS64AndS128) {
  uint32_t seed = 100;
  for (int S : {64, 128}) {
    const int L = static_cast<int>(kernels::wkv_prefill_config(ctx().caps(), S).l);
    for (int T : {1, 2, L - 1, L, L + 1, 2 * L + 3}) {
      for (WkvKernel kern : kBoth)
        for (WkvMode mode : kModes) check({kern, mode, T % 2 ? 3 : 1, T, 2, S}, seed++);
    }
    const int Lp = static_cast<int>(kernels::wkv_chunkpar_config(ctx().caps(), S).l);
    for (int T : {1, 2, Lp - 1, Lp, Lp + 1, 2 * Lp + 3})
      for (WkvMode mode : kModes)
        check({WkvKernel::ChunkPar, mode, T % 2 ? 3 : 1, T, 2, S}, seed++);
  }
}

TEST_F(WkvTest, DecayRegimes) {
  uint32_t seed = 200;
  for (Decay decay : {Decay::NearOne, Decay::Strong, Decay::Mixed})
    for (WkvKernel kern : kAll)
      for (WkvMode mode : kModes) check({kern, mode, 2, 37, 2, 64, decay}, seed++);
  // Strong decays at S=128 (L=16 on lavapipe: several direct-path chunks).
  for (WkvMode mode : kModes) {
    check({WkvKernel::Prefill, mode, 1, 41, 1, 128, Decay::Strong}, seed++);
    check({WkvKernel::ChunkPar, mode, 1, 71, 1, 128, Decay::Strong}, seed++);
  }
}

// Pipelines compile slowly on lavapipe (seconds each, cold), so the f16 and head-size tests pick
// kernel/mode pairs that cover each (kernel, mode) once instead of the full cross product.
TEST_F(WkvTest, F16InputsAndZeroState) {
  if (!ctx().caps().fp16_storage) GTEST_SKIP() << "no 16-bit storage";
  check({WkvKernel::Decode, WkvMode::Rwkv6, 3, 33, 2, 128, Decay::Typical, DType::F16}, 300);
  check({WkvKernel::Prefill, WkvMode::Gla, 3, 33, 2, 128, Decay::Typical, DType::F16}, 301);
  check({WkvKernel::Prefill, WkvMode::Rwkv6, 1, 17, 1, 64, Decay::NearOne, DType::F16, true}, 302);
  check({WkvKernel::Decode, WkvMode::Gla, 1, 17, 1, 64, Decay::Strong, DType::F16, true}, 303);
  check({WkvKernel::ChunkPar, WkvMode::Rwkv6, 3, 45, 2, 128, Decay::Typical, DType::F16}, 304);
  check({WkvKernel::ChunkPar, WkvMode::Gla, 1, 40, 1, 64, Decay::Mixed, DType::F16, true}, 305);
}

TEST_F(WkvTest, OtherHeadSizes) {
  check({WkvKernel::Prefill, WkvMode::Rwkv6, 2, 37, 2, 32}, 400);
  check({WkvKernel::Decode, WkvMode::Gla, 2, 37, 2, 32}, 401);
  check({WkvKernel::Prefill, WkvMode::Gla, 2, 19, 3, 96, Decay::Mixed}, 402);
  check({WkvKernel::Decode, WkvMode::Rwkv6, 2, 19, 3, 96}, 403);
  check({WkvKernel::Prefill, WkvMode::Rwkv6, 1, 19, 1, 256, Decay::Mixed}, 404);
  check({WkvKernel::Decode, WkvMode::Gla, 1, 19, 1, 256}, 405);
  check({WkvKernel::ChunkPar, WkvMode::Gla, 2, 37, 2, 32}, 406);
  check({WkvKernel::ChunkPar, WkvMode::Rwkv6, 2, 45, 3, 96, Decay::Mixed}, 407);
  check({WkvKernel::ChunkPar, WkvMode::Gla, 1, 45, 1, 256, Decay::Mixed}, 408);
  check({WkvKernel::ChunkPar, WkvMode::Rwkv6, 1, 37, 1, 160}, 409);
}

// The chunk-parallel kernel with other chunk lengths (16, 64) and with a scratch of only one or
// three chunks, so a call runs as several token windows carrying the state.
TEST_F(WkvTest, ChunkParLengthsAndWindows) {
  uint32_t seed = 420;
  for (uint32_t l : {16u, 64u}) {
    chunkpar_config_ = kernels::wkv_chunkpar_config(ctx().caps(), 128, l);
    for (WkvMode mode : kModes)
      check({WkvKernel::ChunkPar, mode, 3, 2 * static_cast<int>(l) + 5, 2, 128, Decay::Mixed},
            seed++);
    chunkpar_config_ = kernels::wkv_chunkpar_config(ctx().caps(), 64, l);
    check({WkvKernel::ChunkPar, WkvMode::Rwkv6, 1, static_cast<int>(l) - 1, 2, 64, Decay::Strong},
          seed++);
  }
  chunkpar_config_.reset();
  for (uint64_t chunks : {1u, 3u}) {
    scratch_chunks_ = chunks;
    for (WkvMode mode : kModes) check({WkvKernel::ChunkPar, mode, 3, 150, 2, 64}, seed++);
  }
  scratch_chunks_ = 0;
}

// Every decode layout runs on any device: this device's choice is covered above; here the others
// (GPUs: 1 column per invocation; CPUs: 8, or 4 for S < 64; 16 is allowed) and odd workgroup
// widths.
TEST_F(WkvTest, DecodeLayoutsOneToSixteenColumns) {
  // Few distinct pipelines: each (wg, S, mode, cols) compiles for seconds on lavapipe, cold.
  uint32_t seed = 450;
  decode_config_ = kernels::WkvDecodeConfig{1, 8};
  check({WkvKernel::Decode, WkvMode::Rwkv6, 2, 9, 2, 64}, seed++);
  check({WkvKernel::Decode, WkvMode::Gla, 1, 5, 1, 128, Decay::Strong}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{4, 1};
  check({WkvKernel::Decode, WkvMode::Rwkv6, 1, 7, 3, 64, Decay::Mixed}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{1, 32};
  if (ctx().caps().fp16_storage)
    check({WkvKernel::Decode, WkvMode::Gla, 3, 4, 2, 96, Decay::Mixed, DType::F16}, seed++);
  // Texel-buffer reads (CPU devices' default, wkv_decode f32tex / f16tex) forced on any device.
  decode_config_ = kernels::WkvDecodeConfig{4, 2, true};
  check({WkvKernel::Decode, WkvMode::Rwkv6, 2, 9, 2, 64, Decay::Mixed}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{1, 8, true};
  check({WkvKernel::Decode, WkvMode::Gla, 1, 5, 1, 128, Decay::Strong}, seed++);
  if (ctx().caps().fp16_storage)
    check({WkvKernel::Decode, WkvMode::Rwkv6, 2, 3, 3, 96, Decay::Typical, DType::F16}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{8, 4, true};
  check({WkvKernel::Decode, WkvMode::Gla, 2, 6, 2, 96, Decay::Mixed}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{16, 2};
  check({WkvKernel::Decode, WkvMode::Rwkv6, 1, 5, 2, 64, Decay::Strong}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{16, 1, true};
  check({WkvKernel::Decode, WkvMode::Gla, 1, 4, 1, 32}, seed++);
  decode_config_ = kernels::WkvDecodeConfig{2, 8};  // only 1, 4, 8 or 16 columns: refused
  EXPECT_THROW(check({WkvKernel::Decode, WkvMode::Gla, 1, 2, 1, 64}, seed++), Error);
  decode_config_ = kernels::WkvDecodeConfig{4, 32};  // 4 * 32 does not divide 96: refused
  EXPECT_THROW(check({WkvKernel::Decode, WkvMode::Gla, 1, 2, 1, 96}, seed++), Error);
  decode_config_.reset();
}

// Calls too large to bind whole (lavapipe: y over 128 MiB) are bound per sequence and token
// window (wkv_decode and wkv_prefill); a lowered binding limit exercises that path on small shapes.
TEST_F(WkvTest, BoundPerSequenceWindow) {
  uint32_t seed = 470;
  max_binding_bytes_ = 5ull * 2 * 64 * 4;  // 5 tokens of (H = 2, S = 64) f32 per window
  for (WkvKernel kern : {WkvKernel::Decode, WkvKernel::Prefill})
    for (WkvMode mode : kModes) check({kern, mode, 3, 23, 2, 64, Decay::Mixed}, seed++);
  if (ctx().caps().fp16_storage)  // f16 slices: half the bytes per token, same windows
    check({WkvKernel::Decode, WkvMode::Gla, 2, 11, 2, 64, Decay::Typical, DType::F16}, seed++);
  max_binding_bytes_ = 100;  // less than one token of (H = 2, S = 64) f32: refused, clearly
  EXPECT_THROW(check({WkvKernel::Decode, WkvMode::Gla, 2, 4, 2, 64}, seed++), Error);
  max_binding_bytes_ = 0;
}

TEST_F(WkvTest, LongSequence) {
  check({WkvKernel::Prefill, WkvMode::Gla, 1, 1000, 2, 64, Decay::NearOne}, 500);
  check({WkvKernel::Decode, WkvMode::Rwkv6, 1, 1000, 2, 64, Decay::Typical}, 501);
  check({WkvKernel::ChunkPar, WkvMode::Gla, 1, 1000, 2, 128, Decay::NearOne}, 502);
  check({WkvKernel::ChunkPar, WkvMode::Rwkv6, 3, 1000, 1, 64, Decay::Typical}, 503);
}

// Two calls of T/2 with the state carried (any kernel for either half) == one call of T.
TEST_F(WkvTest, SplitCallsCarryState) {
  const int T = 70;
  for (WkvMode mode : kModes) {
    const Case whole{WkvKernel::Prefill, mode, 2, T, 2, 64, Decay::Typical};
    Inputs in = make_inputs(whole, 600);
    Inputs all = in;
    const std::vector<float> y_all = run_gpu(whole, all);
    for (WkvKernel second : kAll) {
      SCOPED_TRACE(describe({second, mode, 2, T / 2, 2, 64}));
      // Slice tokens [t0, t0 + T/2) of every sequence out of the (B, T, H, S) inputs.
      auto half = [&](const std::vector<float>& x, int t0) {
        std::vector<float> out;
        const size_t row = static_cast<size_t>(whole.H) * whole.S;
        for (int b = 0; b < whole.B; ++b)
          out.insert(out.end(), x.begin() + static_cast<std::ptrdiff_t>((b * T + t0) * row),
                     x.begin() + static_cast<std::ptrdiff_t>((b * T + t0 + T / 2) * row));
        return out;
      };
      Inputs h1{half(in.r, 0), half(in.k, 0), half(in.v, 0), half(in.logw, 0), in.u, in.state};
      const std::vector<float> y1 = run_gpu({WkvKernel::Prefill, mode, 2, T / 2, 2, 64}, h1);
      Inputs h2{half(in.r, T / 2), half(in.k, T / 2), half(in.v, T / 2), half(in.logw, T / 2), in.u,
                h1.state};
      const std::vector<float> y2 = run_gpu({second, mode, 2, T / 2, 2, 64}, h2);
      expect_match(half(y_all, 0), y1, "y first half");
      expect_match(half(y_all, T / 2), y2, "y second half");
      expect_match(all.state, h2.state, "state");
    }
  }
}

TEST_F(WkvTest, PolicyAndDispatcher) {
  Capabilities gpu = ctx().caps();
  gpu.device_type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  EXPECT_EQ(kernels::choose_wkv_kernel(gpu, 1, 40, 1, 128), WkvKernel::Decode);
  EXPECT_EQ(kernels::choose_wkv_kernel(gpu, 1, 40, 1024, 128), WkvKernel::ChunkPar);
  EXPECT_EQ(kernels::choose_wkv_kernel(gpu, 8, 40, 4096, 64), WkvKernel::ChunkPar);
  // The H100 crossover (wkv.cpp): sequential below 16 tokens, chunk-parallel with L = 16 from 16
  // to 63 tokens, L = 32 from 64.
  EXPECT_EQ(kernels::choose_wkv_kernel(gpu, 8, 40, 15, 128), WkvKernel::Decode);
  EXPECT_EQ(kernels::choose_wkv_kernel(gpu, 8, 40, 16, 128), WkvKernel::ChunkPar);
  EXPECT_EQ(kernels::wkv_chunkpar_default_length(gpu, 16), 16u);
  EXPECT_EQ(kernels::wkv_chunkpar_default_length(gpu, 63), 16u);
  EXPECT_EQ(kernels::wkv_chunkpar_default_length(gpu, 64), 32u);
  // CPU devices: the sequential kernel is faster at every measured length (see wkv.cpp).
  Capabilities cpu = ctx().caps();
  cpu.device_type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  EXPECT_EQ(kernels::choose_wkv_kernel(cpu, 1, 40, 1024, 128), WkvKernel::Decode);
}

// Every bad argument throws ShapeMismatch naming the kernel, before anything is recorded.
TEST_F(WkvTest, BadArgumentsThrowBeforeRecording) {
  const uint64_t B = 2, T = 5, H = 2, S = 64;
  Buffer big = make_buffer(static_cast<size_t>(B * H * 300 * 300));
  auto t = [&](Shape s, DType d = DType::F32) { return Tensor::of(big, s, d); };
  kernels::WkvArgs good;
  good.r = good.k = good.v = good.logw = good.y = t({B, T, H, S});
  good.u = t({H, S});
  good.state = t({B, H, S, S});
  struct Bad {
    const char* what;
    kernels::WkvArgs args;
  };
  std::vector<Bad> bad;
  auto with = [&](const char* what, auto edit) {
    kernels::WkvArgs a = good;
    edit(a);
    bad.push_back({what, a});
  };
  with("k shape", [&](auto& a) { a.k = t({B, T + 1, H, S}); });
  with("v shape", [&](auto& a) { a.v = t({B, T, H + 1, S}); });
  with("logw dtype", [&](auto& a) { a.logw = t({B, T, H, S}, DType::F16); });
  with("k dtype", [&](auto& a) { a.k = t({B, T, H, S}, DType::F16); });
  with("y shape", [&](auto& a) { a.y = t({B, T, H * S}); });
  with("state shape", [&](auto& a) { a.state = t({B, H, S, S / 2}); });
  with("u missing", [&](auto& a) { a.u = Tensor{}; });
  with("u shape", [&](auto& a) { a.u = t({H + 1, S}); });
  with("rank", [&](auto& a) { a.r = t({B * T, H, S}); });
  for (uint64_t bad_s : {48u, 16u, 288u}) {
    with("unsupported S", [&](auto& a) {
      a.r = a.k = a.v = a.logw = a.y = t({B, T, H, bad_s});
      a.u = t({H, bad_s});
      a.state = t({B, H, bad_s, bad_s});
    });
  }
  Recorder rec(ctx());
  for (const auto& [what, args] : bad) {
    for (const char* name : {"wkv_decode", "wkv_prefill", "wkv_chunkpar"}) {
      SCOPED_TRACE(std::string(what) + " " + name);
      try {
        if (std::string(name) == "wkv_decode") {
          kernels::wkv_decode(ctx(), rec, args);
        } else if (std::string(name) == "wkv_chunkpar") {
          kernels::wkv_chunkpar(ctx(), rec, args);
        } else {
          kernels::wkv_prefill(ctx(), rec, args);
        }
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      }
    }
    EXPECT_THROW(kernels::wkv(ctx(), rec, args), Error);
  }
  // Gla ignores u entirely.
  kernels::WkvArgs gla = good;
  gla.mode = WkvMode::Gla;
  gla.u = Tensor{};
  EXPECT_NO_THROW(kernels::check_wkv_args(ctx(), "wkv_prefill", gla));
  // The chunk-parallel kernel needs an f32 scratch of at least one chunk.
  for (uint64_t floats : {uint64_t{0}, kernels::wkv_chunkpar_chunk_bytes(B, H, S) / 4 - 1}) {
    kernels::WkvArgs a = good;
    if (floats) a.scratch = t({floats});
    try {
      kernels::wkv_chunkpar(ctx(), rec, a);
      ADD_FAILURE() << "no error, scratch " << floats;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << e.what();
      EXPECT_NE(std::string(e.what()).find("scratch"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
  // A passes mask outside 1..7 (benches time one pass with a single bit).
  kernels::WkvArgs with_scratch = good;
  with_scratch.scratch = t({kernels::wkv_chunkpar_chunk_bytes(B, H, S) / 4});
  for (uint32_t passes : {0u, 8u}) {
    kernels::WkvChunkParConfig c = kernels::wkv_chunkpar_config(ctx().caps(), S);
    c.passes = passes;
    try {
      kernels::wkv_chunkpar(ctx(), rec, with_scratch, c);
      ADD_FAILURE() << "no error, passes " << passes;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("passes"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

// ContextOptions::wkv_kernel: forced ChunkParallel runs wkv_chunkpar for every call (T = 1 too)
// and, unlike the policy, never falls back: a missing scratch is the kernel's clear error.
TEST_F(WkvTest, ForcedKernelChoice) {
  ContextOptions opt = test::test_options();
  opt.wkv_kernel = ContextOptions::WkvKernelChoice::ChunkParallel;
  auto forced = Context::create(opt);
  const uint64_t B = 1, T = 1, H = 1, S = 64;
  Buffer buf = Buffer::create(*forced, Lifetime::Activations, B * H * S * S * 4 * 4,
                              MemoryUsage::Device, "wkv");
  kernels::WkvArgs a;
  a.r = a.k = a.v = a.logw = a.y = Tensor::of(buf, Shape{B, T, H, S}, DType::F32);
  a.u = Tensor::of(buf, Shape{H, S}, DType::F32);
  a.state = Tensor::of(buf, Shape{B, H, S, S}, DType::F32);
  Recorder rec(*forced);
  try {
    kernels::wkv(*forced, rec, a);
    ADD_FAILURE() << "no error without scratch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << e.what();
    EXPECT_NE(std::string(e.what()).find("wkv_chunkpar"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
  a.scratch = Tensor::of(buf, Shape{kernels::wkv_chunkpar_chunk_bytes(B, H, S) / 4}, DType::F32);
  kernels::wkv(*forced, rec, a);
  EXPECT_EQ(rec.dispatch_count(), 3u);  // states, scan, output: the chunk-parallel kernel
}

}  // namespace
}  // namespace vkr
