// test_borrowed.cpp: vkrwkv contexts borrowed (C API) from a host device, played by the shared
// test context: host objects stay valid and usable after vkrwkv's are destroyed, two contexts
// share one device, a forward pass recorded into the host's command buffer equals a plain eval,
// the host's queue lock brackets our submissions, missing features are named; validation clean
// (messages from the borrowed device reach the host instance's messenger).
#include <cstring>
#include <mutex>
#include <vector>

#include "c_api_fixture.hpp"
#include "kernels/test_ops.hpp"
#include "vkr/device_requirements.hpp"
#include "vkr/queue.hpp"
#include "vkr/recorder.hpp"
#include "vkr/staging.hpp"

namespace vkr::test {
namespace {

struct CountingLock {
  std::mutex m;
  int locks = 0, unlocks = 0;
  static void lock(void* u) {
    auto* c = static_cast<CountingLock*>(u);
    c->m.lock();
    ++c->locks;
  }
  static void unlock(void* u) {
    auto* c = static_cast<CountingLock*>(u);
    ++c->unlocks;
    c->m.unlock();
  }
};

class BorrowedTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    req_ = required_device_features(ctx().caps());
    for (const char* e : req_.extensions) exts_.push_back(e);
  }
  // The host's handles and the chain it created its device with.
  vkrwkv_external_device external(CountingLock* lock) {
    vkrwkv_external_device d{};
    d.instance = ctx().instance();
    d.physical_device = ctx().physical_device();
    d.device = ctx().device();
    d.queue_family = ctx().queue_family();
    d.queue = ctx().queue().handle();
    d.get_instance_proc_addr = ctx().instance_fns().get_instance_proc_addr;
    d.enabled_extensions = exts_.data();
    d.enabled_extension_count = static_cast<uint32_t>(exts_.size());
    d.enabled_features = req_.chain();
    if (lock) {
      d.lock_queue = CountingLock::lock;
      d.unlock_queue = CountingLock::unlock;
      d.queue_lock_user = lock;
    }
    return d;
  }
  // Host work on its own device: an iota kernel into a host buffer, checked.
  void expect_host_device_works() {
    const size_t n = 777;
    Buffer b = Buffer::create(ctx(), Lifetime::Activations, n * 4);
    Tensor t = Tensor::of(b, Shape{n}, DType::F32);
    Recorder rec(ctx());
    kernels::test_ops(ctx(), rec, {kernels::TestOp::Iota, t, t, 1.0f, 0.0f, 3});
    ctx().queue().submit(rec).wait();
    std::vector<uint32_t> back(n);
    ctx().staging().download(b, std::span<uint32_t>(back));
    EXPECT_EQ(back[0], 3u);
    EXPECT_EQ(back[n - 1], n - 1 + 3);
  }

  DeviceRequirements req_;
  std::vector<const char*> exts_;
};

const std::vector<int32_t> kIds = {3, 1, 4, 1, 5, 9};

std::vector<float> eval(vkrwkv_session* s, int slot) {
  std::vector<float> logits(4096 * 64);
  EXPECT_EQ(vkrwkv_session_eval(s, slot, kIds.data(), static_cast<int>(kIds.size()),
                                logits.data()),
            0)
      << vkrwkv_last_error();
  return logits;
}

TEST_F(BorrowedTest, HostObjectsUsableAfterVkrwkvObjectsAreDestroyed) {
  expect_host_device_works();
  CountingLock lock;
  vkrwkv_external_device ext = external(&lock);
  vkrwkv_context* c = nullptr;
  ASSERT_EQ(vkrwkv_context_create_external(&ext, &c), 0) << vkrwkv_last_error();
  vkrwkv_model* m = nullptr;
  ASSERT_EQ(vkrwkv_model_load(c, kCapiModel.c_str(), &m), 0) << vkrwkv_last_error();
  vkrwkv_session* s = nullptr;
  ASSERT_EQ(vkrwkv_session_create(m, 1, &s), 0) << vkrwkv_last_error();
  eval(s, 0);
  EXPECT_GT(lock.locks, 0);  // every submission went through the host's lock
  EXPECT_EQ(lock.locks, lock.unlocks);
  vkrwkv_session_free(s);
  vkrwkv_model_free(m);
  vkrwkv_context_destroy(c);
  expect_host_device_works();
  expect_no_validation_messages(ctx());
}

TEST_F(BorrowedTest, TwoContextsOnOneDevice) {
  vkrwkv_external_device ext = external(nullptr);
  vkrwkv_context *c1 = nullptr, *c2 = nullptr;
  ASSERT_EQ(vkrwkv_context_create_external(&ext, &c1), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_context_create_external(&ext, &c2), 0) << vkrwkv_last_error();
  vkrwkv_model *m1 = nullptr, *m2 = nullptr;
  ASSERT_EQ(vkrwkv_model_load(c1, kCapiModel.c_str(), &m1), 0) << vkrwkv_last_error();
  ASSERT_EQ(vkrwkv_model_load(c2, kCapiModel.c_str(), &m2), 0) << vkrwkv_last_error();
  vkrwkv_session *s1 = nullptr, *s2 = nullptr;
  ASSERT_EQ(vkrwkv_session_create(m1, 1, &s1), 0);
  ASSERT_EQ(vkrwkv_session_create(m2, 1, &s2), 0);
  const auto a = eval(s1, 0);
  const auto b = eval(s2, 0);
  EXPECT_EQ(a, b);
  // Destroy the first context entirely; the second keeps working on the same device.
  vkrwkv_session_free(s1);
  vkrwkv_model_free(m1);
  vkrwkv_context_destroy(c1);
  ASSERT_EQ(vkrwkv_session_reset(s2, 0), 0);
  EXPECT_EQ(eval(s2, 0), a);
  vkrwkv_session_free(s2);
  vkrwkv_model_free(m2);
  vkrwkv_context_destroy(c2);
  expect_host_device_works();
  expect_no_validation_messages(ctx());
}

