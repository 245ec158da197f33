// recorder.cpp: command recording with interface checks before anything reaches the command buffer.
#include "vkr/recorder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/gpu_timer.hpp"

namespace vkr {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr VkAccessFlags kAllReadWrite =
    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
    VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkPipelineStageFlags kComputeTransfer =
    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
}  // namespace

bool texel_bindable(const Context& ctx, const BufferRange& r) {
  const auto& caps = ctx.caps();
  const uint64_t texels = r.size / kTexelBytes;
  return caps.min_texel_buffer_offset_alignment > 0 &&
         r.offset % caps.min_texel_buffer_offset_alignment == 0 && texels > 0 &&
         texels <= caps.max_texel_buffer_elements && ctx.texel_usable(r.buffer);
}

Grid grid_1d(uint64_t groups, const Capabilities& caps) {
  const uint64_t max_x = caps.max_workgroup_count[0] ? caps.max_workgroup_count[0] : 65535;
  if (groups <= max_x) return {static_cast<uint32_t>(groups), 1, 1};
  const uint64_t y = (groups + max_x - 1) / max_x;
  require(y <= caps.max_workgroup_count[1], ErrorCode::ShapeMismatch,
          "{} workgroups exceed the device grid limits ({} x {})", groups, max_x,
          caps.max_workgroup_count[1]);
  return {static_cast<uint32_t>((groups + y - 1) / y), static_cast<uint32_t>(y), 1};
}

Recorder::Recorder(Context& ctx, RecordMode mode) : ctx_(ctx), mode_(mode) {
  const auto& vk = ctx.vk();
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = ctx.queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  check_vk(vk.vkCreateCommandPool(ctx.device(), &pi, nullptr, &pool), "vkCreateCommandPool");
  pool_ = Unique<VkCommandPool>(ctx.device(), pool, vk.vkDestroyCommandPool);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  check_vk(vk.vkAllocateCommandBuffers(ctx.device(), &ai, &cb_), "vkAllocateCommandBuffers");
}

Recorder::Recorder(Context& ctx, VkCommandBuffer borrowed)
    : ctx_(ctx), borrowed_(true), cb_(borrowed), recording_(true) {}

Recorder::~Recorder() {
  try {
    in_flight_.wait();  // the pool (and its buffer) must outlive the GPU's use of it
  } catch (...) {
  }
}

