// CPU references for WKV6 / GLA: the sequential recurrence and the chunked-parallel GPU blueprint.
//
// wkv_sequential is spec §3.4 written as plainly as possible. wkv_chunked is spec §5 written the
// way the wkv6_prefill compute shader does it, so that a kernel bug can be bisected against a CPU
// twin phase by phase. For one (sequence b, head h) and one chunk of n <= L tokens starting at
// token t0, with local positions t = 0..n-1 and M_in the state entering the chunk:
//
//   Phase 1  cumsum:   b_t[i] = sum_{m=0..t} logw_{t0+m}[i]   (inclusive, chunk-local, <= 0)
//                      X_t    = b_{t-1} (Rwkv6: the current token's decay is not applied yet,
//                               b_{-1} = 0) or b_t (Gla: the output reads the updated state).
//   Phase 2  intra A:  A[t][tau] = sum_i r_t[i] k_tau[i] exp(X_t[i] - b_tau[i])  for tau < t,
//                      diagonal: Rwkv6 sum_i r_t[i] u[i] k_t[i]; Gla exponent 0 (same formula).
//                      Built from Lsub x Lsub sub-blocks: off-diagonal blocks as a matmul of
//                      reference-point-scaled r and k, diagonal blocks with direct exponentials.
//   Phase 3  A.V:      Y = A V                                  (n x n) . (n x S)
//   Phase 4  inter:    Y += (R (.) exp(X)) M_in                 (n x S) . (S x S), then Y *= scale
//   Phase 5  hand-off: M_out = diag(exp(b_{n-1})) M_in
//                              + sum_tau (k_tau (.) exp(b_{n-1} - b_tau)) v_tau^T
//
// Every exponent is (a later cumsum) - (an earlier cumsum) <= 0: products of decays are formed as
// exp of a difference, never as exp(b_t) * exp(-b_tau), because exp(-b_tau) overflows fp32 after a
// few tokens of strong decay (spec §5.2). exp_nonpos() enforces this, so a blueprint change that
// breaks the invariant fails the tests instead of only failing on the GPU.
#include "reference/wkv6.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <vector>
#include <vkr/error.hpp>

