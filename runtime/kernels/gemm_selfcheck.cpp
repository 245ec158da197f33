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

std::string gemm_check_problem(Context& ctx, GemmPath path, const CoopMatConfig* coop,
                               Epilogue epilogue, bool bias, bool vec) {
  const bool swiglu = epilogue == Epilogue::SwiGlu, residual = epilogue == Epilogue::Residual;
  const CoopMatConfig c = coop ? *coop : CoopMatConfig{};
  const uint64_t T = c.bm() + 3, N = c.bn() + 5, K = 2 * c.bk + (vec ? 8 : 3);
  std::vector<float> x(T * K), wf(N * K), uf(swiglu ? N * K : 0), b(bias ? N : 0), y0(T * N);
  std::vector<uint16_t> wh(N * K), uh(uf.size());
  for (uint64_t i = 0; i < x.size(); ++i) x[i] = grid_value(i, 1);
  for (uint64_t i = 0; i < wf.size(); ++i) wh[i] = grid_half(wf[i] = grid_value(i, 2));
  for (uint64_t i = 0; i < uf.size(); ++i) uh[i] = grid_half(uf[i] = grid_value(i, 3));
  for (uint64_t i = 0; i < b.size(); ++i) b[i] = grid_value(i, 4);
  for (uint64_t i = 0; i < y0.size(); ++i) y0[i] = residual ? grid_value(i, 5) : -1e30f;

  auto upload = [&](const auto& v, Lifetime lt, const char* name) {
    using T0 = typename std::decay_t<decltype(v)>::value_type;
    Buffer buf = Buffer::create(ctx, lt, std::max<uint64_t>(v.size(), 1) * sizeof(T0),
                                MemoryUsage::Device, name);
    if (!v.empty()) ctx.staging().upload(buf, std::span<const T0>(v));
    return buf;
  };
  Buffer bx = upload(x, Lifetime::Activations, "selfcheck-x");
  Buffer bw = upload(wh, Lifetime::Activations, "selfcheck-w");
  Buffer by = upload(y0, Lifetime::Activations, "selfcheck-y");
  Buffer bu, bb;
  LinearArgs args;
  args.x = Tensor::of(bx, Shape{T, K}, DType::F32);
  args.w = Tensor::of(bw, Shape{N, K}, DType::F16);
  args.y = Tensor::of(by, Shape{T, N}, DType::F32);
  args.epilogue = epilogue;
  if (swiglu) {
    bu = upload(uh, Lifetime::Activations, "selfcheck-wu");
    args.w_up = Tensor::of(bu, Shape{N, K}, DType::F16);
  }
  if (bias) {
    bb = upload(b, Lifetime::Activations, "selfcheck-bias");
    args.bias = Tensor::of(bb, Shape{N}, DType::F32);
  }
  Recorder rec(ctx);
  gemm(ctx, rec, args, path, coop);
  ctx.queue().submit(rec).wait();
  std::vector<float> y(T * N);
  ctx.staging().download(by, std::span<float>(y));

  for (uint64_t t = 0; t < T; ++t) {
    for (uint64_t o = 0; o < N; ++o) {
      double g = 0, u = 0, mag = 0;
      for (uint64_t k = 0; k < K; ++k) {
        g += static_cast<double>(x[t * K + k]) * wf[o * K + k];
        mag += std::fabs(static_cast<double>(x[t * K + k]) * wf[o * K + k]);
        if (swiglu) u += static_cast<double>(x[t * K + k]) * uf[o * K + k];
      }
      if (bias) g += b[o];
      double want = g;
      if (residual) want += y0[t * N + o];
      if (swiglu) want = g / (1.0 + std::exp(-g)) * u;
      const double got = y[t * N + o];
      // Exact in IEEE f32 arithmetic (SwiGLU: up to exp rounding); the margin allows tensor cores
      // whose f32 accumulation truncates, while any indexing or staging bug is off by O(1).
      const double tol = 1e-5 * (1.0 + mag) * (swiglu ? 1.0 + std::fabs(u) : 1.0);
      if (!(std::fabs(got - want) <= tol)) {
        return fmt::format("T={} N={} K={}: y[{}][{}] = {} but should be {}", T, N, K, t, o, got,
                           want);
      }
    }
  }
  return {};
}

std::string coopmat_check_key(const CoopMatConfig& c, Epilogue epilogue, bool bias, bool vec) {
  return fmt::format("gemm_coopmat wm={} wn={} ks={} fm={} fn={} cn={} bk={} sg={} mode={} bias={} "
                  "vec={}",
                  c.wm, c.wn, c.ks, c.fm, c.fn, c.cn, c.bk, c.sg, static_cast<uint32_t>(epilogue),
                  bias ? 1 : 0, vec ? 1 : 0);
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
