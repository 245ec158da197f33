// kernel.hpp: Kernel (immutable pipeline + layouts) and PipelineCache (KernelKey -> Kernel, lazy,
// backed by a VkPipelineCache persisted on disk so a second start skips driver compilation).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "vkr/handle.hpp"
#include "vkr/shader_id.hpp"

namespace vkr {

class Context;

inline constexpr uint32_t kMaxSpecConstants = 12;
inline constexpr uint32_t kMaxPushBytes = 128;  // Vulkan's guaranteed minimum (lavapipe's limit)
inline constexpr uint32_t kMaxBindings = 12;

// What a shader's interface looks like; its host twin states it (validation checks it against the
// SPIR-V in tests). Bindings are in set 0, numbered 0..bindings-1: storage buffers, except those
// whose bit is set in texel_mask, which are uniform texel buffers of R32G32B32A32_UINT texels
// (GLSL `uniform utextureBuffer`, read with texelFetch as uvec4 words). CPU drivers vectorize
// texel fetches but run every storage-buffer load as a per-lane scalar loop (llvmpipe: ~7x the
// read bandwidth, bench/README.md), so read-heavy kernels have texel-buffer variants for them.
struct KernelDesc {
  ShaderId shader{};
  uint32_t bindings = 0;
  uint32_t push_bytes = 0;
  uint32_t texel_mask = 0;
};
inline constexpr uint32_t kTexelBytes = 16;  // one R32G32B32A32_UINT texel

// Identity of one pipeline: shader + specialization constants (constant_id i = spec[i]; by
// convention constant_id 0 is local_size_x).
struct KernelKey {
  ShaderId shader{};
  std::array<uint32_t, kMaxSpecConstants> spec{};
  uint32_t n_spec = 0;
  bool operator==(const KernelKey&) const = default;
};

struct KernelKeyHash {
  size_t operator()(const KernelKey& k) const noexcept;
};

// One statistic the driver reported for a compiled pipeline (VK_KHR_pipeline_executable_
// properties), e.g. {"Register Count", "128"}.
struct KernelStatistic {
  std::string name, value;
};

class Kernel {
 public:
  const KernelDesc& desc() const { return desc_; }
  // The driver's statistics for this pipeline; empty unless Context::pipeline_statistics().
  const std::vector<KernelStatistic>& statistics() const { return statistics_; }
  // "name=value, ..." of statistics() (empty when there are none).
  std::string statistics_summary() const;
  const KernelKey& key() const { return key_; }
  std::string_view name() const;
  VkPipeline pipeline() const { return pipeline_.get(); }
  VkPipelineLayout layout() const { return layout_.get(); }
  VkDescriptorSetLayout set_layout() const { return set_layout_.get(); }

 private:
  friend class PipelineCache;
  KernelDesc desc_;
  KernelKey key_;
  Unique<VkDescriptorSetLayout> set_layout_;
  Unique<VkPipelineLayout> layout_;
  Unique<VkPipeline> pipeline_;
  std::vector<KernelStatistic> statistics_;
};

class PipelineCache {
 public:
  explicit PipelineCache(Context& ctx);
  ~PipelineCache();  // saves the VkPipelineCache when persistence is on
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;

  // The kernel for (desc.shader, spec), created on first use. Thread-safe.
  const Kernel& get(const KernelDesc& desc, std::initializer_list<uint32_t> spec);

  struct Stats {
    uint64_t hits = 0, misses = 0;
    size_t loaded_bytes = 0;  // VkPipelineCache data read from disk at start (0 = cold start)
  };
  Stats stats() const;
  // File the VkPipelineCache is persisted to (empty when persistence is off or impossible).
  const std::filesystem::path& file() const { return file_; }
  void save() const;

 private:
  Context& ctx_;
  std::filesystem::path file_;
  Unique<VkPipelineCache> cache_;
  mutable std::mutex mutex_;
  std::unordered_map<KernelKey, std::unique_ptr<Kernel>, KernelKeyHash> kernels_;
  Stats stats_;
};

}  // namespace vkr
