// tensor.hpp: DType, Shape and Tensor, a non-owning typed view {VkBuffer, byte offset, shape}.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "vkr/buffer.hpp"

namespace vkr {

enum class DType : uint8_t { F32, F16, BF16, I32, U32, U8 };

constexpr uint32_t dtype_bytes(DType t) {
  switch (t) {
    case DType::F16:
    case DType::BF16: return 2;
    case DType::U8: return 1;
    default: return 4;
  }
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

  static Tensor of(const Buffer& b, Shape shape, DType dtype, VkDeviceSize offset = 0);
  uint64_t bytes() const { return shape.elements() * dtype_bytes(dtype); }
  BufferRange range() const { return {buffer, offset, bytes()}; }
  // Rows [first, first + count) of the outermost dimension, same dtype.
  Tensor rows(uint64_t first, uint64_t count) const;
};

// Throws ShapeMismatch "<kernel>: <arg> has shape X dtype D, expected Y dtype E" unless they match.
void check_tensor(std::string_view kernel, std::string_view arg, const Tensor& t,
                  const Shape& expected, DType dtype);

}  // namespace vkr