namespace vkr::ref {
namespace {

using Index = std::size_t;

// Float offset of (b, t, h, i) in a (B, T, H, S) tensor.
Index act_at(const WkvShape& s, int b, int t, int h, int i) {
  return ((static_cast<Index>(b) * s.T + t) * s.H + h) * s.S + i;
}

// Float offset of (b, h, i, j) in a (B, H, S, S) state tensor.
Index state_at(const WkvShape& s, int b, int h, int i, int j) {
  return ((static_cast<Index>(b) * s.H + h) * s.S + i) * s.S + j;
}

void check_size(std::string_view fn, std::string_view name, Index got, Index want,
                std::string_view formula) {
  require(got == want, ErrorCode::ShapeMismatch, "{}: {} has {} floats, expected {} = {}", fn, name,
          got, want, formula);
}

void check_args(std::string_view fn, WkvMode mode, const WkvShape& s, std::span<const float> r,
                std::span<const float> k, std::span<const float> v, std::span<const float> logw,
                std::span<const float> u, std::span<float> state, std::span<float> y) {
  require(s.B > 0 && s.T >= 0 && s.H > 0 && s.S > 0, ErrorCode::InvalidArgument,
          "{}: bad shape B={} T={} H={} S={}", fn, s.B, s.T, s.H, s.S);
  const Index act = static_cast<Index>(s.B) * s.T * s.H * s.S;
  check_size(fn, "r", r.size(), act, "B*T*H*S");
  check_size(fn, "k", k.size(), act, "B*T*H*S");
  check_size(fn, "v", v.size(), act, "B*T*H*S");
  check_size(fn, "logw", logw.size(), act, "B*T*H*S");
  check_size(fn, "y", y.size(), act, "B*T*H*S");
  check_size(fn, "state", state.size(), static_cast<Index>(s.B) * s.H * s.S * s.S, "B*H*S*S");
  if (mode == WkvMode::Rwkv6) check_size(fn, "u", u.size(), static_cast<Index>(s.H) * s.S, "H*S");
  // A positive (or NaN) log-decay breaks the "every exponent <= 0" argument of the chunked form.
  for (Index idx = 0; idx < logw.size(); ++idx) {
    require(logw[idx] <= 0.0f, ErrorCode::InvalidArgument,
            "{}: logw[{}] = {} but log-decays must be <= 0", fn, idx, logw[idx]);
  }
}

// exp() of an argument the algorithm guarantees to be <= 0 (so the result is in [0, 1]).
double exp_nonpos(double x) {
  if (!(x <= 0.0)) throw std::logic_error("wkv_chunked: exponent > 0 (stability invariant broken)");
  return std::exp(x);
}

// ---------------------------------------------------------------------------------------------
// Sequential recurrence (spec §3.4), one (sequence, head) pair. m: (S, S) state in double.

void sequential_head(WkvMode mode, const WkvShape& s, float scale, int b, int h,
                     std::span<const float> r, std::span<const float> k, std::span<const float> v,
                     std::span<const float> logw, std::span<const float> u, std::vector<double>& m,
                     std::span<float> y) {
  const int S = s.S;
  std::vector<double> yt(static_cast<Index>(S));
  for (int t = 0; t < s.T; ++t) {
    const Index at = act_at(s, b, t, h, 0);
    std::fill(yt.begin(), yt.end(), 0.0);
    if (mode == WkvMode::Rwkv6) {
      // y_t[j] = sum_i r_t[i] (M_{t-1}[i][j] + u[i] k_t[i] v_t[j]): reads the OLD state.
      for (int i = 0; i < S; ++i) {
        const double ri = r[at + i];
        const double bonus = static_cast<double>(u[static_cast<Index>(h) * S + i]) * k[at + i];
        for (int j = 0; j < S; ++j)
          yt[j] += ri * (m[static_cast<Index>(i) * S + j] + bonus * v[at + j]);
      }
    }
    // M_t[i][j] = w_t[i] M_{t-1}[i][j] + k_t[i] v_t[j]
    for (int i = 0; i < S; ++i) {
      const double wi = std::exp(static_cast<double>(logw[at + i]));
      const double ki = k[at + i];
      for (int j = 0; j < S; ++j) {
        double& mij = m[static_cast<Index>(i) * S + j];
        mij = wi * mij + ki * v[at + j];
      }
    }
    if (mode == WkvMode::Gla) {
      // y_t[j] = sum_i r_t[i] M_t[i][j]: reads the UPDATED state (current token included).
      for (int i = 0; i < S; ++i) {
        const double ri = r[at + i];
        for (int j = 0; j < S; ++j) yt[j] += ri * m[static_cast<Index>(i) * S + j];
      }
    }
    for (int j = 0; j < S; ++j) y[at + j] = static_cast<float>(scale * yt[j]);
  }
}

// ---------------------------------------------------------------------------------------------
// Chunked form (spec §5). On the GPU one workgroup owns one (b, h) (or a V-tile of it), keeps M in
// shared memory/registers and walks the chunks in order; the Chunk arrays are its shared tiles.

struct Chunk {
  int n = 0;              // tokens in this chunk: L, or fewer for the last one
  int S = 0;              // head size
  std::vector<double> r;  // (n, S)
  std::vector<double> k;  // (n, S)
  std::vector<double> v;  // (n, S)
  std::vector<double> b;  // (n, S) inclusive chunk-local cumsum of logw

