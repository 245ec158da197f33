// model.hpp: Model, a loaded RWKV-6 / QRWKV6 GGUF on the GPU: config, device weights (per layer,
// named after the GGUF tensors), tokenizer and the memory plan checked before allocating.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "gguf.hpp"
#include "tokenizer.hpp"
#include "weights.hpp"

namespace vkr {

// Device views of one layer's weights (math shapes, outermost-first). Unused ones stay unbound.
struct LayerWeights {
  Tensor attn_norm_w, attn_norm_b;  // (C); bias RWKV-6 only
  Tensor ffn_norm_w, ffn_norm_b;    // attn_norm_2 (RWKV-6) / ffn_norm (QRWKV6); bias RWKV-6 only
  Tensor lerp_x, lambda;            // (C) time_maa_x, (5, C) w,k,v,r,g
  Tensor w1, w2;                    // (5*Dm, C), (5, C, Dm)
  Tensor decay, decay_w1, decay_w2; // (C), (Dd, C), (C, Dd)
  Tensor wr, wk, wv, wg, wo;        // (C, C), (KV, C), (KV, C), (C, C), (C, C)
  Tensor br, bk, bv;                // (C), (KV), (KV) when the model has them
  Tensor first, ln_x_w, ln_x_b;     // RWKV-6: u (H, S), GroupNorm affine (C)
  Tensor cm_mu;                     // RWKV-6 channel mix: (2, C) = lerp_k, lerp_r (stacked at load)
  Tensor cm_key, cm_value, cm_recept;  // (F, C), (C, F), (C, C)
  Tensor ffn_gate, ffn_up, ffn_down;   // QRWKV6: (F, C), (F, C), (C, F)
};

// What a model needs on the device, computed from the GGUF before anything is allocated.
struct MemoryPlan {
  uint64_t weights = 0;           // tensor bytes as stored (plus derived stacked vectors)
  uint64_t state_per_sequence = 0;
  uint64_t scratch = 0;           // activations for one call of `max_tokens` tokens
  uint64_t total(uint32_t sequences) const { return weights + state_per_sequence * sequences + scratch; }
};

struct LoadOptions {
  bool progress = true;            // progress bar on stderr (only when it is a terminal)
  uint32_t max_tokens = 256;       // tokens per forward call (longer prompts go in pieces)
  uint32_t sequences = 1;          // state slots the memory plan reserves for
};

class Model {
 public:
  static std::unique_ptr<Model> load(Context& ctx, const std::filesystem::path& path,
                                     const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const gguf::File& file() const { return file_; }
  const Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
  const LayerWeights& layer(uint32_t i) const { return layers_[i]; }
  const Tensor& token_embd() const { return token_embd_; }      // (V, C)
  const Tensor& embd_norm_w() const { return embd_norm_w_; }    // RWKV-6 ln0 (C)
  const Tensor& embd_norm_b() const { return embd_norm_b_; }
  const Tensor& output_norm_w() const { return output_norm_w_; }
  const Tensor& output_norm_b() const { return output_norm_b_; }  // unbound if absent
  const Tensor& output() const { return output_; }              // (V, C)
  const MemoryPlan& plan() const { return plan_; }
  const WeightStore& weights() const { return *weights_; }
  const LoadOptions& options() const { return options_; }
  // Identifies the model for state files: arch, dims and a hash of tensor names/shapes/types.
  uint64_t fingerprint() const { return fingerprint_; }
  Context& ctx() const { return ctx_; }

 private:
  Model(Context& ctx, gguf::File file);
  void bind_weights();

  Context& ctx_;
  gguf::File file_;
  ModelConfig config_;
  LoadOptions options_;
  MemoryPlan plan_;
  uint64_t fingerprint_ = 0;
  std::optional<Tokenizer> tokenizer_;
  std::unique_ptr<WeightStore> weights_;
  std::vector<LayerWeights> layers_;
  Tensor token_embd_, embd_norm_w_, embd_norm_b_, output_norm_w_, output_norm_b_, output_;
};

// The memory plan for `config` (scratch for `max_tokens` tokens per call).
MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens);

// Throws OutOfDeviceMemory with the plan's parts when it does not fit the device's budget.
void check_memory_plan(const Context& ctx, const MemoryPlan& plan, uint32_t sequences,
                       const std::string& model_name);

}  // namespace vkr
