// test_quant.cpp: the quantized-weight kernels (gemv_q, gemm_q tiled + direct, embed_q) for every
// type vs model/dequant.cpp's decoding fed to a double-precision reference: random blocks with
// extreme / zero / negative-zero scales and all-zero blocks, odd row counts, T in {1, 3, 8, 9,
// 16, 33}, every epilogue, row windows at odd byte offsets, and bad shapes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/embed.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "kernels/quant_case.hpp"
#include "support/compare.hpp"
#include "support/expect_error.hpp"
#include "support/gpu_env.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using kernels::Epilogue;
using kernels::GemmPath;

enum class Run { Linear, GemmTiled };

struct QCase {
  DType dt;
  uint64_t T, N, K;
  Epilogue epilogue = Epilogue::None;
  bool bias = false, extremes = true;
  uint64_t max_binding_bytes = 0;
  Run run = Run::Linear;
  uint32_t gemv_layout = 0;  // LinearArgs::gemv_q_layout
  uint32_t reads = 0;        // LinearArgs::reads (2: texel fetches where the call allows)
  int expect_texel = -1;     // 1 / 0: the texel build must / must not have run; -1: either
  const kernels::GemmTileConfig* tiles = nullptr;  // Run::GemmTiled: forced tiling
  std::string str() const {
    return fmt::format("{} T={} N={} K={} epilogue={} bias={} window={} {} layout={} reads={}",
                       dtype_name(dt), T, N, K, static_cast<uint32_t>(epilogue), bias,
                       max_binding_bytes, run == Run::Linear ? "linear" : "gemm tiled",
                       gemv_layout, reads);
  }
};

// y = x·Wᵀ in double, with mag = sum |x·w| per output (the scale of f32 rounding error).
void reference(const QCase& c, const std::vector<float>& x, const std::vector<float>& w,
               std::vector<double>& y, std::vector<double>& mag) {
  y.assign(c.T * c.N, 0.0);
  mag.assign(c.T * c.N, 0.0);
  for (uint64_t t = 0; t < c.T; ++t) {
    for (uint64_t n = 0; n < c.N; ++n) {
      double s = 0.0, a = 0.0;
      for (uint64_t k = 0; k < c.K; ++k) {
        const double p = double{x[t * c.K + k]} * double{w[n * c.K + k]};
        s += p;
        a += std::abs(p);
      }
      y[t * c.N + n] = s;
      mag[t * c.N + n] = a;
    }
  }
}

