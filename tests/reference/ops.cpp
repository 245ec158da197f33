// Naive CPU references for the block ops (see ops.hpp): boring loops, double accumulation.
#include "reference/ops.hpp"

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <vector>
#include <vkr/error.hpp>

namespace vkr::ref {
namespace {

using Index = std::size_t;

Index prod(int a, int b) { return static_cast<Index>(a) * static_cast<Index>(b); }

void check_size(std::string_view fn, std::string_view name, Index got, Index want) {
  require(got == want, ErrorCode::ShapeMismatch, "{}: {} has {} floats, expected {}", fn, name, got,
          want);
}

void check_dims(std::string_view fn, std::initializer_list<int> dims) {
  for (int d : dims) {
    require(d >= 0, ErrorCode::InvalidArgument, "{}: negative dimension {}", fn, d);
  }
}

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Normalizes one row of n values: (x - mean) / sqrt(var + eps), then * gamma + beta (beta may be
// empty). Shared by layer_norm and group_norm so they cannot drift apart.
void normalize_row(std::span<const float> x, std::span<const float> gamma,
                   std::span<const float> beta, float eps, std::span<float> y) {
  const auto n = static_cast<double>(x.size());
  double mean = 0.0;
  for (float xi : x) mean += xi;
  mean /= n;
  double var = 0.0;
  for (float xi : x) var += (xi - mean) * (xi - mean);
  var /= n;
  const double inv = 1.0 / std::sqrt(var + eps);
  for (Index i = 0; i < x.size(); ++i) {
    const double b = beta.empty() ? 0.0 : static_cast<double>(beta[i]);
    y[i] = static_cast<float>((x[i] - mean) * inv * gamma[i] + b);
  }
}

}  // namespace

void gemm(int T, int K, int N, std::span<const float> x, std::span<const float> w,
          std::span<const float> bias, std::span<float> y) {
  check_dims("gemm", {T, K, N});
  check_size("gemm", "x", x.size(), prod(T, K));
  check_size("gemm", "w", w.size(), prod(N, K));
  if (!bias.empty()) check_size("gemm", "bias", bias.size(), static_cast<Index>(N));
  check_size("gemm", "y", y.size(), prod(T, N));
  for (int t = 0; t < T; ++t) {
    for (int o = 0; o < N; ++o) {
      double acc = bias.empty() ? 0.0 : static_cast<double>(bias[o]);
      for (int i = 0; i < K; ++i) acc += static_cast<double>(x[prod(t, K) + i]) * w[prod(o, K) + i];
      y[prod(t, N) + o] = static_cast<float>(acc);
    }
  }
}

void rms_norm(int T, int C, float eps, std::span<const float> x, std::span<const float> gamma,
              std::span<float> y) {
  check_dims("rms_norm", {T, C});
  check_size("rms_norm", "x", x.size(), prod(T, C));
  check_size("rms_norm", "gamma", gamma.size(), static_cast<Index>(C));
  check_size("rms_norm", "y", y.size(), prod(T, C));
  for (int t = 0; t < T; ++t) {
    const auto row = x.subspan(prod(t, C), static_cast<Index>(C));
    double ss = 0.0;
    for (float xi : row) ss += static_cast<double>(xi) * xi;
    const double inv = 1.0 / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; ++c) y[prod(t, C) + c] = static_cast<float>(row[c] * inv * gamma[c]);
  }
}

void layer_norm(int T, int C, float eps, std::span<const float> x, std::span<const float> gamma,
                std::span<const float> beta, std::span<float> y) {
  check_dims("layer_norm", {T, C});
  check_size("layer_norm", "x", x.size(), prod(T, C));
  check_size("layer_norm", "gamma", gamma.size(), static_cast<Index>(C));
  check_size("layer_norm", "beta", beta.size(), static_cast<Index>(C));
  check_size("layer_norm", "y", y.size(), prod(T, C));
  for (int t = 0; t < T; ++t) {
    const Index at = prod(t, C);
    normalize_row(x.subspan(at, C), gamma, beta, eps, y.subspan(at, C));
  }
}

void group_norm(int T, int H, int S, float eps, std::span<const float> x,
                std::span<const float> gamma, std::span<const float> beta, std::span<float> y) {
  check_dims("group_norm", {T, H, S});
  const Index C = prod(H, S);
  check_size("group_norm", "x", x.size(), static_cast<Index>(T) * C);
  check_size("group_norm", "gamma", gamma.size(), C);
  check_size("group_norm", "beta", beta.size(), C);
  check_size("group_norm", "y", y.size(), static_cast<Index>(T) * C);
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      const Index at = static_cast<Index>(t) * C + prod(h, S);  // channel c = h*S + i
      const Index g = prod(h, S);
      normalize_row(x.subspan(at, S), gamma.subspan(g, S), beta.subspan(g, S), eps,
                    y.subspan(at, S));
    }
  }
}

