// GGUF reader: mapping lifetime and the validating parser (header, metadata, tensor infos, layout).
#include "gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <vkr/error.hpp>

namespace vkr::gguf {

static_assert(std::endian::native == std::endian::little,
              "the reader takes GGUF's little-endian fields straight from the mapping");

namespace {

// Smallest encodings, used to bound counts by the bytes left before anything is allocated.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                  // key len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, ne0, type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;                       // element type + count
constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

uint64_t min_encoded_size(ValueType type) {
  if (type == ValueType::String) return 8;
  if (type == ValueType::Array) return kMinArrayBytes;
  return scalar_size(type);
}

// RAII for the descriptor used only while mapping (the mapping itself outlives it).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void fail_io(const std::filesystem::path& path, std::string_view what, int err) {
  throw Error(ErrorCode::Io, fmt::format("{}: {}: {}", path.string(), what, std::strerror(err)));
}

}  // namespace

// Bounds-checked cursor over the mapping plus the validation rules. Every read goes through
// need(), so no byte outside [0, size) is ever touched, whatever the file claims.
class Parser {
 public:
  explicit Parser(File& file) : f_(file), file_name_(file.path_.string()) {}

  void parse() {
    auto [n_tensors, n_kv] = parse_header();
    parse_metadata(n_kv);
    apply_alignment();
    parse_tensor_infos(n_tensors);
    check_layout();
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    std::string where;
    for (uint64_t i : elem_path_) where += fmt::format("[{}]", i);
    if (!where.empty()) where = " element " + where;
    if (context_.empty()) {
      throw Error(ErrorCode::BadModelFile, fmt::format("{}: {}", file_name_, what));
    }
    throw Error(ErrorCode::BadModelFile,
                fmt::format("{}: {}{}: {}", file_name_, context_, where, what));
  }

  uint64_t remaining() const { return f_.size_ - pos_; }

  const std::byte* take(uint64_t n, std::string_view what) {
    if (n > remaining()) {
      fail(fmt::format("{} needs {} bytes at offset {} but only {} remain (file size {})", what, n,
                       pos_, remaining(), f_.size_));
    }
    const std::byte* p = f_.map_ + pos_;
    pos_ += n;
    return p;
  }

  template <typename T>
  T read(std::string_view what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  std::string_view read_string(std::string_view what) {
    const auto len = read<uint64_t>(what);
    if (len > remaining()) {
      fail(fmt::format("{} length {} exceeds the {} bytes left in the file (offset {}, size {})",
                       what, len, remaining(), pos_, f_.size_));
    }
    return {reinterpret_cast<const char*>(take(len, what)), static_cast<size_t>(len)};
  }

  std::pair<uint64_t, uint64_t> parse_header() {
    if (f_.size_ < 4) fail(fmt::format("file too small to be GGUF ({} bytes)", f_.size_));
    const auto magic = read<uint32_t>("magic");
    if (magic != kMagic) {
      std::string shown;
      for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<unsigned char>((magic >> (8 * i)) & 0xff);
        shown += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
      }
      fail(fmt::format("not a GGUF file (magic '{}' = 0x{:08x}, expected 'GGUF')", shown, magic));
    }
    const auto version = read<uint32_t>("version");
    if (version == 1) fail("GGUF version 1 is not supported (only versions 2 and 3)");
    if (version == 0x02000000u || version == 0x03000000u) {
      fail("big-endian GGUF files are not supported");
    }
    if (version != 2 && version != 3) {
      fail(fmt::format("unsupported GGUF version {} (only versions 2 and 3)", version));
    }
    f_.version_ = version;
    const auto n_tensors = read<uint64_t>("tensor count");
    const auto n_kv = read<uint64_t>("metadata count");
    if (n_kv > remaining() / kMinKvBytes) {
      fail(
          fmt::format("metadata count {} is impossible: only {} bytes follow the header and "
                      "each entry takes at least {}",
                      n_kv, remaining(), kMinKvBytes));
    }
    check_tensor_count(n_tensors);
    return {n_tensors, n_kv};
  }

