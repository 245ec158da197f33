// tensor.cpp: Shape/Tensor helpers and the shape check used by every kernel twin.
#include "vkr/tensor.hpp"

#include <fmt/format.h>

#include "vkr/error.hpp"

namespace vkr {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::U32: return "u32";
    case DType::U8: return "u8";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q5_0: return "q5_0";
    case DType::Q5_1: return "q5_1";
    case DType::Q4_K: return "q4_k";
    case DType::Q5_K: return "q5_k";
    case DType::Q6_K: return "q6_k";
    case DType::Q4_1: return "q4_1";
    case DType::Q2_K: return "q2_k";
    case DType::Q3_K: return "q3_k";
    case DType::IQ4_NL: return "iq4_nl";
    case DType::IQ4_XS: return "iq4_xs";
    case DType::IQ2_XXS:
      return "iq2_xxs";
    case DType::IQ2_XS:
      return "iq2_xs";
    case DType::IQ2_S:
      return "iq2_s";
    case DType::IQ3_XXS:
      return "iq3_xxs";
    case DType::IQ3_S:
      return "iq3_s";
    case DType::IQ1_S:
      return "iq1_s";
    case DType::IQ1_M:
      return "iq1_m";
  }
  return "?";
}

Shape::Shape(std::initializer_list<uint64_t> dims) {
  require(dims.size() <= 4, ErrorCode::ShapeMismatch, "shape of rank {} (max 4)", dims.size());
  for (uint64_t d : dims) dims_[rank_++] = d;
}

uint64_t Shape::elements() const {
  uint64_t n = 1;
  for (uint32_t i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::string s = "(";
  for (uint32_t i = 0; i < rank_; ++i) s += fmt::format("{}{}", i ? ", " : "", dims_[i]);
  return s + ")";
}

Tensor Tensor::of(const Buffer& b, Shape shape, DType dtype, VkDeviceSize offset) {
  Tensor t{b.handle(), offset, shape, dtype};
  const uint64_t inner = shape.rank() ? shape[shape.rank() - 1] : 0;
  require(!dtype_is_quant(dtype) || inner % dtype_block(dtype).elems == 0,
          ErrorCode::ShapeMismatch,
          "tensor {} {} in buffer '{}': rows of {} elements are not whole {}-element blocks",
          shape, dtype_name(dtype), b.name(), inner, dtype_block(dtype).elems);
  require(offset + t.bytes() <= b.size(), ErrorCode::ShapeMismatch,
          "tensor {} {} at byte {} does not fit in buffer '{}' ({} bytes)", shape,
          dtype_name(dtype), offset, b.name(), b.size());
  return t;
}

Tensor Tensor::rows(uint64_t first, uint64_t count) const {
  require(shape.rank() > 0 && first + count <= shape[0], ErrorCode::ShapeMismatch,
          "rows [{}, {}) of a tensor of shape {}", first, first + count, shape);
  const uint64_t row_bytes = shape[0] ? bytes() / shape[0] : 0;
  Tensor t = *this;
  t.offset += first * row_bytes;
  switch (shape.rank()) {
    case 1: t.shape = Shape{count}; break;
    case 2: t.shape = Shape{count, shape[1]}; break;
    case 3: t.shape = Shape{count, shape[1], shape[2]}; break;
    default: t.shape = Shape{count, shape[1], shape[2], shape[3]}; break;
  }
  return t;
}

void check_tensor(std::string_view kernel, std::string_view arg, const Tensor& t,
                  const Shape& expected, DType dtype) {
  require(t.buffer != VK_NULL_HANDLE, ErrorCode::ShapeMismatch, "{}: {} is not bound", kernel, arg);
  require(t.shape == expected && t.dtype == dtype, ErrorCode::ShapeMismatch,
          "{}: {} has shape {} dtype {}, expected {} dtype {}", kernel, arg, t.shape,
          dtype_name(t.dtype), expected, dtype_name(dtype));
}

}  // namespace vkr
