// test_context.cpp: device listing and selection errors, recorded capabilities, pipeline cache
// (in-memory hit, on-disk persistence), and a context borrowed from another one's handles.
#include <gtest/gtest.h>

#include <filesystem>

#include "kernels/test_ops.hpp"
#include "support/gpu_env.hpp"
#include "vkr/device_requirements.hpp"
#include "vkr/error.hpp"
#include "vkr/kernel.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {

class ContextTest : public test::GpuTest {};

TEST_F(ContextTest, ListsDevicesWithVerdicts) {
  auto devices = Context::list_devices();
  ASSERT_FALSE(devices.empty());
  bool any_usable = false;
  for (const auto& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_EQ(d.usable, d.reason.empty());
    any_usable |= d.usable;
  }
  EXPECT_TRUE(any_usable);
}

TEST_F(ContextTest, BadDeviceSelectionListsDevices) {
  auto opt = test::test_options();
  for (std::string bad : {"99", "no-such-gpu-name"}) {
    opt.device = bad;
    try {
      Context::create(opt);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      std::string what = e.what();
      EXPECT_NE(what.find(bad), std::string::npos) << what;
      EXPECT_NE(what.find(ctx().caps().device_name), std::string::npos) << what;  // the list
    }
  }
}

TEST_F(ContextTest, SelectsByIndexAndNameSubstring) {
  auto opt = test::test_options();
  opt.device = std::to_string(ctx().device_index());
  EXPECT_EQ(Context::create(opt)->caps().device_name, ctx().caps().device_name);
  opt.device = ctx().caps().device_name.substr(0, 4);
  EXPECT_EQ(Context::create(opt)->caps().device_name, ctx().caps().device_name);
}

TEST_F(ContextTest, CapabilitiesAreRecorded) {
  const auto& c = ctx().caps();
  EXPECT_GE(c.api_version, VK_API_VERSION_1_2);
  EXPECT_GT(c.subgroup_size, 0u);
  EXPECT_LE(c.min_subgroup_size, c.subgroup_size);
  EXPECT_GE(c.max_subgroup_size, c.subgroup_size);
  EXPECT_GE(c.max_shared_memory, 16384u);
  EXPECT_GE(c.max_storage_buffer_range, 1u << 27);
  EXPECT_GE(c.max_push_constants, 128u);
  EXPECT_GT(c.max_workgroup_invocations, 0u);
  EXPECT_TRUE(c.timeline_semaphore);
  ASSERT_FALSE(c.heaps.empty());
  ASSERT_EQ(ctx().memory_budget().size(), c.heaps.size());
  if (c.driver_name.find("llvmpipe") != std::string::npos) {
    // lavapipe's real limits (Mesa 22.3): these are what the brief says we design around.
    EXPECT_EQ(c.subgroup_size, 8u);
    EXPECT_EQ(c.max_shared_memory, 32768u);
    EXPECT_EQ(c.max_storage_buffer_range, 128u << 20);
    EXPECT_TRUE(c.push_descriptors);
  }
}

TEST_F(ContextTest, PipelineCacheHitsInMemoryAndPersistsToDisk) {
  auto dir = std::filesystem::temp_directory_path() /
             ("vkr-cache-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
  std::filesystem::remove_all(dir);
  auto opt = test::test_options();
  opt.persist_pipeline_cache = true;
  opt.cache_dir = dir;
  const KernelDesc desc{ShaderId::test_ops, 2, sizeof(kernels::TestOpsPush)};
  std::filesystem::path file;
  {
    auto c1 = Context::create(opt);
    EXPECT_EQ(c1->pipelines().stats().loaded_bytes, 0u);  // cold start
    const Kernel& a = c1->pipelines().get(desc, {64, 1});
    const Kernel& b = c1->pipelines().get(desc, {64, 1});
    const Kernel& other = c1->pipelines().get(desc, {64, 2});
    EXPECT_EQ(&a, &b);
    EXPECT_NE(&a, &other);
    auto s = c1->pipelines().stats();
    EXPECT_EQ(s.misses, 2u);
    EXPECT_EQ(s.hits, 1u);
    file = c1->pipelines().file();
    test::expect_no_validation_messages(*c1);
  }
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_GT(std::filesystem::file_size(file), 0u);
  {
    auto c2 = Context::create(opt);
    EXPECT_EQ(c2->pipelines().stats().loaded_bytes, std::filesystem::file_size(file));
    c2->pipelines().get(desc, {64, 1});
    test::expect_no_validation_messages(*c2);
  }
  // A corrupt cache file is ignored, not fatal.
  std::filesystem::resize_file(file, 7);
  EXPECT_NO_THROW(Context::create(opt)->pipelines().get(desc, {64, 1}));
  std::filesystem::remove_all(dir);
}

// ContextOptions::pipeline_statistics: where the device has VK_KHR_pipeline_executable_properties
// (NVIDIA, AMD, RADV) every pipeline carries the driver's statistics and recorders list the kernels
// they ran; elsewhere (lavapipe) the option is a no-op and nothing fails. Off by default.
TEST_F(ContextTest, PipelineStatisticsWhereTheDeviceHasThem) {
  EXPECT_FALSE(ctx().pipeline_statistics());
  auto opt = test::test_options();
  opt.pipeline_statistics = true;
  auto c = Context::create(opt);
  // On exactly where the device offers the extension (its one feature comes with it).
  EXPECT_EQ(c->pipeline_statistics(),
            c->caps().has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME));
  const std::vector<float> ones(64, 1.0f);
  Buffer bx = Buffer::create(*c, Lifetime::Activations, 64 * 4);
  Buffer by = Buffer::create(*c, Lifetime::Activations, 64 * 4);
  c->staging().upload(bx, std::span<const float>(ones));
  c->staging().upload(by, std::span<const float>(ones));
  const kernels::TestOpsArgs saxpy{kernels::TestOp::Saxpy, Tensor::of(bx, Shape{64}, DType::F32),
                                   Tensor::of(by, Shape{64}, DType::F32), 2.0f};
  Recorder rec(*c);
  kernels::test_ops(*c, rec, saxpy);
  rec.barrier();
  kernels::test_ops(*c, rec, saxpy);
  c->queue().submit(rec).wait();
  std::vector<float> got(64);
  c->staging().download(by, std::span<float>(got));
  EXPECT_EQ(got[63], 5.0f);  // the kernels still run: 1 + 2 + 2
  if (c->pipeline_statistics()) {
    ASSERT_EQ(rec.kernels_used().size(), 1u);  // two dispatches of one pipeline
    const Kernel& k = *rec.kernels_used()[0];
    EXPECT_FALSE(k.statistics().empty()) << "the driver reported no statistics";
    EXPECT_NE(k.statistics_summary(), "");
  } else {
    EXPECT_TRUE(rec.kernels_used().empty());
  }
  test::expect_no_validation_messages(*c);
}

