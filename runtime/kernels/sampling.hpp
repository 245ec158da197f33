// sampling.hpp: host twins of shaders/sampling.comp + sampling_split.comp (on-GPU argmax,
// temperature softmax, nll) and shaders/topk.comp + topk_split.comp (top-K selection) over a
// (rows, V) logits buffer, so generation reads back one id, one probability row or K candidates
// instead of the whole vocabulary.
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// Argmax, softmax and nll run one workgroup per row (shaders/sampling.comp) or, on GPUs given few
// rows, split each row over ~V / 4096 workgroups (shaders/sampling_split.comp: per-block partials,
// then a combine), which needs a small scratch the caller owns. Without `scratch` every call takes
// the one-workgroup path; with it the split is chosen per device and row count.
struct SamplingSplit {
  // u32 scratch of >= sampling_scratch_bytes(ctx, rows, V) bytes for the per-block partials;
  // empty = never split. Reusable once the recorded work that used it has finished.
  Tensor scratch;
  // Tests and benches: > 0 forces the split path with this many logits per block (any size;
  // 16-byte loads only when it and V are multiples of 4); 0 = automatic.
  uint32_t force_block = 0;
};

// Bytes of scratch that cover every automatic split of a call with up to `max_rows` rows of V
// logits (0 on CPU devices, which never split automatically).
uint64_t sampling_scratch_bytes(const Context& ctx, uint64_t max_rows, uint64_t V);
// Bytes a forced split with `block` logits per block needs.
uint64_t sampling_scratch_bytes_forced(uint64_t rows, uint64_t V, uint32_t block);

struct ArgmaxArgs {
  Tensor logits;  // (rows, V) f32
  Tensor ids;     // (rows) u32: index of the max (ties -> lowest, NaN ignored, all-NaN -> 0)
  SamplingSplit split = {};
  // One-workgroup path: 0 = automatic (texel reads on CPU devices where V % 4 == 0 and the row
  // range is texel-bindable), 1 = storage reads, 2 = texel reads (tests, benches; an error where
  // not possible).
  uint32_t reads = 0;
};

struct SoftmaxArgs {
  Tensor logits;             // (rows, V) f32
  Tensor probs;              // (rows, V) f32; may be logits itself
  float temperature = 1.0f;  // > 0
  SamplingSplit split = {};
};

// Next-token negative log-likelihood per row: nll[r] = logsumexp(logits[r]) - logits[r][targets[r]].
struct NllArgs {
  Tensor logits;      // (rows, V) f32
  Tensor target_nll;  // (rows) u32 in: target ids (< V; the caller validates them),
                      //        out: the f32 bit patterns of the nll (in place)
  SamplingSplit split = {};
};

// The K largest logits of each row (shaders/topk.comp), listed in ascending id order; ties at the
// K-th value are taken lowest id first and NaN ranks below -inf, so the set is exactly the first
// K entries of the CPU sampler's order (value descending, id ascending).
// With a split scratch (topk_scratch_bytes), GPUs given few rows split each row over blocks
// (shaders/topk_split.comp, ~10 dispatches) instead of one workgroup per row.
struct TopkArgs {
  Tensor logits;  // (rows, V) f32
  Tensor ids;     // (rows, K) u32, 1 <= K <= V
  Tensor values;  // (rows, K) f32
  SamplingSplit split = {};
};

// topk's scratch, like sampling_scratch_bytes / _forced (a 1 KB histogram per block).
uint64_t topk_scratch_bytes(const Context& ctx, uint64_t max_rows, uint64_t V);
uint64_t topk_scratch_bytes_forced(uint64_t rows, uint64_t V, uint32_t block);

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