  void check_tensor_count(uint64_t n_tensors) const {
    if (n_tensors > remaining() / kMinTensorInfoBytes) {
      fail(
          fmt::format("tensor count {} is impossible: only {} bytes remain at offset {} and each "
                      "tensor info takes at least {}",
                      n_tensors, remaining(), pos_, kMinTensorInfoBytes));
    }
  }

  void parse_metadata(uint64_t n_kv) {
    // No reserve: memory grows only with entries actually present in the file.
    for (uint64_t i = 0; i < n_kv; ++i) {
      context_ = fmt::format("metadata entry #{}", i);
      const std::string_view key = read_string("key");
      if (key.empty()) fail("empty key");
      context_ = fmt::format("metadata key '{}'", printable(key));
      if (auto it = f_.key_index_.find(key); it != f_.key_index_.end()) {
        fail(fmt::format("duplicate key (entries #{} and #{})", it->second, i));
      }
      const auto type = read<uint32_t>("value type");
      if (type >= kValueTypeCount) fail(fmt::format("unknown value type id {}", type));
      Value value = parse_value(static_cast<ValueType>(type), 0);
      f_.metadata_.emplace_back(std::string(key), std::move(value));
      f_.key_index_.emplace(key, f_.metadata_.size() - 1);  // key views the mapping: stable
    }
    context_.clear();
  }

  Value parse_value(ValueType type, uint32_t depth) {
    switch (type) {
      case ValueType::String:
        return Value::string(read_string("string"));
      case ValueType::Array:
        return parse_array(depth + 1);
      case ValueType::Bool: {
        const auto b = read<uint8_t>("bool");
        if (b > 1) fail(fmt::format("bool value {} is neither 0 nor 1", b));
        return Value::scalar(type, b);
      }
      default: {
        const uint32_t n = scalar_size(type);
        uint64_t bits = 0;
        std::memcpy(&bits, take(n, value_type_name(type)), n);
        return Value::scalar(type, bits);
      }
    }
  }

  Value parse_array(uint32_t depth) {
    if (depth > kMaxArrayDepth) fail(fmt::format("arrays nested deeper than {}", kMaxArrayDepth));
    const auto elem_id = read<uint32_t>("array element type");
    if (elem_id >= kValueTypeCount) fail(fmt::format("unknown array element type id {}", elem_id));
    const auto elem = static_cast<ValueType>(elem_id);
    const auto count = read<uint64_t>("array count");
    const uint64_t min_size = min_encoded_size(elem);
    if (count > remaining() / min_size) {
      fail(fmt::format("array<{}> count {} cannot fit in the {} bytes left (offset {})",
                       value_type_name(elem), count, remaining(), pos_));
    }
    if (elem == ValueType::String) {
      std::vector<std::string_view> items;
      items.reserve(count);  // bounded: count * 8 <= bytes left
      elem_path_.push_back(0);
      for (uint64_t i = 0; i < count; ++i) {
        elem_path_.back() = i;
        items.push_back(read_string("string"));
      }
      elem_path_.pop_back();
      return Value::string_array(std::move(items));
    }
    if (elem == ValueType::Array) {
      std::vector<Value> items;
      elem_path_.push_back(0);
      for (uint64_t i = 0; i < count; ++i) {
        elem_path_.back() = i;
        items.push_back(parse_array(depth + 1));
      }
      elem_path_.pop_back();
      return Value::nested_array(elem, std::move(items));
    }
    const std::byte* data = take(count * min_size, "array elements");
    if (elem == ValueType::Bool) {
      for (uint64_t i = 0; i < count; ++i) {
        const auto b = static_cast<uint8_t>(data[i]);
        if (b > 1) fail(fmt::format("element [{}]: bool value {} is neither 0 nor 1", i, b));
      }
    }
    return Value::scalar_array(elem, count, data);
  }

