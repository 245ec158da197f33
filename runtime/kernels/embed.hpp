// embed.hpp: host twin of shaders/embed.comp (token ids -> f32 rows of an f32/f16/bf16 table).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct EmbedArgs {
  Tensor ids;    // (T) u32 or i32; ids outside [0, V) produce zero rows (never read out of bounds)
  Tensor table;  // (V, C) f32 / f16 / bf16, any size: bound in windows of maxStorageBufferRange
  Tensor out;    // (T, C) f32
};

// Mirrors `Params p` in the shader.
struct EmbedPush {
  uint32_t T, C, V, first, count;
};
static_assert(sizeof(EmbedPush) == 20);

// Rows per window when the table is bound in pieces (exposed for tests: a small value forces the
// windowed path on a small table). 0 = as many as maxStorageBufferRange allows.
void embed(Context& ctx, Recorder& rec, const EmbedArgs& args, uint64_t window_rows = 0);

}  // namespace vkr::kernels
