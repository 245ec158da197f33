// GGUF/ggml type tables: block sizes of every ggml type id and names of metadata value types.
#include "gguf_types.hpp"

#include <fmt/format.h>

#include <array>

namespace vkr::gguf {
namespace {

struct TypeRow {
  GgmlType type;
  TypeTraits traits;
};

// Block geometry of each type (bytes per block follow from ggml's block structs; QK_K = 256).
// Kept as a flat table so adding a type is one line.
constexpr std::array kTypeRows = {
    TypeRow{GgmlType::F32, {"F32", 1, 4}},
    TypeRow{GgmlType::F16, {"F16", 1, 2}},
    TypeRow{GgmlType::Q4_0, {"Q4_0", 32, 18}},
    TypeRow{GgmlType::Q4_1, {"Q4_1", 32, 20}},
    TypeRow{GgmlType::Q5_0, {"Q5_0", 32, 22}},
    TypeRow{GgmlType::Q5_1, {"Q5_1", 32, 24}},
    TypeRow{GgmlType::Q8_0, {"Q8_0", 32, 34}},
    TypeRow{GgmlType::Q8_1, {"Q8_1", 32, 36}},
    TypeRow{GgmlType::Q2_K, {"Q2_K", 256, 84}},
    TypeRow{GgmlType::Q3_K, {"Q3_K", 256, 110}},
    TypeRow{GgmlType::Q4_K, {"Q4_K", 256, 144}},
    TypeRow{GgmlType::Q5_K, {"Q5_K", 256, 176}},
    TypeRow{GgmlType::Q6_K, {"Q6_K", 256, 210}},
    TypeRow{GgmlType::Q8_K, {"Q8_K", 256, 292}},
    TypeRow{GgmlType::IQ2_XXS, {"IQ2_XXS", 256, 66}},
    TypeRow{GgmlType::IQ2_XS, {"IQ2_XS", 256, 74}},
    TypeRow{GgmlType::IQ3_XXS, {"IQ3_XXS", 256, 98}},
    TypeRow{GgmlType::IQ1_S, {"IQ1_S", 256, 50}},
    TypeRow{GgmlType::IQ4_NL, {"IQ4_NL", 32, 18}},
    TypeRow{GgmlType::IQ3_S, {"IQ3_S", 256, 110}},
    TypeRow{GgmlType::IQ2_S, {"IQ2_S", 256, 82}},
    TypeRow{GgmlType::IQ4_XS, {"IQ4_XS", 256, 136}},
    TypeRow{GgmlType::I8, {"I8", 1, 1}},
    TypeRow{GgmlType::I16, {"I16", 1, 2}},
    TypeRow{GgmlType::I32, {"I32", 1, 4}},
    TypeRow{GgmlType::I64, {"I64", 1, 8}},
    TypeRow{GgmlType::F64, {"F64", 1, 8}},
    TypeRow{GgmlType::IQ1_M, {"IQ1_M", 256, 56}},
    TypeRow{GgmlType::BF16, {"BF16", 1, 2}},
    TypeRow{GgmlType::TQ1_0, {"TQ1_0", 256, 54}},
    TypeRow{GgmlType::TQ2_0, {"TQ2_0", 256, 66}},
    TypeRow{GgmlType::MXFP4, {"MXFP4", 32, 17}},
    TypeRow{GgmlType::NVFP4, {"NVFP4", 64, 36}},
    TypeRow{GgmlType::Q1_0, {"Q1_0", 128, 18}},
};

constexpr std::array<std::string_view, kValueTypeCount> kValueTypeNames = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

}  // namespace

std::optional<TypeTraits> type_traits(uint32_t type) {
  for (const TypeRow& row : kTypeRows) {
    if (static_cast<uint32_t>(row.type) == type) return row.traits;
  }
  return std::nullopt;
}

std::string type_name(uint32_t type) {
  if (auto traits = type_traits(type)) return std::string(traits->name);
  return fmt::format("type {}", type);
}

std::string value_type_name(uint32_t type) {
  if (type < kValueTypeCount) return std::string(kValueTypeNames[type]);
  return fmt::format("value type {}", type);
}

uint32_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::Bool:
      return 1;
    case ValueType::U16:
    case ValueType::I16:
      return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
      return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
      return 8;
    case ValueType::String:
    case ValueType::Array:
      return 0;
  }
  return 0;
}

bool is_integer(ValueType type) {
  switch (type) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::U16:
    case ValueType::I16:
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::U64:
    case ValueType::I64:
      return true;
    default:
      return false;
  }
}

bool is_signed_integer(ValueType type) {
  return type == ValueType::I8 || type == ValueType::I16 || type == ValueType::I32 ||
         type == ValueType::I64;
}

bool is_float(ValueType type) { return type == ValueType::F32 || type == ValueType::F64; }

}  // namespace vkr::gguf
