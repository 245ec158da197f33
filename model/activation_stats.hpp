// activation_stats.hpp: the statistics behind an importance matrix, gathered on the GPU during
// forward passes: for every weight matrix the model multiplies, the sum over all token rows of
// each input column squared (and how many rows went in). `vkrwkv imatrix` runs a text through a
// Session with these attached and saves them; quantization then spends its precision on the
// columns that meet large activations (imatrix.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkr/buffer.hpp"
#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr {

class Model;
struct ImatrixEntry;

// The matrices of a layer whose inputs are collected. The SwiGLU gate and up matrices read the
// same input (one fused kernel), so they share one accumulator and get the same statistics.
enum class StatsInput : uint32_t {
  Receptance,  // time_mix_receptance
  Key,         // time_mix_key
  Value,       // time_mix_value
  Gate,        // time_mix_gate
  Output,      // time_mix_output
  FfnGateUp,   // ffn_gate and ffn_up (QRWKV6)
  FfnDown,     // ffn_down (QRWKV6)
  CmKey,       // channel_mix_key (RWKV-6)
  CmRecept,    // channel_mix_receptance (RWKV-6)
  CmValue,     // channel_mix_value (RWKV-6)
  Count
};

class ActivationStats {
 public:
  // Accumulators (zeros) for every projection of every layer of `model`, each on the device of
  // the part that runs its layer; with `head`, also the output matrix (llama-imatrix's
  // --process-output; off by default there, as the head's rows are not weighted by it).
  ActivationStats(const Model& model, bool head = false);

  // Records acc(layer, which) += column sums of squares of `x` (rows, K); forward.cpp calls it
  // next to the linear that reads `x` (same stage: both only read x). Counts `x`'s rows.
  void record(Context& ctx, Recorder& rec, uint32_t layer, StatsInput which, const Tensor& x);
  // The head's input (rows whose logits are computed); a no-op without `head`.
  void record_head(Context& ctx, Recorder& rec, const Tensor& x);

  // Reads the accumulators back (waits for nothing: call between submissions), one entry per
  // weight tensor name ("blk.3.time_mix_key.weight"), in the model's tensor order.
  std::vector<std::pair<std::string, ImatrixEntry>> read() const;

 private:
  struct Acc {
    std::vector<std::string> names;  // the weight tensors sharing this input
    Context* ctx = nullptr;
    Buffer sums;  // (K) f32
    uint64_t K = 0;
    uint64_t rows = 0;  // rows recorded so far (counted at record time)
  };
  Acc& acc(uint32_t layer, StatsInput which);

  std::vector<Acc> accs_;  // [layer][StatsInput] then the head
  uint32_t layers_ = 0;
  bool head_ = false;
};

}  // namespace vkr