TEST_F(ContextTest, BorrowedContextUsesHostHandlesAndLeavesThemAlive) {
  auto host = Context::create(test::test_options());
  ExternalDevice ext;
  ext.instance = host->instance();
  ext.physical_device = host->physical_device();
  ext.device = host->device();
  ext.queue_family = host->queue_family();
  ext.queue = host->queue().handle();
  ext.get_instance_proc_addr = host->instance_fns().get_instance_proc_addr;
  // What the host context enabled on its device (the same chain required_device_features gives).
  DeviceRequirements req = required_device_features(host->caps());
  ext.enabled_features = req.chain();
  ext.enabled_extensions.assign(req.extensions.begin(), req.extensions.end());
  std::mutex queue_mutex;
  ext.queue_mutex = &queue_mutex;
  const size_t n = 1000;
  {
    auto guest = Context::borrow(ext, test::test_options());
    EXPECT_TRUE(guest->borrowed());
    Buffer b = Buffer::create(*guest, Lifetime::Activations, n * 4);
    Tensor t = Tensor::of(b, Shape{n}, DType::F32);
    Recorder rec(*guest);
    kernels::test_ops(*guest, rec, {kernels::TestOp::Iota, t, t});
    guest->queue().submit(rec).wait();
    std::vector<uint32_t> back(n);
    guest->staging().download(b, std::span<uint32_t>(back));
    EXPECT_EQ(back[n - 1], n - 1);
  }
  // The host's device still works after the guest is gone.
  Buffer b = Buffer::create(*host, Lifetime::Activations, n * 4);
  Tensor t = Tensor::of(b, Shape{n}, DType::F32);
  Recorder rec(*host);
  kernels::test_ops(*host, rec, {kernels::TestOp::Iota, t, t, 1.0f, 0.0f, 5});
  host->queue().submit(rec).wait();
  std::vector<uint32_t> back(n);
  host->staging().download(b, std::span<uint32_t>(back));
  EXPECT_EQ(back[0], 5u);
  test::expect_no_validation_messages(*host);
}

TEST_F(ContextTest, BorrowWithoutTimelineSemaphoreNamesIt) {
  ExternalDevice ext;
  ext.instance = ctx().instance();
  ext.physical_device = ctx().physical_device();
  ext.device = ctx().device();
  ext.queue_family = ctx().queue_family();
  ext.queue = ctx().queue().handle();
  ext.get_instance_proc_addr = ctx().instance_fns().get_instance_proc_addr;
  try {
    Context::borrow(ext, test::test_options());  // enabled_features null = core minimum
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::DeviceUnsupported);
    EXPECT_NE(std::string(e.what()).find("timelineSemaphore"), std::string::npos) << e.what();
  }
}

TEST_F(ContextTest, RequiredFeaturesAreWhatTheDeviceHas) {
  DeviceRequirements req = required_device_features(
      ctx().instance(), ctx().physical_device(), ctx().instance_fns().get_instance_proc_addr);
  EXPECT_TRUE(req.missing.empty());
  EXPECT_EQ(req.vulkan12.timelineSemaphore, VK_TRUE);
  EXPECT_EQ(req.vulkan11.storageBuffer16BitAccess, ctx().caps().fp16_storage ? VK_TRUE : VK_FALSE);
  const VkPhysicalDeviceFeatures2* head = req.chain();
  EXPECT_EQ(head->pNext, &req.vulkan11);
  EXPECT_EQ(req.vulkan11.pNext, &req.vulkan12);
  if (ctx().caps().nv_cooperative_matrix) {
    EXPECT_EQ(req.vulkan12.vulkanMemoryModel, VK_TRUE);
    EXPECT_EQ(req.vulkan12.vulkanMemoryModelDeviceScope, VK_TRUE);
  }
  // A 1.2 instance must not get the 1.3 struct chained (invalid there); the coopmat struct may
  // follow the 1.2 one directly.
  DeviceRequirements old = required_device_features(ctx().caps(), VK_API_VERSION_1_2);
  old.chain();
  EXPECT_EQ(old.vulkan12.pNext,
            ctx().caps().nv_cooperative_matrix ? static_cast<void*>(&old.coopmat_nv) : nullptr);
  EXPECT_EQ(old.vulkan13.subgroupSizeControl, VK_FALSE);
}

TEST(ContextNoFixture, BorrowRejectsMissingHandles) {
  try {
    Context::borrow(ExternalDevice{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
}

}  // namespace
}  // namespace vkr
