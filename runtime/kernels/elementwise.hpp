// elementwise.hpp: host twin of shaders/elementwise.comp (fused element-wise epilogue ops).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// Values match OP in the shader.
enum class EwOp : uint32_t {
  Sigmoid = 0,          // out = sigmoid(a)
  Silu = 1,             // out = a * sigmoid(a)
  ReluSq = 2,           // out = max(a, 0)^2
  Add = 3,              // out = a + alpha * b   (residual add: out = a)
  Mul = 4,              // out = a * b
  SigmoidMul = 5,       // out = sigmoid(a) * b
  SiluMul = 6,          // out = silu(a) * b     (SwiGLU)
  ResidSigmoidMul = 7,  // out += sigmoid(a) * b (channel-mix epilogue + residual)
  Scale = 8,            // out = alpha * a
};

bool ew_uses_b(EwOp op);

struct ElementwiseArgs {
  EwOp op = EwOp::Add;
  Tensor a;    // any shape, f32
  Tensor b;    // same shape as a, f32 (binary ops only)
  Tensor out;  // same shape as a, f32; may be a or b (each element is read before it is written)
  float alpha = 1.0f;
};

// Mirrors `Params p` in the shader.
struct ElementwisePush {
  uint32_t n;
  float alpha;
};
static_assert(sizeof(ElementwisePush) == 8);

void elementwise(Context& ctx, Recorder& rec, const ElementwiseArgs& args);

}  // namespace vkr::kernels
