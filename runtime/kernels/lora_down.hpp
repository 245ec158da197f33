// lora_down.hpp: host twin of shaders/lora_down.comp, the "down" GEMM + tanh of the LoRA stacks
// (token_shift ddlerp and decay record it; it is not a model op of its own).
#pragma once

#include <initializer_list>

#include "vkr/capabilities.hpp"
#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// Shape (1-D, f32 elements) of the scratch the LoRA ops (token_shift ddlerp, decay) need for `rows`
// inputs of width C projected to D outputs. A pure function of the shapes (never of the device) so
// the model can size its scratch arena once. Layout (lora_scratch_parts): h = tanh(W·in) (rows, D),
// then ddlerp's (xi, x_prev) (2, rows, C) starting on a 256-byte boundary (the largest
// minStorageBufferOffsetAlignment Vulkan allows).
Shape lora_scratch_shape(uint64_t rows, uint64_t C, uint64_t D);

struct LoraScratchParts {
  Tensor h;   // (rows, D)
  Tensor xp;  // (2, rows, C): xi, x_prev
  Tensor xi;  // (rows, C): the first half of xp
};
// Views of the parts of `scratch` (which must have lora_scratch_shape(rows, C, D), f32).
LoraScratchParts lora_scratch_parts(const Tensor& scratch, uint64_t rows, uint64_t C, uint64_t D);

// Register tile and workgroup of lora_down.comp (exposed so tests can run the GPU tile on
// any device).
struct LoraDownConfig {
  uint32_t workgroup = 0, mr = 1, nr = 1, max_subgroups = 1;
};
LoraDownConfig lora_down_config(const Capabilities& caps, uint64_t rows);

struct LoraDownArgs {
  Tensor x;                 // (rows, C) f32
  Tensor w;                 // (D, C) f32
  Tensor h;                 // (rows, D) f32 output: tanh(x·Wᵀ)
  LoraDownConfig config{};  // workgroup == 0: lora_down_config(ctx.caps(), rows)
  // Optional ddlerp decode input: in = x + (s - x) * mu instead of x (needs C % 4 == 0 and 16-byte
  // aligned x, w, s, mu).
  Tensor s;   // (rows, C) f32: x_prev of each row
  Tensor mu;  // (C) f32
  // 0: the device's choice (CPU devices read x, W, s, mu through uniform texel buffers where C %
  // 4 == 0 and the ranges allow; llvmpipe vectorizes texel fetches only), 1: storage loads,
  // 2: texel reads wherever possible (tests run both paths on every device).
  uint32_t reads = 0;
};

// Mirrors `Params p` in the shader.
struct LoraDownPush {
  uint32_t rows, C, D;
};
static_assert(sizeof(LoraDownPush) == 12);

// True when the LoRA kernels can use their f32x8 variant (u64vec4 = 8-float loads; see
// shaders/common/lora_chunk.glsl) for rows of `width` floats in the given tensors: the device has
// shaderInt64, the width is a multiple of 8 and every tensor starts on a 32-byte boundary.
bool lora_wide_loads(const Capabilities& caps, uint64_t width,
                     std::initializer_list<const Tensor*> tensors);

// Tile of the "up" halves (token_shift.comp MODE 0, decay.comp): WG invocations x NR channels
// each, MR rows per workgroup.
struct LoraUpConfig {
  uint32_t workgroup = 0, mr = 1, nr = 1;
};
LoraUpConfig lora_up_config(const Capabilities& caps, uint64_t rows);

void lora_down(Context& ctx, Recorder& rec, const LoraDownArgs& args);

}  // namespace vkr::kernels
