// Reference forward pass (see forward.hpp): dequantized weights + vkr::ref ops, one layer at a
// time.
#include "reference/forward.hpp"

#include <cmath>
#include <cstddef>
#include <string>
#include <vkr/error.hpp>

#include "dequant.hpp"
#include "reference/ops.hpp"
#include "reference/wkv6.hpp"

namespace vkr::ref {
namespace {

using Index = std::size_t;

std::vector<float> load(const gguf::File& file, const std::string& name, bool required = true) {
  const gguf::TensorInfo* t = file.tensor(name);
  if (t == nullptr) {
    require(!required, ErrorCode::BadModelFile, "{}: missing tensor '{}'", file.path().string(),
            name);
    return {};
  }
  return dequantize_tensor(file, *t);
}

std::string blk(uint32_t il, const std::string& suffix) {
  return "blk." + std::to_string(il) + "." + suffix;
}

// y = x W^T (+ b) for x (T, K), W (N, K); returns y (T, N).
std::vector<float> linear(int T, int K, int N, std::span<const float> x,
                          const std::vector<float>& w, const std::vector<float>& b = {}) {
  std::vector<float> y(static_cast<Index>(T) * static_cast<Index>(N));
  gemm(T, K, N, x, w, b, y);
  return y;
}

void mul_inplace(std::span<float> a, std::span<const float> b) {
  for (Index i = 0; i < a.size(); ++i) a[i] *= b[i];
}

void add_inplace(std::span<float> a, std::span<const float> b) {
  for (Index i = 0; i < a.size(); ++i) a[i] += b[i];
}

}  // namespace

RefModel::RefModel(const gguf::File& file) : config_(read_config(file)) {
  const bool rwkv6 = config_.arch == Arch::Rwkv6;
  embd_ = load(file, "token_embd.weight");
  if (rwkv6) {
    embd_norm_w_ = load(file, "token_embd_norm.weight");
    embd_norm_b_ = load(file, "token_embd_norm.bias");
  }
  out_norm_w_ = load(file, "output_norm.weight");
  out_norm_b_ = load(file, "output_norm.bias", rwkv6);
  out_ = load(file, "output.weight");
  layers_.resize(config_.n_layer);
  for (uint32_t il = 0; il < config_.n_layer; ++il) load_layer(file, il, layers_[il]);
}

void RefModel::load_layer(const gguf::File& file, uint32_t il, Layer& l) const {
  const bool rwkv6 = config_.arch == Arch::Rwkv6;
  l.attn_norm_w = load(file, blk(il, "attn_norm.weight"));
  l.lerp_x = load(file, blk(il, "time_mix_lerp_x.weight"));
  if (config_.has_lerp_fused) {
    l.lerp_wkvrg = load(file, blk(il, "time_mix_lerp_fused.weight"));
  } else {  // legacy files: five separate vectors, stacked here in the fused order w,k,v,r,g
    for (const char* g : {"w", "k", "v", "r", "g"}) {
      const auto v = load(file, blk(il, std::string("time_mix_lerp_") + g + ".weight"));
      l.lerp_wkvrg.insert(l.lerp_wkvrg.end(), v.begin(), v.end());
    }
  }
  l.w1 = load(file, blk(il, "time_mix_w1.weight"));
  l.w2 = load(file, blk(il, "time_mix_w2.weight"));
  l.decay = load(file, blk(il, "time_mix_decay.weight"));
  l.decay_w1 = load(file, blk(il, "time_mix_decay_w1.weight"));
  l.decay_w2 = load(file, blk(il, "time_mix_decay_w2.weight"));
  l.wr = load(file, blk(il, "time_mix_receptance.weight"));
  l.wk = load(file, blk(il, "time_mix_key.weight"));
  l.wv = load(file, blk(il, "time_mix_value.weight"));
  l.wg = load(file, blk(il, "time_mix_gate.weight"));
  l.wo = load(file, blk(il, "time_mix_output.weight"));
  if (rwkv6) {
    l.attn_norm_b = load(file, blk(il, "attn_norm.bias"));
    l.ffn_norm_w = load(file, blk(il, "attn_norm_2.weight"));
    l.ffn_norm_b = load(file, blk(il, "attn_norm_2.bias"));
    l.first = load(file, blk(il, "time_mix_first.weight"));
    l.ln_w = load(file, blk(il, "time_mix_ln.weight"));
    l.ln_b = load(file, blk(il, "time_mix_ln.bias"));
    l.cm_lerp_k = load(file, blk(il, "channel_mix_lerp_k.weight"));
    l.cm_lerp_r = load(file, blk(il, "channel_mix_lerp_r.weight"));
    l.cm_key = load(file, blk(il, "channel_mix_key.weight"));
    l.cm_value = load(file, blk(il, "channel_mix_value.weight"));
    l.cm_recept = load(file, blk(il, "channel_mix_receptance.weight"));
  } else {
    l.ffn_norm_w = load(file, blk(il, "ffn_norm.weight"));
    l.br = load(file, blk(il, "time_mix_receptance.bias"), config_.has_rkv_bias);
    l.bk = load(file, blk(il, "time_mix_key.bias"), config_.has_rkv_bias);
    l.bv = load(file, blk(il, "time_mix_value.bias"), config_.has_rkv_bias);
    l.ffn_gate = load(file, blk(il, "ffn_gate.weight"));
    l.ffn_up = load(file, blk(il, "ffn_up.weight"));
    l.ffn_down = load(file, blk(il, "ffn_down.weight"));
  }
}

RefState RefModel::new_state() const {
  const Index C = config_.C;
  const Index wkv = static_cast<Index>(config_.H) * config_.S * config_.S;
  RefState s;
  s.att_shift.assign(config_.n_layer, std::vector<float>(C, 0.0f));
  if (config_.arch == Arch::Rwkv6) s.ffn_shift.assign(config_.n_layer, std::vector<float>(C, 0.0f));
  s.wkv.assign(config_.n_layer, std::vector<float>(wkv, 0.0f));
  return s;
}

void RefModel::norm(int T, std::span<const float> x, const std::vector<float>& w,
                    const std::vector<float>& b, std::span<float> y) const {
  const int C = static_cast<int>(config_.C);
  if (config_.arch == Arch::Rwkv6) {
    layer_norm(T, C, config_.norm_eps, x, w, b, y);
    return;
  }
  rms_norm(T, C, config_.norm_eps, x, w, y);
  if (!b.empty()) {  // only output_norm.bias can exist here (optional, absent in practice)
    for (Index t = 0; t < static_cast<Index>(T); ++t) add_inplace(y.subspan(t * C, C), b);
  }
}

std::vector<float> RefModel::time_mix(const Layer& l, int T, std::span<const float> x,
                                      std::vector<float>& shift, std::vector<float>& wkv) const {
  const int C = static_cast<int>(config_.C), KV = static_cast<int>(config_.KV());
  const int H = static_cast<int>(config_.H), S = static_cast<int>(config_.S);
  const Index TC = static_cast<Index>(T) * static_cast<Index>(C);
  std::vector<float> a(TC);
  norm(T, x, l.attn_norm_w, l.attn_norm_b, a);
  // mixed = (5, T, C): x^w, x^k, x^v, x^r, x^g; the shift state becomes a[T-1].
  std::vector<float> mixed(5 * TC);
  token_shift_ddlerp({T, C, static_cast<int>(config_.Dm)}, a, shift, l.lerp_x, l.lerp_wkvrg, l.w1,
                     l.w2, mixed);
  const std::span<const float> all(mixed);
  const auto xw = all.subspan(0, TC), xk = all.subspan(TC, TC), xv = all.subspan(2 * TC, TC);
  const auto xr = all.subspan(3 * TC, TC), xg = all.subspan(4 * TC, TC);
  // Biases (QRWKV6 only) are added before head repetition and before the (1 - w) scaling.
  std::vector<float> r = linear(T, C, C, xr, l.wr, l.br);
  std::vector<float> k = linear(T, C, KV, xk, l.wk, l.bk);
  std::vector<float> v = linear(T, C, KV, xv, l.wv, l.bv);
  std::vector<float> g = linear(T, C, C, xg, l.wg);
  std::vector<float> logw(TC);
  decay(T, C, static_cast<int>(config_.Dd), xw, l.decay, l.decay_w1, l.decay_w2, logw);
  std::vector<float> y(TC);
  const WkvShape shape{1, T, H, S};
  if (config_.arch == Arch::Rwkv6) {
    silu(g, g);
    wkv_sequential(WkvMode::Rwkv6, shape, 1.0f, r, k, v, logw, l.first, wkv, y);
    std::vector<float> normed(TC);
    group_norm(T, H, S, kGroupNormEps, y, l.ln_w, l.ln_b, normed);
    y.swap(normed);
  } else {
    sigmoid(g, g);
    const int n_rep = static_cast<int>(config_.n_rep()), Hkv = static_cast<int>(config_.Hkv);
    std::vector<float> k_full(TC), v_full(TC);
    repeat_kv(T, Hkv, n_rep, S, k, k_full);
    repeat_kv(T, Hkv, n_rep, S, v, v_full);
    scale_keys_one_minus_w(k_full, logw, k_full);  // state balancing: k * (1 - w)
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(S)));
    wkv_sequential(WkvMode::Gla, shape, scale, r, k_full, v_full, logw, {}, wkv, y);
  }
  mul_inplace(y, g);
  return linear(T, C, C, y, l.wo);
}

