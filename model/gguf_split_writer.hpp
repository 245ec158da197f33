// gguf_split_writer.hpp: llama-gguf-split's two jobs, so big models can be published in parts
// (Hugging Face limits a file to 50 GB) and parts joined again: a GGUF cut into
// PREFIX-00001-of-0000N.gguf ... (each part a GGUF; the first holds the metadata; every part gets
// split.no, split.tensors.count and split.count) and the parts merged into one file. The bytes
// are llama-gguf-split's for the same options (tests/data/llama_gguf_split), so llama.cpp loads
// our parts and we load its (gguf::File::open on the first part).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "gguf_writer.hpp"

namespace vkr::gguf {

struct SplitOptions {
  // At most this many tensors per part (llama-gguf-split's --split-max-tensors, default 128),
  // used when max_bytes is 0.
  uint64_t max_tensors = 128;
  // At most this many bytes of (32-byte padded) tensor data per part (--split-max-size; the
  // header is not counted); a tensor larger than that gets a part of its own.
  uint64_t max_bytes = 0;
  // The first part holds the metadata only (--no-tensor-first-split).
  bool no_tensor_first_split = false;
};

// Which tensors (indices into in.tensors()) each part gets. Throws vkr::Error(InvalidArgument)
// when a part would hold no tensor (a limit smaller than the first tensor, as llama-gguf-split
// refuses it).
std::vector<std::vector<size_t>> plan_split(const File& in, const SplitOptions& options);

// PREFIX-%05d-of-%05d.gguf (1-based `no`), llama.cpp's part name.
std::filesystem::path split_part_path(const std::string& prefix, uint64_t no, uint64_t count);

// Writes the parts of `in` (itself possibly a split model) under `prefix` and returns their
// paths; each part is written via .part and renamed, and on failure the parts already written
// are removed. `progress` gets (bytes written, total) over all parts.
std::vector<std::filesystem::path> write_split(const File& in, const std::string& prefix,
                                               const SplitOptions& options,
                                               const WriteProgress& progress = {});

// Writes every tensor of the split model `in` (opened from its first part) into one file with
// the first part's metadata, split.count set to 0 (llama-gguf-split --merge's file).
void write_merged(const File& in, const std::filesystem::path& out,
                  const WriteProgress& progress = {});

}  // namespace vkr::gguf
