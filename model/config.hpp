// ModelConfig: hyper-parameters of an RWKV-6 / QRWKV6 GGUF, validated against every tensor it
// needs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gguf.hpp"

namespace vkr {

// `general.architecture` "rwkv6" and "rwkv6qwen2" (spec §1).
enum class Arch { Rwkv6, QRwkv6 };

std::string_view arch_name(Arch arch);  // the GGUF architecture string

// Dimension letters follow the spec (§0): C width, F FFN width, S head size, H = C / S query heads,
// Hkv kv heads (QRWKV6 GQA; = H for RWKV-6), V vocab, Dm / Dd token-shift / decay LoRA ranks.
struct ModelConfig {
  Arch arch = Arch::Rwkv6;
  uint32_t n_layer = 0;
  uint32_t C = 0;
  uint32_t F = 0;
  uint32_t S = 0;
  uint32_t H = 0;
  uint32_t Hkv = 0;
  uint32_t V = 0;
  uint32_t Dm = 0;
  uint32_t Dd = 0;
  uint32_t rescale_every = 0;      // RWKV-6: halve the residual after every R-th layer; 0 = never
  uint32_t token_shift_count = 0;  // shift vectors per layer: 2 (RWKV-6) or 1 (QRWKV6)
  float norm_eps = 0.0f;           // LayerNorm eps (RWKV-6) or RMSNorm eps (QRWKV6)
  bool has_rkv_bias = false;       // QRWKV6 time_mix_{receptance,key,value}.bias (all or none)
  bool has_lerp_fused = true;      // false: legacy per-gate time_mix_lerp_{w,k,v,r,g} tensors
  bool has_output_norm_bias = false;  // always true for RWKV-6 (LayerNorm), optional for QRWKV6

  uint32_t n_rep() const { return H / Hkv; }  // query heads per kv head
  uint32_t KV() const { return Hkv * S; }     // width of k and v before head repetition
};

// Reads the hyper-parameters from the metadata keys (spec §1) and checks presence, shape and type
// of every tensor the architecture needs (spec §2), optional ones included. Throws
// vkr::Error(BadModelFile) naming the file, the key or tensor, and expected vs actual. Tensor
// types are checked only for being decodable by dequantize_row() (vectors and LoRA matrices must
// be a float type); whether a backend can run them is check_supported_types()'s business.
ModelConfig read_config(const gguf::File& file);

// Throws vkr::Error(BadModelFile) naming the first tensor whose type is not in `types`.
void check_supported_types(const gguf::File& file, std::span<const gguf::GgmlType> types);

// The types the GPU backend runs: F32, F16, BF16 and the quantized Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS and the codebook i-quants IQ1_S, IQ1_M, IQ2_XXS,
// IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (decoded in place by the kernels).
std::span<const gguf::GgmlType> gpu_supported_types();

// One-paragraph human-readable summary (arch, dims, heads, LoRA ranks, eps, state size).
std::string describe(const ModelConfig& config);

// Bytes of one sequence's recurrent state in f32 (spec §4, §8.3): per layer token_shift_count
// shift vectors of C floats plus the H x S x S WKV matrix.
uint64_t state_bytes_per_sequence(const ModelConfig& config);

}  // namespace vkr
