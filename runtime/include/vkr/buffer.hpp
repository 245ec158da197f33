// buffer.hpp: Buffer (owning, move-only VkBuffer + arena range) and BufferRange (non-owning window).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "vkr/memory.hpp"

namespace vkr {

// A byte window of a buffer, as bound to a kernel or used by a copy. Non-owning.
struct BufferRange {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize size = 0;
};

class Buffer {
 public:
  Buffer() = default;
  // Size in bytes (> 0). The VkBuffer is padded to a multiple of 4 bytes so shaders and fills
  // may treat it as 32-bit words; size() stays what was asked for.
  static Buffer create(Context& ctx, Lifetime lifetime, VkDeviceSize size,
                       MemoryUsage usage = MemoryUsage::Device, std::string name = {});
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_.get(); }
  VkDeviceSize size() const { return size_; }
  const std::string& name() const { return name_; }
  explicit operator bool() const { return static_cast<bool>(buffer_); }

  // Host pointer when the memory is host-visible (always for Upload/Readback), else null.
  std::byte* mapped() const { return alloc_.mapped; }
  bool host_visible() const { return alloc_.mapped != nullptr; }

  // Bounds-checked window [offset, offset + size); size = VK_WHOLE_SIZE means "to the end".
  BufferRange range(VkDeviceSize offset = 0, VkDeviceSize size = VK_WHOLE_SIZE) const;

  // Make host writes visible to the device / device writes visible to the host for mapped,
  // non-coherent memory (no-ops on coherent memory).
  void flush(VkDeviceSize offset, VkDeviceSize size) const;
  void invalidate(VkDeviceSize offset, VkDeviceSize size) const;

 private:
  void release() noexcept;

  Context* ctx_ = nullptr;
  MemoryArena* arena_ = nullptr;
  Unique<VkBuffer> buffer_;
  Allocation alloc_;
  VkDeviceSize size_ = 0;
  std::string name_;
};

}  // namespace vkr
