// gpu_env.hpp: the shared Context for GPU tests (validation on) and the GpuTest fixture, which
// skips when no Vulkan device exists at all and fails a test on any validation message.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <vector>

#include "vkr/buffer.hpp"
#include "vkr/context.hpp"

namespace vkr::test {

// Options every test context uses: validation on, pipeline cache in memory only.
ContextOptions test_options();

// The process-wide test context, or null when there is no Vulkan device (tests then skip).
Context* gpu_context();
// Destroys the shared context. gpu_main.cpp calls it after the tests: a Vulkan device torn down
// by static destructors at exit races the driver's own teardown (lavapipe crashes there).
void release_gpu_context();

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  Context& ctx() { return *ctx_; }

  // Helpers: device buffer filled from / read back to host vectors.
  Buffer make_buffer(std::span<const float> data, Lifetime lifetime = Lifetime::Activations);
  Buffer make_buffer(size_t elements, Lifetime lifetime = Lifetime::Activations);
  std::vector<float> read(const Buffer& b);

 private:
  Context* ctx_ = nullptr;
};

// Fails the current test if `ctx` reported validation messages since the last check.
void expect_no_validation_messages(Context& ctx);

}  // namespace vkr::test
