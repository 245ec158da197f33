// GgufBuilder implementation: little-endian encoding of values, tensor infos and aligned data.
#include "support/gguf_builder.hpp"

#include "gguf_writer.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace vkr::test {
namespace {

using gguf::ValueType;

template <typename T>
void put(std::vector<std::byte>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));  // hosts are little-endian, like GGUF
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

// Well-formed values are encoded by the tools' writer (model/gguf_writer), so tests and tools
// share one encoder; only raw() below exists for malformed files.
GgufValue GgufValue::from(const gguf::KvValue& v) { return {v.type_id(), v.payload()}; }

GgufValue GgufValue::u8(uint8_t v) { return from(gguf::KvValue::u8(v)); }
GgufValue GgufValue::i8(int8_t v) { return from(gguf::KvValue::i8(v)); }
GgufValue GgufValue::u16(uint16_t v) { return from(gguf::KvValue::u16(v)); }
GgufValue GgufValue::i16(int16_t v) { return from(gguf::KvValue::i16(v)); }
GgufValue GgufValue::u32(uint32_t v) { return from(gguf::KvValue::u32(v)); }
GgufValue GgufValue::i32(int32_t v) { return from(gguf::KvValue::i32(v)); }
GgufValue GgufValue::f32(float v) { return from(gguf::KvValue::f32(v)); }
GgufValue GgufValue::boolean(bool v) { return from(gguf::KvValue::boolean(v)); }
GgufValue GgufValue::u64(uint64_t v) { return from(gguf::KvValue::u64(v)); }
GgufValue GgufValue::i64(int64_t v) { return from(gguf::KvValue::i64(v)); }
GgufValue GgufValue::f64(double v) { return from(gguf::KvValue::f64(v)); }
GgufValue GgufValue::str(std::string_view v) { return from(gguf::KvValue::str(v)); }

GgufValue GgufValue::array(ValueType elem, const std::vector<GgufValue>& items) {
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(elem));
  put<uint64_t>(out, items.size());
  for (const GgufValue& item : items) {
    if (item.type_ != static_cast<uint32_t>(elem)) {
      throw std::invalid_argument("GgufValue::array: item type differs from the element type");
    }
    out.insert(out.end(), item.payload_.begin(), item.payload_.end());
  }
  return {9, std::move(out)};
}

GgufValue GgufValue::string_array(const std::vector<std::string>& items) {
  return from(gguf::KvValue::string_array(items));
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  return from(gguf::KvValue::i32_array(items));
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  return from(gguf::KvValue::f32_array(items));
}

GgufValue GgufValue::raw(uint32_t type_id, std::vector<std::byte> payload) {
  return {type_id, std::move(payload)};
}

GgufBuilder& GgufBuilder::version(uint32_t v) {
  version_ = v;
  return *this;
}

GgufBuilder& GgufBuilder::magic(uint32_t m) {
  magic_ = m;
  return *this;
}

GgufBuilder& GgufBuilder::alignment(uint32_t a) {
  alignment_ = a;
  return add_kv("general.alignment", GgufValue::u32(a));
}

GgufBuilder& GgufBuilder::add_kv(std::string key, GgufValue value) {
  kvs_.push_back({std::move(key), std::move(value)});
  return *this;
}

GgufBuilder& GgufBuilder::add_tensor(std::string name, std::vector<uint64_t> ne, uint32_t type,
                                     std::vector<std::byte> data) {
  tensors_.push_back({std::move(name), std::move(ne), type, std::move(data), std::nullopt});
  return *this;
}

GgufBuilder& GgufBuilder::add_tensor(std::string name, std::vector<uint64_t> ne,
                                     gguf::GgmlType type, std::vector<std::byte> data) {
  return add_tensor(std::move(name), std::move(ne), static_cast<uint32_t>(type), std::move(data));
}

GgufBuilder& GgufBuilder::add_tensor(std::string name, std::vector<uint64_t> ne,
                                     gguf::GgmlType type) {
  std::vector<std::byte> data(tensor_bytes(ne, type));
  // A position-dependent pattern so misplaced reads show up in byte comparisons.
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<std::byte>((i * 131 + tensors_.size() * 17 + 7) & 0xff);
  }
  return add_tensor(std::move(name), std::move(ne), type, std::move(data));
}

GgufBuilder& GgufBuilder::tensor_offset(size_t index, uint64_t offset) {
  tensors_.at(index).offset = offset;
  return *this;
}

GgufBuilder& GgufBuilder::tensor_count(uint64_t n) {
  tensor_count_ = n;
  return *this;
}

GgufBuilder& GgufBuilder::kv_count(uint64_t n) {
  kv_count_ = n;
  return *this;
}

uint64_t GgufBuilder::tensor_bytes(const std::vector<uint64_t>& ne, gguf::GgmlType type) {
  const auto traits = gguf::type_traits(type);
  if (!traits || ne.empty() || ne[0] % traits->block_elems != 0) {
    throw std::invalid_argument("GgufBuilder::tensor_bytes: unknown type or ragged ne0");
  }
  uint64_t bytes = ne[0] / traits->block_elems * traits->block_bytes;
  for (size_t d = 1; d < ne.size(); ++d) bytes *= ne[d];
  return bytes;
}

GgufBytes GgufBuilder::build() const {
  GgufBytes r;
  std::vector<std::byte>& out = r.bytes;
  put(out, magic_);
  put(out, version_);
  put<uint64_t>(out, tensor_count_.value_or(tensors_.size()));
  put<uint64_t>(out, kv_count_.value_or(kvs_.size()));
  for (const Kv& kv : kvs_) {
    put_string(out, kv.key);
    put(out, kv.value.type_id());
    out.insert(out.end(), kv.value.payload().begin(), kv.value.payload().end());
  }
  // Offsets: explicit ones as given, the others packed at the next aligned position.
  uint64_t cursor = 0;
  for (const Tensor& t : tensors_) {
    const uint64_t offset = t.offset.value_or(align_up(cursor, alignment_));
    r.tensor_offsets.push_back(offset);
    cursor = std::max(cursor, offset + t.data.size());
  }
  r.infos_begin = out.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    put_string(out, t.name);
    put(out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) put(out, n);
    put(out, t.type);
    put(out, r.tensor_offsets[i]);
  }
  r.infos_end = out.size();
  r.data_offset = tensors_.empty() ? out.size() : align_up(out.size(), alignment_);
  out.resize(r.data_offset + cursor, std::byte{0});
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& d = tensors_[i].data;
    std::copy(d.begin(), d.end(),
              out.begin() + static_cast<std::ptrdiff_t>(r.data_offset + r.tensor_offsets[i]));
  }
  return r;
}

void put_u32(std::vector<std::byte>& out, uint32_t v) { put(out, v); }
void put_u64(std::vector<std::byte>& out, uint64_t v) { put(out, v); }

void put_string(std::vector<std::byte>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

void GgufBuilder::write(const std::filesystem::path& path) const { write_bytes(path, serialize()); }

void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("write_bytes: cannot write " + path.string());
}

}  // namespace vkr::test