class QuantLinearTest : public test::GpuTest {
 protected:
  void check(const QCase& c, uint32_t seed) {
    SCOPED_TRACE(c.str());
    test::Rng rng(seed);
    const float mag = 1.0f / std::sqrt(static_cast<float>(c.K)) * 4.0f;
    const auto x = rng.uniform_vec(c.T * c.K, -1.0f, 1.0f);
    const auto w = test::make_quant_weights(rng, c.dt, c.N, c.K, mag, c.extremes);
    const bool swiglu = c.epilogue == Epilogue::SwiGlu;
    test::QuantWeights wu;
    if (swiglu) wu = test::make_quant_weights(rng, c.dt, c.N, c.K, mag, c.extremes);
    const auto bias = rng.uniform_vec(c.N, -0.5f, 0.5f);
    const auto y0 = rng.uniform_vec(c.T * c.N, -1.0f, 1.0f);

    Buffer bx = test::upload_floats(ctx(), x), by = test::upload_floats(ctx(), y0);
    Buffer bw = test::upload_bytes(ctx(), w.bytes, Lifetime::Weights);
    Buffer bu = swiglu ? test::upload_bytes(ctx(), wu.bytes, Lifetime::Weights) : Buffer{};
    Buffer bb = test::upload_floats(ctx(), bias);
    kernels::LinearArgs a;
    a.x = Tensor::of(bx, Shape{c.T, c.K}, DType::F32);
    a.w = Tensor::of(bw, Shape{c.N, c.K}, c.dt);
    a.y = Tensor::of(by, Shape{c.T, c.N}, DType::F32);
    if (swiglu) a.w_up = Tensor::of(bu, Shape{c.N, c.K}, c.dt);
    if (c.bias) a.bias = Tensor::of(bb, Shape{c.N}, DType::F32);
    a.epilogue = c.epilogue;
    a.max_binding_bytes = c.max_binding_bytes;
    a.gemv_q_layout = c.gemv_layout;
    a.reads = c.reads;
    Recorder rec(ctx());
    if (c.run == Run::Linear) {
      kernels::linear(ctx(), rec, a);
    } else {
      kernels::gemm(ctx(), rec, a, GemmPath::Tiled, nullptr, c.tiles);
    }
    if (c.expect_texel >= 0) {
      EXPECT_EQ(rec.texel_view_count() > 0, c.expect_texel == 1) << "texel build ran?";
    }
    ctx().queue().submit(rec).wait();
    std::vector<float> got(c.T * c.N);
    ctx().staging().download(by, std::span<float>(got));

    std::vector<double> g, gm, u, um;
    reference(c, x, w.values, g, gm);
    if (swiglu) reference(c, x, wu.values, u, um);
    std::vector<float> want(got.size());
    size_t bad = 0, first_bad = SIZE_MAX;
    for (size_t i = 0; i < got.size(); ++i) {
      double v = g[i], tol = 1e-5 * gm[i] + 1e-6;
      if (c.bias) v += bias[i % c.N];
      if (swiglu) {
        const double s = 1.0 / (1.0 + std::exp(-v));
        tol = tol * std::abs(u[i]) * 1.2 + std::abs(v * s) * (1e-5 * um[i] + 1e-6);
        v = v * s * u[i];
      }
      if (c.epilogue == Epilogue::Residual) v += y0[i];
      tol += 1e-6 * std::abs(v);
      want[i] = static_cast<float>(v);
      if (!(std::abs(double{got[i]} - v) <= tol)) {
        ++bad;
        if (first_bad == SIZE_MAX) first_bad = i;
      }
    }
    EXPECT_EQ(bad, 0u) << bad << " bad of " << got.size() << ", first at " << first_bad
                       << " (t " << first_bad / c.N << ", row " << first_bad % c.N << "): want "
                       << (bad ? want[first_bad] : 0.0f) << " got "
                       << (bad ? got[first_bad] : 0.0f) << "; NMSE " << test::nmse(want, got);
  }
};

// Row lengths: one block, several blocks, and (legacy types) an odd number of blocks so rows
// start at every byte offset mod 4.
std::vector<uint64_t> ks(DType t) {
  if (dtype_block(t).elems == 256) return {256, 512};
  return {32, 96, 288};
}

TEST_F(QuantLinearTest, EveryTypeTokenCountAndOddRows) {
  uint32_t seed = 1000;
  for (DType dt : test::kAllQuantTypes) {
    for (uint64_t T : {1, 3, 8, 9, 16, 33}) {
      for (uint64_t K : ks(dt)) {
        for (uint64_t N : {1, 7, 33}) check({dt, T, N, K}, ++seed);
      }
    }
  }
}

// The epilogue code is the same for every type (common/linear_io.glsl), so each type runs two of
// the three epilogues, one through gemv and one through gemm, rotating so that every epilogue
// meets every path with several block layouts (each combination is its own pipeline, and
// lavapipe compiles one in ~1 s).
TEST_F(QuantLinearTest, Epilogues) {
  uint32_t seed = 2000;
  const QCase modes[] = {{DType::F32, 0, 0, 0, Epilogue::None, true},
                         {DType::F32, 0, 0, 0, Epilogue::Residual, true},
                         {DType::F32, 0, 0, 0, Epilogue::SwiGlu, false, false}};
  for (size_t i = 0; i < std::size(test::kAllQuantTypes); ++i) {
    const DType dt = test::kAllQuantTypes[i];
    const uint64_t K = ks(dt).back();
    QCase a = modes[i % 3], b = modes[(i + 1) % 3];
    a.dt = b.dt = dt;
    a.T = 1;
    b.T = 17;
    a.N = b.N = 19;
    a.K = b.K = K;
    check(a, ++seed);
    check(b, ++seed);
  }
}

