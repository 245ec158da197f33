// imatrix.hpp: importance matrices in llama.cpp's two file formats, so files made by
// llama-imatrix quantize here and ours quantize there.
//
// An importance matrix holds, for each weight matrix, the sum over the token rows of a
// calibration text of each input column's activation squared (and the row count). Quantizing
// with it weights each column's rounding error by that mean squared activation: the columns that
// meet large activations are kept most accurate (ggml's quantizers take it as `quant_weights`).
//
// GGUF (llama-imatrix's default since 2025): general.type = "imatrix", imatrix.datasets (string
// array), imatrix.chunk_count, imatrix.chunk_size (u32); per matrix, sorted by name, two F32
// tensors "<name>.in_sum2" (ne = [K, n_mat]: sums of squares) and "<name>.counts" ([1, n_mat]:
// rows). Legacy .dat: i32 entry count; per entry i32 name length, name bytes, i32 ncall, i32
// K*n_mat, f32 values = mean square x ncall; then i32 chunk count, i32 length + dataset name.
// (Facts from llama.cpp tools/imatrix/imatrix.cpp and tools/quantize/quantize.cpp; see
// model/tools/llama_imatrix_refs.py, which made tests/data/llama_imatrix with llama.cpp.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkr {

// One weight matrix's statistics; n_mat > 1 for stacked matrices (experts).
struct ImatrixEntry {
  uint64_t K = 0;              // input columns (the weight's ne[0])
  std::vector<float> sums;     // (n_mat, K): sum over rows of the column's activation squared
  std::vector<double> counts;  // (n_mat): rows accumulated
  uint64_t n_mat() const { return counts.size(); }
};

enum class ImatrixFormat { Gguf, Dat };

struct Imatrix {
  std::vector<std::pair<std::string, ImatrixEntry>> entries;  // weight tensor name -> stats
  std::vector<std::string> datasets;  // calibration files it was computed from
  uint32_t chunk_count = 0;           // chunks of the calibration text processed
  uint32_t chunk_size = 0;            // tokens per chunk (0 when unknown: legacy files)

  const ImatrixEntry* find(std::string_view name) const;
  // Adds `other`'s statistics (llama-imatrix --in-file): sums and counts of the same matrix add
  // (its width must match: else vkr::Error(BadModelFile) naming it), new matrices are appended,
  // chunks and datasets accumulate. A legacy file's counts are in chunks, not rows: merged into
  // one that knows its chunk size they are scaled by it, so both weigh by the tokens they saw.
  void merge(const Imatrix& other);
  // The per-column quantization weights of the matrix `name` with rows of K columns: the mean
  // squared activation sums / counts (what llama-quantize passes to ggml), one row of K per
  // stacked matrix (1.0 for a matrix whose count is 0, as llama-quantize does); nullopt when the
  // file has no entry for it. Throws vkr::Error(BadModelFile) naming the tensor when the entry's
  // values are not whole rows of K.
  std::optional<std::vector<float>> weights(std::string_view name, uint64_t K) const;
};

// Reads either format (told apart by the GGUF magic). Throws vkr::Error naming the file and
// what is wrong (truncated, not an imatrix, bad sizes, NaN / negative values).
Imatrix read_imatrix(const std::filesystem::path& path);
// Writes `m` (via path.part, renamed at the end). Dat keeps llama-imatrix's legacy layout.
void write_imatrix(const Imatrix& m, const std::filesystem::path& path,
                   ImatrixFormat format = ImatrixFormat::Gguf);

}  // namespace vkr