  void apply_alignment() {
    auto it = f_.key_index_.find("general.alignment");
    if (it == f_.key_index_.end()) return;
    context_ = "metadata key 'general.alignment'";
    const Value& v = f_.metadata_[it->second].second;
    const auto a = v.as_u64();
    if (!is_integer(v.type()) || !a)
      fail(fmt::format("must be a positive integer, got {}", v.describe()));
    if (*a == 0 || !std::has_single_bit(*a)) {
      fail(fmt::format("alignment {} is not a power of two greater than zero", *a));
    }
    f_.alignment_ = *a;
    context_.clear();
  }

  void parse_tensor_infos(uint64_t n_tensors) {
    check_tensor_count(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      context_ = fmt::format("tensor #{}", i);
      const std::string_view name = read_string("name");
      if (name.empty()) fail("empty tensor name");
      context_ = fmt::format("tensor '{}'", printable(name));
      if (name.size() > kMaxTensorName) {
        fail(
            fmt::format("name is {} bytes long (at most {} allowed)", name.size(), kMaxTensorName));
      }
      if (auto it = f_.tensor_index_.find(name); it != f_.tensor_index_.end()) {
        fail(fmt::format("duplicate tensor name (tensors #{} and #{})", it->second, i));
      }
      f_.tensors_.push_back(parse_tensor_shape(name));
      f_.tensor_index_.emplace(name, f_.tensors_.size() - 1);  // name views the mapping: stable
    }
    context_.clear();
  }

  TensorInfo parse_tensor_shape(std::string_view name) {
    TensorInfo t;
    t.name = std::string(name);
    const auto n_dims = read<uint32_t>("n_dims");
    if (n_dims < 1 || n_dims > kMaxDims) {
      fail(fmt::format("n_dims {} is outside 1..{}", n_dims, kMaxDims));
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = read<uint64_t>("ne");
      if (ne == 0) fail(fmt::format("ne[{}] is 0 (every dimension must be >= 1)", d));
      if (ne > kInt64Max || __builtin_mul_overflow(n_elements, ne, &n_elements) ||
          n_elements > kInt64Max) {
        fail(fmt::format("element count overflows at ne[{}] = {}", d, ne));
      }
      t.ne.push_back(ne);
    }
    t.n_elements = n_elements;
    t.type = read<uint32_t>("ggml type");
    const auto traits = type_traits(t.type);
    if (!traits) fail(fmt::format("unknown ggml type id {}", t.type));
    if (t.ne[0] % traits->block_elems != 0) {
      fail(fmt::format("ne0 = {} is not a multiple of the {} block size {}", t.ne[0], traits->name,
                       traits->block_elems));
    }
    // Spec §6.1: bytes = (ne0 / block) * block_bytes * ne1 * ne2 * ne3.
    uint64_t bytes = t.ne[0] / traits->block_elems * traits->block_bytes;
    for (size_t d = 1; d < t.ne.size(); ++d) {
      if (__builtin_mul_overflow(bytes, t.ne[d], &bytes)) fail("byte size overflows 64 bits");
    }
    t.n_bytes = bytes;
    t.offset = read<uint64_t>("offset");
    if (t.offset % f_.alignment_ != 0) {
      fail(fmt::format("data offset {} is not a multiple of the alignment {}", t.offset,
                       f_.alignment_));
    }
    return t;
  }

