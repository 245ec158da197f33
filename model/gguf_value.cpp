// GGUF metadata values: scalar/array accessors, rendering for messages, and File's typed getters.
#include <cstring>
#include <limits>
#include <vkr/error.hpp>

#include "gguf.hpp"

namespace vkr::gguf {
namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Sign-extends the zero-extended raw bits of a signed scalar.
int64_t signed_value(ValueType type, uint64_t bits) {
  switch (type) {
    case ValueType::I8:
      return static_cast<int8_t>(static_cast<uint8_t>(bits));
    case ValueType::I16:
      return static_cast<int16_t>(static_cast<uint16_t>(bits));
    case ValueType::I32:
      return static_cast<int32_t>(static_cast<uint32_t>(bits));
    default:
      return static_cast<int64_t>(bits);
  }
}

double float_value(ValueType type, uint64_t bits) {
  if (type == ValueType::F32) {
    float f;
    const auto b32 = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b32, sizeof f);
    return f;
  }
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

}  // namespace

Value Value::scalar(ValueType type, uint64_t raw_bits) {
  Value v;
  v.type_ = type;
  v.bits_ = raw_bits;
  return v;
}

Value Value::string(std::string_view text) {
  Value v;
  v.type_ = ValueType::String;
  v.bits_ = text.size();
  v.data_ = reinterpret_cast<const std::byte*>(text.data());
  return v;
}

Value Value::scalar_array(ValueType elem, uint64_t count, const std::byte* data) {
  Value v;
  v.type_ = ValueType::Array;
  v.elem_ = elem;
  v.bits_ = count;
  v.data_ = data;
  return v;
}

Value Value::string_array(std::vector<std::string_view> items) {
  Value v;
  v.type_ = ValueType::Array;
  v.elem_ = ValueType::String;
  v.bits_ = items.size();
  v.strings_ = std::move(items);
  return v;
}

Value Value::nested_array(ValueType elem, std::vector<Value> items) {
  Value v;
  v.type_ = ValueType::Array;
  v.elem_ = elem;
  v.bits_ = items.size();
  v.items_ = std::move(items);
  return v;
}

std::optional<uint64_t> Value::as_u64() const {
  if (!is_integer(type_)) return std::nullopt;
  if (is_signed_integer(type_)) {
    const int64_t s = signed_value(type_, bits_);
    if (s < 0) return std::nullopt;
    return static_cast<uint64_t>(s);
  }
  return bits_;
}

std::optional<int64_t> Value::as_i64() const {
  if (!is_integer(type_)) return std::nullopt;
  if (is_signed_integer(type_)) return signed_value(type_, bits_);
  if (bits_ > kInt64Max) return std::nullopt;
  return static_cast<int64_t>(bits_);
}

std::optional<double> Value::as_f64() const {
  if (is_float(type_)) return float_value(type_, bits_);
  if (is_signed_integer(type_)) return static_cast<double>(signed_value(type_, bits_));
  if (is_integer(type_)) return static_cast<double>(bits_);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (type_ != ValueType::Bool) return std::nullopt;
  return bits_ != 0;
}

std::optional<std::string_view> Value::as_string() const {
  if (type_ != ValueType::String) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(data_), static_cast<size_t>(bits_));
}

std::span<const std::byte> Value::raw() const {
  if (!is_array() || elem_ == ValueType::String || elem_ == ValueType::Array) return {};
  return {data_, static_cast<size_t>(bits_ * scalar_size(elem_))};
}

Value Value::at(uint64_t i) const {
  if (elem_ == ValueType::String) return string(strings_[i]);
  if (elem_ == ValueType::Array) return items_[i];
  const uint32_t n = scalar_size(elem_);
  uint64_t bits = 0;
  std::memcpy(&bits, data_ + i * n, n);
  return scalar(elem_, bits);
}

std::string Value::describe(size_t max_elements) const {
  switch (type_) {
    case ValueType::String: {
      // Long strings (chat templates) are cut so messages stay one readable line.
      const std::string_view s = *as_string();
      if (s.size() <= 64) return fmt::format("string \"{}\"", s);
      return fmt::format("string \"{}...\" ({} bytes)", s.substr(0, 64), s.size());
    }
    case ValueType::Bool:
      return bits_ ? "bool true" : "bool false";
    case ValueType::F32:
    case ValueType::F64:
      return fmt::format("{} {}", value_type_name(type_), *as_f64());
    case ValueType::Array: {
      std::string out = fmt::format("array<{}>[{}] {{", value_type_name(elem_), size());
      for (uint64_t i = 0; i < size() && i < max_elements; ++i) {
        out += (i ? ", " : "") + at(i).describe(max_elements);
      }
      return out + (size() > max_elements ? ", ...}" : "}");
    }
    default:
      if (is_signed_integer(type_)) {
        return fmt::format("{} {}", value_type_name(type_), signed_value(type_, bits_));
      }
      return fmt::format("{} {}", value_type_name(type_), bits_);
  }
}

void File::fail_key(std::string_view key, std::string_view what) const {
  throw Error(ErrorCode::BadModelFile,
              fmt::format("{}: metadata key '{}': {}", path_.string(), printable(key), what));
}

const Value* File::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

std::optional<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto u = v->as_u64()) return u;
  fail_key(key, fmt::format("expected a non-negative integer, got {}", v->describe()));
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto i = v->as_i64()) return i;
  fail_key(key, fmt::format("expected an integer that fits int64, got {}", v->describe()));
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto d = v->as_f64()) return d;
  fail_key(key, fmt::format("expected a number, got {}", v->describe()));
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto b = v->as_bool()) return b;
  fail_key(key, fmt::format("expected a bool, got {}", v->describe()));
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto s = v->as_string()) return s;
  fail_key(key, fmt::format("expected a string, got {}", v->describe()));
}

std::optional<std::vector<std::string_view>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_array() || v->element_type() != ValueType::String) {
    fail_key(key, fmt::format("expected an array of strings, got {}", v->describe()));
  }
  return std::vector<std::string_view>(v->strings().begin(), v->strings().end());
}

std::optional<std::vector<int64_t>> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_array() || !is_integer(v->element_type())) {
    fail_key(key, fmt::format("expected an array of integers, got {}", v->describe()));
  }
  std::vector<int64_t> out(v->size());
  for (uint64_t i = 0; i < v->size(); ++i) {
    auto x = v->at(i).as_i64();
    if (!x) fail_key(key, fmt::format("element [{}] does not fit int64", i));
    out[i] = *x;
  }
  return out;
}

std::optional<std::vector<double>> File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  const ValueType e = v->element_type();
  if (!v->is_array() || !(is_float(e) || is_integer(e))) {
    fail_key(key, fmt::format("expected an array of numbers, got {}", v->describe()));
  }
  std::vector<double> out(v->size());
  for (uint64_t i = 0; i < v->size(); ++i) out[i] = *v->at(i).as_f64();
  return out;
}

}  // namespace vkr::gguf