// The portable shared-memory path (GPUs) runs on every device; lavapipe picks DIRECT by itself.
TEST_F(QuantLinearTest, TiledGemmPath) {
  uint32_t seed = 3000;
  for (DType dt : test::kAllQuantTypes) {
    for (uint64_t T : {16, 33}) {
      check({dt, T, 65, ks(dt).back(), Epilogue::None, true, true, 0, Run::GemmTiled}, ++seed);
    }
    check({dt, 20, 9, ks(dt).front(), Epilogue::SwiGlu, false, false, 0, Run::GemmTiled}, ++seed);
  }
}

// Every rung of the tiled path's ladder (bk = 32), forced, plus 4 x 8 blocks (the ladder's 8 x 8
// tile may not fit a 32 KiB device): tokens and outputs past the tile edges and more than one
// tile along each; two decoders (legacy blocks and K-quant super-blocks); SwiGLU where it fits.
TEST_F(QuantLinearTest, TiledLadderEveryRung) {
  const auto& caps = ctx().caps();
  uint32_t seed = 3500;
  auto ladder = kernels::tiled_ladder(caps, Epilogue::None, true);
  ASSERT_FALSE(ladder.empty());
  const kernels::GemmTileConfig wide{64, 128, 32, 4, 8};
  if (kernels::tiled_config_error(caps, wide, Epilogue::None).empty()) ladder.push_back(wide);
  for (const auto& t : ladder) {
    SCOPED_TRACE(fmt::format("tile {}x{} block {}x{}", t.bm, t.bn, t.tm, t.tn));
    for (DType dt : {DType::Q8_0, DType::Q4_K}) {
      QCase c{dt, t.bm + 3, t.bn + 5, ks(dt).back(), Epilogue::None, true};
      c.run = Run::GemmTiled;
      c.tiles = &t;
      check(c, ++seed);
    }
    if (kernels::tiled_config_error(caps, t, Epilogue::SwiGlu).empty()) {
      QCase c{DType::Q6_K, t.bm - 1, 2 * t.bn + 1, 256, Epilogue::SwiGlu, false, false};
      c.run = Run::GemmTiled;
      c.tiles = &t;
      check(c, ++seed);
    }
  }
  // A tiling with a K step other than one unit is refused before recording.
  kernels::GemmTileConfig bad = ladder.back();
  bad.bk = 16;
  Recorder rec(ctx());
  QCase c{DType::Q8_0, 16, 16, 32};
  test::Rng rng(1);
  const auto w = test::make_quant_weights(rng, c.dt, c.N, c.K, 1.0f, false);
  Buffer bx = test::upload_floats(ctx(), std::vector<float>(c.T * c.K, 0.5f));
  Buffer bw = test::upload_bytes(ctx(), w.bytes, Lifetime::Weights);
  Buffer by = test::upload_floats(ctx(), std::vector<float>(c.T * c.N, 0.0f));
  kernels::LinearArgs a;
  a.x = Tensor::of(bx, Shape{c.T, c.K}, DType::F32);
  a.w = Tensor::of(bw, Shape{c.N, c.K}, c.dt);
  a.y = Tensor::of(by, Shape{c.T, c.N}, DType::F32);
  try {
    kernels::gemm(ctx(), rec, a, GemmPath::Tiled, nullptr, &bad);
    ADD_FAILURE() << "bk = 16 must be refused for quantized weights";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::DeviceUnsupported) << e.what();
  }
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

// Tiny binding limits split W into windows of a few rows, each bound from an aligned-down start
// (legacy rows of 18 / 22 / 34 bytes put windows at every offset mod 16).
TEST_F(QuantLinearTest, RowWindows) {
  uint32_t seed = 4000;
  for (DType dt : test::kAllQuantTypes) {
    const uint64_t K = ks(dt).front();
    const uint64_t limit = std::max<uint64_t>(3 * dtype_row_bytes(dt, K) + 64, K * 4 * 8 + 64);
    for (uint64_t T : {1, 8, 33}) {
      check({dt, T, 23, K, Epilogue::None, false, true, limit}, ++seed);
    }
  }
}

