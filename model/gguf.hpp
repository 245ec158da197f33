// GGUF v2/v3 reader: mmaps a file, validates header, metadata and tensor infos, hands out views.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gguf_types.hpp"

namespace vkr::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr uint64_t kMaxTensorName = 64;  // bytes, spec §6.1
inline constexpr uint32_t kMaxDims = 4;
inline constexpr uint32_t kMaxArrayDepth = 8;  // nested arrays deeper than this are rejected

// One metadata value: a scalar, a string or an array (arrays may nest). Strings and the elements
// of scalar arrays are views into the File's mapping, so a Value is valid only while its File is.
class Value {
 public:
  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::Array; }

  // Scalar accessors: nullopt when the value's type cannot represent the request.
  std::optional<uint64_t> as_u64() const;  // any integer type holding a value >= 0
  std::optional<int64_t> as_i64() const;   // any integer type holding a value <= INT64_MAX
  std::optional<double> as_f64() const;    // f32, f64 or any integer type
  std::optional<bool> as_bool() const;
  std::optional<std::string_view> as_string() const;

  // Arrays. element_type() is meaningful only for arrays; size() is 0 for non-arrays.
  ValueType element_type() const { return elem_; }
  uint64_t size() const { return is_array() ? bits_ : 0; }
  // Element i as a Value (precondition: i < size()). Cheap except for nested arrays (a copy);
  // use arrays() to walk those.
  Value at(uint64_t i) const;
  std::span<const std::string_view> strings() const { return strings_; }  // array of strings
  std::span<const Value> arrays() const { return items_; }                // array of arrays
  // Little-endian element bytes of an array of scalars (size() * scalar_size(element_type())).
  std::span<const std::byte> raw() const;

  // Short human-readable rendering for messages and dumps ("u32 7", "string \"abc\"",
  // "array<i32>[3] {1, 2, 3}").
  std::string describe(size_t max_elements = 8) const;

  // Constructors used by the parser (and tests); the viewed bytes must outlive the Value.
  static Value scalar(ValueType type, uint64_t raw_bits);
  static Value string(std::string_view text);
  static Value scalar_array(ValueType elem, uint64_t count, const std::byte* data);
  static Value string_array(std::vector<std::string_view> items);
  static Value nested_array(ValueType elem, std::vector<Value> items);

 private:
  ValueType type_ = ValueType::U8;
  ValueType elem_ = ValueType::U8;
  uint64_t bits_ = 0;  // scalar: raw bits, zero-extended; string: length; array: count
  const std::byte* data_ = nullptr;  // string bytes, or the elements of a scalar array
  std::vector<std::string_view> strings_;
  std::vector<Value> items_;
};

// One tensor info, validated: every ne >= 1, type known, ne0 a multiple of the block size,
// data inside the file and not overlapping another tensor.
struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ne0 first (contiguous dim); 1..4 entries
  uint32_t type = 0;         // ggml type id (GgmlType), known to type_traits()
  uint64_t offset = 0;       // from the start of the tensor data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint32_t shard = 0;  // the part of a split model whose data section holds it (0: the first)

  GgmlType ggml_type() const { return static_cast<GgmlType>(type); }
};

// A validated, memory-mapped GGUF file. Move-only; the mapping lives as long as the File.
//
// A split model (llama-gguf-split's parts NAME-00001-of-0000N.gguf, as big models are published)
// opens as one File from its first part: the metadata is the first part's, tensors() lists every
// part's tensors (TensorInfo::shard says which part holds each) and tensor_data() reads the right
// mapping, so no caller needs to know. The other parts are found by name beside the first and
// checked as llama.cpp checks them (split.no of each, no tensor twice, split.tensors.count).
class File {
 public:
  // Maps `path` read-only and validates all of it (throws vkr::Error: Io for OS-level failures,
  // BadModelFile for content, each naming the file and the offending key or tensor); for the
  // first part of a split model, all its parts (a missing or inconsistent one is named).
  static File open(const std::filesystem::path& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::filesystem::path& path() const { return path_; }  // the first part's, when split
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }           // of the first part
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section

  // 1 for an ordinary file; the parts of a split model, in order (part 0 is path()).
  size_t n_shards() const { return 1 + shards_.size(); }
  const std::filesystem::path& shard_path(size_t i) const {
    return i == 0 ? path_ : shards_.at(i - 1).path_;
  }

  const Value* find(std::string_view key) const;  // nullptr when absent

  // Typed getters: nullopt when the key is absent; throw BadModelFile naming the file and key
  // when present with an unusable type or value.
  std::optional<uint64_t> get_uint(std::string_view key) const;  // any integer type, >= 0
  std::optional<int64_t> get_int(std::string_view key) const;    // any integer type
  std::optional<double> get_float(std::string_view key) const;   // f32, f64 or integer
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  std::optional<std::vector<double>> get_float_array(std::string_view key) const;

  std::span<const std::pair<std::string, Value>> metadata() const {
    return metadata_;
  }                                                                 // file order
  std::span<const TensorInfo> tensors() const { return tensors_; }  // file order
  const TensorInfo* tensor(std::string_view name) const;            // nullptr when absent

  // The tensor's bytes inside the mapping. `t` must come from this File (else InvalidArgument).
  std::span<const std::byte> tensor_data(const TensorInfo& t) const;

 private:
  friend class Parser;
  File() = default;
  static File open_one(const std::filesystem::path& path);
  void attach_shards();  // gguf_split.cpp
  void release() noexcept;
  [[noreturn]] void fail_key(std::string_view key, std::string_view what) const;

  std::filesystem::path path_;
  const std::byte* map_ = nullptr;  // whole file, PROT_READ; nullptr for an empty mapping
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
  // Keys view the metadata_/tensors_ strings; their heap buffers survive moves of the vectors
  // (the vectors are sized once and never grow after indexing).
  std::unordered_map<std::string_view, size_t> key_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
  std::vector<File> shards_;  // a split model's other parts (their tensors are in tensors_ too)
};

}  // namespace vkr::gguf
