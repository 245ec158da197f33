// sampling.hpp: host twins of shaders/sampling.comp (on-GPU argmax, temperature softmax) and
// shaders/topk.comp (top-K selection) over a (rows, V) logits buffer, so generation reads back one
// id, one probability row or K candidates instead of the whole vocabulary.
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

// Next-token negative log-likelihood per row: nll[r] = logsumexp(logits[r]) - logits[r][targets[r]].
struct NllArgs {
  Tensor logits;      // (rows, V) f32
  Tensor target_nll;  // (rows) u32 in: target ids (< V; the caller validates them),
                      //        out: the f32 bit patterns of the nll (in place)
};

// The K largest logits of each row (shaders/topk.comp), listed in ascending id order; ties at the
// K-th value are taken lowest id first and NaN ranks below -inf, so the set is exactly the first
// K entries of the CPU sampler's order (value descending, id ascending).
struct TopkArgs {
  Tensor logits;  // (rows, V) f32
  Tensor ids;     // (rows, K) u32, 1 <= K <= V
  Tensor values;  // (rows, K) f32
};

// Mirrors `Params p` in the shader.
struct SamplingPush {
  uint32_t rows, V;
  float inv_temp;
};
static_assert(sizeof(SamplingPush) == 12);

void argmax(Context& ctx, Recorder& rec, const ArgmaxArgs& args);
void softmax(Context& ctx, Recorder& rec, const SoftmaxArgs& args);
void topk(Context& ctx, Recorder& rec, const TopkArgs& args);
void nll(Context& ctx, Recorder& rec, const NllArgs& args);

}  // namespace vkr::kernels
