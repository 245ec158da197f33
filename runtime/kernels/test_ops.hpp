// test_ops.hpp: host twin of shaders/test_ops.comp, the runtime self-test kernel.
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

enum class TestOp : uint32_t { Saxpy = 0, Iota = 1, Scale = 2 };

struct TestOpsArgs {
  TestOp op = TestOp::Saxpy;
  Tensor x;  // (n) f32; ignored by Iota (bind any f32 tensor, e.g. y)
  Tensor y;  // (n) f32, in/out
  float a = 1.0f, base = 0.0f;
  uint32_t first = 0;  // Iota: global index of y[0] (for windows of a larger buffer)
};

// Mirrors `Params p` in the shader.
struct TestOpsPush {
  uint32_t n, first;
  float a, base;
};
static_assert(sizeof(TestOpsPush) == 16);

void test_ops(Context& ctx, Recorder& rec, const TestOpsArgs& args);

}  // namespace vkr::kernels