void token_shift_ddlerp(DdlerpShape s, std::span<const float> x, std::span<float> shift,
                        std::span<const float> mu_x, std::span<const float> lambda,
                        std::span<const float> a, std::span<const float> bm, std::span<float> out) {
  constexpr std::string_view fn = "token_shift_ddlerp";
  check_dims(fn, {s.T, s.C, s.Dm});
  const Index C = static_cast<Index>(s.C);
  const Index Dm = static_cast<Index>(s.Dm);
  check_size(fn, "x", x.size(), prod(s.T, s.C));
  check_size(fn, "shift", shift.size(), C);
  check_size(fn, "mu_x", mu_x.size(), C);
  check_size(fn, "lambda", lambda.size(), 5 * C);
  check_size(fn, "a (time_mix_w1)", a.size(), 5 * Dm * C);
  check_size(fn, "bm (time_mix_w2)", bm.size(), 5 * C * Dm);
  check_size(fn, "out", out.size(), 5 * prod(s.T, s.C));
  std::vector<double> sx(C), xi(C), hid(5 * Dm);
  for (int t = 0; t < s.T; ++t) {
    const Index at = static_cast<Index>(t) * C;
    for (Index c = 0; c < C; ++c) {
      const double prev = t == 0 ? static_cast<double>(shift[c]) : x[at - C + c];
      sx[c] = prev - x[at + c];             // sx_t = x_prev(t) - x_t
      xi[c] = x[at + c] + sx[c] * mu_x[c];  // xi_t = x_t + sx_t * mu_x
    }
    for (Index d = 0; d < 5 * Dm; ++d) {  // h_t = tanh(A xi_t), all 5 groups at once
      double acc = 0.0;
      for (Index c = 0; c < C; ++c) acc += a[d * C + c] * xi[c];
      hid[d] = std::tanh(acc);
    }
    for (Index g = 0; g < 5; ++g) {  // x^g = x + sx * (lambda[g] + B[g] h_g)
      for (Index c = 0; c < C; ++c) {
        double m = 0.0;
        for (Index d = 0; d < Dm; ++d) m += bm[(g * C + c) * Dm + d] * hid[g * Dm + d];
        const double mixed = x[at + c] + sx[c] * (lambda[g * C + c] + m);
        out[(g * static_cast<Index>(s.T) + static_cast<Index>(t)) * C + c] =
            static_cast<float>(mixed);
      }
    }
  }
  if (s.T > 0) {
    for (Index c = 0; c < C; ++c) shift[c] = x[(static_cast<Index>(s.T) - 1) * C + c];
  }
}

void token_shift_lerp(int T, int C, std::span<const float> x, std::span<float> shift,
                      std::span<const float> mu, std::span<float> out) {
  check_dims("token_shift_lerp", {T, C});
  check_size("token_shift_lerp", "x", x.size(), prod(T, C));
  check_size("token_shift_lerp", "shift", shift.size(), static_cast<Index>(C));
  check_size("token_shift_lerp", "mu", mu.size(), static_cast<Index>(C));
  check_size("token_shift_lerp", "out", out.size(), prod(T, C));
  for (int t = 0; t < T; ++t) {
    for (int c = 0; c < C; ++c) {
      const double cur = x[prod(t, C) + c];
      const double prev = t == 0 ? static_cast<double>(shift[c]) : x[prod(t - 1, C) + c];
      out[prod(t, C) + c] = static_cast<float>(cur + (prev - cur) * mu[c]);
    }
  }
  if (T > 0) {
    for (int c = 0; c < C; ++c) shift[c] = x[prod(T - 1, C) + c];
  }
}

void decay(int T, int C, int Dd, std::span<const float> xw, std::span<const float> d0,
           std::span<const float> p, std::span<const float> q, std::span<float> logw) {
  check_dims("decay", {T, C, Dd});
  check_size("decay", "xw", xw.size(), prod(T, C));
  check_size("decay", "d0", d0.size(), static_cast<Index>(C));
  check_size("decay", "p (decay_w1)", p.size(), prod(Dd, C));
  check_size("decay", "q (decay_w2)", q.size(), prod(C, Dd));
  check_size("decay", "logw", logw.size(), prod(T, C));
  std::vector<double> hid(static_cast<Index>(Dd));
  for (int t = 0; t < T; ++t) {
    for (int d = 0; d < Dd; ++d) {
      double acc = 0.0;
      for (int c = 0; c < C; ++c)
        acc += static_cast<double>(p[prod(d, C) + c]) * xw[prod(t, C) + c];
      hid[d] = std::tanh(acc);
    }
    for (int c = 0; c < C; ++c) {
      double delta = d0[c];
      for (int d = 0; d < Dd; ++d) delta += q[prod(c, Dd) + d] * hid[d];
      // logw directly (never log(w)): w = exp(-exp(delta)) underflows for large delta.
      logw[prod(t, C) + c] = static_cast<float>(-std::exp(delta));
    }
  }
}