void Recorder::ensure_recording() {
  if (recording_) return;
  require(!ended_, ErrorCode::InvalidArgument,
          "recorder: a replayed recording is complete; reset() it before recording more");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = mode_ == RecordMode::Replay ? 0 : VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check_vk(ctx_.vk().vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  recording_ = true;
}

void Recorder::end() {
  if (borrowed_) return;
  if (ended_) {
    in_flight_.wait();  // resubmitting a pending command buffer is invalid without SIMULTANEOUS_USE
    return;
  }
  ensure_recording();  // an empty buffer is still a valid submission
  check_vk(ctx_.vk().vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
  recording_ = false;
  ended_ = mode_ == RecordMode::Replay;
}

void Recorder::reset() {
  require(!borrowed_, ErrorCode::InvalidArgument, "cannot reset a borrowed command buffer");
  in_flight_.wait();
  in_flight_ = {};
  check_vk(ctx_.vk().vkResetCommandBuffer(cb_, 0), "vkResetCommandBuffer");
  for (auto& p : set_pools_) ctx_.vk().vkResetDescriptorPool(ctx_.device(), p.get(), 0);
  if (!set_pools_.empty()) set_pools_.resize(1);
  sets_in_pool_ = 0;
  view_index_.clear();
  views_.clear();
  recording_ = ended_ = false;
  dispatches_ = commands_ = 0;
  kernels_used_.clear();
}

VkDescriptorSet Recorder::allocate_set(VkDescriptorSetLayout layout) {
  const auto& vk = ctx_.vk();
  if (set_pools_.empty() || sets_in_pool_ == kSetsPerPool) {
    const VkDescriptorPoolSize sizes[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, kSetsPerPool * kMaxBindings}};
    VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 2;
    pi.pPoolSizes = sizes;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    check_vk(vk.vkCreateDescriptorPool(ctx_.device(), &pi, nullptr, &pool),
             "vkCreateDescriptorPool");
    set_pools_.emplace_back(ctx_.device(), pool, vk.vkDestroyDescriptorPool);
    sets_in_pool_ = 0;
  }
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = set_pools_.back().get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  check_vk(vk.vkAllocateDescriptorSets(ctx_.device(), &ai, &set), "vkAllocateDescriptorSets");
  ++sets_in_pool_;
  return set;
}

VkBufferView Recorder::texel_view(const BufferRange& r) {
  const VkDeviceSize size = r.size / kTexelBytes * kTexelBytes;
  const auto key = std::make_tuple(r.buffer, r.offset, size);
  if (auto it = view_index_.find(key); it != view_index_.end()) return it->second;
  const auto& vk = ctx_.vk();
  VkBufferViewCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
  ci.buffer = r.buffer;
  ci.format = VK_FORMAT_R32G32B32A32_UINT;
  ci.offset = r.offset;
  ci.range = size;
  VkBufferView view = VK_NULL_HANDLE;
  check_vk(vk.vkCreateBufferView(ctx_.device(), &ci, nullptr, &view), "vkCreateBufferView");
  views_.emplace_back(ctx_.device(), view, vk.vkDestroyBufferView);
  view_index_.emplace(key, view);
  return view;
}

static void check_dispatch(const Context& ctx, const Kernel& k,
                           std::span<const BufferRange> bindings, size_t push_bytes, Grid g) {
  const auto& caps = ctx.caps();
  const auto name = k.name();
  require(bindings.size() == k.desc().bindings, ErrorCode::ShapeMismatch,
          "kernel {}: {} buffers bound, the shader has {}", name, bindings.size(),
          k.desc().bindings);
  require(push_bytes == k.desc().push_bytes, ErrorCode::ShapeMismatch,
          "kernel {}: {} push-constant bytes, the shader takes {}", name, push_bytes,
          k.desc().push_bytes);
  for (size_t i = 0; i < bindings.size(); ++i) {
    const auto& b = bindings[i];
    require(b.buffer != VK_NULL_HANDLE && b.size > 0, ErrorCode::ShapeMismatch,
            "kernel {}: binding {} is empty", name, i);
    if ((k.desc().texel_mask >> i) & 1u) {
      const uint64_t texels = b.size / kTexelBytes;
      require(texels > 0 && texels <= caps.max_texel_buffer_elements, ErrorCode::ShapeMismatch,
              "kernel {}: texel binding {} spans {} bytes = {} texels, the device takes 1 to "
              "maxTexelBufferElements ({})",
              name, i, b.size, texels, caps.max_texel_buffer_elements);
      require(caps.min_texel_buffer_offset_alignment > 0 &&
                  b.offset % caps.min_texel_buffer_offset_alignment == 0,
              ErrorCode::ShapeMismatch,
              "kernel {}: texel binding {} offset {} is not a multiple of "
              "minTexelBufferOffsetAlignment ({})",
              name, i, b.offset, caps.min_texel_buffer_offset_alignment);
      continue;
    }
    require(b.size <= caps.max_storage_buffer_range, ErrorCode::ShapeMismatch,
            "kernel {}: binding {} spans {} bytes, more than the device's "
            "maxStorageBufferRange ({} bytes); bind it in windows",
            name, i, b.size, caps.max_storage_buffer_range);
    require(b.offset % caps.min_storage_buffer_offset_alignment == 0, ErrorCode::ShapeMismatch,
            "kernel {}: binding {} offset {} is not a multiple of "
            "minStorageBufferOffsetAlignment ({})",
            name, i, b.offset, caps.min_storage_buffer_offset_alignment);
  }
  require(g.x <= caps.max_workgroup_count[0] && g.y <= caps.max_workgroup_count[1] &&
              g.z <= caps.max_workgroup_count[2],
          ErrorCode::ShapeMismatch, "kernel {}: grid {}x{}x{} exceeds the device limit {}x{}x{}",
          name, g.x, g.y, g.z, caps.max_workgroup_count[0], caps.max_workgroup_count[1],
          caps.max_workgroup_count[2]);
}

void Recorder::dispatch(const Kernel& k, std::span<const BufferRange> bindings,
                        std::span<const std::byte> push, Grid g) {
  check_dispatch(ctx_, k, bindings, push.size(), g);
  if (g.x == 0 || g.y == 0 || g.z == 0) return;  // empty problem: nothing to record
  ensure_recording();
  const auto& vk = ctx_.vk();
  std::array<VkDescriptorBufferInfo, kMaxBindings> infos{};
  std::array<VkBufferView, kMaxBindings> views{};
  std::array<VkWriteDescriptorSet, kMaxBindings> writes{};
  for (uint32_t i = 0; i < bindings.size(); ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    if ((k.desc().texel_mask >> i) & 1u) {
      views[i] = texel_view(bindings[i]);
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      writes[i].pTexelBufferView = &views[i];
      continue;
    }
    infos[i] = {bindings[i].buffer, bindings[i].offset, bindings[i].size};
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  const auto n = static_cast<uint32_t>(bindings.size());
  vk.vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline());
  if (n > 0 && ctx_.caps().push_descriptors) {
    vk.vkCmdPushDescriptorSetKHR(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout(), 0, n,
                                 writes.data());
  } else if (n > 0) {
    VkDescriptorSet set = allocate_set(k.set_layout());
    for (uint32_t i = 0; i < n; ++i) writes[i].dstSet = set;
    vk.vkUpdateDescriptorSets(ctx_.device(), n, writes.data(), 0, nullptr);
    vk.vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout(), 0, 1, &set, 0,
                               nullptr);
  }
  if (!push.empty()) {
    vk.vkCmdPushConstants(cb_, k.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                          static_cast<uint32_t>(push.size()), push.data());
  }
  vk.vkCmdDispatch(cb_, g.x, g.y, g.z);
  ++dispatches_;
  if (ctx_.pipeline_statistics() &&
      std::find(kernels_used_.begin(), kernels_used_.end(), &k) == kernels_used_.end()) {
    kernels_used_.push_back(&k);
  }
  ++commands_;
  if (ctx_.options().barrier_every_dispatch) barrier();
}

