// gpu_main.cpp: main() of the GPU test binaries: run the tests, then release the shared Context
// while the Vulkan driver is still fully alive.
#include <gtest/gtest.h>

#include "support/gpu_env.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  vkr::test::release_gpu_context();
  return rc;
}
