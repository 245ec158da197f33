// col_sumsq.hpp: host twin of shaders/col_sumsq.comp (per-column sums of squares of activations:
// the statistics of an importance matrix).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct ColSumsqArgs {
  Tensor x;    // (rows, K) f32 activations: the input rows of one matrix multiplication
  Tensor acc;  // (K) f32 accumulators: acc[j] += sum_r x[r][j]^2 (read and written)
  // Row lanes per workgroup: 0 = the device's layout (1 on CPU devices, 8 on GPUs); tests force
  // each layout on any device. 1, 2, 4 or 8.
  uint32_t lanes = 0;
};

// Mirrors `Params p` in the shader.
struct ColSumsqPush {
  uint32_t rows;
  uint32_t K;
};
static_assert(sizeof(ColSumsqPush) == 8);

// Records the accumulation. Successive calls on the same `acc` need a barrier between them (the
// forward's stage barriers provide it).
void col_sumsq(Context& ctx, Recorder& rec, const ColSumsqArgs& args);

}  // namespace vkr::kernels