void RefModel::rwkv6_channel_mix(const Layer& l, int T, std::span<float> x,
                                 std::vector<float>& shift) const {
  const int C = static_cast<int>(config_.C), F = static_cast<int>(config_.F);
  const Index TC = static_cast<Index>(T) * static_cast<Index>(C);
  std::vector<float> b(TC), xk(TC), xr(TC);
  norm(T, x, l.ffn_norm_w, l.ffn_norm_b, b);
  std::vector<float> shift_for_r = shift;  // token_shift_lerp advances its shift argument
  token_shift_lerp(T, C, b, shift, l.cm_lerp_k, xk);
  token_shift_lerp(T, C, b, shift_for_r, l.cm_lerp_r, xr);
  std::vector<float> kappa = linear(T, C, F, xk, l.cm_key);
  relu_sq(kappa, kappa);
  std::vector<float> rr = linear(T, C, C, xr, l.cm_recept);
  sigmoid(rr, rr);
  std::vector<float> vv = linear(T, F, C, kappa, l.cm_value);
  mul_inplace(vv, rr);
  add_inplace(x, vv);
}

void RefModel::qrwkv6_ffn(const Layer& l, int T, std::span<float> x) const {
  const int C = static_cast<int>(config_.C), F = static_cast<int>(config_.F);
  std::vector<float> f(static_cast<Index>(T) * static_cast<Index>(C));
  norm(T, x, l.ffn_norm_w, {}, f);
  const std::vector<float> gate = linear(T, C, F, f, l.ffn_gate);
  const std::vector<float> up = linear(T, C, F, f, l.ffn_up);
  std::vector<float> h(gate.size());
  swiglu(gate, up, h);
  add_inplace(x, linear(T, F, C, h, l.ffn_down));
}

