// sampling.hpp: host twins of shaders/sampling.comp: on-GPU argmax and temperature softmax over a
// (rows, V) logits buffer, so generation reads back one id or one probability row.
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct ArgmaxArgs {
  Tensor logits;  // (rows, V) f32
  Tensor ids;     // (rows) u32: index of the max (ties -> lowest, NaN ignored, all-NaN -> 0)
};

struct SoftmaxArgs {
  Tensor logits;             // (rows, V) f32
  Tensor probs;              // (rows, V) f32; may be logits itself
  float temperature = 1.0f;  // > 0
};

// Mirrors `Params p` in the shader.
struct SamplingPush {
  uint32_t rows, V;
  float inv_temp;
};
static_assert(sizeof(SamplingPush) == 12);

void argmax(Context& ctx, Recorder& rec, const ArgmaxArgs& args);
void softmax(Context& ctx, Recorder& rec, const SoftmaxArgs& args);

}  // namespace vkr::kernels
