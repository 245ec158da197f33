// gemm_selfcheck.cpp: see gemm_selfcheck.hpp.
#include "kernels/gemm_selfcheck.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "vkr/buffer.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/recorder.hpp"
#include "vkr/staging.hpp"

namespace vkr::kernels {

namespace {

// m / 64 for a hashed integer m in [-64, 64]: exact in f16, and every product and sum of the
// check stays exact in f32 (multiples of 2^-12 below 2^9).
float grid_value(uint64_t i, uint64_t salt) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + salt;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  z ^= z >> 29;
  return static_cast<float>(static_cast<int>(z % 129) - 64) / 64.0f;
}

// f16 bits of a grid value (exact: at most 7 significant bits, exponent within f16's range).
uint16_t grid_half(float v) {
  if (v == 0.0f) return 0;
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  int e = 0;
  const float f = std::frexp(std::fabs(v), &e);  // |v| = f * 2^e, f in [0.5, 1)
  const auto mant = static_cast<uint16_t>((f * 2.0f - 1.0f) * 1024.0f);
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | mant);
}

}  // namespace

GemmCheck make_gemm_check(const CoopMatConfig* coop, Epilogue epilogue, bool bias, bool vec) {
  GemmCheck g;
  g.epilogue = epilogue;
  g.bias = bias;
  const bool swiglu = epilogue == Epilogue::SwiGlu, residual = epilogue == Epilogue::Residual;
  const CoopMatConfig c = coop ? *coop : CoopMatConfig{};
  g.T = c.bm() + 3, g.N = c.bn() + 5, g.K = 2 * c.bk + (vec ? 8 : 3);
  const uint64_t T = g.T, N = g.N, K = g.K;
  g.x.resize(T * K), g.w.resize(N * K), g.w_up.resize(swiglu ? N * K : 0);
  g.b.resize(bias ? N : 0), g.y0.resize(T * N);
  std::vector<float> wf(N * K), uf(g.w_up.size());
  for (uint64_t i = 0; i < g.x.size(); ++i) g.x[i] = grid_value(i, 1);
  for (uint64_t i = 0; i < wf.size(); ++i) g.w[i] = grid_half(wf[i] = grid_value(i, 2));
  for (uint64_t i = 0; i < uf.size(); ++i) g.w_up[i] = grid_half(uf[i] = grid_value(i, 3));
  for (uint64_t i = 0; i < g.b.size(); ++i) g.b[i] = grid_value(i, 4);
  for (uint64_t i = 0; i < g.y0.size(); ++i) g.y0[i] = residual ? grid_value(i, 5) : -1e30f;

  g.want.resize(T * N), g.tol.resize(T * N);
  for (uint64_t t = 0; t < T; ++t) {
    for (uint64_t o = 0; o < N; ++o) {
      double gate = 0, up = 0, mag = 0;
      for (uint64_t k = 0; k < K; ++k) {
        const double xv = g.x[t * K + k];
        gate += xv * wf[o * K + k];
        mag += std::fabs(xv * wf[o * K + k]);
        if (swiglu) up += xv * uf[o * K + k];
      }
      if (bias) gate += g.b[o];
      double want = gate;
      if (residual) want += g.y0[t * N + o];
      if (swiglu) want = gate / (1.0 + std::exp(-gate)) * up;
      g.want[t * N + o] = want;
      // Exact in IEEE f32 arithmetic (SwiGLU: up to exp rounding); the margin allows tensor cores
      // whose f32 accumulation truncates, while any indexing or staging bug is off by O(1/64).
      g.tol[t * N + o] = 1e-5 * (1.0 + mag) * (swiglu ? 1.0 + std::fabs(up) : 1.0);
    }
  }
  return g;
}

std::string GemmCheck::compare(std::span<const float> y) const {
  if (y.size() != T * N) return fmt::format("{} outputs, expected {}", y.size(), T * N);
  for (uint64_t i = 0; i < y.size(); ++i) {
    if (!(std::fabs(y[i] - want[i]) <= tol[i])) {
      return fmt::format("T={} N={} K={}: y[{}][{}] = {} but should be {}", T, N, K, i / N, i % N,
                         y[i], want[i]);
    }
  }
  return {};
}

std::vector<float> run_gemm_check(Context& ctx, GemmPath path, const CoopMatConfig* coop,
                                  const GemmCheck& g) {
  auto upload = [&](const auto& v, const char* name) {
    using T0 = typename std::decay_t<decltype(v)>::value_type;
    Buffer buf =
        Buffer::create(ctx, Lifetime::Activations, std::max<uint64_t>(v.size(), 1) * sizeof(T0),
                       MemoryUsage::Device, name);
    if (!v.empty()) ctx.staging().upload(buf, std::span<const T0>(v));
    return buf;
  };
  Buffer bx = upload(g.x, "selfcheck-x");
  Buffer bw = upload(g.w, "selfcheck-w");
  Buffer by = upload(g.y0, "selfcheck-y");
  Buffer bu, bb;
  LinearArgs args;
  args.x = Tensor::of(bx, Shape{g.T, g.K}, DType::F32);
  args.w = Tensor::of(bw, Shape{g.N, g.K}, DType::F16);
  args.y = Tensor::of(by, Shape{g.T, g.N}, DType::F32);
  args.epilogue = g.epilogue;
  if (!g.w_up.empty()) {
    bu = upload(g.w_up, "selfcheck-wu");
    args.w_up = Tensor::of(bu, Shape{g.N, g.K}, DType::F16);
  }
  if (g.bias) {
    bb = upload(g.b, "selfcheck-bias");
    args.bias = Tensor::of(bb, Shape{g.N}, DType::F32);
  }
  Recorder rec(ctx);
  gemm(ctx, rec, args, path, coop);
  ctx.queue().submit(rec).wait();
  std::vector<float> y(g.T * g.N);
  ctx.staging().download(by, std::span<float>(y));
  return y;
}

std::string gemm_check_problem(Context& ctx, GemmPath path, const CoopMatConfig* coop,
                               Epilogue epilogue, bool bias, bool vec) {
  const GemmCheck g = make_gemm_check(coop, epilogue, bias, vec);
  return g.compare(run_gemm_check(ctx, path, coop, g));
}

std::string coopmat_check_key(const CoopMatConfig& c, Epilogue epilogue, bool bias, bool vec) {
  return fmt::format(
      "gemm_coopmat wm={} wn={} ks={} fm={} fn={} cn={} bk={} sg={} mode={} bias={} "
      "vec={}",
      c.wm, c.wn, c.ks, c.fm, c.fn, c.cn, c.bk, c.sg, static_cast<uint32_t>(epilogue), bias ? 1 : 0,
      vec ? 1 : 0);
}

bool coopmat_pipeline_verified(Context& ctx, const CoopMatConfig& c, Epilogue epilogue, bool bias,
                               bool vec) {
  const std::string key = coopmat_check_key(c, epilogue, bias, vec);
  if (const auto known = ctx.self_check(key)) return *known;
  std::string failure;
  try {
    failure = gemm_check_problem(ctx, GemmPath::CoopMatNV, &c, epilogue, bias, vec);
  } catch (const Error& e) {
    failure = e.what();
  }
  const bool ok = failure.empty();
  if (!ok) {
    std::fprintf(stderr,
                 "vkrwkv: warning: the cooperative-matrix GEMM (%s) failed its self-check on %s: "
                 "%s; using the portable tiled GEMM for it instead\n",
                 key.c_str(), ctx.caps().device_name.c_str(), failure.c_str());
  }
  ctx.set_self_check(key, ok);
  return ok;
}

}  // namespace vkr::kernels