void Recorder::copy(const BufferRange& src, const BufferRange& dst) {
  require(src.size == dst.size, ErrorCode::ShapeMismatch, "copy: source {} bytes, destination {}",
          src.size, dst.size);
  if (src.size == 0) return;
  ensure_recording();
  VkBufferCopy region{src.offset, dst.offset, src.size};
  ctx_.vk().vkCmdCopyBuffer(cb_, src.buffer, dst.buffer, 1, &region);
  ++commands_;
}

void Recorder::fill(const BufferRange& dst, uint32_t value) {
  require(dst.offset % 4 == 0 && dst.size % 4 == 0, ErrorCode::ShapeMismatch,
          "fill: offset {} and size {} must be multiples of 4", dst.offset, dst.size);
  if (dst.size == 0) return;
  ensure_recording();
  ctx_.vk().vkCmdFillBuffer(cb_, dst.buffer, dst.offset, dst.size, value);
  ++commands_;
}

void Recorder::barrier() {
  ensure_recording();
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = kAllReadWrite;
  ctx_.vk().vkCmdPipelineBarrier(cb_, kComputeTransfer, kComputeTransfer, 0, 1, &mb, 0, nullptr, 0,
                                 nullptr);
  ++commands_;
}

void Recorder::host_barrier() {
  ensure_recording();
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  ctx_.vk().vkCmdPipelineBarrier(cb_, kComputeTransfer, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                                 nullptr, 0, nullptr);
  ++commands_;
}

void Recorder::reset_timer(GpuTimer& timer) {
  ensure_recording();
  ctx_.vk().vkCmdResetQueryPool(cb_, timer.pool(), 0, timer.count());
  ++commands_;
}

void Recorder::timestamp(GpuTimer& timer, uint32_t index) {
  require(index < timer.count(), ErrorCode::InvalidArgument, "timestamp {} of a {}-query timer",
          index, timer.count());
  ensure_recording();
  ctx_.vk().vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timer.pool(), index);
  ++commands_;
}

}  // namespace vkr