  const double* row(const std::vector<double>& x, int t) const {
    return x.data() + static_cast<Index>(t) * S;
  }
  // X_t[i] of the header: the cumsum query row t is decayed by (Rwkv6 exclusive, Gla inclusive).
  double x_cum(WkvMode mode, int t, int i) const {
    if (mode == WkvMode::Gla) return row(b, t)[i];
    return t == 0 ? 0.0 : row(b, t - 1)[i];
  }
};

// Phase 1: gathers tokens [t0, t0 + n) of head (bs, h), computes the chunk-local inclusive cumsum.
void load_chunk(const WkvShape& s, int bs, int h, int t0, int n, std::span<const float> r,
                std::span<const float> k, std::span<const float> v, std::span<const float> logw,
                Chunk& c) {
  const Index len = static_cast<Index>(n) * s.S;
  c.n = n;
  c.S = s.S;
  c.r.resize(len);
  c.k.resize(len);
  c.v.resize(len);
  c.b.resize(len);
  for (int t = 0; t < n; ++t) {
    const Index src = act_at(s, bs, t0 + t, h, 0);
    const Index dst = static_cast<Index>(t) * s.S;
    for (int i = 0; i < s.S; ++i) {
      c.r[dst + i] = r[src + i];
      c.k[dst + i] = k[src + i];
      c.v[dst + i] = v[src + i];
      // Adding a value <= 0 never increases a float, so b is non-increasing in t even after
      // rounding: that is what makes every later-minus-earlier difference exactly <= 0.
      const double prev = t == 0 ? 0.0 : c.b[dst - s.S + i];
      c.b[dst + i] = prev + static_cast<double>(logw[src + i]);
    }
  }
}

// Phase 2, off-diagonal block: query sub-chunk [p0, p1) against key sub-chunk [q0, q1), q1 <= p0.
// qhat: (p1 - p0, S) = r_t (.) exp(X_t - ref), precomputed once per query sub-chunk.
// The reference point ref = b_{p0-1} (the cumsum just before the query sub-chunk) satisfies
// X_t <= ref for every t >= p0 and b_tau >= ref for every tau < p0, so both factors are
// exp(<= 0) and the block is a plain (Lsub x S) . (S x Lsub) product with no overflow.
void offdiag_block(const Chunk& c, int p0, int p1, int q0, int q1, const std::vector<double>& qhat,
                   std::vector<double>& a) {
  const int S = c.S;
  const double* ref = c.row(c.b, p0 - 1);
  std::vector<double> khat(static_cast<Index>(q1 - q0) * S);  // (q1 - q0, S)
  for (int tau = q0; tau < q1; ++tau) {
    const double* kt = c.row(c.k, tau);
    const double* bt = c.row(c.b, tau);
    for (int i = 0; i < S; ++i)
      khat[static_cast<Index>(tau - q0) * S + i] = kt[i] * exp_nonpos(ref[i] - bt[i]);
  }
  for (int t = p0; t < p1; ++t) {
    const double* qrow = qhat.data() + static_cast<Index>(t - p0) * S;
    for (int tau = q0; tau < q1; ++tau) {
      const double* krow = khat.data() + static_cast<Index>(tau - q0) * S;
      double acc = 0.0;
      for (int i = 0; i < S; ++i) acc += qrow[i] * krow[i];
      a[static_cast<Index>(t) * c.n + tau] = acc;
    }
  }
}

// Phase 2, diagonal block [p0, p1): direct exponentials exp(X_t[i] - b_tau[i]) per (t, tau, i),
// Lsub^2 * S of them, all with arguments <= 0 because tau <= t (Rwkv6: X_t = b_{t-1}, tau < t).
void diag_block(WkvMode mode, const Chunk& c, int p0, int p1, std::span<const float> u_h,
                std::vector<double>& a) {
  const int S = c.S;
  for (int t = p0; t < p1; ++t) {
    const double* rt = c.row(c.r, t);
    for (int tau = p0; tau <= t; ++tau) {
      const double* kt = c.row(c.k, tau);
      double acc = 0.0;
      if (mode == WkvMode::Rwkv6 && tau == t) {
        for (int i = 0; i < S; ++i) acc += rt[i] * u_h[i] * kt[i];  // bonus, no decay
      } else {
        const double* bt = c.row(c.b, tau);
        for (int i = 0; i < S; ++i) acc += rt[i] * kt[i] * exp_nonpos(c.x_cum(mode, t, i) - bt[i]);
      }
      a[static_cast<Index>(t) * c.n + tau] = acc;
    }
  }
}

// Phase 2: the lower-triangular intra-chunk score matrix a: (n, n), built sub-block by sub-block.
// Sub-chunk p covers local tokens [p*Lsub, min((p+1)*Lsub, n)); a partial last chunk simply has
// fewer (and possibly a short last) sub-chunks. Entries above the diagonal stay 0 (causal mask).
void intra_chunk_scores(WkvMode mode, const Chunk& c, int Lsub, std::span<const float> u_h,
                        std::vector<double>& a) {
  const int S = c.S;
  a.assign(static_cast<Index>(c.n) * c.n, 0.0);
  std::vector<double> qhat;
  const int nsub = (c.n + Lsub - 1) / Lsub;
  for (int p = 0; p < nsub; ++p) {
    const int p0 = p * Lsub;
    const int p1 = std::min(p0 + Lsub, c.n);
    if (p > 0) {
      const double* ref = c.row(c.b, p0 - 1);
      qhat.resize(static_cast<Index>(p1 - p0) * S);  // (p1 - p0, S)
      for (int t = p0; t < p1; ++t) {
        const double* rt = c.row(c.r, t);
        for (int i = 0; i < S; ++i)
          qhat[static_cast<Index>(t - p0) * S + i] =
              rt[i] * exp_nonpos(c.x_cum(mode, t, i) - ref[i]);
      }
      for (int q = 0; q < p; ++q) offdiag_block(c, p0, p1, q * Lsub, (q + 1) * Lsub, qhat, a);
    }
    diag_block(mode, c, p0, p1, u_h, a);
  }
}

// Phases 3 and 4: y_c = scale * (A V + (R (.) exp(X)) M_in). y_c: (n, S); m_in: (S, S).
// Must run before the hand-off, which overwrites M_in.
void chunk_output(WkvMode mode, const Chunk& c, float scale, const std::vector<double>& a,
                  const std::vector<double>& m_in, std::vector<double>& y_c) {
  const int S = c.S;
  y_c.assign(static_cast<Index>(c.n) * S, 0.0);
  for (int t = 0; t < c.n; ++t) {
    double* yt = y_c.data() + static_cast<Index>(t) * S;
    for (int tau = 0; tau <= t; ++tau) {  // phase 3: A is lower triangular
      const double atau = a[static_cast<Index>(t) * c.n + tau];
      const double* vt = c.row(c.v, tau);
      for (int j = 0; j < S; ++j) yt[j] += atau * vt[j];
    }
    const double* rt = c.row(c.r, t);
    for (int i = 0; i < S; ++i) {  // phase 4: decay M_in from the chunk start up to X_t
      const double qi = rt[i] * exp_nonpos(c.x_cum(mode, t, i));
      const double* mi = m_in.data() + static_cast<Index>(i) * S;
      for (int j = 0; j < S; ++j) yt[j] += qi * mi[j];
    }
    for (int j = 0; j < S; ++j) yt[j] *= scale;
  }
}

// Phase 5, in place:
//   M_out = diag(exp(b_{n-1})) M_in + sum_tau (k_tau (.) exp(b_{n-1} - b_tau)) v_tau^T.
// On the GPU this is a row scaling plus an (S x n) . (n x S) product of decayed keys and values.
void state_handoff(const Chunk& c, std::vector<double>& m) {
  const int S = c.S;
  const double* last = c.row(c.b, c.n - 1);
  for (int i = 0; i < S; ++i) {
    const double decay = exp_nonpos(last[i]);
    for (int j = 0; j < S; ++j) m[static_cast<Index>(i) * S + j] *= decay;
  }
  for (int tau = 0; tau < c.n; ++tau) {
    const double* kt = c.row(c.k, tau);
    const double* bt = c.row(c.b, tau);
    const double* vt = c.row(c.v, tau);
    for (int i = 0; i < S; ++i) {
      const double kd = kt[i] * exp_nonpos(last[i] - bt[i]);
      double* mi = m.data() + static_cast<Index>(i) * S;
      for (int j = 0; j < S; ++j) mi[j] += kd * vt[j];
    }
  }
}

void load_state(const WkvShape& s, int b, int h, std::span<const float> state,
                std::vector<double>& m) {
  m.resize(static_cast<Index>(s.S) * s.S);
  const Index base = state_at(s, b, h, 0, 0);
  for (Index idx = 0; idx < m.size(); ++idx) m[idx] = state[base + idx];
}

void store_state(const WkvShape& s, int b, int h, const std::vector<double>& m,
                 std::span<float> state) {
  const Index base = state_at(s, b, h, 0, 0);
  for (Index idx = 0; idx < m.size(); ++idx) state[base + idx] = static_cast<float>(m[idx]);
}

}  // namespace

void wkv_sequential(WkvMode mode, WkvShape shape, float scale, std::span<const float> r,
                    std::span<const float> k, std::span<const float> v, std::span<const float> logw,
                    std::span<const float> u, std::span<float> state, std::span<float> y) {
  check_args("wkv_sequential", mode, shape, r, k, v, logw, u, state, y);
  std::vector<double> m;
  for (int b = 0; b < shape.B; ++b) {
    for (int h = 0; h < shape.H; ++h) {
      load_state(shape, b, h, state, m);
      sequential_head(mode, shape, scale, b, h, r, k, v, logw, u, m, y);
      store_state(shape, b, h, m, state);
    }
  }
}

void wkv_chunked(WkvMode mode, WkvShape shape, float scale, int L, int Lsub,
                 std::span<const float> r, std::span<const float> k, std::span<const float> v,
                 std::span<const float> logw, std::span<const float> u, std::span<float> state,
                 std::span<float> y) {
  check_args("wkv_chunked", mode, shape, r, k, v, logw, u, state, y);
  require(L > 0 && Lsub > 0 && L % Lsub == 0, ErrorCode::InvalidArgument,
          "wkv_chunked: chunk length L={} must be a positive multiple of Lsub={}", L, Lsub);
  const int S = shape.S;
  std::vector<double> m;    // (S, S) state, carried across chunks
  std::vector<double> a;    // (n, n) intra-chunk scores
  std::vector<double> y_c;  // (n, S) chunk output
  Chunk c;
  for (int b = 0; b < shape.B; ++b) {
    for (int h = 0; h < shape.H; ++h) {
      // u is only read by Rwkv6 (and only then guaranteed to have H*S entries).
      const auto u_h = mode == WkvMode::Rwkv6 ? u.subspan(static_cast<Index>(h) * S, S)
                                              : std::span<const float>();
      load_state(shape, b, h, state, m);
      for (int t0 = 0; t0 < shape.T; t0 += L) {
        const int n = std::min(L, shape.T - t0);
        load_chunk(shape, b, h, t0, n, r, k, v, logw, c);  // phase 1
        intra_chunk_scores(mode, c, Lsub, u_h, a);         // phase 2
        chunk_output(mode, c, scale, a, m, y_c);           // phases 3 + 4 (read M_in)
        state_handoff(c, m);                               // phase 5 (M_in -> M_out)
        for (int t = 0; t < n; ++t) {
          const Index dst = act_at(shape, b, t0 + t, h, 0);
          for (int j = 0; j < S; ++j)
            y[dst + j] = static_cast<float>(y_c[static_cast<Index>(t) * S + j]);
        }
      }
      store_state(shape, b, h, m, state);
    }
  }
}

}  // namespace vkr::ref
