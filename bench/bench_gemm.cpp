// bench_gemm.cpp: the "gemm" bench family: gemv (decode, T = 1) rows at the QRWKV6-32B shapes with
// GB/s of weights vs the copy-bandwidth peak, gemm (prefill) rows at T = 128 / 512 with GFLOP/s vs
// the FMA (or cooperative-matrix) peak, plus the tiny reference-model shapes. Every row is verified
// once against a double-precision reference on sampled outputs before timing.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "harness.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "vkr/buffer.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr::bench {

namespace {

using kernels::Epilogue;
using kernels::GemmPath;

struct Case {
  uint64_t T, N, K;
  DType dtype;
  GemmPath path = GemmPath::Auto;                   // gemm rows only
  std::optional<kernels::CoopMatConfig> coop = {};  // forced coopmat tiling (the sweep)
  std::optional<kernels::GemmTileConfig> tiles = {};  // forced Tiled-path tiling (the sweep)
  Epilogue epilogue = Epilogue::None;  // SwiGlu: gate W and up W (a second matrix, same data)
};

// A cheap deterministic value in [-1, 1) per index (splitmix64): 1.5 GiB of weights are
// generated in seconds and never need a second f32 copy on the host.
float hash_unit(uint64_t i) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

float decode(const std::vector<std::byte>& bytes, DType dt, uint64_t i) {
  if (dt == DType::F32) {
    float f;
    std::memcpy(&f, &bytes[i * 4], 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, &bytes[i * 2], 2);
  return dt == DType::F16 ? test::f16_bits_to_f32(h) : test::bf16_bits_to_f32(h);
}

struct Data {
  std::vector<float> x;
  std::vector<std::byte> w;
  Buffer bx, bw, by;
};

Data make_data(Context& ctx, const Case& c) {
  Data d;
  d.x.resize(c.T * c.K);
  for (uint64_t i = 0; i < d.x.size(); ++i) d.x[i] = hash_unit(i ^ 0x5555);
  const uint64_t n = c.N * c.K, es = dtype_bytes(c.dtype);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.K));
  d.w.resize(n * es);
  for (uint64_t i = 0; i < n; ++i) {
    const float v = hash_unit(i) * scale;
    if (c.dtype == DType::F32) {
      std::memcpy(&d.w[i * 4], &v, 4);
    } else {
      const uint16_t h =
          c.dtype == DType::F16 ? test::f32_to_f16_bits(v) : test::f32_to_bf16_bits(v);
      std::memcpy(&d.w[i * 2], &h, 2);
    }
  }
  d.bx = test::upload_floats(ctx, d.x);
  d.bw = test::upload_bytes(ctx, d.w, Lifetime::Weights);
  d.by = Buffer::create(ctx, Lifetime::Activations, c.T * c.N * 4);
  return d;
}

// NMSE over sampled (token, output) pairs: the first and last rows (window edges included by the
// stride) and up to 3 tokens, against a double-precision dot product.
std::string verify(Context& ctx, const Case& c, const Data& d, bool coop, bool swiglu) {
  std::vector<float> y(c.T * c.N);
  ctx.staging().download(d.by, std::span<float>(y));
  const uint64_t stride = std::max<uint64_t>(1, c.N / 256);
  double num = 0, den = 0;
  for (uint64_t t : {uint64_t{0}, c.T / 2, c.T - 1}) {
    for (uint64_t o = 0; o < c.N; o += (o < 32 || o + 32 > c.N) ? 1 : stride) {
      double acc = 0;
      for (uint64_t k = 0; k < c.K; ++k) {
        float xv = d.x[t * c.K + k];
        if (coop) xv = test::f16_bits_to_f32(test::f32_to_f16_bits(xv));
        acc += static_cast<double>(xv) * decode(d.w, c.dtype, o * c.K + k);
      }
      if (swiglu) acc = acc / (1.0 + std::exp(-acc)) * acc;  // silu(gate) * up, up == gate
      const double diff = acc - y[t * c.N + o];
      num += diff * diff;
      den += acc * acc;
    }
  }
  const double nmse = den > 0 ? num / den : num;
  const double limit = coop ? 1e-5 : 1e-9;
  if (!(nmse <= limit)) return fmt::format("VERIFY FAILED nmse={:.2e} (limit {:.0e})", nmse, limit);
  return fmt::format("verified nmse={:.1e}", nmse);
}

