// gpu_env.cpp: lazily created test Context shared by all GPU tests of one binary.
#include "support/gpu_env.hpp"

#include "vkr/error.hpp"
#include "vkr/staging.hpp"

namespace vkr::test {

ContextOptions test_options() {
  ContextOptions o;
  o.validation = true;
  o.persist_pipeline_cache = false;
  return o;
}

namespace {
// One context per test binary: creating instances with validation is the slow part on lavapipe.
std::unique_ptr<Context>& shared_context() {
  static std::unique_ptr<Context> ctx;
  return ctx;
}
}  // namespace

void release_gpu_context() { shared_context().reset(); }

Context* gpu_context() {
  auto& ctx = shared_context();
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      ctx = Context::create(test_options());
    } catch (const Error& e) {
      // Skip only when there is no Vulkan at all; any other failure is a test failure.
      if (e.code() != ErrorCode::NoVulkan) throw;
    }
  }
  return ctx.get();
}

void expect_no_validation_messages(Context& ctx) {
  for (const auto& m : ctx.take_validation_messages()) ADD_FAILURE() << m;
}

void GpuTest::SetUp() {
  ctx_ = gpu_context();
  if (!ctx_) GTEST_SKIP() << "no Vulkan device";
}

void GpuTest::TearDown() {
  if (ctx_) expect_no_validation_messages(*ctx_);
}

Buffer GpuTest::make_buffer(std::span<const float> data, Lifetime lifetime) {
  Buffer b = Buffer::create(*ctx_, lifetime, data.size_bytes(), MemoryUsage::Device, "test");
  ctx_->staging().upload(b, data);
  return b;
}

Buffer GpuTest::make_buffer(size_t elements, Lifetime lifetime) {
  return Buffer::create(*ctx_, lifetime, elements * sizeof(float), MemoryUsage::Device, "test");
}

std::vector<float> GpuTest::read(const Buffer& b) {
  std::vector<float> out(b.size() / sizeof(float));
  ctx_->staging().download(b, std::span<float>(out));
  return out;
}

}  // namespace vkr::test
