// context.cpp: Context creation (owned or borrowed), logical device with the features we use,
// members (queue, pipeline cache, arenas, staging) and teardown.
#include "vkr/context.hpp"

#include <fmt/format.h>

#include "instance.hpp"
#include "vkr/device_requirements.hpp"
#include "vkr/error.hpp"
#include "vkr/iq_grids.hpp"
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
  ctx->queue_lock_ = ext.queue_lock;
  if (ext.queue_mutex) ctx->queue_lock_ = QueueLock::of(*ext.queue_mutex);
  ctx->ifn_.load(ext.instance, ext.get_instance_proc_addr);
  std::string reason = rejection_reason(ctx->ifn_, ext.physical_device);
  require(reason.empty(), ErrorCode::DeviceUnsupported, "borrowed device cannot be used: {}",
          reason);
  ctx->caps_ = query_capabilities(ctx->ifn_, ext.physical_device, ext.queue_family);
  // Use only what the host enabled (fails naming timelineSemaphore; the rest degrades).
  restrict_to_enabled(ctx->caps_, ext.enabled_features, ext.enabled_extensions);
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
  // The same chain a host gets from required_device_features(), so owned and borrowed devices
  // run the same kernels.
  DeviceRequirements req = required_device_features(caps_);
  // Statistics only when asked for: from here on caps_ says whether this device has them on.
  const bool stats_wanted = options_.pipeline_statistics || env_true("VKR_PIPELINE_STATS");
  caps_.pipeline_executable_info = caps_.pipeline_executable_info && stats_wanted;
  if (caps_.pipeline_executable_info) {
    req.extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    req.pipeline_exec.pipelineExecutableInfo = VK_TRUE;
  }
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qi.queueFamilyIndex = queue_family_;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  di.pNext = req.chain();
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.enabledExtensionCount = static_cast<uint32_t>(req.extensions.size());
  di.ppEnabledExtensionNames = req.extensions.data();
  check_vk(ifn_.create_device(physical_device_, &di, nullptr, &device_),
           fmt::format("vkCreateDevice ({})", caps_.device_name));
  load_device_table(table_, device_, ifn_.get_device_proc_addr);
  table_.vkGetDeviceQueue(device_, queue_family_, 0, &vk_queue_);
}

void Context::init_members() {
  queue_ = std::make_unique<Queue>(*this, vk_queue_, queue_lock_);
  pipelines_ = std::make_unique<PipelineCache>(*this);
  for (int i = 0; i < kLifetimeCount; ++i) {
    arenas_[i] = std::make_unique<MemoryArena>(*this, static_cast<Lifetime>(i), kBlockSize[i]);
  }
  staging_ = std::make_unique<Staging>(*this);
}

Context::~Context() {
  if (queue_) queue_->wait_idle();
  iq_grids_.reset();
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

const Buffer& Context::iq_grids() {
  const std::lock_guard lock(iq_grids_mutex_);
  if (!iq_grids_) {
    const std::span<const uint32_t> words = iq::grid_words();
    auto b = std::make_unique<Buffer>(Buffer::create(*this, Lifetime::Weights, words.size_bytes(),
                                                     MemoryUsage::Device, "i-quant codebooks"));
    staging().upload(*b, words);
    iq_grids_ = std::move(b);
  }
  return *iq_grids_;
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

std::optional<bool> Context::self_check(const std::string& key) const {
  std::lock_guard lock(self_checks_mutex_);
  const auto it = self_checks_.find(key);
  return it == self_checks_.end() ? std::nullopt : std::optional<bool>(it->second);
}

void Context::set_self_check(const std::string& key, bool ok) {
  std::lock_guard lock(self_checks_mutex_);
  self_checks_[key] = ok;
}

bool Context::texel_usable(VkBuffer buffer) const {
  std::lock_guard lock(buffers_mutex_);
  return buffers_.count(buffer) != 0;
}

void Context::track_buffer(VkBuffer buffer, bool alive) {
  std::lock_guard lock(buffers_mutex_);
  if (alive) {
    buffers_.insert(buffer);
  } else {
    buffers_.erase(buffer);
  }
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