// The codebook i-quants in the CPU layout: grouped only through texel fetches (gemv_q_tex.comp,
// super-blocks realigned in registers, decoded by quant.glsl's dequant_unit from them); with
// storage reads the call keeps the per-unit layout. SwiGLU pairs, residual + bias, two tokens, a
// row window (odd byte offsets mod 16) and K = 768 (three super-blocks).
TEST_F(QuantLinearTest, GroupedGemvTexelReadsCodebookTypes) {
  uint32_t seed = 5800;
  for (DType dt : test::kGridQuantTypes) {
    QCase pair{dt, 1, 16, 512, Epilogue::SwiGlu, false, true};
    pair.gemv_layout = 2;
    pair.reads = 2;
    pair.expect_texel = 1;
    check(pair, ++seed);
    QCase res{dt, 2, 13, 768, Epilogue::Residual, true, true};
    res.gemv_layout = 2;
    res.reads = 2;
    // (texels where the bound window allows them, else the per-unit layout: either is right)
    check(res, ++seed);
    QCase storage{dt, 1, 16, 512, Epilogue::None, false, true};
    storage.gemv_layout = 2;
    storage.reads = 1;
    storage.expect_texel = 0;
    check(storage, ++seed);
  }
  // Windows of rows (IQ2_XXS rows of 132 bytes: offsets a multiple of 4, not of 16).
  const uint64_t limit = std::max<uint64_t>(5 * dtype_row_bytes(DType::IQ2_XXS, 512), 512 * 8) + 64;
  QCase w{DType::IQ2_XXS, 1, 23, 512, Epilogue::None, false, true, limit};
  w.gemv_layout = 2;
  w.reads = 2;
  check(w, ++seed);
}

// gemv_q's two device layouts run here whatever the device: 1 = GPUs' subgroup rows over lane
// units (shaders/common/quant_lane.glsl: any K, Q4_K / Q5_K need 16-byte aligned windows), 2 = CPU
// devices' rows per lane over groups (shaders/common/quant_group.glsl: K a multiple of the group,
// 256 weights (Q5_1 64), 16-byte aligned rows, Q6_K any even byte). Odd row counts (partial row
// sets and workgroups), the SwiGLU pair, residual + bias, extreme scales, and windows (legacy and
// Q6_K windows start at every even byte mod 16; misaligned Q4_K / Q5_K ones fall back).
TEST_F(QuantLinearTest, GroupedGemvLayouts) {
  uint32_t seed = 5000;
  for (DType dt : test::kQuantTypes) {
    const uint64_t K = dt == DType::Q5_1 ? 192 : 512;
    // Each case is its own pipeline (~1 s to compile on lavapipe): one per layout and type.
    QCase gpu{dt, 3, 9, K, Epilogue::SwiGlu, false, false};
    gpu.gemv_layout = 1;
    check(gpu, ++seed);
    QCase cpu{dt, 1, 13, K, Epilogue::Residual, true, true};
    cpu.gemv_layout = 2;
    check(cpu, ++seed);
    const uint64_t limit = std::max<uint64_t>(5 * dtype_row_bytes(dt, K), K * 4 * 2) + 64;
    QCase w{dt, 2, 23, K, Epilogue::None, false, true, limit};
    w.gemv_layout = 2;
    check(w, ++seed);
  }
}

