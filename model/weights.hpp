// weights.hpp: WeightStore, the model's tensors uploaded from the mmapped GGUF into the weights
// arena (one Buffer each, sub-allocated), looked up by their GGUF names.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf.hpp"
#include "vkr/tensor.hpp"

namespace vkr {

// A device copy of one GGUF tensor. `shape` is outermost-first (the reverse of GGUF's ne) with
// trailing size-1 GGUF dims dropped, so {C,1,1} lerp vectors and 1-D ones look the same.
struct DeviceTensor {
  Buffer buffer;
  Tensor view;
  uint32_t ggml_type = 0;
};

// Maps a GGUF tensor type to the DType our kernels read (F32/F16/BF16 and the quantized types
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS); nullopt otherwise.
std::optional<DType> dtype_for_ggml(uint32_t ggml_type);

// Shape outermost-first with trailing size-1 GGUF dims removed (at least rank 1).
Shape shape_from_ne(const std::vector<uint64_t>& ne);

class WeightStore {
 public:
  // progress(done_bytes, total_bytes) is called while uploading (optional).
  using Progress = std::function<void(uint64_t, uint64_t)>;

  // Which tensors (by GGUF name) to upload; empty = all. A model split over devices keeps only
  // its part's tensors on each.
  using Keep = std::function<bool(const std::string&)>;

  // Uploads every tensor of `file` that `keep` accepts (all must have a supported type: checked
  // first, with an error naming the tensor and type). Throws OutOfDeviceMemory naming the total
  // when it cannot fit.
  WeightStore(Context& ctx, const gguf::File& file, const Progress& progress = {},
              const Keep& keep = {});

  // Adds a tensor computed at load time (e.g. stacked lerp vectors), f32, under `name`.
  void add_derived(Context& ctx, std::string name, std::span<const float> data, Shape shape);

  // The tensor, or an error naming the file and tensor when absent.
  const DeviceTensor& at(std::string_view name) const;
  const DeviceTensor* find(std::string_view name) const;
  uint64_t device_bytes() const { return device_bytes_; }
  uint64_t file_bytes() const { return file_bytes_; }
  size_t size() const { return tensors_.size(); }

 private:
  std::string file_name_;
  std::unordered_map<std::string, DeviceTensor> tensors_;
  uint64_t device_bytes_ = 0, file_bytes_ = 0;
};

// `t` viewed with another shape of the same element count (throws ShapeMismatch naming `what`).
Tensor reshaped(const Tensor& t, Shape shape, std::string_view what);

// A progress bar on stderr when stderr is a terminal, silent otherwise.
WeightStore::Progress terminal_progress(std::string label);

}  // namespace vkr
