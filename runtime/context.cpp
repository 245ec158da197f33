// context.cpp: Context creation (owned or borrowed), logical device with the features we use,
// members (queue, pipeline cache, arenas, staging) and teardown.
#include "vkr/context.hpp"

#include <fmt/format.h>

#include "instance.hpp"
#include "vkr/error.hpp"
#include "vkr/kernel.hpp"
#include "vkr/memory.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {

namespace {
// Arena block sizes: big enough that a model's weights take few vkAllocateMemory calls, small
// enough not to strand memory on small devices.
constexpr VkDeviceSize kBlockSize[kLifetimeCount] = {256ull << 20, 64ull << 20, 64ull << 20,
                                                     64ull << 20};
}  // namespace

std::vector<DeviceReport> Context::list_devices() {
  InstanceFns fns;
  VkInstance instance = create_vk_instance(false, nullptr, nullptr, fns);
  try {
    auto out = enumerate_devices(fns, instance, nullptr);
    fns.destroy_instance(instance, nullptr);
    return out;
  } catch (...) {
    fns.destroy_instance(instance, nullptr);
    throw;
  }
}

std::unique_ptr<Context> Context::create(const ContextOptions& options) {
  std::unique_ptr<Context> ctx(new Context());
  ctx->options_ = options;
  ctx->create_instance(options.validation);
  ctx->pick_device(options);
  ctx->create_device();
  ctx->init_members();
  return ctx;
}

std::unique_ptr<Context> Context::borrow(const ExternalDevice& ext, const ContextOptions& options) {
  require(ext.instance && ext.physical_device && ext.device && ext.queue &&
              ext.get_instance_proc_addr,
          ErrorCode::InvalidArgument,
          "borrowed device: instance, physical_device, device, queue and "
          "get_instance_proc_addr are all required");
  std::unique_ptr<Context> ctx(new Context());
  ctx->options_ = options;
  ctx->borrowed_ = true;
  ctx->instance_ = ext.instance;
  ctx->physical_device_ = ext.physical_device;
  ctx->device_ = ext.device;
  ctx->queue_family_ = ext.queue_family;
  ctx->vk_queue_ = ext.queue;
  ctx->external_queue_mutex_ = ext.queue_mutex;
  ctx->ifn_.load(ext.instance, ext.get_instance_proc_addr);
  std::string reason = rejection_reason(ctx->ifn_, ext.physical_device);
  require(reason.empty(), ErrorCode::DeviceUnsupported, "borrowed device cannot be used: {}",
          reason);
  ctx->caps_ = query_capabilities(ctx->ifn_, ext.physical_device, ext.queue_family);
  // Use only what the host enabled: extensions from its list (features default to the 1.2 core
  // minimum; the embedding API refines this from ext.enabled_features).
  auto enabled = [&](const char* name) {
    for (const auto& e : ext.enabled_extensions) {
      if (e == name) return true;
    }
    return false;
  };
  auto& c = ctx->caps_;
  c.push_descriptors = enabled(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  c.memory_budget = enabled(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  c.nv_cooperative_matrix = c.nv_cooperative_matrix && enabled(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (!ext.enabled_features) {
    c.fp16_storage = c.fp16_arith = c.int8_storage = c.int8_arith = false;
    c.subgroup_size_control = c.compute_full_subgroups = false;
  }
  load_device_table(ctx->table_, ext.device, ctx->ifn_.get_device_proc_addr);
  ctx->init_members();
  return ctx;
}

void Context::create_instance(bool validation) {
  instance_ = create_vk_instance(validation, this, &messenger_, ifn_);
}

void Context::pick_device(const ContextOptions& options) {
  std::vector<VkPhysicalDevice> handles;
  auto devices = enumerate_devices(ifn_, instance_, &handles);
  device_index_ = select_device(devices, options.device);
  physical_device_ = handles[device_index_];
  queue_family_ = *pick_queue_family(ifn_, physical_device_);
  caps_ = query_capabilities(ifn_, physical_device_, queue_family_);
}

void Context::create_device() {
  auto& c = caps_;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f11;
  f11.pNext = &f12;
  f2.features.shaderInt16 = c.int16_arith;
  f2.features.shaderInt64 = c.int64_arith;
  f11.storageBuffer16BitAccess = c.fp16_storage;
  f12.shaderFloat16 = c.fp16_arith;
  f12.shaderInt8 = c.int8_arith;
  f12.storageBuffer8BitAccess = c.int8_storage;
  f12.timelineSemaphore = VK_TRUE;
  f12.hostQueryReset = c.host_query_reset;
  void** tail = &f12.pNext;
  if (c.api_version >= VK_API_VERSION_1_3) {
    f13.subgroupSizeControl = c.subgroup_size_control;
    f13.computeFullSubgroups = c.compute_full_subgroups;
    *tail = &f13;
    tail = &f13.pNext;
  }
  std::vector<const char*> exts;
  if (c.push_descriptors) exts.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (c.memory_budget) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (c.nv_cooperative_matrix) {
    exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    coop.cooperativeMatrix = VK_TRUE;
    f12.vulkanMemoryModel = VK_TRUE;  // coopmat SPIR-V from glslang uses the Vulkan memory model
    *tail = &coop;
  }
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qi.queueFamilyIndex = queue_family_;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  di.pNext = &f2;
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  di.ppEnabledExtensionNames = exts.data();
  check_vk(ifn_.create_device(physical_device_, &di, nullptr, &device_),
           fmt::format("vkCreateDevice ({})", c.device_name));
  load_device_table(table_, device_, ifn_.get_device_proc_addr);
  table_.vkGetDeviceQueue(device_, queue_family_, 0, &vk_queue_);
}

void Context::init_members() {
  queue_ = std::make_unique<Queue>(*this, vk_queue_, external_queue_mutex_);
  pipelines_ = std::make_unique<PipelineCache>(*this);
  for (int i = 0; i < kLifetimeCount; ++i) {
    arenas_[i] = std::make_unique<MemoryArena>(*this, static_cast<Lifetime>(i), kBlockSize[i]);
  }
  staging_ = std::make_unique<Staging>(*this);
}

Context::~Context() {
  if (queue_) queue_->wait_idle();
  staging_.reset();
  pipelines_.reset();
  for (auto& a : arenas_) a.reset();
  queue_.reset();
  if (borrowed_) return;  // the host owns device and instance
  if (device_) table_.vkDestroyDevice(device_, nullptr);
  if (messenger_ && ifn_.destroy_debug_utils_messenger) {
    ifn_.destroy_debug_utils_messenger(instance_, messenger_, nullptr);
  }
  if (instance_) ifn_.destroy_instance(instance_, nullptr);
}

std::vector<HeapBudget> Context::memory_budget() const {
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 mp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (caps_.memory_budget) mp.pNext = &budget;
  ifn_.get_physical_device_memory_properties2(physical_device_, &mp);
  std::vector<HeapBudget> out;
  for (uint32_t i = 0; i < mp.memoryProperties.memoryHeapCount; ++i) {
    const auto& h = mp.memoryProperties.memoryHeaps[i];
    out.push_back({h.size, caps_.memory_budget ? budget.heapBudget[i] : 0,
                   caps_.memory_budget ? budget.heapUsage[i] : 0,
                   (h.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  }
  return out;
}

std::vector<std::string> Context::take_validation_messages() {
  std::lock_guard lock(validation_mutex_);
  return std::exchange(validation_messages_, {});
}

void Context::record_validation_message(std::string message) {
  std::lock_guard lock(validation_mutex_);
  validation_messages_.push_back(std::move(message));
}

}  // namespace vkr