void sigmoid(std::span<const float> in, std::span<float> out) {
  check_size("sigmoid", "out", out.size(), in.size());
  for (Index i = 0; i < in.size(); ++i) out[i] = static_cast<float>(sigmoid_d(in[i]));
}

void silu(std::span<const float> in, std::span<float> out) {
  check_size("silu", "out", out.size(), in.size());
  for (Index i = 0; i < in.size(); ++i) out[i] = static_cast<float>(in[i] * sigmoid_d(in[i]));
}

void col_sumsq(int T, int K, std::span<const float> x, std::span<float> acc) {
  check_size("col_sumsq", "x", x.size(), prod(T, K));
  check_size("col_sumsq", "acc", acc.size(), Index(K));
  for (Index j = 0; j < Index(K); ++j) {
    double s = 0.0;
    for (Index t = 0; t < Index(T); ++t) {
      const double v = x[t * K + j];
      s += v * v;
    }
    acc[j] = static_cast<float>(acc[j] + s);
  }
}

void relu_sq(std::span<const float> in, std::span<float> out) {
  check_size("relu_sq", "out", out.size(), in.size());
  for (Index i = 0; i < in.size(); ++i) {
    const double r = in[i] > 0.0f ? static_cast<double>(in[i]) : 0.0;
    out[i] = static_cast<float>(r * r);
  }
}

void swiglu(std::span<const float> g, std::span<const float> u, std::span<float> out) {
  check_size("swiglu", "u", u.size(), g.size());
  check_size("swiglu", "out", out.size(), g.size());
  for (Index i = 0; i < g.size(); ++i) {
    out[i] = static_cast<float>(g[i] * sigmoid_d(g[i]) * u[i]);
  }
}

void embedding(int V, int C, std::span<const std::int32_t> ids, std::span<const float> table,
               std::span<float> out) {
  check_dims("embedding", {V, C});
  check_size("embedding", "table", table.size(), prod(V, C));
  check_size("embedding", "out", out.size(), ids.size() * static_cast<Index>(C));
  for (Index t = 0; t < ids.size(); ++t) {
    const std::int32_t id = ids[t];
    require(id >= 0 && id < V, ErrorCode::InvalidArgument,
            "embedding: ids[{}] = {} outside the vocabulary [0, {})", t, id, V);
    for (int c = 0; c < C; ++c) out[t * static_cast<Index>(C) + c] = table[prod(id, C) + c];
  }
}

void repeat_kv(int T, int Hkv, int n_rep, int S, std::span<const float> kv, std::span<float> out) {
  check_dims("repeat_kv", {T, Hkv, n_rep, S});
  const int H = Hkv * n_rep;
  check_size("repeat_kv", "kv", kv.size(), prod(T, Hkv) * static_cast<Index>(S));
  check_size("repeat_kv", "out", out.size(), prod(T, H) * static_cast<Index>(S));
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      const int kvh = h / n_rep;  // flattened head index h = rep + n_rep * kvh (spec §3.3)
      for (int i = 0; i < S; ++i) {
        out[(prod(t, H) + h) * static_cast<Index>(S) + i] =
            kv[(prod(t, Hkv) + kvh) * static_cast<Index>(S) + i];
      }
    }
  }
}

void scale_keys_one_minus_w(std::span<const float> k, std::span<const float> logw,
                            std::span<float> out) {
  check_size("scale_keys_one_minus_w", "logw", logw.size(), k.size());
  check_size("scale_keys_one_minus_w", "out", out.size(), k.size());
  for (Index i = 0; i < k.size(); ++i) {
    out[i] = static_cast<float>(k[i] * -std::expm1(static_cast<double>(logw[i])));
  }
}

void softmax(std::span<const float> in, std::span<float> out) {
  check_size("softmax", "out", out.size(), in.size());
  if (in.empty()) return;
  double mx = in[0];
  for (float v : in) mx = v > mx ? v : mx;
  double sum = 0.0;
  for (float v : in) sum += std::exp(v - mx);
  for (Index i = 0; i < in.size(); ++i) out[i] = static_cast<float>(std::exp(in[i] - mx) / sum);
}

double nll(std::span<const float> in, size_t target) {
  require(!in.empty() && target < in.size(), ErrorCode::InvalidArgument,
          "nll: target {} outside {} logits", target, in.size());
  double mx = in[0], sum = 0;
  for (float v : in) mx = std::max<double>(mx, v);
  for (float v : in) sum += std::exp(v - mx);
  return std::log(sum) + mx - in[target];
}

int argmax(std::span<const float> in) {
  require(!in.empty(), ErrorCode::InvalidArgument, "argmax: empty input");
  Index best = 0;
  for (Index i = 1; i < in.size(); ++i) {
    if (in[i] > in[best]) best = i;
  }
  return static_cast<int>(best);
}

}  // namespace vkr::ref
