// handle.hpp: Unique<H>, a move-only owner of one device-level Vulkan handle.
#pragma once

#include <utility>

#include "vkr/vk.hpp"

namespace vkr {

// Every vkDestroy*/vkFree* device function we use has this shape, so one template covers them all.
template <typename H>
using DestroyFn = void(VKAPI_PTR*)(VkDevice, H, const VkAllocationCallbacks*);

template <typename H>
class Unique {
 public:
  Unique() = default;
  Unique(VkDevice device, H handle, DestroyFn<H> destroy)
      : device_(device), handle_(handle), destroy_(destroy) {}
  ~Unique() { reset(); }
  Unique(const Unique&) = delete;
  Unique& operator=(const Unique&) = delete;
  Unique(Unique&& o) noexcept
      : device_(o.device_), handle_(std::exchange(o.handle_, H{})), destroy_(o.destroy_) {}
  Unique& operator=(Unique&& o) noexcept {
    if (this != &o) {
      reset();
      device_ = o.device_;
      handle_ = std::exchange(o.handle_, H{});
      destroy_ = o.destroy_;
    }
    return *this;
  }

  H get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != H{}; }
  void reset() noexcept {
    if (handle_ != H{} && destroy_) destroy_(device_, handle_, nullptr);
    handle_ = H{};
  }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  H handle_{};
  DestroyFn<H> destroy_ = nullptr;
};

}  // namespace vkr
