// Random-weight RWKV-6 / QRWKV6 GGUF models with real shapes, for benchmarks and tests without
// downloads. Keys, tensor names, shapes and types are those llama.cpp's converter writes (spec
// §1-§2); weights are drawn so activations stay O(1) like a trained model's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"

namespace vkr {

// Dimension letters as in ModelConfig (spec §0). Zero in Hkv / Dm / Dd / norm_eps picks the
// converter's default for the shape (see resolved()).
struct RandomModelSpec {
  Arch arch = Arch::QRwkv6;
  uint32_t n_layer = 8;
  uint32_t C = 2048;
  uint32_t F = 5632;
  uint32_t S = 128;
  uint32_t Hkv = 0;  // QRWKV6 kv heads; 0 = H / 4 (or H when H < 4). Must be 0 or H for RWKV-6
  uint32_t V = 32000;
  uint32_t Dm = 0;             // token-shift LoRA rank; 0 = 32, or 64 for wide models
  uint32_t Dd = 0;             // decay LoRA rank; 0 = 64, or 128 for wide models
  uint32_t rescale_every = 0;  // RWKV-6 only: residual halved every R layers; 0 = never
  std::string dtype = "f16";   // big matrices: f32 | f16 | bf16 (vectors and LoRAs stay F32)
  bool rkv_bias = false;       // QRWKV6 only: Qwen2 q/k/v biases
  float norm_eps = 0.0f;       // 0 = 1e-5 LayerNorm (RWKV-6) / 1e-6 RMSNorm (QRWKV6)
  uint64_t seed = 0;
  bool with_tokenizer = true;  // gpt2/qwen2 BPE (QRWKV6) or World trie (RWKV-6) vocabulary
};

// The spec with every 0-means-default field filled in. Throws vkr::Error(InvalidArgument) naming
// the first invalid dimension (C % S, S range, Hkv, ranks, vocab too small for a tokenizer, ...).
RandomModelSpec resolved(const RandomModelSpec& spec);

// File size the spec produces (header excluded), for progress and disk-space messages.
uint64_t random_model_data_bytes(const RandomModelSpec& spec);

// Writes the model. Deterministic: the same spec (seed included) gives the same bytes. Memory
// use is about one tensor. `progress` gets (bytes written, total) after each tensor.
void write_random_model(const RandomModelSpec& spec, const std::filesystem::path& path,
                        const std::function<void(uint64_t, uint64_t)>& progress = {});

// The generated vocabularies (model/random_tokenizer.cpp), exposed for tests.
struct RandomVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;  // gpt2 only
  int32_t eos_id = -1;              // gpt2 only: "<|endoftext|>"
};
// Byte-level BPE: the 256 byte symbols, then word pieces built by merges, "<|endoftext|>" last.
RandomVocab random_bpe_vocab(uint32_t V);
// World: id 0 "<s>", ids 1..256 the single bytes (escaped as the converter writes them), then
// escaped word pieces.
RandomVocab random_world_vocab(uint32_t V);

}  // namespace vkr