void run_case(Harness& h, const char* kernel, const Case& c) {
  Context& ctx = h.ctx();
  const bool gemv = std::string_view(kernel) == "gemv";
  const GemmPath path = gemv ? GemmPath::Auto
                        : c.path == GemmPath::Auto
                            ? kernels::choose_gemm_path(ctx.caps(), c.dtype, c.epilogue)
                            : c.path;
  const char* variant = gemv                          ? "subgroup"
                        : c.coop                      ? "cm_sweep"
                        : c.tiles                     ? "tiled_sweep"
                        : path == GemmPath::CoopMatNV ? "coopmat"
                        : path == GemmPath::Direct    ? "direct"
                                                      : "tiled";
  if (!h.selected(kernel, variant)) return;
  const kernels::CoopMatConfig* coop = c.coop ? &*c.coop : nullptr;
  const kernels::GemmTileConfig* tiles = c.tiles ? &*c.tiles : nullptr;
  Data d = make_data(ctx, c);
  kernels::LinearArgs args;
  args.x = Tensor::of(d.bx, Shape{c.T, c.K}, DType::F32);
  args.w = Tensor::of(d.bw, Shape{c.N, c.K}, c.dtype);
  args.y = Tensor::of(d.by, Shape{c.T, c.N}, DType::F32);
  const bool swiglu = c.epilogue == Epilogue::SwiGlu;
  if (swiglu) {
    // The up matrix reuses the gate's buffer (same bytes read twice: the kernel's traffic and
    // arithmetic are those of two matrices); verify() then checks silu(g) * g.
    args.w_up = args.w;
    args.epilogue = Epilogue::SwiGlu;
  }
  auto record = [&](Recorder& rec) {
    if (gemv) {
      kernels::gemv(ctx, rec, args);
    } else {
      kernels::gemm(ctx, rec, args, path, coop, tiles);
    }
  };
  Recorder rec(ctx);
  record(rec);
  ctx.queue().submit(rec).wait();
  Row row;
  row.kernel = kernel;
  row.variant = variant;
  row.dtype = std::string(dtype_name(c.dtype));
  row.shape = {{"T", static_cast<int64_t>(c.T)},
               {"N", static_cast<int64_t>(c.N)},
               {"K", static_cast<int64_t>(c.K)}};
  row.note = verify(ctx, c, d, path == GemmPath::CoopMatNV, swiglu);
  // Forced tilings (the sweeps) and a path the device would not choose for this dtype.
  row.alternative = coop || tiles ||
                    (!gemv && path != kernels::choose_gemm_path(ctx.caps(), c.dtype, c.epilogue));
  row.cpu_ref_us = linear_cpu_ref_us(
      c.T, c.N, c.K, d.x,
      [&](uint64_t o, std::span<float> out) {
        for (uint64_t k = 0; k < c.K; ++k) out[k] = decode(d.w, c.dtype, o * c.K + k);
      },
      swiglu ? 2 : 1);
  if (path == GemmPath::CoopMatNV) {
    const auto cfg =
        coop ? *coop : *kernels::pick_coopmat_config(ctx.caps(), c.T, c.N, c.epilogue);
    row.note += fmt::format(" tile={}x{} sg={}x{}x{} f={}x{} bk={}", cfg.bm(), cfg.bn(), cfg.wm,
                            cfg.wn, cfg.ks, cfg.fm, cfg.fn, cfg.bk);
  } else if (path == GemmPath::Tiled) {
    const auto t = tiles ? *tiles : kernels::pick_tiled_config(ctx.caps(), c.T, c.N, c.epilogue);
    row.note += fmt::format(" tile={}x{} block={}x{} bk={}", t.bm, t.bn, t.tm, t.tn, t.bk);
  }
  row.time = h.time(record);
  const double nw = swiglu ? 2.0 : 1.0;
  const double weight_bytes = nw * static_cast<double>(c.N * c.K * dtype_bytes(c.dtype));
  row.bytes = weight_bytes + 4.0 * static_cast<double>(c.T * (c.K + c.N));
  row.flops = nw * 2.0 * static_cast<double>(c.T * c.N * c.K);
  if (swiglu) row.shape["swiglu"] = 1;
  row.peak = gemv                          ? PeakKind::Bandwidth
             : path == GemmPath::CoopMatNV ? PeakKind::CoopMat
                                           : PeakKind::F32;
  h.add(std::move(row));
}

}  // namespace

