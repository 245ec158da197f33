// GgufWriter: writes GGUF v3 files for tools (random models), streaming each tensor's bytes to the
// file as they are produced so peak memory is one tensor, not the whole model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf_types.hpp"

namespace vkr::gguf {

class Value;  // gguf.hpp

// One metadata value, encoded at construction (type id + payload bytes exactly as GGUF stores
// them), so the header size is known before any tensor data is produced.
class KvValue {
 public:
  static KvValue u8(uint8_t v);
  static KvValue i8(int8_t v);
  static KvValue u16(uint16_t v);
  static KvValue i16(int16_t v);
  static KvValue u32(uint32_t v);
  static KvValue i32(int32_t v);
  static KvValue f32(float v);
  static KvValue boolean(bool v);
  static KvValue str(std::string_view v);
  static KvValue u64(uint64_t v);
  static KvValue i64(int64_t v);
  static KvValue f64(double v);
  // Array of `elem`; every item must have that type. Throws vkr::Error(InvalidArgument) otherwise.
  static KvValue array(ValueType elem, const std::vector<KvValue>& items);
  static KvValue string_array(std::span<const std::string> items);
  static KvValue i32_array(std::span<const int32_t> items);
  static KvValue f32_array(std::span<const float> items);
  // The same value as read from a GGUF file (any type, nested arrays included), byte for byte,
  // so tools that rewrite a model (quantize) keep its metadata exactly.
  static KvValue copy_of(const Value& v);

  uint32_t type_id() const { return type_; }
  const std::vector<std::byte>& payload() const { return payload_; }

 private:
  KvValue(uint32_t type, std::vector<std::byte> payload)
      : type_(type), payload_(std::move(payload)) {}
  uint32_t type_;
  std::vector<std::byte> payload_;
};

// Produces a tensor's bytes into `out` (exactly tensor_bytes() long), called once during write().
using TensorFill = std::function<void(std::span<std::byte> out)>;
// Called after each tensor with bytes written so far and the total data size.
using WriteProgress = std::function<void(uint64_t done, uint64_t total)>;

class GgufWriter {
 public:
  // Alignment of the tensor data; a value other than GGUF's default 32 adds general.alignment.
  explicit GgufWriter(uint32_t alignment = 32);

  GgufWriter& add_kv(std::string key, KvValue value);
  // A tensor whose bytes `fill` produces at write time (nothing is held until then).
  GgufWriter& add_tensor(std::string name, std::vector<uint64_t> ne, GgmlType type,
                         TensorFill fill);
  // A tensor with bytes given now (small tensors); size must match tensor_bytes().
  GgufWriter& add_tensor(std::string name, std::vector<uint64_t> ne, GgmlType type,
                         std::vector<std::byte> data);

  size_t tensor_count() const { return tensors_.size(); }
  uint64_t data_bytes() const;  // size of the tensor data section, padding included

  // Writes the file: `path`.part first, renamed to `path` once complete (and removed when a
  // tensor's fill throws), so a failed write never leaves a truncated model behind. Throws
  // vkr::Error(Io) on any file system error.
  void write(const std::filesystem::path& path, const WriteProgress& progress = {}) const;

  // Bytes of a tensor of a known type (spec §6.1); throws vkr::Error(InvalidArgument) otherwise.
  static uint64_t tensor_bytes(std::span<const uint64_t> ne, GgmlType type);

 private:
  struct Kv {
    std::string key;
    KvValue value;
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    GgmlType type;
    uint64_t bytes;
    TensorFill fill;
  };
  std::vector<std::byte> header(std::vector<uint64_t>& offsets) const;
  void write_part(const std::filesystem::path& part, const WriteProgress& progress) const;

  uint64_t alignment_;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

// IEEE conversions with round-to-nearest-even (what numpy's astype and torch's .half() /
// .bfloat16() do), written out so the bytes do not depend on the compiler or CPU flags.
uint16_t float_to_half(float f);
uint16_t float_to_bf16(float f);

}  // namespace vkr::gguf
