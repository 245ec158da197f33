// block_ops_common.hpp: small checks shared by the block-op twins (norm, group_norm, token_shift,
// decay, elementwise, embed, sampling): optional tensors, u32 dimension limits, subgroup support.
#pragma once

#include <cstdint>
#include <string_view>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

// An Args field left default-constructed means "not given".
inline bool present(const Tensor& t) { return t.buffer != VK_NULL_HANDLE; }

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
