// norm.hpp: host twin of shaders/norm.comp (LayerNorm / RMSNorm, optional fused residual add).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

enum class NormMode : uint32_t { Layer = 0, Rms = 1 };

struct NormArgs {
  NormMode mode = NormMode::Layer;
  Tensor x;      // (rows, C) f32; read, and written (x += delta) when delta is given
  Tensor delta;  // (rows, C) f32, optional: fused residual add before normalizing
  Tensor gamma;  // (C) f32
  Tensor beta;   // (C) f32, LayerNorm only (must be absent for RMSNorm)
  Tensor y;      // (rows, C) f32 output; may be x itself unless delta is given
  float eps = 1e-5f;
};

// Mirrors `Params p` in the shader.
struct NormPush {
  uint32_t rows, C;
  float eps;
};
static_assert(sizeof(NormPush) == 12);

void norm(Context& ctx, Recorder& rec, const NormArgs& args);

}  // namespace vkr::kernels
