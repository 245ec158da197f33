// context.hpp: Context owns (or borrows) the Vulkan instance, device and compute queue, and the
// per-device function table, capabilities, pipeline cache, memory arenas and staging.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "vkr/capabilities.hpp"
#include "vkr/queue_lock.hpp"
#include "vkr/vk.hpp"

namespace vkr {

class Queue;
class PipelineCache;
class MemoryArena;
class Staging;
class Buffer;

enum class Lifetime { Weights, Activations, State, Staging };
inline constexpr int kLifetimeCount = 4;

struct ContextOptions {
  // Device index ("1") or case-insensitive name substring ("llvmpipe"); empty = $VKR_DEVICE, else
  // the best device (discrete > integrated > virtual > cpu).
  std::string device;
  // Khronos validation layer; also switched on by VKR_VALIDATION=1. Messages are counted (tests
  // fail on any) and printed to stderr.
  bool validation = false;
  // Debug aid for bisecting races: a full barrier after every dispatch.
  bool barrier_every_dispatch = false;
  // Pipeline cache directory; default $VKR_CACHE_DIR, else $XDG_CACHE_HOME/vkrwkv, else
  // ~/.cache/vkrwkv. persist_pipeline_cache=false keeps it in memory only.
  std::optional<std::filesystem::path> cache_dir;
  bool persist_pipeline_cache = true;
  // Hand out host pointers for device buffers whose memory happens to be host-visible (UMA, ReBAR,
  // lavapipe) so uploads skip staging. false forces the staging path (tests use it to cover it).
  bool map_device_memory = true;
  // Which WKV kernel kernels::wkv() runs: the measured per-device policy (Auto), or one forced
  // for every call (tests run the chunk-parallel model path on CPU drivers, where the policy never
  // picks it). Forced ChunkParallel needs WkvArgs::scratch (the model allocates it).
  enum class WkvKernelChoice { Auto, Sequential, ChunkParallel };
  WkvKernelChoice wkv_kernel = WkvKernelChoice::Auto;
  // Ask the driver for per-pipeline statistics (registers, code size, ...: Kernel::statistics())
  // where VK_KHR_pipeline_executable_properties exists; also switched on by VKR_PIPELINE_STATS=1.
  // Owned devices only. Some drivers then bypass their pipeline caches: a tuning aid.
  bool pipeline_statistics = false;
};

// A host application's Vulkan objects that vkrwkv may use but never destroys.
struct ExternalDevice {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  PFN_vkGetInstanceProcAddr get_instance_proc_addr = nullptr;
  // What the host enabled on `device`; we use only these. enabled_features is the host's
  // VkDeviceCreateInfo feature chain (null = core 1.2 minimum, which lacks timelineSemaphore and is
  // therefore refused). required_device_features() says what to enable before creating it.
  std::vector<std::string> enabled_extensions;
  const VkPhysicalDeviceFeatures2* enabled_features = nullptr;
  // Optional serialization of a queue the host shares with us: every vkQueueSubmit we make is
  // bracketed by queue_lock (callbacks) or queue_mutex (which wins when both are set).
  QueueLock queue_lock;
  std::mutex* queue_mutex = nullptr;
};

// One line per physical device, with why it can or cannot be used.
struct DeviceReport {
  uint32_t index = 0;
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t api_version = 0;
  bool usable = false;
  std::string reason;  // empty when usable
};

struct HeapBudget {
  uint64_t size = 0, budget = 0, usage = 0;  // budget/usage = 0 when VK_EXT_memory_budget is absent
  bool device_local = false;
};

class Context {
 public:
  static std::unique_ptr<Context> create(const ContextOptions& options = {});
  static std::unique_ptr<Context> borrow(const ExternalDevice& external,
                                         const ContextOptions& options = {});
  // Every device the loader reports, each with a usable/rejected verdict. Throws NoVulkan when there
  // is no loader or no device at all.
  static std::vector<DeviceReport> list_devices();

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const VolkDeviceTable& vk() const { return table_; }
  VkDevice device() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_device_; }
  VkInstance instance() const { return instance_; }
  const InstanceFns& instance_fns() const { return ifn_; }
  uint32_t device_index() const { return device_index_; }
  uint32_t queue_family() const { return queue_family_; }
  const Capabilities& caps() const { return caps_; }
  const ContextOptions& options() const { return options_; }
  bool borrowed() const { return borrowed_; }
  // Pipelines are created with statistics capture (ContextOptions::pipeline_statistics asked for
  // it and the device has VK_KHR_pipeline_executable_properties).
  bool pipeline_statistics() const { return caps_.pipeline_executable_info; }

  Queue& queue() { return *queue_; }
  PipelineCache& pipelines() { return *pipelines_; }
  MemoryArena& arena(Lifetime lifetime) { return *arenas_[static_cast<int>(lifetime)]; }
  Staging& staging() { return *staging_; }

  std::vector<HeapBudget> memory_budget() const;

  // Validation messages (warnings and errors) seen since the last call; empty without validation.
  std::vector<std::string> take_validation_messages();
  void record_validation_message(std::string message);

  // One-time kernel self-checks on this device, by key (e.g. a pipeline's specialization): fast
  // paths that CI cannot execute (no tensor cores on lavapipe) are compared against exact results
  // on first use and avoided if they disagree (kernels/gemm_selfcheck.cpp). nullopt = not run yet.
  std::optional<bool> self_check(const std::string& key) const;
  void set_self_check(const std::string& key, bool ok);

  // The i-quant codebooks (vkr/iq_grids.hpp) in device memory, uploaded on first use (a model
  // with such weights asks at load time): kernels of the IQ1_S .. IQ3_S types bind it.
  const Buffer& iq_grids();

  // Whether `buffer` may be bound to a texel binding (KernelDesc::texel_mask): true for live
  // vkr::Buffers (created with uniform-texel usage), false for a host app's own VkBuffers, which
  // kernels then read through storage-buffer bindings. Buffer registers and forgets itself.
  bool texel_usable(VkBuffer buffer) const;
  void track_buffer(VkBuffer buffer, bool alive);

 private:
  Context() = default;
  void create_instance(bool validation);
  void pick_device(const ContextOptions& options);
  void create_device();
  void init_members();

  ContextOptions options_;
  bool borrowed_ = false;
  InstanceFns ifn_;
  VolkDeviceTable table_{};
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  uint32_t device_index_ = 0;
  VkDevice device_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkQueue vk_queue_ = VK_NULL_HANDLE;
  QueueLock queue_lock_;
  Capabilities caps_;

  mutable std::mutex self_checks_mutex_;
  std::map<std::string, bool> self_checks_;
  mutable std::mutex buffers_mutex_;
  std::unordered_set<VkBuffer> buffers_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<PipelineCache> pipelines_;
  std::unique_ptr<MemoryArena> arenas_[kLifetimeCount];
  std::unique_ptr<Staging> staging_;
  std::mutex iq_grids_mutex_;
  std::unique_ptr<Buffer> iq_grids_;

  std::mutex validation_mutex_;
  std::vector<std::string> validation_messages_;
};

}  // namespace vkr