std::vector<float> RefModel::forward(std::span<const int32_t> tokens, RefState& state) const {
  const int T = static_cast<int>(tokens.size());
  const int C = static_cast<int>(config_.C), V = static_cast<int>(config_.V);
  const Index TC = static_cast<Index>(T) * static_cast<Index>(C);
  std::vector<float> x(TC), tmp(TC);
  embedding(V, C, tokens, embd_, x);
  if (config_.arch == Arch::Rwkv6) {  // ln0, once before block 0
    layer_norm(T, C, config_.norm_eps, x, embd_norm_w_, embd_norm_b_, tmp);
    x.swap(tmp);
  }
  for (uint32_t il = 0; il < config_.n_layer; ++il) {
    const Layer& l = layers_[il];
    add_inplace(x, time_mix(l, T, x, state.att_shift[il], state.wkv[il]));
    if (config_.arch == Arch::Rwkv6) {
      rwkv6_channel_mix(l, T, x, state.ffn_shift[il]);
      // The GGUF's output/value weights are pre-divided by 2^floor(il/R); halving the residual
      // after every R-th layer completes the rescale (spec §3.2.5).
      const uint32_t R = config_.rescale_every;
      if (R != 0 && (il + 1) % R == 0) {
        for (float& xi : x) xi *= 0.5f;
      }
    } else {
      qrwkv6_ffn(l, T, x);
    }
  }
  norm(T, x, out_norm_w_, out_norm_b_, tmp);
  return linear(T, C, V, tmp, out_);
}

}  // namespace vkr::ref
