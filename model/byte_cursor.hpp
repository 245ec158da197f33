// byte_cursor.hpp: bounds-checked little-endian reading and writing of the small binary formats
// held in memory (llama-imatrix's legacy .dat, llama-perplexity's multiple-choice tasks). Each
// reader words its own errors: `short_read` gets the offset, the bytes needed and left, and what
// was being read, and throws.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string_view>
#include <type_traits>

namespace vkr {

class ByteCursor {
 public:
  using ShortRead = std::function<void(size_t at, size_t need, size_t left, std::string_view what)>;

  ByteCursor(std::string_view bytes, ShortRead short_read)
      : bytes_(bytes), short_read_(std::move(short_read)) {}

  size_t pos() const { return pos_; }
  size_t left() const { return bytes_.size() - pos_; }

  void need(size_t n, std::string_view what) const {
    if (n <= left()) return;
    short_read_(pos_, n, left(), what);
    throw std::logic_error("ByteCursor: short_read returned");  // it must throw
  }

  // A scalar in the file's (little-endian, as every supported host) byte order.
  template <class T>
  T read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T v{};
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // The next `n` bytes (a view into the buffer).
  std::string_view take(size_t n, std::string_view what) {
    need(n, what);
    const std::string_view s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::string_view bytes_;
  ShortRead short_read_;
  size_t pos_ = 0;
};

// Appends `v`'s bytes to `out` (a std::string or std::vector<char>).
template <class Out, class T>
void append_bytes(Out& out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto* b = reinterpret_cast<const char*>(&v);
  out.insert(out.end(), b, b + sizeof(T));
}

}  // namespace vkr
