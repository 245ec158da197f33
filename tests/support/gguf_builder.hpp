// GgufBuilder: a tiny GGUF v2/v3 byte writer for tests and tools (valid files, and malformed ones
// on purpose through explicit overrides and raw values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gguf_types.hpp"
#include "gguf_writer.hpp"

namespace vkr::test {

// One metadata value, encoded at construction (type id + payload bytes as GGUF stores them).
class GgufValue {
 public:
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string_view v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f64(double v);
  // Array of `elem`; every item must have that type (arrays may nest). Throws
  // std::invalid_argument on a mismatch.
  static GgufValue array(gguf::ValueType elem, const std::vector<GgufValue>& items);
  static GgufValue string_array(const std::vector<std::string>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);
  static GgufValue f32_array(const std::vector<float>& items);
  // A value encoded by the tools' writer.
  static GgufValue from(const gguf::KvValue& v);
  // Any type id followed by exactly `payload` (for malformed files: bad ids, huge lengths...).
  static GgufValue raw(uint32_t type_id, std::vector<std::byte> payload);

  uint32_t type_id() const { return type_; }
  const std::vector<std::byte>& payload() const { return payload_; }

 private:
  GgufValue(uint32_t type, std::vector<std::byte> payload)
      : type_(type), payload_(std::move(payload)) {}
  uint32_t type_;
  std::vector<std::byte> payload_;
};

// The serialized file plus where its parts start (for truncation sweeps and byte patching).
struct GgufBytes {
  std::vector<std::byte> bytes;
  uint64_t infos_begin = 0;              // first tensor info (= end of metadata)
  uint64_t infos_end = 0;                // end of the last tensor info
  uint64_t data_offset = 0;              // start of the tensor data section
  std::vector<uint64_t> tensor_offsets;  // per tensor, relative to data_offset
};

class GgufBuilder {
 public:
  GgufBuilder& version(uint32_t v);
  GgufBuilder& magic(uint32_t m);
  // Adds general.alignment (u32) and lays tensor data out with that alignment.
  GgufBuilder& alignment(uint32_t a);
  GgufBuilder& add_kv(std::string key, GgufValue value);
  // Tensor with the given bytes, placed at the next aligned offset.
  GgufBuilder& add_tensor(std::string name, std::vector<uint64_t> ne, uint32_t type,
                          std::vector<std::byte> data);
  GgufBuilder& add_tensor(std::string name, std::vector<uint64_t> ne, gguf::GgmlType type,
                          std::vector<std::byte> data);
  // Tensor of a known type filled with a byte pattern of the spec size (§6.1).
  GgufBuilder& add_tensor(std::string name, std::vector<uint64_t> ne, gguf::GgmlType type);
  // Forces the recorded offset of tensor `index` (data is written there too).
  GgufBuilder& tensor_offset(size_t index, uint64_t offset);
  // Header count overrides (the real entries are still written).
  GgufBuilder& tensor_count(uint64_t n);
  GgufBuilder& kv_count(uint64_t n);

  GgufBytes build() const;
  std::vector<std::byte> serialize() const { return build().bytes; }
  void write(const std::filesystem::path& path) const;

  // Bytes of a tensor of a known type per spec §6.1 (throws std::invalid_argument otherwise).
  static uint64_t tensor_bytes(const std::vector<uint64_t>& ne, gguf::GgmlType type);

 private:
  struct Kv {
    std::string key;
    GgufValue value;
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::vector<std::byte> data;
    std::optional<uint64_t> offset;
  };
  uint32_t version_ = 3;
  uint32_t magic_ = 0x46554747;
  uint64_t alignment_ = 32;
  std::optional<uint64_t> tensor_count_;
  std::optional<uint64_t> kv_count_;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

// Little-endian appenders, for crafting bytes the builder will not produce.
void put_u32(std::vector<std::byte>& out, uint32_t v);
void put_u64(std::vector<std::byte>& out, uint64_t v);
void put_string(std::vector<std::byte>& out, std::string_view s);  // u64 length + bytes

// Writes `bytes` to `path` (throws std::runtime_error on failure).
void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes);

}  // namespace vkr::test
