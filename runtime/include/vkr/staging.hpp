// staging.hpp: Staging moves bytes between host memory and device buffers (direct memcpy when the
// buffer is host-visible, else through a staging buffer in chunks).
#pragma once

#include <cstddef>
#include <functional>
#include <span>

#include "vkr/buffer.hpp"

namespace vkr {

class Staging {
 public:
  explicit Staging(Context& ctx, VkDeviceSize chunk_bytes = 32ull << 20);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Synchronous: waits for earlier GPU work on the queue (so results are complete / inputs are not
  // overwritten while in use) and for its own copies. `progress(done, total)` is optional.
  void upload(const Buffer& dst, VkDeviceSize dst_offset, std::span<const std::byte> src,
              const std::function<void(uint64_t, uint64_t)>& progress = {});
  void download(const Buffer& src, VkDeviceSize src_offset, std::span<std::byte> dst);

  template <typename T>
  void upload(const Buffer& dst, std::span<const T> src, VkDeviceSize dst_offset = 0) {
    upload(dst, dst_offset, std::as_bytes(src));
  }
  template <typename T>
  void download(const Buffer& src, std::span<T> dst, VkDeviceSize src_offset = 0) {
    download(src, src_offset, std::as_writable_bytes(dst));
  }

 private:
  Buffer& chunk(MemoryUsage usage);

  Context& ctx_;
  VkDeviceSize chunk_bytes_;
  Buffer up_, down_;
};

}  // namespace vkr
