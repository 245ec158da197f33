// tensor.hpp: DType, Shape and Tensor, a non-owning typed view {VkBuffer, byte offset, shape}.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "vkr/buffer.hpp"

namespace vkr {

// Plain element types, then ggml block-quantized weight types (spec §6): a quantized tensor's
// innermost dimension is a whole number of blocks of `dtype_block(t).elems` elements stored in
// `.bytes` bytes, exactly as in the GGUF file (kernels decode the blocks in place).
// (Quantized ids in the order they were added; shaders/CMakeLists.txt lists the variants alike.)
enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  I32,
  U32,
  U8,
  Q8_0,
  Q4_0,
  Q5_0,
  Q5_1,
  Q4_K,
  Q5_K,
  Q6_K,
  Q4_1,
  Q2_K,
  Q3_K,
  IQ4_NL,
  IQ4_XS,
  IQ2_XXS,
  IQ2_XS,
  IQ2_S,
  IQ3_XXS,
  IQ3_S,
  IQ1_S,
  IQ1_M
};

constexpr bool dtype_is_quant(DType t) { return t >= DType::Q8_0; }
// The i-quants whose values come from a codebook (vkr/iq_grids.hpp): kernels bind the context's
// codebook buffer beside the weights.
constexpr bool dtype_has_grid(DType t) { return t >= DType::IQ2_XXS; }

struct BlockLayout {
  uint32_t elems, bytes;
};
constexpr BlockLayout dtype_block(DType t) {
  switch (t) {
    case DType::F16:
    case DType::BF16: return {1, 2};
    case DType::U8: return {1, 1};
    case DType::Q8_0: return {32, 34};
    case DType::Q4_0: return {32, 18};
    case DType::Q5_0: return {32, 22};
    case DType::Q5_1: return {32, 24};
    case DType::Q4_K: return {256, 144};
    case DType::Q5_K: return {256, 176};
    case DType::Q6_K: return {256, 210};
    case DType::Q4_1: return {32, 20};
    case DType::Q2_K: return {256, 84};
    case DType::Q3_K: return {256, 110};
    case DType::IQ4_NL: return {32, 18};
    case DType::IQ4_XS: return {256, 136};
    case DType::IQ2_XXS:
      return {256, 66};
    case DType::IQ2_XS:
      return {256, 74};
    case DType::IQ2_S:
      return {256, 82};
    case DType::IQ3_XXS:
      return {256, 98};
    case DType::IQ3_S:
      return {256, 110};
    case DType::IQ1_S:
      return {256, 50};
    case DType::IQ1_M:
      return {256, 56};
    default: return {1, 4};
  }
}

// Bytes per element of a plain type. Quantized types have no per-element size (0): use
// dtype_row_bytes() / Tensor::bytes().
constexpr uint32_t dtype_bytes(DType t) { return dtype_is_quant(t) ? 0 : dtype_block(t).bytes; }

// Bytes of `n` consecutive elements starting at a block boundary (n a multiple of the block).
constexpr uint64_t dtype_row_bytes(DType t, uint64_t n) {
  const BlockLayout b = dtype_block(t);
  return n / b.elems * b.bytes;
}
std::string_view dtype_name(DType t);

// Up to 4 dimensions, outermost first (PyTorch order): (B, T, H, N) has N contiguous.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<uint64_t> dims);
  uint32_t rank() const { return rank_; }
  uint64_t operator[](uint32_t i) const { return dims_[i]; }
  uint64_t elements() const;
  bool operator==(const Shape& o) const = default;
  std::string str() const;  // "(2, 3, 4)"

 private:
  std::array<uint64_t, 4> dims_{};
  uint32_t rank_ = 0;
};

struct Tensor {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;  // bytes
  Shape shape;
  DType dtype = DType::F32;

  // Throws ShapeMismatch when the tensor does not fit in `b`, or (quantized dtypes) when the
  // innermost dimension is not a whole number of blocks.
  static Tensor of(const Buffer& b, Shape shape, DType dtype, VkDeviceSize offset = 0);
  uint64_t bytes() const { return dtype_row_bytes(dtype, shape.elements()); }
  // Bytes of one row of the innermost dimension (the block-quantized row size for quant types).
  uint64_t row_bytes() const {
    return shape.rank() ? dtype_row_bytes(dtype, shape[shape.rank() - 1]) : 0;
  }
  BufferRange range() const { return {buffer, offset, bytes()}; }
  // Rows [first, first + count) of the outermost dimension, same dtype.
  Tensor rows(uint64_t first, uint64_t count) const;
};

// Throws ShapeMismatch "<kernel>: <arg> has shape X dtype D, expected Y dtype E" unless they match.
void check_tensor(std::string_view kernel, std::string_view arg, const Tensor& t,
                  const Shape& expected, DType dtype);

}  // namespace vkr

// Shapes format as Shape::str() ("(2, 5120)"). Pass the Shape itself to require() and other
// format calls: the string is then built only when the message is, not on every (passing) check.
template <>
struct fmt::formatter<vkr::Shape> : fmt::formatter<std::string_view> {
  auto format(const vkr::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.str(), ctx);
  }
};
