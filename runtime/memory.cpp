// memory.cpp: MemoryArena (memory-type choice, block allocation, bump sub-allocation).
#include "vkr/memory.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {
constexpr VkMemoryPropertyFlags kHostVisible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
constexpr VkMemoryPropertyFlags kCoherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
constexpr VkMemoryPropertyFlags kCached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
constexpr VkMemoryPropertyFlags kDeviceLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;

VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }
double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }
}  // namespace

const char* MemoryArena::name() const {
  switch (lifetime_) {
    case Lifetime::Weights: return "weights";
    case Lifetime::Activations: return "activations";
    case Lifetime::State: return "state";
    case Lifetime::Staging: return "staging";
  }
  return "?";
}

MemoryArena::MemoryArena(Context& ctx, Lifetime lifetime, VkDeviceSize block_size)
    : ctx_(ctx), lifetime_(lifetime), block_size_(block_size) {}

MemoryArena::~MemoryArena() = default;

uint64_t MemoryArena::reserved_bytes() const {
  uint64_t total = 0;
  for (const auto& b : blocks_) total += b.memory ? b.size : 0;
  return total;
}

// Preference lists per usage; the first type allowed by `type_bits` that has all flags wins.
uint32_t MemoryArena::pick_type(uint32_t type_bits, MemoryUsage usage) const {
  const auto& caps = ctx_.caps();
  // Is the largest device-local heap also host-visible (UMA / full ReBAR / lavapipe)? Then GPU
  // buffers can live there and be written directly, skipping staging copies.
  uint64_t biggest = 0;
  uint32_t biggest_heap = 0;
  for (uint32_t h = 0; h < caps.heaps.size(); ++h) {
    if (caps.heaps[h].device_local && caps.heaps[h].size > biggest) {
      biggest = caps.heaps[h].size;
      biggest_heap = h;
    }
  }
  auto mappable_main_heap = [&](uint32_t t) {
    return caps.memory_types[t].heap == biggest_heap;
  };
  std::vector<VkMemoryPropertyFlags> prefs;
  switch (usage) {
    case MemoryUsage::Device:
      // Discrete GPUs: plain device-local memory, never the host-visible (ReBAR) type of the same
      // heap. GPU access to plain VRAM is never slower, while host-visible VRAM may be mapped with
      // other page sizes or caching by the driver (the conventional choice, as VMA makes for
      // GPU-only resources). On the H100 (ReBAR), chunk-parallel WKV calls whose scratch spanned
      // 170-267 MB ran 3-8x slower per token than with <= 85 MB, and large GEMM tiles lost to
      // small ones; whether the memory type was the cause is not yet measured.
      // Other devices (UMA, lavapipe): the host-visible type, so uploads skip staging.
      if (caps.device_type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) {
        prefs = {kDeviceLocal, 0};
      } else {
        prefs = {kDeviceLocal | kHostVisible | kCoherent, kDeviceLocal, 0};
      }
      break;
    case MemoryUsage::Upload:
      prefs = {kDeviceLocal | kHostVisible | kCoherent, kHostVisible | kCoherent, kHostVisible};
      break;
    case MemoryUsage::Readback:
      prefs = {kHostVisible | kCached | kCoherent, kHostVisible | kCached, kHostVisible | kCoherent,
               kHostVisible};
      break;
  }
  for (size_t p = 0; p < prefs.size(); ++p) {
    for (uint32_t t = 0; t < caps.memory_types.size(); ++t) {
      if (!(type_bits & (1u << t))) continue;
      if ((caps.memory_types[t].flags & prefs[p]) != prefs[p]) continue;
      // Host-visible device-local memory outside the main heap is a small BAR window: keep
      // GPU-only buffers out of it.
      if (p == 0 && usage == MemoryUsage::Device && !mappable_main_heap(t)) continue;
      return t;
    }
  }
  throw Error(ErrorCode::DeviceUnsupported,
              fmt::format("no memory type for {} buffers of the {} arena (type bits {:#x})",
                          usage == MemoryUsage::Device   ? "device"
                          : usage == MemoryUsage::Upload ? "upload"
                                                         : "readback",
                          name(), type_bits));
}

