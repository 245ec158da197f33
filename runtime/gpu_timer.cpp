// gpu_timer.cpp: timestamp queries -> nanoseconds (masked to the queue's valid bits).
#include "vkr/gpu_timer.hpp"

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

GpuTimer::GpuTimer(Context& ctx, uint32_t count) : ctx_(ctx), count_(count) {
  require(ctx.caps().timestamps, ErrorCode::DeviceUnsupported,
          "{}: the compute queue does not support timestamps", ctx.caps().device_name);
  require(count > 0, ErrorCode::InvalidArgument, "GpuTimer needs at least one query");
  VkQueryPoolCreateInfo info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  info.queryType = VK_QUERY_TYPE_TIMESTAMP;
  info.queryCount = count;
  VkQueryPool pool = VK_NULL_HANDLE;
  check_vk(ctx.vk().vkCreateQueryPool(ctx.device(), &info, nullptr, &pool), "vkCreateQueryPool");
  pool_ = Unique<VkQueryPool>(ctx.device(), pool, ctx.vk().vkDestroyQueryPool);
}

std::vector<double> GpuTimer::read_ns(uint32_t n) const {
  require(n <= count_, ErrorCode::InvalidArgument, "reading {} of {} timestamps", n, count_);
  std::vector<uint64_t> ticks(n);
  if (n == 0) return {};
  check_vk(ctx_.vk().vkGetQueryPoolResults(ctx_.device(), pool_.get(), 0, n,
                                           n * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
           "vkGetQueryPoolResults");
  const uint32_t bits = ctx_.caps().timestamp_valid_bits;
  const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
  std::vector<double> ns(n);
  for (uint32_t i = 0; i < n; ++i) {
    ns[i] = static_cast<double>(ticks[i] & mask) * ctx_.caps().timestamp_period_ns;
  }
  return ns;
}

}  // namespace vkr
