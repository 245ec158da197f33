// gguf_split_writer.cpp: llama-gguf-split's split and merge (gguf_split_writer.hpp). Facts:
// model/tools/llama_gguf_split_refs.py (tools/gguf-split/gguf-split.cpp).
#include "gguf_split_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "vkr/error.hpp"

namespace vkr::gguf {

namespace {

constexpr uint64_t kAlign = 32;  // llama-gguf-split pads with GGUF's default, whatever the input

bool is_split_key(std::string_view k) {
  return k == "split.no" || k == "split.count" || k == "split.tensors.count";
}

// A copy of `t`'s bytes from `in` (mapped, so nothing is read until the writer asks).
void add_copied(GgufWriter& w, const File& in, const TensorInfo& t) {
  w.add_tensor(t.name, t.ne, t.ggml_type(), [&in, &t](std::span<std::byte> out) {
    const auto src = in.tensor_data(t);
    std::memcpy(out.data(), src.data(), src.size());
  });
}

}  // namespace

std::vector<std::vector<size_t>> plan_split(const File& in, const SplitOptions& o) {
  require(o.max_bytes > 0 || o.max_tensors > 0, ErrorCode::InvalidArgument,
          "gguf-split: --split-max-tensors must be at least 1");
  std::vector<std::vector<size_t>> parts(o.no_tensor_first_split ? 2 : 1);
  uint64_t bytes = 0;
  const auto tensors = in.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t padded = (tensors[i].n_bytes + kAlign - 1) / kAlign * kAlign;
    const bool cut =
        o.max_bytes > 0 ? bytes + padded > o.max_bytes : i > 0 && i % o.max_tensors == 0;
    if (cut) {
      require(!parts.back().empty(), ErrorCode::InvalidArgument,
              "gguf-split: tensor '{}' ({} bytes) alone exceeds --split-max-size {}; a part "
              "would hold no tensor (use a larger limit)",
              tensors[i].name, tensors[i].n_bytes, o.max_bytes);
      parts.emplace_back();
      bytes = padded;
    } else {
      bytes += padded;
    }
    parts.back().push_back(i);
  }
  return parts;
}

std::filesystem::path split_part_path(const std::string& prefix, uint64_t no, uint64_t count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, no, count);
}

std::vector<std::filesystem::path> write_split(const File& in, const std::string& prefix,
                                               const SplitOptions& options,
                                               const WriteProgress& progress) {
  const auto parts = plan_split(in, options);
  require(parts.size() <= 99999, ErrorCode::InvalidArgument,
          "gguf-split: {} parts, more than 5-digit part numbers name", parts.size());
  const auto n = static_cast<uint16_t>(parts.size());
  uint64_t total = 0, done = 0;
  for (const TensorInfo& t : in.tensors()) total += t.n_bytes;
  std::vector<std::filesystem::path> written;
  try {
    for (uint16_t p = 0; p < n; ++p) {
      GgufWriter w;
      if (p == 0) {
        for (const auto& [key, value] : in.metadata()) {
          if (!is_split_key(key) && key != "general.alignment") {
            w.add_kv(key, KvValue::copy_of(value));
          }
        }
      }
      w.add_kv("split.no", KvValue::u16(p));
      w.add_kv("split.tensors.count", KvValue::i32(static_cast<int32_t>(in.tensors().size())));
      w.add_kv("split.count", KvValue::u16(n));
      uint64_t part_bytes = 0;
      for (size_t i : parts[p]) {
        add_copied(w, in, in.tensors()[i]);
        part_bytes += in.tensors()[i].n_bytes;
      }
      const auto path = split_part_path(prefix, p + 1u, n);
      w.write(path, [&](uint64_t d, uint64_t) {
        if (progress) progress(done + std::min(d, part_bytes), total);
      });
      written.push_back(path);
      done += part_bytes;
    }
  } catch (...) {
    std::error_code ec;
    for (const auto& path : written) std::filesystem::remove(path, ec);
    throw;
  }
  return written;
}

void write_merged(const File& in, const std::filesystem::path& out, const WriteProgress& progress) {
  GgufWriter w;
  for (const auto& [key, value] : in.metadata()) {
    if (key != "split.count" && key != "general.alignment") {
      w.add_kv(key, KvValue::copy_of(value));
    }
  }
  w.add_kv("split.count", KvValue::u16(0));
  for (const TensorInfo& t : in.tensors()) add_copied(w, in, t);
  w.write(out, progress);
}

}  // namespace vkr::gguf
