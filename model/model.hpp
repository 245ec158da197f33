// model.hpp: Model, a loaded RWKV-6 / QRWKV6 GGUF on the GPU: config, device weights (per layer,
// named after the GGUF tensors), tokenizer and the memory plan checked before allocating. A model
// too large for one device is split by layers over several (ModelPart): each device holds a
// contiguous run of layers, the first also the embedding and the last the head.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
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
  // Layers per device when loading onto several devices: one count (>= 1) per device, summing to
  // the model's layer count. Empty = in proportion to each device's free memory.
  std::vector<uint32_t> layer_split;
};

// The layers [first, end) one device runs; the first part also embeds the tokens, the last one
// also runs the head. A model on one device has one part with every layer.
struct ModelPart {
  Context* ctx = nullptr;
  uint32_t first = 0, end = 0;
  bool embed = true, head = true;
  MemoryPlan plan;  // what this device holds
};

class Model {
 public:
  static std::unique_ptr<Model> load(Context& ctx, const std::filesystem::path& path,
                                     const LoadOptions& options = {});
  // Split by layers over `devices` (in order; one part each; see LoadOptions::layer_split). The
  // same context may appear twice (two parts on one device: tests use it on lavapipe).
  static std::unique_ptr<Model> load(std::span<Context* const> devices,
                                     const std::filesystem::path& path,
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
  const MemoryPlan& plan() const { return plan_; }  // the whole model (the sum of the parts)
  // Part `i`'s tensors (the only part's unless split).
  const WeightStore& weights(size_t part = 0) const { return *weights_.at(part); }
  const std::vector<ModelPart>& parts() const { return parts_; }
  // The part that runs layer l.
  const ModelPart& part_of_layer(uint32_t l) const;
  const LoadOptions& options() const { return options_; }
  // Identifies the model for state files: arch, dims and a hash of tensor names/shapes/types.
  uint64_t fingerprint() const { return fingerprint_; }
  // The device of the first part (the embedding); the only device unless split.
  Context& ctx() const { return *parts_.front().ctx; }

 private:
  explicit Model(gguf::File file);
  void bind_weights(size_t part);

  gguf::File file_;
  ModelConfig config_;
  LoadOptions options_;
  MemoryPlan plan_;
  uint64_t fingerprint_ = 0;
  std::optional<Tokenizer> tokenizer_;
  std::vector<ModelPart> parts_;
  std::vector<std::unique_ptr<WeightStore>> weights_;  // one per part
  std::vector<LayerWeights> layers_;                   // every layer, bound on its part's device
  Tensor token_embd_, embd_norm_w_, embd_norm_b_, output_norm_w_, output_norm_b_, output_;
};

// The memory plan for `config` (scratch for `max_tokens` tokens per call).
MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens);
// The plan of the part running layers [first, end) (with the embedding when first == 0 and the
// head when end == n_layer).
MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens,
                       uint32_t first, uint32_t end);
// Whether tensor `name` belongs to the part running layers [first, end).
bool tensor_in_part(std::string_view name, const ModelConfig& config, uint32_t first,
                    uint32_t end);
// Layers per device: `split` checked (one count >= 1 per device, summing to the layer count), or
// when empty in proportion to `free_bytes` (each device's free memory) by the weights each layer
// holds, the embedding counted on the first device and the head on the last.
std::vector<uint32_t> plan_layer_split(const gguf::File& file, const ModelConfig& config,
                                       std::span<const uint64_t> free_bytes,
                                       std::span<const uint32_t> split);
// Free bytes of the largest device-local heap (its budget where the driver reports one).
uint64_t device_free_bytes(const Context& ctx);

// Throws OutOfDeviceMemory with the plan's parts when it does not fit the device's budget.
void check_memory_plan(const Context& ctx, const MemoryPlan& plan, uint32_t sequences,
                       const std::string& model_name);

}  // namespace vkr
