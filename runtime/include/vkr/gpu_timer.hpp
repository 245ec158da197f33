// gpu_timer.hpp: a timestamp query pool read back as nanoseconds (benchmarks, per-stage profiles).
#pragma once

#include <cstdint>
#include <vector>

#include "vkr/handle.hpp"

namespace vkr {

class Context;

class GpuTimer {
 public:
  // Throws DeviceUnsupported when the compute queue has no timestamp support.
  GpuTimer(Context& ctx, uint32_t count);
  VkQueryPool pool() const { return pool_.get(); }
  uint32_t count() const { return count_; }
  // Timestamps [0, n) in nanoseconds since an arbitrary origin; waits for the results.
  std::vector<double> read_ns(uint32_t n) const;

 private:
  Context& ctx_;
  Unique<VkQueryPool> pool_;
  uint32_t count_;
};

}  // namespace vkr
