// test_gemm.cpp: gemm (prefill) vs ref::gemm on the same rounded weights: every dtype, odd shapes
// (T, N, K not multiples of the tiles), bias / residual / SwiGLU epilogues, token + row windows
// under a small forced binding limit, the linear() policy, the cooperative-matrix path where the
// device has one, and shape errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <limits>

#include "kernels/gemm.hpp"
#include "kernels/gemm_selfcheck.hpp"
#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "support/compare.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using kernels::Epilogue;
using kernels::GemmPath;
using test::LinearCase;
using test::LinearShape;

// f32 accumulation in another order than the double reference (|y| ~ 1): ~sqrt(K) ulps.
constexpr double kAtol = 2e-5, kRtol = 2e-4;

std::string name(const LinearShape& s) {
  return fmt::format("{} T={} N={} K={} epilogue={} bias={}", dtype_name(s.dtype), s.T, s.N, s.K,
                     static_cast<uint32_t>(s.epilogue), s.bias);
}

// The coopmat path rounds x to f16 (A operand); its reference does the same. Tensor cores may
// accumulate with fewer guard bits than FMA: a looser bound.
constexpr double kCoopTol = 1e-3;

// Compares `got` with the reference of the path that produced it.
bool close_for_path(const LinearCase& c, const std::vector<float>& got, GemmPath path,
                    const std::string& what) {
  const bool coop = path == GemmPath::CoopMatNV;
  return test::all_close(c.reference(coop), got, coop ? kCoopTol : kAtol, coop ? kCoopTol : kRtol,
                         what);
}

class GemmTest : public test::GpuTest {
 protected:
  // reads: LinearArgs::reads (0 = the device's choice, 1 = storage, 2 = texel buffers).
  void check(const LinearShape& s, uint32_t seed, uint64_t max_binding_bytes = 0,
             GemmPath path = GemmPath::Tiled, const kernels::CoopMatConfig* coop = nullptr,
             uint32_t reads = 0, const kernels::GemmTileConfig* tiles = nullptr) {
    SCOPED_TRACE(fmt::format("{} reads={}", name(s), reads));
    LinearCase c(ctx(), s, seed);
    auto args = c.args();
    args.max_binding_bytes = max_binding_bytes;
    args.reads = reads;
    size_t views = 0;
    auto got = c.run(
        [&](Recorder& rec) { kernels::gemm(ctx(), rec, args, path, coop, tiles); }, &views);
    EXPECT_TRUE(close_for_path(c, got, path, name(s)));
    if (reads != 0) {  // texel reads: the Direct path with vector loads only
      EXPECT_EQ(views > 0, reads == 2 && path == GemmPath::Direct && c.whole_texels()) << views;
    }
  }
};

// Both portable paths run everywhere (Direct is the CPU choice, Tiled the GPU one), Direct with
// storage and with texel reads; K = 64 / 256 / 1000 take the vector loads, 1 / 33 / 65 / 257 the
// scalar ones.
struct PortableRun {
  GemmPath path;
  uint32_t reads;
};
constexpr PortableRun kPortable[] = {
    {GemmPath::Tiled, 0}, {GemmPath::Direct, 1}, {GemmPath::Direct, 2}};

TEST_F(GemmTest, OddShapesEveryDtype) {
  const std::pair<uint64_t, uint64_t> nk[] = {{1, 1},    {7, 33},    {65, 257},
                                              {257, 65}, {33, 1000}, {9, 64}};
  for (auto [path, reads] : kPortable) {
    uint32_t seed = 100;
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      for (uint64_t T : {1, 9, 64, 130}) {
        for (auto [N, K] : nk) {
          check({T, N, K, dt, Epilogue::None, false}, ++seed, 0, path, nullptr, reads);
        }
      }
    }
  }
}

TEST_F(GemmTest, Epilogues) {
  // Tiled at both token counts; Direct (8x8 blocks: the slowest pipelines to compile on lavapipe)
  // at T = 70 for every dtype and at T = 20 (a 32-token tile) for f16 only.
  uint32_t seed = 200;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (uint64_t T : {20, 70}) {
      for (auto [path, reads] : kPortable) {
        if (path == GemmPath::Direct && T == 20 && dt != DType::F16) continue;
        // Direct: storage reads for f32, texel reads for f16 / bf16 (compile time on lavapipe).
        if (path == GemmPath::Direct && (reads == 2) == (dt == DType::F32)) continue;
        check({T, 65, 96, dt, Epilogue::None, true}, ++seed, 0, path, nullptr, reads);
        check({T, 65, 96, dt, Epilogue::Residual, false}, ++seed, 0, path, nullptr, reads);
        check({T, 65, 96, dt, Epilogue::Residual, true}, ++seed, 0, path, nullptr, reads);
        check({T, 65, 96, dt, Epilogue::SwiGlu, false}, ++seed, 0, path, nullptr, reads);
      }
    }
  }
}

