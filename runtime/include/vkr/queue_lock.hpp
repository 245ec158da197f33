// queue_lock.hpp: QueueLock, how our queue submissions are serialized with a host app's.
#pragma once

#include <mutex>

namespace vkr {

// Serializes our vkQueueSubmit calls with a host app that submits to the same VkQueue (Vulkan
// requires external synchronization of a queue). Plain function pointers so the C API can pass
// its callbacks through unchanged; unset = the Queue's own mutex.
struct QueueLock {
  void (*lock)(void* user) = nullptr;
  void (*unlock)(void* user) = nullptr;
  void* user = nullptr;
  bool set() const { return lock && unlock; }
  static QueueLock of(std::mutex& m) {
    return {[](void* u) { static_cast<std::mutex*>(u)->lock(); },
            [](void* u) { static_cast<std::mutex*>(u)->unlock(); }, &m};
  }
};

}  // namespace vkr