uint32_t MemoryArena::new_block(uint32_t type, VkDeviceSize size) {
  const auto& caps = ctx_.caps();
  const uint32_t heap = caps.memory_types[type].heap;
  const uint64_t heap_size = caps.heaps[heap].size;
  if (size > heap_size || (caps.max_allocation_size && size > caps.max_allocation_size)) {
    throw Error(ErrorCode::OutOfDeviceMemory,
                fmt::format("{} arena: cannot allocate {:.1f} MiB: memory heap {} holds {:.1f} MiB, "
                            "maxMemoryAllocationSize is {:.1f} MiB",
                            name(), mib(size), heap, mib(heap_size),
                            mib(caps.max_allocation_size)),
                VK_ERROR_OUT_OF_DEVICE_MEMORY);
  }
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.allocationSize = size;
  info.memoryTypeIndex = type;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkResult r = ctx_.vk().vkAllocateMemory(ctx_.device(), &info, nullptr, &mem);
  if (r != VK_SUCCESS) {
    throw Error(error_code_for(r),
                fmt::format("{} arena: vkAllocateMemory of {:.1f} MiB from heap {} ({:.1f} MiB) "
                            "failed; {:.1f} MiB already reserved by this arena",
                            name(), mib(size), heap, mib(heap_size),
                            mib(reserved_bytes())),
                r);
  }
  Block b;
  b.memory = Unique<VkDeviceMemory>(ctx_.device(), mem, ctx_.vk().vkFreeMemory);
  b.type = type;
  b.size = size;
  const auto flags = caps.memory_types[type].flags;
  if (flags & kHostVisible) {
    void* p = nullptr;
    check_vk(ctx_.vk().vkMapMemory(ctx_.device(), mem, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    b.mapped = static_cast<std::byte*>(p);
    b.coherent = (flags & kCoherent) != 0;
  }
  // Reuse a freed slot so block indices held by live allocations stay valid.
  for (uint32_t i = 0; i < blocks_.size(); ++i) {
    if (!blocks_[i].memory) {
      blocks_[i] = std::move(b);
      return i;
    }
  }
  blocks_.push_back(std::move(b));
  return static_cast<uint32_t>(blocks_.size() - 1);
}

Allocation MemoryArena::allocate(const VkMemoryRequirements& req, MemoryUsage usage) {
  const uint32_t type = pick_type(req.memoryTypeBits, usage);
  // Host-visible non-coherent ranges must not share an atom with a neighbour we might flush.
  const VkDeviceSize align = std::max<VkDeviceSize>(
      {req.alignment, ctx_.caps().non_coherent_atom_size, VkDeviceSize{256}});
  const VkDeviceSize size = align_up(req.size, align);
  uint32_t index = UINT32_MAX;
  for (uint32_t i = 0; i < blocks_.size() && index == UINT32_MAX; ++i) {
    auto& b = blocks_[i];
    if (b.memory && b.type == type && align_up(b.top, align) + size <= b.size) index = i;
  }
  if (index == UINT32_MAX) index = new_block(type, std::max(size, block_size_));
  auto& b = blocks_[index];
  Allocation a;
  a.memory = b.memory.get();
  a.offset = align_up(b.top, align);
  a.size = size;
  a.mapped = b.mapped ? b.mapped + a.offset : nullptr;
  a.coherent = b.coherent;
  a.block = index;
  b.top = a.offset + size;
  ++b.live;
  used_ += size;
  return a;
}

void MemoryArena::release(const Allocation& a) noexcept {
  if (a.memory == VK_NULL_HANDLE || a.block >= blocks_.size()) return;
  auto& b = blocks_[a.block];
  used_ -= a.size;
  if (a.offset + a.size == b.top) b.top = a.offset;  // undo the last bump
  if (--b.live == 0) {
    b.top = 0;
    // Dedicated (oversized) blocks go back to the driver at once; regular ones are kept for reuse.
    if (b.size > block_size_) b.memory.reset();
  }
}

}  // namespace vkr