TEST_F(GemmTest, TokenAndRowWindowsUnderASmallBindingLimit) {
  // 4 KiB bindings: x and y need several token windows and W several row windows.
  for (auto [path, reads] : kPortable) {
    uint32_t seed = 300;
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      check({130, 100, 40, dt, Epilogue::None, true}, ++seed, 4096, path, nullptr, reads);
      check({70, 100, 40, dt, Epilogue::SwiGlu, false}, ++seed, 4096, path, nullptr, reads);
      check({70, 90, 24, dt, Epilogue::Residual, false}, ++seed, 4096, path, nullptr, reads);
    }
  }
}

// Every rung of the Tiled path's ladder, forced: vector loads (K = 96) and scalar ones (K = 257),
// tokens and outputs past the tile edges (and more than one tile), every epilogue where the rung
// allows it, and the other weight dtypes on the biggest tile.
TEST_F(GemmTest, TiledLadderEveryRung) {
  const auto& caps = ctx().caps();
  uint32_t seed = 450;
  for (Epilogue e : {Epilogue::None, Epilogue::Residual, Epilogue::SwiGlu}) {
    const auto ladder = kernels::tiled_ladder(caps, e);
    ASSERT_FALSE(ladder.empty());
    for (const auto& t : ladder) {
      SCOPED_TRACE(fmt::format("tile {}x{}x{} block {}x{} epilogue {}", t.bm, t.bn, t.bk, t.tm,
                               t.tn, static_cast<uint32_t>(e)));
      ASSERT_EQ(kernels::tiled_config_error(caps, t, e), "");
      check({t.bm + 3, t.bn + 5, 96, DType::F16, e, e != Epilogue::SwiGlu}, ++seed, 0,
            GemmPath::Tiled, nullptr, 0, &t);
      if (e == Epilogue::None) {
        check({t.bm - 1, 2 * t.bn + 1, 257, DType::F16, e, false}, ++seed, 0, GemmPath::Tiled,
              nullptr, 0, &t);
      }
    }
    for (DType dt : {DType::F32, DType::BF16}) {
      const auto& t = ladder.front();
      check({t.bm + 3, t.bn + 5, 96, dt, e, false}, ++seed, 0, GemmPath::Tiled, nullptr, 0, &t);
    }
  }
  // A tiling the device cannot run is refused before any dispatch.
  kernels::GemmTileConfig bad{64, 64, 16, 2, 4};  // 2-row blocks: not vec4 reads
  LinearCase c(ctx(), {16, 16, 16, DType::F16, Epilogue::None, false}, 1);
  Recorder rec(ctx());
  try {
    kernels::gemm(ctx(), rec, c.args(), GemmPath::Tiled, nullptr, &bad);
    ADD_FAILURE() << "a 2 x 4 block must be refused";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::DeviceUnsupported) << err.what();
  }
  // A forced tiling belongs to the Tiled path: with another it is an error, not ignored.
  const auto& good = kernels::tiled_ladder(caps, Epilogue::None).back();
  for (GemmPath p : {GemmPath::Auto, GemmPath::Direct, GemmPath::CoopMatNV}) {
    EXPECT_THROW(kernels::gemm(ctx(), rec, c.args(), p, nullptr, &good), Error);
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

TEST_F(GemmTest, LinearPicksGemvUpTo8TokensAndGemmAbove) {
  uint32_t seed = 400;
  for (uint64_t T : {1, 8, 9, 15, 16, 33}) {
    LinearShape s{T, 48, 64, DType::F16, Epilogue::Residual, true};
    SCOPED_TRACE(name(s));
    LinearCase c(ctx(), s, ++seed);
    auto args = c.args();
    auto got = c.run([&](Recorder& rec) { kernels::linear(ctx(), rec, args); });
    // gemm (T >= kGemmMinTokens) takes the device's path: coopmat rounds x to f16.
    const GemmPath path = T >= kernels::kGemmMinTokens
                              ? kernels::choose_gemm_path(ctx().caps(), s.dtype, s.epilogue)
                              : GemmPath::Tiled;
    EXPECT_TRUE(close_for_path(c, got, path, name(s)));
  }
}

TEST_F(GemmTest, CoopMatNvWhereAvailable) {
  const auto& caps = ctx().caps();
  if (kernels::choose_gemm_path(caps, DType::F16, Epilogue::SwiGlu) != GemmPath::CoopMatNV) {
    // Forcing the path must fail cleanly, before any CooperativeMatrixNV pipeline exists.
    LinearCase c(ctx(), {16, 16, 16, DType::F16, Epilogue::None, false}, 1);
    Recorder rec(ctx());
    try {
      kernels::gemm(ctx(), rec, c.args(), GemmPath::CoopMatNV);
      ADD_FAILURE() << "forcing CoopMatNV on a device without it must throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::DeviceUnsupported) << e.what();
    }
    EXPECT_EQ(rec.dispatch_count(), 0u);
    GTEST_SKIP() << "cooperative-matrix path not available on " << caps.device_name << ": "
                 << kernels::coopmat_unavailable_reason(caps, DType::F16, Epilogue::SwiGlu);
  }
  uint32_t seed = 500;
  for (uint64_t T : {9, 64, 130}) {
    for (auto [N, K] : {std::pair<uint64_t, uint64_t>{7, 33}, {65, 257}, {257, 64}}) {
      check({T, N, K, DType::F16, Epilogue::None, false}, ++seed, 0, GemmPath::CoopMatNV);
    }
  }
  check({70, 65, 96, DType::F16, Epilogue::None, true}, ++seed, 0, GemmPath::CoopMatNV);
  check({70, 65, 96, DType::F16, Epilogue::Residual, true}, ++seed, 0, GemmPath::CoopMatNV);
  check({70, 65, 96, DType::F16, Epilogue::SwiGlu, false}, ++seed, 0, GemmPath::CoopMatNV);
  check({130, 100, 40, DType::F16, Epilogue::None, true}, ++seed, 4096, GemmPath::CoopMatNV);
  // The picked tiling of long prompts (128 x 128 tiles; SwiGLU at a narrower bk).
  check({300, 260, 200, DType::F16, Epilogue::SwiGlu, false}, ++seed, 0, GemmPath::CoopMatNV);
  check({600, 300, 136, DType::F16, Epilogue::Residual, true}, ++seed, 0, GemmPath::CoopMatNV);
  // Every rung of the tiling ladder, forced, with whole and partial 8-element granules (K = 96
  // vs 257) and every epilogue: split-K (ks > 1) and multi-fragment subgroups alike.
  for (const auto& cfg : kernels::coopmat_ladder(caps, Epilogue::None)) {
    SCOPED_TRACE(fmt::format("wm={} wn={} ks={} fm={} fn={} cn={} bk={}", cfg.wm, cfg.wn, cfg.ks,
                             cfg.fm, cfg.fn, cfg.cn, cfg.bk));
    for (Epilogue e : {Epilogue::None, Epilogue::Residual, Epilogue::SwiGlu}) {
      auto c = cfg;
      while (!kernels::coopmat_config_error(caps, c, e).empty() && c.bk > 16 * c.ks) c.bk /= 2;
      ASSERT_EQ(kernels::coopmat_config_error(caps, c, e), "");
      check({70, 100, 96, DType::F16, e, e != Epilogue::SwiGlu}, ++seed, 0, GemmPath::CoopMatNV,
            &c);
      check({33, 65, 257, DType::F16, e, false}, ++seed, 0, GemmPath::CoopMatNV, &c);
    }
  }
}

// Host-only: the coopmat tiling choice on made-up devices (no GPU needed, so it runs everywhere).
Capabilities coop_caps(uint32_t max_shared, std::vector<uint32_t> ns) {
  Capabilities caps;
  caps.device_type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  caps.subgroup_size = 32;
  caps.max_shared_memory = max_shared;
  caps.max_workgroup_invocations = 1024;
  caps.max_workgroup_size[0] = 1024;
  caps.fp16_arith = true;
  caps.nv_cooperative_matrix = true;
  for (uint32_t n : ns) {
    CoopMatShape s;
    s.m = 16, s.n = n, s.k = 16;
    s.c = s.result = VK_COMPONENT_TYPE_FLOAT32_NV;
    caps.nv_coopmat_shapes.push_back(s);
  }
  return caps;
}

TEST(GemmCoopConfig, PicksFittingTilesWithEnoughWorkgroups) {
  for (uint32_t shared : {49152u, 32768u}) {
    for (const std::vector<uint32_t>& ns : {std::vector<uint32_t>{8, 16}, {8}}) {
      const Capabilities caps = coop_caps(shared, ns);
      const uint32_t cn = ns.size() == 2 ? 16 : 8;
      EXPECT_EQ(kernels::coopmat_nv_f16_n(caps), cn);
      for (Epilogue e : {Epilogue::None, Epilogue::Residual, Epilogue::SwiGlu}) {
        EXPECT_EQ(kernels::choose_gemm_path(caps, DType::F16, e), GemmPath::CoopMatNV);
        for (uint64_t T : {1, 9, 16, 32, 64, 128, 512, 4096}) {
          for (uint64_t N : {16, 1024, 5120, 27648}) {
            SCOPED_TRACE(fmt::format("shared={} cn={} e={} T={} N={}", shared, cn,
                                     static_cast<uint32_t>(e), T, N));
            const auto c = kernels::pick_coopmat_config(caps, T, N, e);
            ASSERT_TRUE(c.has_value());
            EXPECT_EQ(kernels::coopmat_config_error(caps, *c, e), "");
            EXPECT_EQ(c->cn, cn);
            EXPECT_EQ(c->bk % (16 * c->ks), 0u);
            EXPECT_LE(c->shared_bytes(e == Epilogue::SwiGlu ? 2 : 1), shared);
            EXPECT_LE(c->bm(), std::max<uint64_t>(16, std::bit_ceil(T)));  // no needless padding
            const uint64_t groups = (N + c->bn() - 1) / c->bn() * ((T + c->bm() - 1) / c->bm());
            // Enough workgroups for a big GPU whenever smaller tiles exist to give them.
            if (T * N >= 16 * 16 * 128) {
              EXPECT_GE(groups, 128u);
            }
          }
        }
      }
      EXPECT_EQ(kernels::coopmat_ladder(caps, Epilogue::None).size(), 6u);
      // Long prompts get the widest K-split tile (16 x 64, K in 4): on the H100 the tiles without
      // a K split lost 2.5-8x at every measured prompt length (gemm.cpp).
      const auto big = kernels::pick_coopmat_config(caps, 4096, 5120, Epilogue::None);
      EXPECT_EQ(big->bm(), 16u);
      EXPECT_EQ(big->bn(), 64u);
      EXPECT_EQ(big->ks, 4u);
      // Few output tiles: the narrowest K-split tile (most workgroups).
      EXPECT_EQ(kernels::pick_coopmat_config(caps, 16, 1024, Epilogue::None)->bn(), 16u);
    }
  }
}

TEST(GemmTiledConfig, PicksFittingTilesWithEnoughWorkgroups) {
  Capabilities caps = coop_caps(49152, {});
  caps.nv_cooperative_matrix = false;
  for (uint32_t shared : {49152u, 16384u}) {
    caps.max_shared_memory = shared;
    for (Epilogue e : {Epilogue::None, Epilogue::SwiGlu}) {
      const uint32_t nw = e == Epilogue::SwiGlu ? 2 : 1;
      for (uint64_t T : {9, 16, 32, 64, 128, 512, 4096}) {
        for (uint64_t N : {16, 1024, 5120, 27648}) {
          SCOPED_TRACE(fmt::format("shared={} nw={} T={} N={}", shared, nw, T, N));
          const auto c = kernels::pick_tiled_config(caps, T, N, e);
          EXPECT_EQ(kernels::tiled_config_error(caps, c, e), "");
          EXPECT_LE(c.shared_bytes(nw), shared);
          EXPECT_LE(c.bm, std::max<uint64_t>(32, std::bit_ceil(T)));  // no needless padding
          const uint64_t groups = (N + c.bn - 1) / c.bn * ((T + c.bm - 1) / c.bm);
          if (T * N >= 32 * 32 * 128) {
            EXPECT_GE(groups, 128u);  // a big GPU gets enough workgroups when tiles allow it
          }
        }
      }
    }
  }
  caps.max_shared_memory = 49152;
  // A device that reports 304 compute units (an MI300X) gets at least that many workgroups where
  // a smaller tile gives them: T = 512, N = 5120 drops from 128 x 128 (160 groups) to 128 x 64.
  Capabilities many = caps;
  many.compute_units = 304;
  EXPECT_EQ(kernels::pick_tiled_config(caps, 512, 5120, Epilogue::None).bn, 128u);
  const auto m = kernels::pick_tiled_config(many, 512, 5120, Epilogue::None);
  EXPECT_EQ(m, (kernels::GemmTileConfig{128, 64, 16, 8, 4}));
  for (uint64_t T : {64, 128, 512, 4096}) {
    for (uint64_t N : {1024, 5120, 27648}) {
      const auto c = kernels::pick_tiled_config(many, T, N, Epilogue::None);
      const uint64_t groups = (N + c.bn - 1) / c.bn * ((T + c.bm - 1) / c.bm);
      if (T * N >= 32 * 32 * 304) {
        EXPECT_GE(groups, 304u) << "T=" << T << " N=" << N;
      }
    }
  }
  // Long prompts, wide outputs: the 128 x 128 tile of 8 x 8 blocks (SwiGLU: 128 x 64, 8 x 4).
  const auto big = kernels::pick_tiled_config(caps, 4096, 5120, Epilogue::None);
  EXPECT_EQ(big, (kernels::GemmTileConfig{128, 128, 16, 8, 8}));
  const auto swiglu = kernels::pick_tiled_config(caps, 4096, 27648, Epilogue::SwiGlu);
  EXPECT_EQ(swiglu, (kernels::GemmTileConfig{128, 64, 16, 8, 4}));
  // Refusals: blocks not multiples of 4, too many accumulators, limits.
  const Epilogue none = Epilogue::None;
  EXPECT_NE(kernels::tiled_config_error(caps, {64, 64, 16, 2, 4}, none), "");
  EXPECT_NE(kernels::tiled_config_error(caps, {64, 64, 12, 4, 4}, none), "");
  EXPECT_NE(kernels::tiled_config_error(caps, {128, 128, 16, 8, 8}, Epilogue::SwiGlu), "");
  EXPECT_NE(kernels::tiled_config_error(caps, {256, 256, 16, 4, 4}, none), "");  // 4096 inv.
  caps.max_shared_memory = 4096;
  EXPECT_NE(kernels::tiled_config_error(caps, {32, 32, 16, 4, 4}, none), "");
  EXPECT_TRUE(kernels::tiled_ladder(caps, none).empty());
  EXPECT_THROW(kernels::pick_tiled_config(caps, 64, 64, none), Error);
}

TEST(GemmCoopConfig, RejectsWhatCannotRun) {
  const Capabilities caps = coop_caps(49152, {16});
  kernels::CoopMatConfig c;  // 128 x 128, bk 64
  EXPECT_EQ(kernels::coopmat_config_error(caps, c, Epilogue::None), "");
  EXPECT_NE(kernels::coopmat_config_error(caps, c, Epilogue::SwiGlu), "");  // shared memory
  c.bk = 40;
  EXPECT_NE(kernels::coopmat_config_error(caps, c, Epilogue::None), "");  // not a multiple of 16
  c = {};
  c.cn = 8;
  EXPECT_NE(kernels::coopmat_config_error(caps, c, Epilogue::None), "");  // not the device shape
  c = {};
  c.sg = 64;
  EXPECT_NE(kernels::coopmat_config_error(caps, c, Epilogue::None), "");  // subgroup size
  Capabilities none = caps;
  none.nv_cooperative_matrix = false;
  none.device_type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  EXPECT_EQ(kernels::choose_gemm_path(none, DType::F16, Epilogue::None), GemmPath::Direct);
  EXPECT_NE(kernels::coopmat_unavailable_reason(none, DType::F16, Epilogue::None), "");
  EXPECT_FALSE(kernels::pick_coopmat_config(none, 128, 128, Epilogue::None).has_value());
  EXPECT_EQ(kernels::choose_gemm_path(caps, DType::BF16, Epilogue::None), GemmPath::Tiled);
}

TEST_F(GemmTest, ShapeErrorsBeforeRecording) {
  LinearCase c(ctx(), {20, 16, 32, DType::BF16, Epilogue::None, false}, 600);
  Recorder rec(ctx());
  auto expect_shape_error = [&](const kernels::LinearArgs& a, const char* what) {
    test::expect_linear_shape_error(
        [&](const kernels::LinearArgs& x) { kernels::gemm(ctx(), rec, x); }, "gemm", a, what);
  };
  const auto good = c.args();
  auto a = good;
  a.w.shape = Shape{16, 33};
  expect_shape_error(a, "K mismatch");
  a = good;
  a.y.shape = Shape{19, 16};
  expect_shape_error(a, "y tokens");
  a = good;
  a.epilogue = Epilogue::Residual;
  a.residual = good.x;  // (20, 32), not (20, 16)
  expect_shape_error(a, "residual shape");
  a = good;
  a.epilogue = Epilogue::SwiGlu;
  a.w_up = good.w;
  a.w_up.dtype = DType::F16;
  expect_shape_error(a, "w_up dtype");
  a = good;
  a.w_up = good.w;
  expect_shape_error(a, "w_up without SwiGLU");
  a = good;
  a.x.shape = Shape{20, 32, 1};
  expect_shape_error(a, "x rank");
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr

namespace vkr {
namespace {

using kernels::Epilogue;
using kernels::GemmPath;

class GemmSelfCheckTest : public test::GpuTest {};

// The first-use check of the tensor-core pipelines (gemm_selfcheck.hpp) must accept a correct
// kernel: run its exact problem on the portable paths, every epilogue, bias and load width.
TEST_F(GemmSelfCheckTest, ProblemPassesOnPortablePaths) {
  for (GemmPath path : {GemmPath::Tiled, GemmPath::Direct}) {
    for (Epilogue e : {Epilogue::None, Epilogue::Residual, Epilogue::SwiGlu}) {
      for (bool bias : {false, true}) {
        if (bias && e == Epilogue::SwiGlu) continue;
        for (bool vec : {true, false}) {
          EXPECT_EQ(kernels::gemm_check_problem(ctx(), path, nullptr, e, bias, vec), "")
              << "path " << static_cast<int>(path) << " epilogue " << static_cast<int>(e)
              << " bias " << bias << " vec " << vec;
        }
      }
    }
  }
}

// ... and must reject a wrong one: its expected values pass, one element off by the grid step
// (1/64, far below what an indexing or staging bug gives), a NaN or a short output does not.
TEST(GemmSelfCheck, CompareRejectsWrongOutputs) {
  for (Epilogue e : {Epilogue::None, Epilogue::Residual, Epilogue::SwiGlu}) {
    const auto check = kernels::make_gemm_check(nullptr, e, e != Epilogue::SwiGlu, true);
    std::vector<float> y(check.want.begin(), check.want.end());
    EXPECT_EQ(check.compare(y), "") << "epilogue " << static_cast<int>(e);
    const size_t i = y.size() / 2 + 3;
    y[i] += 1.0f / 64.0f;
    EXPECT_NE(check.compare(y).find("y["), std::string::npos) << "epilogue " << static_cast<int>(e);
    y[i] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_NE(check.compare(y), "");
    y.pop_back();
    EXPECT_NE(check.compare(y), "");
  }
}

// Where the tensor-core path exists: automatic gemm() verifies the pipeline it uses once (the
// verdict is cached in the Context), and a failed verdict sends it to the portable path (f32
// activations: the f32 tolerance then holds, which the f16-rounded coopmat result would not).
TEST_F(GemmSelfCheckTest, CoopMatVerdictIsCachedAndHonoured) {
  const auto& caps = ctx().caps();
  if (kernels::choose_gemm_path(caps, DType::F16, Epilogue::None) != GemmPath::CoopMatNV) {
    GTEST_SKIP() << "no cooperative-matrix path on " << caps.device_name;
  }
  test::LinearCase c(ctx(), {64, 96, 200, DType::F16, Epilogue::None, false}, 7);
  const auto cfg = kernels::pick_coopmat_config(caps, 64, 96, Epilogue::None);
  ASSERT_TRUE(cfg.has_value());
  const std::string key = kernels::coopmat_check_key(*cfg, Epilogue::None, false, true);
  auto args = c.args();
  auto run = [&] {
    return c.run([&](Recorder& rec) { kernels::gemm(ctx(), rec, args, GemmPath::Auto); });
  };
  auto got = run();
  ASSERT_TRUE(ctx().self_check(key).has_value());
  EXPECT_TRUE(*ctx().self_check(key)) << "the coopmat pipeline failed its self-check";
  ctx().set_self_check(key, false);
  got = run();
  EXPECT_TRUE(test::all_close(c.reference(), got, 2e-5, 2e-4, "fallback after failed verdict"));
  ctx().set_self_check(key, true);
}

}  // namespace
}  // namespace vkr
