// CPU reference of the whole RWKV-6 / QRWKV6 forward pass (spec §3.2, §3.3), from vkr::ref ops
// only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config.hpp"
#include "gguf.hpp"

namespace vkr::ref {

// Recurrent state of one sequence (spec §4), all f32, zeros for a fresh sequence.
struct RefState {
  std::vector<std::vector<float>> att_shift;  // [layer] (C): last attn_norm output
  std::vector<std::vector<float>> ffn_shift;  // [layer] (C): last attn_norm_2 output; RWKV-6 only
  std::vector<std::vector<float>> wkv;        // [layer] (H, S, S): [h][i][j], i key row
};

// Deliberately boring: every weight is dequantized to f32 once at construction, activations stay
// f32 (the ops accumulate in double), and each call runs all T tokens of one sequence through
// the layers in order. Nothing here is shared with the GPU path except the spec.
class RefModel {
 public:
  // Reads and validates the config (read_config), then dequantizes every tensor it uses.
  explicit RefModel(const gguf::File& file);

  const ModelConfig& config() const { return config_; }
  RefState new_state() const;  // zeros, sized for this model

  // Logits (T, V) after each of `tokens`, continuing from `state` (updated in place), so
  // prefill in several calls equals one call. Token ids must be in [0, V).
  std::vector<float> forward(std::span<const int32_t> tokens, RefState& state) const;

 private:
  // Weights of one layer, named after the GGUF tensors (math layout = row-major [out][in]).
  struct Layer {
    std::vector<float> attn_norm_w, attn_norm_b;     // (C); bias RWKV-6 only
    std::vector<float> ffn_norm_w, ffn_norm_b;       // attn_norm_2 (RWKV-6) / ffn_norm (QRWKV6)
    std::vector<float> lerp_x, lerp_wkvrg;           // (C), (5, C) in order w,k,v,r,g
    std::vector<float> w1, w2;                       // (5*Dm, C), (5, C, Dm)
    std::vector<float> decay, decay_w1, decay_w2;    // (C), (Dd, C), (C, Dd)
    std::vector<float> wr, wk, wv, wg, wo;           // (C,C), (KV,C), (KV,C), (C,C), (C,C)
    std::vector<float> br, bk, bv;                   // (C), (KV), (KV) or empty
    std::vector<float> first, ln_w, ln_b;            // RWKV-6: u (H, S); ln_x (C)
    std::vector<float> cm_lerp_k, cm_lerp_r;         // RWKV-6 channel mix (C)
    std::vector<float> cm_key, cm_value, cm_recept;  // (F, C), (C, F), (C, C)
    std::vector<float> ffn_gate, ffn_up, ffn_down;   // QRWKV6 SwiGLU: (F, C), (F, C), (C, F)
  };

  void load_layer(const gguf::File& file, uint32_t il, Layer& l) const;
  // Input norm of a block: LayerNorm (RWKV-6) or RMSNorm (QRWKV6), per row of (T, C).
  void norm(int T, std::span<const float> x, const std::vector<float>& w,
            const std::vector<float>& b, std::span<float> y) const;
  // Returns tm (T, C), the time-mix output before the residual add.
  std::vector<float> time_mix(const Layer& l, int T, std::span<const float> x,
                              std::vector<float>& shift, std::vector<float>& wkv) const;
  // Adds the FFN / channel-mix output to x (T, C) in place.
  void rwkv6_channel_mix(const Layer& l, int T, std::span<float> x,
                         std::vector<float>& shift) const;
  void qrwkv6_ffn(const Layer& l, int T, std::span<float> x) const;

  ModelConfig config_;
  std::vector<float> embd_, embd_norm_w_, embd_norm_b_;  // (V, C); ln0 (RWKV-6 only)
  std::vector<float> out_norm_w_, out_norm_b_, out_;     // (C), (C) or empty, (V, C)
  std::vector<Layer> layers_;
};

}  // namespace vkr::ref
