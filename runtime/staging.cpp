// staging.cpp: host <-> device transfers.
#include "vkr/staging.hpp"

#include <cstring>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/recorder.hpp"

namespace vkr {

Staging::Staging(Context& ctx, VkDeviceSize chunk_bytes) : ctx_(ctx), chunk_bytes_(chunk_bytes) {}
Staging::~Staging() = default;

Buffer& Staging::chunk(MemoryUsage usage) {
  Buffer& b = usage == MemoryUsage::Upload ? up_ : down_;
  if (!b) {
    b = Buffer::create(ctx_, Lifetime::Staging, chunk_bytes_, usage,
                       usage == MemoryUsage::Upload ? "staging-upload" : "staging-readback");
  }
  return b;
}

void Staging::upload(const Buffer& dst, VkDeviceSize dst_offset, std::span<const std::byte> src,
                     const std::function<void(uint64_t, uint64_t)>& progress) {
  const BufferRange target = dst.range(dst_offset, src.size());  // bounds check
  ctx_.queue().wait_idle();  // never overwrite what queued GPU work may still read
  const uint64_t total = src.size();
  if (dst.host_visible()) {
    std::memcpy(dst.mapped() + dst_offset, src.data(), src.size());
    dst.flush(dst_offset, src.size());
    if (progress) progress(total, total);
    return;
  }
  Buffer& stage = chunk(MemoryUsage::Upload);
  Recorder rec(ctx_);
  for (uint64_t done = 0; done < total;) {
    const uint64_t n = std::min<uint64_t>(chunk_bytes_, total - done);
    std::memcpy(stage.mapped(), src.data() + done, n);
    stage.flush(0, n);
    rec.reset();
    rec.copy(stage.range(0, n), {target.buffer, target.offset + done, n});
    rec.barrier();  // our transfer write -> any later compute/transfer use, in submission order
    ctx_.queue().submit(rec).wait();
    done += n;
    if (progress) progress(done, total);
  }
}

void Staging::download(const Buffer& src, VkDeviceSize src_offset, std::span<std::byte> dst) {
  const BufferRange source = src.range(src_offset, dst.size());
  ctx_.queue().wait_idle();  // results of queued work must be complete
  if (src.host_visible()) {
    src.invalidate(src_offset, dst.size());
    std::memcpy(dst.data(), src.mapped() + src_offset, dst.size());
    return;
  }
  Buffer& stage = chunk(MemoryUsage::Readback);
  Recorder rec(ctx_);
  for (uint64_t done = 0; done < dst.size();) {
    const uint64_t n = std::min<uint64_t>(chunk_bytes_, dst.size() - done);
    rec.reset();
    rec.barrier();  // earlier submissions' writes -> our transfer read
    rec.copy({source.buffer, source.offset + done, n}, stage.range(0, n));
    rec.host_barrier();
    ctx_.queue().submit(rec).wait();
    stage.invalidate(0, n);
    std::memcpy(dst.data() + done, stage.mapped(), n);
    done += n;
  }
}

}  // namespace vkr
