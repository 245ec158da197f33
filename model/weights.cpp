// weights.cpp: GGUF tensors -> device buffers through staging, with progress and clear errors.
// Quantized tensors are uploaded byte for byte (the kernels decode the blocks in place).
#include "weights.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/staging.hpp"

namespace vkr {

std::optional<DType> dtype_for_ggml(uint32_t ggml_type) {
  switch (static_cast<gguf::GgmlType>(ggml_type)) {
    case gguf::GgmlType::F32: return DType::F32;
    case gguf::GgmlType::F16: return DType::F16;
    case gguf::GgmlType::BF16: return DType::BF16;
    case gguf::GgmlType::Q8_0: return DType::Q8_0;
    case gguf::GgmlType::Q4_0: return DType::Q4_0;
    case gguf::GgmlType::Q5_0: return DType::Q5_0;
    case gguf::GgmlType::Q5_1: return DType::Q5_1;
    case gguf::GgmlType::Q4_K: return DType::Q4_K;
    case gguf::GgmlType::Q5_K: return DType::Q5_K;
    case gguf::GgmlType::Q6_K: return DType::Q6_K;
    case gguf::GgmlType::Q4_1: return DType::Q4_1;
    case gguf::GgmlType::Q2_K: return DType::Q2_K;
    case gguf::GgmlType::Q3_K: return DType::Q3_K;
    case gguf::GgmlType::IQ4_NL: return DType::IQ4_NL;
    case gguf::GgmlType::IQ4_XS: return DType::IQ4_XS;
    case gguf::GgmlType::IQ2_XXS:
      return DType::IQ2_XXS;
    case gguf::GgmlType::IQ2_XS:
      return DType::IQ2_XS;
    case gguf::GgmlType::IQ2_S:
      return DType::IQ2_S;
    case gguf::GgmlType::IQ3_XXS:
      return DType::IQ3_XXS;
    case gguf::GgmlType::IQ3_S:
      return DType::IQ3_S;
    case gguf::GgmlType::IQ1_S:
      return DType::IQ1_S;
    case gguf::GgmlType::IQ1_M:
      return DType::IQ1_M;
    default: return std::nullopt;
  }
}

Shape shape_from_ne(const std::vector<uint64_t>& ne) {
  size_t rank = ne.size();
  while (rank > 1 && ne[rank - 1] == 1) --rank;
  switch (rank) {
    case 1: return Shape{ne[0]};
    case 2: return Shape{ne[1], ne[0]};
    case 3: return Shape{ne[2], ne[1], ne[0]};
    default: return Shape{ne[3], ne[2], ne[1], ne[0]};
  }
}

WeightStore::WeightStore(Context& ctx, const gguf::File& file, const Progress& progress,
                         const Keep& keep)
    : file_name_(file.path().filename().string()) {
  for (const auto& t : file.tensors()) {
    require(dtype_for_ggml(t.type).has_value(), ErrorCode::BadModelFile,
            "{}: tensor '{}' has type {}, which this build cannot run (supported: F32, F16, BF16, "
            "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ1_S, "
            "IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S)",
            file_name_, t.name, gguf::type_name(t.type));
    // Quantized tensors are uploaded as the file's blocks: their byte count must be exactly
    // the blocks the shape needs (the kernels derive row strides from the shape).
    const DType dt = *dtype_for_ggml(t.type);
    const uint64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    require(ne0 % dtype_block(dt).elems == 0 &&
                t.n_bytes == dtype_row_bytes(dt, shape_from_ne(t.ne).elements()),
            ErrorCode::BadModelFile,
            "{}: tensor '{}' ({}, ne0 = {}) holds {} bytes, but its shape needs whole {}-element "
            "blocks ({} bytes)",
            file_name_, t.name, gguf::type_name(t.type), ne0, t.n_bytes, dtype_block(dt).elems,
            dtype_row_bytes(dt, shape_from_ne(t.ne).elements()));
    if (!keep || keep(t.name)) file_bytes_ += t.n_bytes;
  }
  uint64_t done = 0;
  for (const auto& t : file.tensors()) {
    if (keep && !keep(t.name)) continue;
    DeviceTensor d;
    d.buffer = Buffer::create(ctx, Lifetime::Weights, t.n_bytes, MemoryUsage::Device, t.name);
    d.view = Tensor::of(d.buffer, shape_from_ne(t.ne), *dtype_for_ggml(t.type));
    d.ggml_type = t.type;
    auto bytes = file.tensor_data(t);
    ctx.staging().upload(d.buffer, 0, bytes);
    // The codebook types' kernels bind the context's grids: upload them now, not mid-recording.
    if (dtype_has_grid(d.view.dtype)) ctx.iq_grids();
    device_bytes_ += t.n_bytes;
    done += t.n_bytes;
    if (progress) progress(done, file_bytes_);
    tensors_.emplace(t.name, std::move(d));
  }
}

void WeightStore::add_derived(Context& ctx, std::string name, std::span<const float> data,
                              Shape shape) {
  require(shape.elements() == data.size(), ErrorCode::ShapeMismatch,
          "derived tensor '{}': {} values for shape {}", name, data.size(), shape);
  DeviceTensor d;
  d.buffer = Buffer::create(ctx, Lifetime::Weights, data.size_bytes(), MemoryUsage::Device, name);
  d.view = Tensor::of(d.buffer, shape, DType::F32);
  d.ggml_type = static_cast<uint32_t>(gguf::GgmlType::F32);
  ctx.staging().upload(d.buffer, data);
  device_bytes_ += data.size_bytes();
  tensors_.insert_or_assign(std::move(name), std::move(d));
}

Tensor reshaped(const Tensor& t, Shape shape, std::string_view what) {
  require(t.shape.elements() == shape.elements(), ErrorCode::ShapeMismatch,
          "{}: cannot view shape {} as {}", what, t.shape, shape);
  Tensor r = t;
  r.shape = shape;
  return r;
}

const DeviceTensor* WeightStore::find(std::string_view name) const {
  auto it = tensors_.find(std::string(name));
  return it == tensors_.end() ? nullptr : &it->second;
}

const DeviceTensor& WeightStore::at(std::string_view name) const {
  const DeviceTensor* t = find(name);
  require(t != nullptr, ErrorCode::BadModelFile, "{}: missing tensor '{}'", file_name_, name);
  return *t;
}

WeightStore::Progress terminal_progress(std::string label) {
  if (!isatty(STDERR_FILENO)) return {};
  auto start = std::chrono::steady_clock::now();
  return [label = std::move(label), start](uint64_t done, uint64_t total) {
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %.0f/%.0f MiB %.1fs", label.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), frac * 100.0,
                 static_cast<double>(done) / 1048576.0, static_cast<double>(total) / 1048576.0,
                 secs);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace vkr
