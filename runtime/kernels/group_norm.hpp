// group_norm.hpp: host twin of shaders/group_norm.comp (RWKV-6 ln_x, optionally fused with * g).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct GroupNormArgs {
  Tensor y;            // (rows, H*S) f32 WKV output
  Tensor gamma;        // (H*S) f32
  Tensor beta;         // (H*S) f32
  Tensor gate;         // (rows, H*S) f32, optional: o = GN(y) * gate
  Tensor out;          // (rows, H*S) f32; may be y itself
  uint32_t heads = 0;  // H; S = C / H
  float eps = 64e-5f;  // spec §3.1
  bool gate_silu = false;  // o = GN(y) * silu(gate) (RWKV-6's gate: one dispatch less)
};

// Mirrors `Params p` in the shader.
struct GroupNormPush {
  uint32_t rows, H, S;
  float eps;
};
static_assert(sizeof(GroupNormPush) == 16);

void group_norm(Context& ctx, Recorder& rec, const GroupNormArgs& args);

}  // namespace vkr::kernels
