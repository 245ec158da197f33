// quantize_test_util.hpp: what the quantization tests share: the type lists, encode / decode of a
// vector, a scratch directory per test.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <vector>

#include "dequant.hpp"
#include "gguf_types.hpp"
#include "gguf_writer.hpp"
#include "quantize.hpp"

namespace vkr::test {

using gguf::GgmlType;
namespace fs = std::filesystem;

inline uint32_t id(GgmlType t) { return static_cast<uint32_t>(t); }

// The types ../shared/refmodels' llama-quantize files hold.
inline const std::vector<GgmlType> kQuantTypes = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0,
                                                  GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K,
                                                  GgmlType::Q6_K};
// The ones tests/data/llama_quant covers.
inline const std::vector<GgmlType> kMoreTypes = {GgmlType::Q4_1, GgmlType::Q2_K, GgmlType::Q3_K,
                                                 GgmlType::IQ4_NL, GgmlType::IQ4_XS};
inline std::vector<GgmlType> all_quant_types() {
  std::vector<GgmlType> all = kQuantTypes;
  all.insert(all.end(), kMoreTypes.begin(), kMoreTypes.end());
  return all;
}

inline std::vector<std::byte> encode(GgmlType t, const std::vector<float>& x) {
  const auto tr = *gguf::type_traits(t);
  std::vector<std::byte> out(x.size() / tr.block_elems * tr.block_bytes);
  quantize_row(id(t), x.data(), out.data(), x.size());
  return out;
}
inline std::vector<float> decode(GgmlType t, const std::vector<std::byte>& b, size_t n) {
  std::vector<float> y(n);
  dequantize_row(id(t), b.data(), y.data(), n);
  return y;
}

// A scratch directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            fmt::format("vkr_quantize_{}_{}_{}", info->test_suite_name(), info->name(), getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A two-tensor file with one matrix (for the bad-input cases).
inline fs::path write_matrix_file(const fs::path& path, std::vector<float> values, uint64_t cols,
                                  GgmlType type = GgmlType::F32) {
  gguf::GgufWriter w;
  w.add_kv("general.architecture", gguf::KvValue::str("rwkv6"));
  const uint64_t rows = values.size() / cols;
  const auto tr = *gguf::type_traits(type);
  std::vector<std::byte> bytes(values.size() / tr.block_elems * tr.block_bytes);
  quantize_row(id(type), values.data(), bytes.data(), values.size());
  w.add_tensor("blk.0.time_mix_key.weight", {cols, rows}, type, std::move(bytes));
  std::vector<std::byte> norm(cols * 4);
  w.add_tensor("blk.0.attn_norm.weight", {cols}, GgmlType::F32, std::move(norm));
  w.write(path);
  return path;
}

}  // namespace vkr::test
