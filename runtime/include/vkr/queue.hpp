// queue.hpp: Queue (submits recorded work, tracks it with one timeline semaphore) and Ticket.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>

#include "vkr/handle.hpp"
#include "vkr/queue_lock.hpp"

namespace vkr {

class Context;
class Queue;
class Recorder;

// A submitted piece of work: done when the queue's timeline reaches `value`.
class Ticket {
 public:
  Ticket() = default;
  Ticket(Queue* queue, uint64_t value) : queue_(queue), value_(value) {}
  // Blocks until done; throws Timeout after `timeout_ns`, DeviceLost if the device is lost.
  void wait(uint64_t timeout_ns = UINT64_MAX) const;
  bool done() const;
  uint64_t value() const { return value_; }
  bool valid() const { return queue_ != nullptr; }

 private:
  Queue* queue_ = nullptr;
  uint64_t value_ = 0;
};

// Extra semaphores to wait on / signal for one submission (e.g. a host app's frame semaphores).
struct SubmitSync {
  std::span<const VkSemaphore> wait;
  std::span<const uint64_t> wait_values;  // for timeline semaphores (0 for binary)
  std::span<const VkPipelineStageFlags> wait_stages;
  std::span<const VkSemaphore> signal;
  std::span<const uint64_t> signal_values;
};

class Queue {
 public:
  Queue(Context& ctx, VkQueue queue, QueueLock host_lock = {});
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Ends `rec` if still recording and submits it.
  Ticket submit(Recorder& rec, const SubmitSync& sync = {});
  void wait(uint64_t value, uint64_t timeout_ns = UINT64_MAX);
  bool reached(uint64_t value) const;
  uint64_t last_submitted() const { return next_value_ - 1; }
  void wait_idle();  // waits for everything submitted through this Queue
  VkQueue handle() const { return queue_; }
  VkSemaphore timeline() const { return timeline_.get(); }

 private:
  Context& ctx_;
  VkQueue queue_;
  std::mutex own_mutex_;
  QueueLock lock_;  // the host's lock for a shared queue, else own_mutex_
  Unique<VkSemaphore> timeline_;
  uint64_t next_value_ = 1;
};

}  // namespace vkr