TEST_F(BorrowedTest, ForwardRecordedIntoHostCommandBufferEqualsEval) {
  vkrwkv_external_device ext = external(nullptr);
  vkrwkv_context* c = nullptr;
  ASSERT_EQ(vkrwkv_context_create_external(&ext, &c), 0) << vkrwkv_last_error();
  vkrwkv_model* m = nullptr;
  ASSERT_EQ(vkrwkv_model_load(c, kCapiModel.c_str(), &m), 0) << vkrwkv_last_error();
  vkrwkv_session* s = nullptr;
  ASSERT_EQ(vkrwkv_session_create(m, 2, &s), 0);
  const auto n = static_cast<int>(kIds.size());
  vkrwkv_forward_io io{};
  ASSERT_EQ(vkrwkv_session_forward_io(s, n, &io), 0) << vkrwkv_last_error();
  ASSERT_NE(io.ids_mapped, nullptr);
  EXPECT_EQ(io.ids_size, kIds.size() * 4);
  EXPECT_EQ(io.logits_size, static_cast<VkDeviceSize>(vkrwkv_model_n_vocab(m)) * 4);
  std::memcpy(io.ids_mapped, kIds.data(), kIds.size() * 4);  // CPU-written ids, before submit
  // The host's own command buffer: vkrwkv records into it, the host copies the logits out.
  Buffer out = Buffer::create(ctx(), Lifetime::Activations, io.logits_size, MemoryUsage::Readback);
  Recorder rec(ctx());
  rec.barrier();  // begins the host's command buffer
  vkrwkv_forward_io io2{};
  ASSERT_EQ(vkrwkv_session_record_forward(s, 1, n, rec.command_buffer(), &io2), 0)
      << vkrwkv_last_error();
  EXPECT_EQ(io2.logits_buffer, io.logits_buffer);
  rec.copy({io.logits_buffer, io.logits_offset, io.logits_size}, out.range());
  rec.host_barrier();
  ctx().queue().submit(rec).wait();
  std::vector<float> got(io.logits_size / 4);
  out.invalidate(0, io.logits_size);
  std::memcpy(got.data(), out.mapped(), io.logits_size);
  auto want = eval(s, 0);
  want.resize(got.size());
  EXPECT_EQ(got, want);
  vkrwkv_session_free(s);
  vkrwkv_model_free(m);
  vkrwkv_context_destroy(c);
  expect_no_validation_messages(ctx());
}

TEST_F(BorrowedTest, MissingFeaturesAreNamed) {
  vkrwkv_external_device ext = external(nullptr);
  ext.enabled_features = nullptr;  // core minimum: no timeline semaphores
  vkrwkv_context* c = nullptr;
  expect_error(vkrwkv_context_create_external(&ext, &c), VKRWKV_ERROR_DEVICE_UNSUPPORTED,
               "timelineSemaphore");
  // Claim no 16-bit storage: the context works (degraded), the F16 model is refused by name.
  ext = external(nullptr);
  DeviceRequirements less = req_;
  less.vulkan11.storageBuffer16BitAccess = VK_FALSE;
  ext.enabled_features = less.chain();
  ASSERT_EQ(vkrwkv_context_create_external(&ext, &c), 0) << vkrwkv_last_error();
  vkrwkv_model* m = nullptr;
  expect_error(vkrwkv_model_load(c, kCapiModel.c_str(), &m), VKRWKV_ERROR_DEVICE_UNSUPPORTED,
               "storageBuffer16BitAccess");
  EXPECT_EQ(m, nullptr);
  vkrwkv_context_destroy(c);
  ext = external(nullptr);
  ext.lock_queue = CountingLock::lock;  // without unlock_queue
  expect_error(vkrwkv_context_create_external(&ext, &c), VKRWKV_ERROR_INVALID_ARGUMENT,
               "lock_queue and unlock_queue");
  expect_no_validation_messages(ctx());
}

TEST_F(BorrowedTest, RequirementsQueryThroughCApi) {
  vkrwkv_device_requirements r;
  ASSERT_EQ(vkrwkv_device_requirements_query(ctx().instance(), ctx().physical_device(),
                                             ctx().instance_fns().get_instance_proc_addr, 0, &r),
            0)
      << vkrwkv_last_error();
  EXPECT_EQ(r.usable, 1) << r.missing;
  EXPECT_EQ(r.vulkan12.timelineSemaphore, VK_TRUE);
  EXPECT_EQ(r.features.pNext, &r.vulkan11);
  EXPECT_EQ(r.vulkan11.pNext, &r.vulkan12);
  EXPECT_EQ(r.extension_count, req_.extensions.size());
}

}  // namespace
}  // namespace vkr::test
