// GgufWriter implementation: little-endian header encoding, aligned offsets, tensor data streamed
// through one reusable buffer, and the hand-written f16 / bf16 rounding.
#include "gguf_writer.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <vkr/error.hpp>

#include "gguf.hpp"

namespace vkr::gguf {
namespace {

constexpr uint32_t kVersion = 3;

template <typename T>
void put(std::vector<std::byte>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));  // hosts are little-endian, like GGUF
}

template <typename T>
std::vector<std::byte> encode(T v) {
  std::vector<std::byte> out;
  put(out, v);
  return out;
}

void put_string(std::vector<std::byte>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

void write_all(std::FILE* f, const void* data, size_t n, const std::filesystem::path& path) {
  require(std::fwrite(data, 1, n, f) == n, ErrorCode::Io, "{}: write failed (disk full?)",
          path.string());
}

}  // namespace

KvValue KvValue::u8(uint8_t v) { return {0, encode(v)}; }
KvValue KvValue::i8(int8_t v) { return {1, encode(v)}; }
KvValue KvValue::u16(uint16_t v) { return {2, encode(v)}; }
KvValue KvValue::i16(int16_t v) { return {3, encode(v)}; }
KvValue KvValue::u32(uint32_t v) { return {4, encode(v)}; }
KvValue KvValue::i32(int32_t v) { return {5, encode(v)}; }
KvValue KvValue::f32(float v) { return {6, encode(v)}; }
KvValue KvValue::boolean(bool v) { return {7, encode<uint8_t>(v ? 1 : 0)}; }
KvValue KvValue::u64(uint64_t v) { return {10, encode(v)}; }
KvValue KvValue::i64(int64_t v) { return {11, encode(v)}; }
KvValue KvValue::f64(double v) { return {12, encode(v)}; }

KvValue KvValue::str(std::string_view v) {
  std::vector<std::byte> out;
  put_string(out, v);
  return {8, std::move(out)};
}

KvValue KvValue::array(ValueType elem, const std::vector<KvValue>& items) {
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(elem));
  put<uint64_t>(out, items.size());
  for (const KvValue& item : items) {
    require(item.type_ == static_cast<uint32_t>(elem), ErrorCode::InvalidArgument,
            "KvValue::array: item type {} differs from the element type {}", item.type_,
            static_cast<uint32_t>(elem));
    out.insert(out.end(), item.payload_.begin(), item.payload_.end());
  }
  return {9, std::move(out)};
}

// The typed arrays are encoded directly: a 150k-entry vocabulary as KvValue items would cost a
// heap allocation per token.
KvValue KvValue::string_array(std::span<const std::string> items) {
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(ValueType::String));
  put<uint64_t>(out, items.size());
  for (const std::string& s : items) put_string(out, s);
  return {9, std::move(out)};
}

KvValue KvValue::i32_array(std::span<const int32_t> items) {
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(ValueType::I32));
  put<uint64_t>(out, items.size());
  for (int32_t v : items) put(out, v);
  return {9, std::move(out)};
}

KvValue KvValue::f32_array(std::span<const float> items) {
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(ValueType::F32));
  put<uint64_t>(out, items.size());
  for (float v : items) put(out, v);
  return {9, std::move(out)};
}

KvValue KvValue::copy_of(const Value& v) {
  switch (v.type()) {
    case ValueType::U8: return u8(static_cast<uint8_t>(*v.as_u64()));
    case ValueType::I8: return i8(static_cast<int8_t>(*v.as_i64()));
    case ValueType::U16: return u16(static_cast<uint16_t>(*v.as_u64()));
    case ValueType::I16: return i16(static_cast<int16_t>(*v.as_i64()));
    case ValueType::U32: return u32(static_cast<uint32_t>(*v.as_u64()));
    case ValueType::I32: return i32(static_cast<int32_t>(*v.as_i64()));
    case ValueType::F32: return f32(static_cast<float>(*v.as_f64()));  // exact via double
    case ValueType::Bool: return boolean(*v.as_bool());
    case ValueType::String: return str(*v.as_string());
    case ValueType::U64: return u64(*v.as_u64());
    case ValueType::I64: return i64(*v.as_i64());
    case ValueType::F64: return f64(*v.as_f64());
    case ValueType::Array: break;
  }
  std::vector<std::byte> out;
  put(out, static_cast<uint32_t>(v.element_type()));
  put<uint64_t>(out, v.size());
  if (v.element_type() == ValueType::String) {
    for (std::string_view s : v.strings()) put_string(out, s);
  } else if (v.element_type() == ValueType::Array) {
    for (const Value& item : v.arrays()) {
      const KvValue inner = copy_of(item);
      out.insert(out.end(), inner.payload_.begin(), inner.payload_.end());
    }
  } else {
    const std::span<const std::byte> raw = v.raw();
    out.insert(out.end(), raw.begin(), raw.end());
  }
  return {9, std::move(out)};
}

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  require(alignment > 0 && alignment % 8 == 0, ErrorCode::InvalidArgument,
          "GgufWriter: alignment {} is not a positive multiple of 8", alignment);
  if (alignment != 32) add_kv("general.alignment", KvValue::u32(alignment));
}

