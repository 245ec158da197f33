// GGUF/ggml type tables: tensor type ids with block sizes (spec §6.2) and metadata value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vkr::gguf {

// ggml tensor element types as stored in a GGUF tensor info. Ids 4, 5, 31-33 and 36-38 were
// removed from ggml and are rejected like any other unknown id.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
};

// A type's storage unit: `block_elems` consecutive elements along ne0 take `block_bytes` bytes.
struct TypeTraits {
  std::string_view name;
  uint32_t block_elems;
  uint32_t block_bytes;
};

// Traits of a ggml type id; nullopt for ids ggml does not (or no longer) define.
std::optional<TypeTraits> type_traits(uint32_t type);
inline std::optional<TypeTraits> type_traits(GgmlType type) {
  return type_traits(static_cast<uint32_t>(type));
}

// "Q4_K" for known ids, "type 99" otherwise (for messages).
std::string type_name(uint32_t type);
inline std::string type_name(GgmlType type) { return type_name(static_cast<uint32_t>(type)); }

// Metadata value types (GGUF v2/v3). Bool is one byte; String is u64 length + bytes; Array is
// u32 element type + u64 count + elements.
enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

inline constexpr uint32_t kValueTypeCount = 13;

// "u32", "string", ...; "value type 77" for unknown ids.
std::string value_type_name(uint32_t type);
inline std::string value_type_name(ValueType type) {
  return value_type_name(static_cast<uint32_t>(type));
}

// Encoded size of a scalar value type (0 for String/Array, whose size depends on the content).
uint32_t scalar_size(ValueType type);
bool is_integer(ValueType type);
bool is_signed_integer(ValueType type);
bool is_float(ValueType type);

}  // namespace vkr::gguf
