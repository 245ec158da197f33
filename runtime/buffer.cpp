// buffer.cpp: Buffer creation over a MemoryArena, windows, flush/invalidate.
#include "vkr/buffer.hpp"

#include <fmt/format.h>

#include <utility>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

Buffer Buffer::create(Context& ctx, Lifetime lifetime, VkDeviceSize size, MemoryUsage usage,
                      std::string name) {
  require(size > 0, ErrorCode::InvalidArgument, "buffer '{}': size must be > 0", name);
  const auto& caps = ctx.caps();
  if (caps.max_buffer_size && size > caps.max_buffer_size) {
    throw Error(ErrorCode::OutOfDeviceMemory,
                fmt::format("buffer '{}': {} bytes exceeds the device's maxBufferSize ({} bytes)",
                            name, size, caps.max_buffer_size),
                VK_ERROR_OUT_OF_DEVICE_MEMORY);
  }
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = (size + 3) / 4 * 4;
  // Texel usage: any buffer may be bound to a kernel's texel binding (KernelDesc::texel_mask).
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  const auto& vk = ctx.vk();
  VkBuffer handle = VK_NULL_HANDLE;
  check_vk(vk.vkCreateBuffer(ctx.device(), &info, nullptr, &handle),
           fmt::format("vkCreateBuffer '{}' ({} bytes)", name, size));
  Buffer b;
  b.ctx_ = &ctx;
  b.arena_ = &ctx.arena(lifetime);
  b.buffer_ = Unique<VkBuffer>(ctx.device(), handle, vk.vkDestroyBuffer);
  b.size_ = size;
  b.name_ = std::move(name);
  VkMemoryRequirements req{};
  vk.vkGetBufferMemoryRequirements(ctx.device(), handle, &req);
  b.alloc_ = b.arena_->allocate(req, usage);
  if (usage == MemoryUsage::Device && !ctx.options().map_device_memory) b.alloc_.mapped = nullptr;
  check_vk(vk.vkBindBufferMemory(ctx.device(), handle, b.alloc_.memory, b.alloc_.offset),
           "vkBindBufferMemory");
  ctx.track_buffer(handle, true);
  return b;
}

Buffer::~Buffer() { release(); }

void Buffer::release() noexcept {
  if (ctx_ && buffer_) ctx_->track_buffer(buffer_.get(), false);
  buffer_.reset();  // the VkBuffer goes before its memory range is handed back
  if (arena_) arena_->release(alloc_);
  arena_ = nullptr;
  alloc_ = {};
}

Buffer::Buffer(Buffer&& o) noexcept
    : ctx_(o.ctx_),
      arena_(std::exchange(o.arena_, nullptr)),
      buffer_(std::move(o.buffer_)),
      alloc_(std::exchange(o.alloc_, {})),
      size_(std::exchange(o.size_, 0)),
      name_(std::move(o.name_)) {}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = o.ctx_;
    arena_ = std::exchange(o.arena_, nullptr);
    buffer_ = std::move(o.buffer_);
    alloc_ = std::exchange(o.alloc_, {});
    size_ = std::exchange(o.size_, 0);
    name_ = std::move(o.name_);
  }
  return *this;
}

BufferRange Buffer::range(VkDeviceSize offset, VkDeviceSize size) const {
  if (size == VK_WHOLE_SIZE) {
    require(offset <= size_, ErrorCode::ShapeMismatch,
            "buffer '{}': offset {} past its size {}", name_, offset, size_);
    size = size_ - offset;
  }
  require(offset <= size_ && size <= size_ - offset, ErrorCode::ShapeMismatch,
          "buffer '{}': window [{}, {}) outside its {} bytes", name_, offset, offset + size, size_);
  return {buffer_.get(), offset, size};
}

static VkMappedMemoryRange atom_range(const Context& ctx, const Allocation& a, VkDeviceSize offset,
                                      VkDeviceSize size) {
  const VkDeviceSize atom = std::max<VkDeviceSize>(ctx.caps().non_coherent_atom_size, 1);
  VkDeviceSize begin = (a.offset + offset) / atom * atom;
  VkDeviceSize end = (a.offset + offset + size + atom - 1) / atom * atom;
  end = std::min(end, a.offset + a.size);  // allocations are atom-aligned, so this stays aligned
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  r.memory = a.memory;
  r.offset = begin;
  r.size = end - begin;
  return r;
}

void Buffer::flush(VkDeviceSize offset, VkDeviceSize size) const {
  if (!alloc_.mapped || alloc_.coherent) return;
  auto r = atom_range(*ctx_, alloc_, offset, size);
  check_vk(ctx_->vk().vkFlushMappedMemoryRanges(ctx_->device(), 1, &r), "vkFlushMappedMemoryRanges");
}

void Buffer::invalidate(VkDeviceSize offset, VkDeviceSize size) const {
  if (!alloc_.mapped || alloc_.coherent) return;
  auto r = atom_range(*ctx_, alloc_, offset, size);
  check_vk(ctx_->vk().vkInvalidateMappedMemoryRanges(ctx_->device(), 1, &r),
           "vkInvalidateMappedMemoryRanges");
}

}  // namespace vkr
