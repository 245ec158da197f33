// Naive CPU references for the RWKV-6 / QRWKV6 block ops (spec §2.3, §3.1-§3.3).
#pragma once

#include <cstdint>
#include <span>

namespace vkr::ref {

// All tensors are row-major float; shapes are listed outermost-first. Every function checks span
// sizes against the shape arguments and throws vkr::Error(ShapeMismatch) naming the argument and
// both sizes. Outputs never alias inputs unless stated.

// y[t][o] = sum_i x[t][i] * w[o][i] (+ bias[o]).
// x: (T, K); w: (N, K) = [out][in] (PyTorch nn.Linear layout); bias: (N) or empty; y: (T, N).
void gemm(int T, int K, int N, std::span<const float> x, std::span<const float> w,
          std::span<const float> bias, std::span<float> y);

// acc[j] += sum_t x[t][j]^2 (double sums): the column statistics of an importance matrix.
// x: (T, K); acc: (K), read and written.
void col_sumsq(int T, int K, std::span<const float> x, std::span<float> acc);

// y = x / sqrt(mean(x^2) + eps) * gamma, per row. x, y: (T, C); gamma: (C).
void rms_norm(int T, int C, float eps, std::span<const float> x, std::span<const float> gamma,
              std::span<float> y);

// y = (x - mean) / sqrt(var + eps) * gamma + beta, per row, biased variance.
// x, y: (T, C); gamma, beta: (C).
void layer_norm(int T, int C, float eps, std::span<const float> x, std::span<const float> gamma,
                std::span<const float> beta, std::span<float> y);

// RWKV-6 ln_x: the layer_norm formula over each head's S channels separately (H groups), then
// the full-width affine. x, y: (T, H*S); gamma, beta: (H*S). eps 64e-5 (spec §3.1).
inline constexpr float kGroupNormEps = 64e-5f;
void group_norm(int T, int H, int S, float eps, std::span<const float> x,
                std::span<const float> gamma, std::span<const float> beta, std::span<float> y);

// Token shift + ddlerp (spec §3.1, §2.3), identical in both archs. Dm = time_mix_extra_dim.
//   x:      (T, C) normalized inputs of this call
//   shift:  (C) in/out: normalized input of the previous call's last token (zeros for a new
//           sequence); on return holds x[T-1] (unchanged when T == 0)
//   mu_x:   (C) time_maa_x
//   lambda: (5, C) time_maa_{w,k,v,r,g}, group order w,k,v,r,g
//   a:      (5*Dm, C) time_mix_w1; group g uses rows g*Dm .. g*Dm+Dm-1
//   bm:     (5, C, Dm) time_mix_w2
//   out:    (5, T, C) the mixed inputs x^w, x^k, x^v, x^r, x^g
struct DdlerpShape {
  int T, C, Dm;
};
void token_shift_ddlerp(DdlerpShape shape, std::span<const float> x, std::span<float> shift,
                        std::span<const float> mu_x, std::span<const float> lambda,
                        std::span<const float> a, std::span<const float> bm, std::span<float> out);

// Plain token-shift lerp (RWKV-6 channel-mix): out[t] = x[t] + (x_prev(t) - x[t]) * mu.
// x, out: (T, C); shift: (C) in/out as in token_shift_ddlerp; mu: (C).
void token_shift_lerp(int T, int C, std::span<const float> x, std::span<float> shift,
                      std::span<const float> mu, std::span<float> out);

// logw[t][c] = -exp(d0[c] + sum_d q[c][d] * tanh(sum_e p[d][e] * xw[t][e])) (spec §3.1 "Decay").
// xw, logw: (T, C); d0: (C) time_decay; p: (Dd, C) decay_w1; q: (C, Dd) decay_w2.
void decay(int T, int C, int Dd, std::span<const float> xw, std::span<const float> d0,
           std::span<const float> p, std::span<const float> q, std::span<float> logw);

// Element-wise activations; in and out have equal sizes and may be the same span.
void sigmoid(std::span<const float> in, std::span<float> out);
void silu(std::span<const float> in, std::span<float> out);
void relu_sq(std::span<const float> in, std::span<float> out);  // max(x, 0)^2
// out = silu(g) * u (Qwen2 SwiGLU). g, u, out: same size.
void swiglu(std::span<const float> g, std::span<const float> u, std::span<float> out);

// out[t] = table[ids[t]]. ids: (T), each in [0, V) (else vkr::Error InvalidArgument);
// table: (V, C); out: (T, C).
void embedding(int V, int C, std::span<const std::int32_t> ids, std::span<const float> table,
               std::span<float> out);

// GQA head repetition (spec §3.3): query head h reads kv head h / n_rep.
// kv: (T, Hkv, S); out: (T, Hkv*n_rep, S).
void repeat_kv(int T, int Hkv, int n_rep, int S, std::span<const float> kv, std::span<float> out);

// QRWKV6 state balancing: out = k * (1 - w) with 1 - w = -expm1(logw), exact for logw near 0.
// k, logw, out: same size (T, H*S) after repeat_kv.
void scale_keys_one_minus_w(std::span<const float> k, std::span<const float> logw,
                            std::span<float> out);

// Numerically stable softmax (max subtracted first) over the whole vector. in, out: (n).
void softmax(std::span<const float> in, std::span<float> out);

// Index of the largest element (the first one on ties); in must be non-empty.
int argmax(std::span<const float> in);

// Negative log-likelihood of `target` under the logits `in` (log-sum-exp with the max subtracted,
// in double): log(sum_i exp(in_i - m)) + m - in[target]. in non-empty, target < in.size().
double nll(std::span<const float> in, size_t target);

}  // namespace vkr::ref