void bench_gemm(Harness& h) {
  const bool quick = h.options().quick;
  // QRWKV6-32B: C = 5120 (r/o projections), 1024 (k/v with GQA), F = 27648, V = 152064.
  const std::pair<uint64_t, uint64_t> big[] = {
      {5120, 5120}, {1024, 5120}, {27648, 5120}, {5120, 27648}, {152064, 5120}};
  // Tiny reference model: C = 256, F = 768, V = 1024.
  const std::pair<uint64_t, uint64_t> tiny[] = {{256, 256}, {768, 256}, {256, 768}, {1024, 256}};

  for (DType dt : {DType::F16, DType::BF16}) {
    for (auto [N, K] : big) {
      if (quick && !(N == 5120 && K == 5120) && !(N == 1024 && dt == DType::F16)) continue;
      run_case(h, "gemv", {1, N, K, dt});
    }
  }
  for (auto [N, K] : tiny) run_case(h, "gemv", {1, N, K, DType::F32});

  const auto& caps = h.ctx().caps();
  const GemmPath f16_path = kernels::choose_gemm_path(caps, DType::F16, Epilogue::None);
  for (uint64_t T : {uint64_t{128}, uint64_t{512}}) {
    if (quick && T != 128) continue;
    for (auto [N, K] : big) {
      if (N == 152064) continue;  // the lm head runs on the last token only (gemv)
      if (quick && !(N == 5120 && K == 5120)) continue;
      run_case(h, "gemm", {T, N, K, DType::F16, f16_path});
      const bool square = N == 5120 && K == 5120;
      // The portable shared-memory path where the device prefers another (slow on lavapipe:
      // full mode only).
      if (f16_path != GemmPath::Tiled && !quick && square && T == 128) {
        run_case(h, "gemm", {T, N, K, DType::F16, GemmPath::Tiled});
      }
      if (!quick && square) {
        run_case(
            h, "gemm",
            {T, N, K, DType::BF16, kernels::choose_gemm_path(caps, DType::BF16, Epilogue::None)});
      }
    }
    for (auto [N, K] : tiny) {
      run_case(h, "gemm",
               {T, N, K, DType::F32, kernels::choose_gemm_path(caps, DType::F32, Epilogue::None)});
    }
  }
  // The linear() threshold (kGemvMaxTokens, see linear.hpp): gemv at T = 4 and 8 against gemm
  // just above 8 (1024 x 5120: cheap enough for quick mode).
  for (uint64_t T : {4, 8}) run_case(h, "gemv", {T, 1024, 5120, DType::F16});
  for (uint64_t T : {9, 16, 32}) run_case(h, "gemm", {T, 1024, 5120, DType::F16, f16_path});
  // The FFN's gate + up projection in one pass (SwiGLU epilogue: two weight matrices), the
  // model's largest prefill GEMM: 1024 outputs (quick), the QRWKV6-32B FFN width (full).
  for (uint64_t N : {uint64_t{1024}, uint64_t{27648}}) {
    if (quick && N != 1024) continue;
    const GemmPath p = kernels::choose_gemm_path(caps, DType::F16, Epilogue::SwiGlu);
    run_case(h, "gemm", {128, N, 5120, DType::F16, p, {}, {}, Epilogue::SwiGlu});
  }
  // Every coopmat tiling on the shapes that matter, only when --filter names "cm_sweep" (tuning
  // the ladder in gemm.cpp; not part of a plain run).
  if (f16_path == GemmPath::CoopMatNV && h.options().filter.find("cm_sweep") != std::string::npos) {
    // The ladder plus shapes it lacks (wider subgroup tiles: fewer fragment loads per MMA).
    auto configs = kernels::coopmat_ladder(caps, Epilogue::None);
    const uint32_t cn = kernels::coopmat_nv_f16_n(caps);
    for (kernels::CoopMatConfig c : {kernels::CoopMatConfig{2, 2, 1, 2, 4, 16, 64},   // 64 x 128
                                     kernels::CoopMatConfig{4, 2, 1, 2, 4, 16, 64},   // 128 x 128
                                     kernels::CoopMatConfig{2, 1, 2, 2, 4, 16, 128},  // 64 x 64
                                     kernels::CoopMatConfig{1, 4, 2, 1, 1, 16, 128}}) {
      c.cn = cn;
      c.fn = c.fn * 16 / cn;
      c.sg = caps.subgroup_size;
      while (c.bk > 16 * c.ks && !kernels::coopmat_config_error(caps, c, Epilogue::None).empty()) {
        c.bk /= 2;
      }
      if (kernels::coopmat_config_error(caps, c, Epilogue::None).empty()) configs.push_back(c);
    }
    for (auto [T, N] :
         {std::pair<uint64_t, uint64_t>{16, 1024}, {64, 1024}, {128, 5120}, {512, 5120}}) {
      for (const auto& cfg : configs) {
        if (cfg.bm() > std::max<uint64_t>(16, T)) continue;  // all padding
        run_case(h, "gemm", {T, N, 5120, DType::F16, GemmPath::CoopMatNV, cfg});
      }
    }
  }
  // Every Tiled-path tiling (plus a longer K step) on bf16 and f32 weights, only when --filter
  // names "tiled_sweep" (tuning kTiledLadder on a GPU; far too slow for lavapipe's full run).
  if (h.options().filter.find("tiled_sweep") != std::string::npos) {
    auto configs = kernels::tiled_ladder(caps, Epilogue::None);
    for (kernels::GemmTileConfig t : {kernels::GemmTileConfig{128, 128, 32, 8, 8},
                                      kernels::GemmTileConfig{64, 128, 16, 4, 8}}) {
      if (kernels::tiled_config_error(caps, t, Epilogue::None).empty()) configs.push_back(t);
    }
    for (DType dt : {DType::BF16, DType::F32}) {
      for (auto [T, N] :
           {std::pair<uint64_t, uint64_t>{64, 1024}, {128, 5120}, {512, 5120}}) {
        for (const auto& t : configs) {
          if (t.bm > std::max<uint64_t>(32, T)) continue;  // all padding
          run_case(h, "gemm", {T, N, 5120, dt, GemmPath::Tiled, {}, t});
        }
      }
    }
  }
}

}  // namespace vkr::bench
