// block_ops_common.hpp: small checks shared by the block-op twins (norm, group_norm, token_shift,
// decay, elementwise, embed, sampling): optional tensors, u32 dimension limits, subgroup support.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// An Args field left default-constructed means "not given".
inline bool present(const Tensor& t) { return t.buffer != VK_NULL_HANDLE; }

// Channels per access of the vector paths built on shaders/common/lora_chunk.glsl, for rows of
// `width` floats in `tensors`: 8 (u64vec4, the f32x8 builds) where the device has shaderInt64,
// width % 8 == 0 and every tensor starts on 32 bytes; else 4 (vec4) where width % 4 == 0 and every
// tensor starts on 16 bytes; else 1 (scalar). llvmpipe runs each access as a per-lane loop over
// its components, so wider units mean fewer loop trips; on GPUs they are wider accesses.
inline uint32_t chunk_unit(const Capabilities& caps, uint64_t width,
                           std::initializer_list<const Tensor*> tensors) {
  bool at16 = true, at32 = true;
  for (const Tensor* t : tensors) {
    at16 = at16 && t->offset % 16 == 0;
    at32 = at32 && t->offset % 32 == 0;
  }
  if (caps.int64_arith && width % 8 == 0 && at32) return 8;
  return width % 4 == 0 && at16 ? 4 : 1;
}

// Shaders index with 32-bit uints: every element count they see must fit.
inline uint32_t u32_dim(uint64_t v, std::string_view kernel, std::string_view what) {
  require(v <= UINT32_MAX, ErrorCode::ShapeMismatch, "{}: {} = {} exceeds 2^32 - 1", kernel, what,
          v);
  return static_cast<uint32_t>(v);
}

// Rank-2 tensor check that reports the expected layout by name, e.g. "x: (rows, C)".
inline void require_rank2(std::string_view kernel, std::string_view arg, const Tensor& t) {
  if (present(t) && t.shape.rank() == 2 && t.shape.elements() > 0) return;  // no string built
  require(false, ErrorCode::ShapeMismatch, "{}: {} must be a non-empty 2-D tensor, got {}", kernel,
          arg, present(t) ? t.shape.str() : std::string("nothing"));
}

// common/reduce.glsl needs subgroup arithmetic (every Vulkan 1.1+ desktop GPU and lavapipe have
// it).
inline void require_subgroup_arith(const Context& ctx, std::string_view kernel) {
  constexpr VkSubgroupFeatureFlags kNeed =
      VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  require((ctx.caps().subgroup_ops & kNeed) == kNeed, ErrorCode::DeviceUnsupported,
          "{}: needs subgroup basic + arithmetic operations in compute shaders", kernel);
}

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace vkr::kernels
