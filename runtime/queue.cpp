// queue.cpp: submission with a timeline semaphore; waits with timeouts.
#include "vkr/queue.hpp"

#include <fmt/format.h>

#include <vector>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/recorder.hpp"

namespace vkr {

void Ticket::wait(uint64_t timeout_ns) const {
  if (queue_) queue_->wait(value_, timeout_ns);
}

bool Ticket::done() const { return !queue_ || queue_->reached(value_); }

Queue::Queue(Context& ctx, VkQueue queue, QueueLock host_lock)
    : ctx_(ctx), queue_(queue), lock_(host_lock.set() ? host_lock : QueueLock::of(own_mutex_)) {
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  type.initialValue = 0;
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  info.pNext = &type;
  VkSemaphore sem = VK_NULL_HANDLE;
  check_vk(ctx.vk().vkCreateSemaphore(ctx.device(), &info, nullptr, &sem),
           "vkCreateSemaphore (timeline)");
  timeline_ = Unique<VkSemaphore>(ctx.device(), sem, ctx.vk().vkDestroySemaphore);
}

Queue::~Queue() {
  try {
    wait_idle();
  } catch (...) {
    // Device lost at shutdown: nothing left to wait for.
  }
}

Ticket Queue::submit(Recorder& rec, const SubmitSync& sync) {
  require(!rec.borrowed(), ErrorCode::InvalidArgument,
          "a Recorder on a borrowed command buffer is submitted by its owner, not by vkrwkv");
  rec.end();
  VkCommandBuffer cb = rec.command_buffer();
  std::vector<VkSemaphore> signal(sync.signal.begin(), sync.signal.end());
  std::vector<uint64_t> signal_values(sync.signal_values.begin(), sync.signal_values.end());
  signal_values.resize(signal.size(), 0);
  std::vector<uint64_t> wait_values(sync.wait_values.begin(), sync.wait_values.end());
  wait_values.resize(sync.wait.size(), 0);

  struct Held {  // RAII over the (possibly host-provided) lock, so a throw below releases it
    const QueueLock& l;
    explicit Held(const QueueLock& lock) : l(lock) { l.lock(l.user); }
    ~Held() { l.unlock(l.user); }
  } held(lock_);
  const uint64_t value = next_value_;
  signal.push_back(timeline_.get());
  signal_values.push_back(value);
  VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  ts.waitSemaphoreValueCount = static_cast<uint32_t>(wait_values.size());
  ts.pWaitSemaphoreValues = wait_values.data();
  ts.signalSemaphoreValueCount = static_cast<uint32_t>(signal_values.size());
  ts.pSignalSemaphoreValues = signal_values.data();
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.pNext = &ts;
  si.waitSemaphoreCount = static_cast<uint32_t>(sync.wait.size());
  si.pWaitSemaphores = sync.wait.data();
  si.pWaitDstStageMask = sync.wait_stages.data();
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  si.signalSemaphoreCount = static_cast<uint32_t>(signal.size());
  si.pSignalSemaphores = signal.data();
  check_vk(ctx_.vk().vkQueueSubmit(queue_, 1, &si, VK_NULL_HANDLE), "vkQueueSubmit");
  ++next_value_;
  Ticket t(this, value);
  rec.mark_submitted(t);
  return t;
}

void Queue::wait(uint64_t value, uint64_t timeout_ns) {
  VkSemaphore sem = timeline_.get();
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  info.semaphoreCount = 1;
  info.pSemaphores = &sem;
  info.pValues = &value;
  VkResult r = ctx_.vk().vkWaitSemaphores(ctx_.device(), &info, timeout_ns);
  if (r == VK_TIMEOUT) {
    throw Error(ErrorCode::Timeout,
                fmt::format("GPU work {} not finished after {:.3f} s", value, static_cast<double>(timeout_ns) * 1e-9),
                r);
  }
  check_vk(r, "vkWaitSemaphores");
}

bool Queue::reached(uint64_t value) const {
  uint64_t current = 0;
  check_vk(ctx_.vk().vkGetSemaphoreCounterValue(ctx_.device(), timeline_.get(), &current),
           "vkGetSemaphoreCounterValue");
  return current >= value;
}

void Queue::wait_idle() {
  if (next_value_ > 1) wait(next_value_ - 1);
}

}  // namespace vkr
