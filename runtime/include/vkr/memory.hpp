// memory.hpp: MemoryArena, big VkDeviceMemory blocks sub-allocated by bump pointer, one arena per
// lifetime (weights, activations, state, staging). The only place that calls vkAllocateMemory.
#pragma once

#include <cstdint>
#include <vector>

#include "vkr/handle.hpp"

namespace vkr {

class Context;
enum class Lifetime;

// What a buffer is for decides its memory type: Device = GPU-only working memory (plain VRAM on
// discrete GPUs; mapped too when an integrated or CPU device's main heap is host-visible),
// Upload = host writes/GPU reads, Readback = GPU writes/host reads (cached when possible).
enum class MemoryUsage { Device, Upload, Readback };

struct Allocation {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize offset = 0, size = 0;
  std::byte* mapped = nullptr;  // host pointer to `offset`, or null
  bool coherent = true;
  uint32_t block = 0;
};

class MemoryArena {
 public:
  MemoryArena(Context& ctx, Lifetime lifetime, VkDeviceSize block_size);
  ~MemoryArena();
  MemoryArena(const MemoryArena&) = delete;
  MemoryArena& operator=(const MemoryArena&) = delete;

  // Throws OutOfDeviceMemory (naming the lifetime, size and heap) when it cannot be satisfied.
  Allocation allocate(const VkMemoryRequirements& req, MemoryUsage usage);
  void release(const Allocation& a) noexcept;

  uint64_t reserved_bytes() const;  // sum of live block sizes
  uint64_t used_bytes() const { return used_; }
  const char* name() const;

 private:
  struct Block {
    Unique<VkDeviceMemory> memory;
    uint32_t type = 0;
    VkDeviceSize size = 0, top = 0;
    uint32_t live = 0;
    std::byte* mapped = nullptr;
    bool coherent = true;
  };
  uint32_t pick_type(uint32_t type_bits, MemoryUsage usage) const;
  uint32_t new_block(uint32_t type, VkDeviceSize size);

  Context& ctx_;
  Lifetime lifetime_;
  VkDeviceSize block_size_;
  std::vector<Block> blocks_;
  uint64_t used_ = 0;
};

}  // namespace vkr