GgufWriter& GgufWriter::add_kv(std::string key, KvValue value) {
  kvs_.push_back({std::move(key), std::move(value)});
  return *this;
}

GgufWriter& GgufWriter::add_tensor(std::string name, std::vector<uint64_t> ne, GgmlType type,
                                   TensorFill fill) {
  const uint64_t bytes = tensor_bytes(ne, type);
  tensors_.push_back({std::move(name), std::move(ne), type, bytes, std::move(fill)});
  return *this;
}

GgufWriter& GgufWriter::add_tensor(std::string name, std::vector<uint64_t> ne, GgmlType type,
                                   std::vector<std::byte> data) {
  require(data.size() == tensor_bytes(ne, type), ErrorCode::InvalidArgument,
          "GgufWriter: tensor '{}' has {} bytes, its shape and type need {}", name, data.size(),
          tensor_bytes(ne, type));
  auto shared = std::make_shared<std::vector<std::byte>>(std::move(data));
  return add_tensor(std::move(name), std::move(ne), type, [shared](std::span<std::byte> out) {
    std::copy(shared->begin(), shared->end(), out.begin());
  });
}

uint64_t GgufWriter::tensor_bytes(std::span<const uint64_t> ne, GgmlType type) {
  const auto traits = type_traits(type);
  require(traits.has_value() && !ne.empty() && ne[0] % traits->block_elems == 0,
          ErrorCode::InvalidArgument,
          "GgufWriter: unknown type {} or ne0 not a multiple of its block", type_name(type));
  uint64_t bytes = ne[0] / traits->block_elems * traits->block_bytes;
  for (size_t d = 1; d < ne.size(); ++d) bytes *= ne[d];
  return bytes;
}

uint64_t GgufWriter::data_bytes() const {
  uint64_t cursor = 0;
  for (const Tensor& t : tensors_) cursor = align_up(cursor, alignment_) + t.bytes;
  return align_up(cursor, alignment_);  // ggml pads the last tensor too
}

std::vector<std::byte> GgufWriter::header(std::vector<uint64_t>& offsets) const {
  std::vector<std::byte> out;
  put(out, kMagic);
  put(out, kVersion);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(out, kv.key);
    put(out, kv.value.type_id());
    out.insert(out.end(), kv.value.payload().begin(), kv.value.payload().end());
  }
  uint64_t cursor = 0;
  for (const Tensor& t : tensors_) {
    cursor = align_up(cursor, alignment_);
    offsets.push_back(cursor);
    put_string(out, t.name);
    put(out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) put(out, n);
    put(out, static_cast<uint32_t>(t.type));
    put(out, cursor);
    cursor += t.bytes;
  }
  out.resize(align_up(out.size(), alignment_), std::byte{0});
  return out;
}

void GgufWriter::write(const std::filesystem::path& path, const WriteProgress& progress) const {
  const std::filesystem::path part = path.string() + ".part";
  try {
    write_part(part, progress);
  } catch (...) {
    // A tensor that could not be produced (bad input, disk full) leaves no half-written file.
    std::error_code ignored;
    std::filesystem::remove(part, ignored);
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  require(!ec, ErrorCode::Io, "{}: cannot rename to {}: {}", part.string(), path.string(),
          ec.message());
}

void GgufWriter::write_part(const std::filesystem::path& part,
                            const WriteProgress& progress) const {
  std::vector<uint64_t> offsets;
  const std::vector<std::byte> head = header(offsets);
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(part.c_str(), "wb"));
  require(f != nullptr, ErrorCode::Io, "{}: cannot open for writing: {}", part.string(),
          std::strerror(errno));
  write_all(f.get(), head.data(), head.size(), part);
  const uint64_t total = data_bytes();
  const std::vector<std::byte> zeros(alignment_);
  std::vector<std::byte> buffer;  // reused: peak memory is the largest tensor
  uint64_t cursor = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    write_all(f.get(), zeros.data(), offsets[i] - cursor, part);
    buffer.resize(t.bytes);
    t.fill(std::span(buffer));
    write_all(f.get(), buffer.data(), buffer.size(), part);
    cursor = offsets[i] + t.bytes;
    if (progress) progress(cursor, total);
  }
  // The data section ends aligned, as ggml's gguf writer ends it (byte-identical files).
  write_all(f.get(), zeros.data(), total - cursor, part);
  require(std::fclose(f.release()) == 0, ErrorCode::Io, "{}: close failed", part.string());
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf stays inf, NaN stays a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {
    // Below 2^-14 the result is subnormal: adding 0.5 puts the value where a float ulp equals the
    // half subnormal step 2^-24, so the FPU's own round-to-nearest-even does the rounding.
    const float shifted = std::bit_cast<float>(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(shifted) - 0x3f000000u));
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest, ties to even.
  const uint32_t odd = (ax >> 13) & 1u;
  ax += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;
  return static_cast<uint16_t>(sign | (ax >> 13));
}

uint16_t float_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  const uint32_t odd = (x >> 16) & 1u;
  return static_cast<uint16_t>((x + 0x7fffu + odd) >> 16);
}

}  // namespace vkr::gguf