  void check_layout() {
    const uint64_t end_of_infos = pos_;
    const uint64_t pad = (f_.alignment_ - end_of_infos % f_.alignment_) % f_.alignment_;
    f_.data_offset_ = end_of_infos + pad;  // no overflow: pad < alignment <= 2^63, pos <= size
    if (f_.tensors_.empty()) return;       // vocab-only files may end right after the metadata
    if (f_.data_offset_ > f_.size_) {
      fail(
          fmt::format("tensor data section starts at {} (end of tensor infos {} aligned to {}), "
                      "past the end of the file (size {})",
                      f_.data_offset_, end_of_infos, f_.alignment_, f_.size_));
    }
    const uint64_t data_size = f_.size_ - f_.data_offset_;
    for (const TensorInfo& t : f_.tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        context_ = fmt::format("tensor '{}'", printable(t.name));
        fail(
            fmt::format("data [offset {}, {} bytes) extends past end of file (size {}; data "
                        "section starts at {})",
                        f_.data_offset_ + t.offset, t.n_bytes, f_.size_, f_.data_offset_));
      }
    }
    std::vector<size_t> order(f_.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return f_.tensors_[a].offset < f_.tensors_[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const TensorInfo& prev = f_.tensors_[order[i - 1]];
      const TensorInfo& cur = f_.tensors_[order[i]];
      if (prev.offset + prev.n_bytes > cur.offset) {
        context_ = fmt::format("tensor '{}'", printable(cur.name));
        fail(
            fmt::format("data [{}, {}) overlaps tensor '{}' [{}, {}) (offsets in the data section)",
                        cur.offset, cur.offset + cur.n_bytes, printable(prev.name), prev.offset,
                        prev.offset + prev.n_bytes));
      }
    }
    context_.clear();
  }

  File& f_;
  std::string file_name_;
  uint64_t pos_ = 0;
  std::string context_;              // "metadata key 'x'" / "tensor 'y'" for messages
  std::vector<uint64_t> elem_path_;  // indices of the array elements being parsed
};

File File::open(const std::filesystem::path& path) {
  File file = open_one(path);
  file.attach_shards();
  return file;
}

File File::open_one(const std::filesystem::path& path) {
  File file;
  file.path_ = path;
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) fail_io(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail_io(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) fail_io(path, "cannot map", EISDIR);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::Io, fmt::format("{}: not a regular file", path.string()));
  }
  if (st.st_size == 0) {
    throw Error(ErrorCode::BadModelFile, fmt::format("{}: file is empty (0 bytes)", path.string()));
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (addr == MAP_FAILED) fail_io(path, "mmap failed", errno);
  file.map_ = static_cast<const std::byte*>(addr);
  file.size_ = size;
  Parser(file).parse();  // on throw, ~File unmaps
  return file;
}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      version_(other.version_),
      alignment_(other.alignment_),
      data_offset_(other.data_offset_),
      metadata_(std::move(other.metadata_)),
      tensors_(std::move(other.tensors_)),
      key_index_(std::move(other.key_index_)),
      tensor_index_(std::move(other.tensor_index_)),
      shards_(std::move(other.shards_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
    version_ = other.version_;
    alignment_ = other.alignment_;
    data_offset_ = other.data_offset_;
    metadata_ = std::move(other.metadata_);
    tensors_ = std::move(other.tensors_);
    key_index_ = std::move(other.key_index_);
    tensor_index_ = std::move(other.tensor_index_);
    shards_ = std::move(other.shards_);
  }
  return *this;
}

File::~File() { release(); }

void File::release() noexcept {
  // Views (index keys, Values) point into the mapping, so drop them before unmapping.
  key_index_.clear();
  tensor_index_.clear();
  metadata_.clear();
  tensors_.clear();
  shards_.clear();
  if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), size_);
  map_ = nullptr;
  size_ = 0;
}

const TensorInfo* File::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo& t) const {
  const std::less<const TensorInfo*> before;
  const bool ours = !tensors_.empty() && !before(&t, tensors_.data()) &&
                    before(&t, tensors_.data() + tensors_.size());
  if (!ours) {
    throw Error(
        ErrorCode::InvalidArgument,
        fmt::format("{}: tensor_data() called with tensor '{}' that belongs to another file",
                    path_.string(), t.name));
  }
  const File& part = t.shard == 0 ? *this : shards_.at(t.shard - 1);
  return {part.map_ + part.data_offset_ + t.offset, static_cast<size_t>(t.n_bytes)};
}

}  // namespace vkr::gguf
