// recorder.hpp: Recorder records dispatches, copies, fills, barriers and timestamps into one
// VkCommandBuffer (its own, or a host app's borrowed one). It never submits; Queue does.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <tuple>
#include <span>
#include <vector>

#include "vkr/buffer.hpp"
#include "vkr/capabilities.hpp"
#include "vkr/kernel.hpp"
#include "vkr/queue.hpp"

namespace vkr {

class GpuTimer;

struct Grid {
  uint32_t x = 1, y = 1, z = 1;
};

// Whether `r` can be bound to a texel binding (KernelDesc::texel_mask) without an error: a
// vkr-owned buffer (texel usage), offset on minTexelBufferOffsetAlignment, 1 to
// maxTexelBufferElements whole texels. Host twins use it to pick a texel-reading build.
bool texel_bindable(const Context& ctx, const BufferRange& r);

// Splits `groups` workgroups over x and y so neither exceeds the device's maxComputeWorkGroupCount
// (shaders rebuild the linear index with linear_invocation_id()).
Grid grid_1d(uint64_t groups, const Capabilities& caps);

// OneShot: recorded, submitted once, reset() before recording again. Replay: recorded once and
// submitted any number of times (each submission waits for the previous one to finish); RWKV's
// decode step touches the same buffers with the same shapes every token, so a session records it
// once and replays it instead of re-recording ~15 dispatches per layer per token.
enum class RecordMode { OneShot, Replay };

class Recorder {
 public:
  explicit Recorder(Context& ctx, RecordMode mode = RecordMode::OneShot);  // owns pool + buffer
  Recorder(Context& ctx, VkCommandBuffer borrowed);    // records into a host app's buffer
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Checks the kernel's interface (binding count, push size, ranges vs maxStorageBufferRange and
  // alignment, grid vs limits) before recording; throws ShapeMismatch naming the kernel.
  // Texel bindings (KernelDesc::texel_mask) see the whole 16-byte texels of their range; their
  // buffers need VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT (every vkr::Buffer has it).
  void dispatch(const Kernel& k, std::span<const BufferRange> bindings,
                std::span<const std::byte> push, Grid groups);
  template <typename Push>
  void dispatch(const Kernel& k, std::initializer_list<BufferRange> bindings, const Push& push,
                Grid groups) {
    dispatch(k, std::span<const BufferRange>(bindings.begin(), bindings.size()),
             std::as_bytes(std::span<const Push>(&push, 1)), groups);
  }

  void copy(const BufferRange& src, const BufferRange& dst);
  void fill(const BufferRange& dst, uint32_t value);  // offset and size multiples of 4
  // One global memory barrier between dependent stages (compute/transfer writes -> compute/transfer
  // reads and writes): coarse on purpose, see DESIGN.md §4.7.
  void barrier();
  // Device writes -> host reads, before mapping results.
  void host_barrier();
  void reset_timer(GpuTimer& timer);
  void timestamp(GpuTimer& timer, uint32_t index);

  VkCommandBuffer command_buffer() const { return cb_; }
  bool borrowed() const { return borrowed_; }
  uint32_t dispatch_count() const { return dispatches_; }
  // The distinct kernels dispatched since the last reset, in first-use order; tracked only when
  // Context::pipeline_statistics() (benches print their statistics), empty otherwise.
  const std::vector<const Kernel*>& kernels_used() const { return kernels_used_; }
  // Buffer views created for texel bindings since the last reset (tests check the path taken).
  size_t texel_view_count() const { return views_.size(); }
  bool empty() const { return commands_ == 0; }

  // Finishes recording (own buffer only). Queue::submit calls it. On an ended Replay recorder it
  // only waits for the previous submission (a pending command buffer cannot be resubmitted);
  // recording more commands into it throws until reset().
  void end();
  RecordMode mode() const { return mode_; }
  // Waits for this recorder's last submission, then makes it ready to record again.
  void reset();

  // Queue bookkeeping.
  void mark_submitted(const Ticket& t) { in_flight_ = t; }

 private:
  void ensure_recording();
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);
  VkBufferView texel_view(const BufferRange& r);

  Context& ctx_;
  RecordMode mode_ = RecordMode::OneShot;
  bool borrowed_ = false;
  bool ended_ = false;  // Replay: executable, submitted as is
  Unique<VkCommandPool> pool_;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  bool recording_ = false;
  uint32_t dispatches_ = 0, commands_ = 0;
  std::vector<const Kernel*> kernels_used_;
  Ticket in_flight_;
  // Fallback when VK_KHR_push_descriptor is absent: sets from pools, recycled on reset().
  std::vector<Unique<VkDescriptorPool>> set_pools_;
  uint32_t sets_in_pool_ = 0;
  // Buffer views of texel bindings: they must live until the GPU is done with the commands, so
  // they are kept (and reused within one recording) until reset() or destruction.
  std::vector<Unique<VkBufferView>> views_;
  std::map<std::tuple<VkBuffer, VkDeviceSize, VkDeviceSize>, VkBufferView> view_index_;
};

}  // namespace vkr