// The CPU layout (rows per lane, groups of blocks) through texel fetches (gemv_q_tex.comp, CPU
// devices' default) and through storage buffers, forced on any device, checking which one ran;
// Q6_K windows that end inside a texel keep the storage build.
TEST_F(QuantLinearTest, GroupedGemvTexelReads) {
  uint32_t seed = 5500;
  for (DType dt : test::kQuantTypes) {
    const uint64_t K = dt == DType::Q5_1 ? 192 : 512;
    for (uint32_t reads : {1u, 2u}) {
      const bool swiglu = reads == 2;  // (SwiGLU takes no bias)
      QCase c{dt, reads == 2 ? 1u : 2u, 16, K, swiglu ? Epilogue::SwiGlu : Epilogue::Residual,
              !swiglu, true};
      c.gemv_layout = 2;
      c.reads = reads;
      c.expect_texel = reads == 2 ? 1 : 0;
      check(c, ++seed);
    }
  }
  QCase odd{DType::Q6_K, 1, 13, 512, Epilogue::None, false, true};  // 13 x 420 bytes: mid-texel end
  odd.gemv_layout = 2;
  odd.reads = 2;
  odd.expect_texel = 0;
  check(odd, ++seed);
  QCase t8{DType::Q4_K, 8, 21, 768, Epilogue::None, true, true};  // several tokens, odd rows
  t8.gemv_layout = 2;
  t8.reads = 2;
  t8.expect_texel = 1;
  check(t8, ++seed);
  const uint64_t limit = 5 * dtype_row_bytes(DType::Q8_0, 512) + 64;  // row windows
  QCase w{DType::Q8_0, 2, 23, 512, Epilogue::None, false, true, limit};
  w.gemv_layout = 2;
  w.reads = 2;
  check(w, ++seed);
}

// The GPU layout at every token count 1..8 (ROWS and the unrolled token loop change with T), odd
// K (legacy rows of an odd number of blocks start at every even byte mod 16; rows longer than a
// subgroup's units), odd N, bias / residual, and windows.
TEST_F(QuantLinearTest, SubgroupRowGemvLayout) {
  uint32_t seed = 6000;
  for (DType dt : test::kQuantTypes) {
    const bool kq = dtype_block(dt).elems == 256;
    for (uint64_t T = 1; T <= 8; ++T) {
      const uint64_t K = kq ? (T % 2 ? 768 : 256) : (T % 2 ? 96 : 2080);
      QCase c{dt, T, T == 1 ? 37 : 5 + T, K, T % 3 == 1 ? Epilogue::Residual : Epilogue::None,
              T % 2 == 0};
      c.gemv_layout = 1;
      check(c, ++seed);
    }
    const uint64_t K = kq ? 512 : 288;
    const uint64_t limit = std::max<uint64_t>(3 * dtype_row_bytes(dt, K), K * 4 * 8) + 64;
    QCase w{dt, 1, 23, K, Epilogue::None, true, true, limit};
    w.gemv_layout = 1;
    check(w, ++seed);
  }
  // The codebook i-quants: layout 1 at T = 1 (whole units) and T = 3, 8 (quads; a K of 3 chunks
  // leaves a partial step), odd rows, a window; they have no layout 2 (grouped) decoder: asking
  // for it runs layout 0, still right.
  for (DType dt : test::kGridQuantTypes) {
    for (uint64_t T : {1, 3, 8}) {
      QCase c{dt, T, T == 1 ? 37u : 11u, T == 3 ? 768u : 512u, Epilogue::None, T == 8};
      c.gemv_layout = 1;
      check(c, ++seed);
    }
    const uint64_t limit = std::max<uint64_t>(3 * dtype_row_bytes(dt, 512), 512 * 4 * 8) + 64;
    QCase w{dt, 1, 23, 512, Epilogue::None, true, true, limit};
    w.gemv_layout = 1;
    check(w, ++seed);
    QCase c{dt, 3, 9, 512};
    c.gemv_layout = 2;
    check(c, ++seed);
  }
}

TEST_F(QuantLinearTest, BadShapesAreClearErrors) {
  Buffer bw = Buffer::create(ctx(), Lifetime::Weights, 1024);
  // 48 is not a whole number of 32-element Q8_0 blocks.
  try {
    (void)Tensor::of(bw, Shape{4, 48}, DType::Q8_0);
    ADD_FAILURE() << "Q8_0 rows of 48 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("q8_0"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("48"), std::string::npos) << e.message();
  }
  // More blocks than the buffer holds.
  EXPECT_THROW((void)Tensor::of(bw, Shape{8, 256}, DType::Q4_K), Error);  // 8 x 144 > 1024
  // A view built by hand (bypassing Tensor::of) with K not a multiple of the block.
  Buffer bx = Buffer::create(ctx(), Lifetime::Activations, 4096);
  kernels::LinearArgs a;
  a.x = Tensor::of(bx, Shape{1, 128}, DType::F32);
  a.w = Tensor{bw.handle(), 0, Shape{2, 128}, DType::Q6_K};
  a.y = Tensor::of(bx, Shape{1, 2}, DType::F32, 2048);
  Recorder rec(ctx());
  test::expect_error([&] { kernels::linear(ctx(), rec, a); }, ErrorCode::ShapeMismatch,
                     {"256-element block"});
}

class QuantEmbedTest : public test::GpuTest {
 protected:
  void check(DType dt, uint64_t V, uint64_t C, const std::vector<int32_t>& ids, uint64_t window,
             uint32_t seed) {
    SCOPED_TRACE(fmt::format("{} V={} C={} window={}", dtype_name(dt), V, C, window));
    test::Rng rng(seed);
    const auto table = test::make_quant_weights(rng, dt, V, C, 1.0f, true);
    const size_t T = ids.size();
    std::vector<float> want(T * C, 0.0f);
    for (size_t t = 0; t < T; ++t) {
      if (ids[t] < 0 || static_cast<uint64_t>(ids[t]) >= V) continue;
      std::copy_n(table.values.begin() + static_cast<ptrdiff_t>(ids[t] * C), C,
                  want.begin() + static_cast<ptrdiff_t>(t * C));
    }
    Buffer bt = test::upload_bytes(ctx(), table.bytes, Lifetime::Weights);
    Buffer bi = Buffer::create(ctx(), Lifetime::Activations, T * 4);
    ctx().staging().upload(bi, 0, std::as_bytes(std::span<const int32_t>(ids)));
    Buffer bo = make_buffer(std::vector<float>(T * C, 7.0f));  // every element must be written
    Recorder rec(ctx());
    kernels::embed(ctx(), rec,
                   {Tensor::of(bi, Shape{T}, DType::I32), Tensor::of(bt, Shape{V, C}, dt),
                    Tensor::of(bo, Shape{T, C}, DType::F32)},
                   window);
    ctx().queue().submit(rec).wait();
    // Same decode as the CPU up to one rounding (the GPU may fuse d*q - m into an fma).
    EXPECT_TRUE(test::all_close(want, read(bo), 1e-30, 1e-6, "embed_q"));
  }
};

TEST_F(QuantEmbedTest, EveryTypeOutOfRangeIdsAndWindows) {
  uint32_t seed = 5000;
  const std::vector<int32_t> ids = {0, 5, 2, -1, 12, 4, 4, 1000, 11};
  for (DType dt : test::kAllQuantTypes) {
    for (uint64_t C : {uint64_t{dtype_block(dt).elems}, uint64_t{3} * dtype_block(dt).elems}) {
      check(dt, 13, C, ids, 0, ++seed);
      check(dt, 13, C, ids, 3, ++seed);  // windows of 3 rows at odd byte offsets
    }
  }
}

TEST_F(QuantEmbedTest, BadTableShape) {
  Buffer bt = Buffer::create(ctx(), Lifetime::Weights, 4096);
  Buffer bo = make_buffer(80);
  Buffer bi = make_buffer(2);
  kernels::EmbedArgs a{Tensor::of(bi, Shape{2}, DType::U32),
                       Tensor{bt.handle(), 0, Shape{4, 40}, DType::Q4_0},
                       Tensor::of(bo, Shape{2, 40}, DType::F32)};
  Recorder rec(ctx());
  try {
    kernels::embed(ctx(), rec, a);
    ADD_FAILURE() << "Q4_0 table with C = 40 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("32-element block"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace vkr
