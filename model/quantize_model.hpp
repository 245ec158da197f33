// Whole-model quantization (`vkrwkv quantize`): which type each tensor gets under a preset
// (llama-quantize's mixtures, so files match what llama.cpp users know), and the streaming
// rewrite of a GGUF with those types.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf.hpp"
#include "imatrix.hpp"

namespace vkr {

// A target mixture, named as llama-quantize names them. The K presets differ in where they spend
// extra bits: _M gives the output matrix Q6_K and every ffn_down that use_more_bits() picks (the
// first and last eighth of the layers and every third in between) Q6_K; _S only bumps the
// first eighth of ffn_down to Q5_K. The 2- and 3-bit presets spend them on ffn_down too: Q2_K
// makes it Q3_K, Q2_K_S (which needs an importance matrix) the first eighth Q4_K, Q3_K_M Q4_K
// (Q5_K in the first 1/16 of the layers), Q3_K_L Q5_K; IQ4_NL / IQ4_XS make the first eighth
// Q5_K unless an importance matrix is given. With an importance matrix, Q4_0 / Q5_0 make the
// first eighth of ffn_down Q4_1 / Q5_1.
enum class QuantPreset {
  F32,
  F16,
  BF16,
  Q8_0,
  Q4_0,
  Q5_0,
  Q5_1,
  Q4_K_S,
  Q4_K_M,
  Q5_K_S,
  Q5_K_M,
  Q6_K,
  Q4_1,
  Q2_K,
  Q2_K_S,
  Q3_K_S,
  Q3_K_M,
  Q3_K_L,
  IQ4_NL,
  IQ4_XS,
  // The codebook i-quant mixtures (all but IQ3_S and IQ3_M need an importance matrix): IQ1_S /
  // IQ1_M / IQ2_XXS / IQ2_XS make the first eighth of ffn_down and token_embd Q2_K; IQ2_S (IQ2_XS
  // matrices) / IQ2_M (IQ2_S) make them IQ3_S; IQ3_XXS makes token_embd IQ3_S; IQ3_XS is IQ3_S with
  // the middle layers' ffn_gate / ffn_up IQ3_XXS; IQ3_M IQ3_S with the first eighth of ffn_down
  // Q4_K. The output matrix is Q5_K up to IQ3_XXS, Q6_K from IQ3_XS.
  IQ1_S,
  IQ1_M,
  IQ2_XXS,
  IQ2_XS,
  IQ2_S,
  IQ2_M,
  IQ3_XXS,
  IQ3_XS,
  IQ3_S,
  IQ3_M
};

struct QuantPresetInfo {
  QuantPreset preset;
  std::string_view name;     // "Q4_K_M"
  uint32_t file_type;        // llama_ftype written to general.file_type
  gguf::GgmlType base;       // the type most matrices get
  std::string_view summary;  // one line for --help
};

// Every preset, in the order --help lists them.
const std::vector<QuantPresetInfo>& quant_presets();
// Case-insensitive lookup ("q4_k_m"; "Q3_K", "Q4_K" and "Q5_K" mean the _M presets as in
// llama.cpp);
// nullopt for unknown names.
std::optional<QuantPreset> parse_quant_preset(std::string_view name);
const QuantPresetInfo& preset_info(QuantPreset preset);

// One tensor's fate: `to` == `from` means its bytes are copied unchanged.
struct TensorPlan {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t from = 0;  // ggml type ids
  uint32_t to = 0;
  std::string why;  // why `to` differs from the preset's base type ("" when it does not)
};

// llama-quantize's overrides of a preset's choices.
struct PlanOptions {
  // Every converted matrix gets the preset's base type: no Q6_K output, no ffn_down bumps
  // (row-length fallbacks still apply). llama-quantize's --pure.
  bool pure = false;
  // The output matrix's type (--output-tensor-type); with a tied head, token_embd's unless
  // token_embd_type is set too.
  std::optional<gguf::GgmlType> output_type;
  // output.weight keeps its type (llama-quantize's --leave-output-tensor; a tied head is
  // token_embd, which is unaffected).
  bool leave_output = false;
  // token_embd's type (--token-embedding-type).
  std::optional<gguf::GgmlType> token_embd_type;
  // llama-quantize's --tensor-type PATTERN=TYPE: the first pattern (ECMAScript regex, searched in
  // the name) matching a converted tensor sets its type, before every other rule. A pattern that
  // matches no converted tensor is an error (a typo would otherwise change nothing).
  std::vector<std::pair<std::string, gguf::GgmlType>> tensor_types;
  // An importance matrix will weight the encoders: llama-quantize then chooses differently for
  // IQ4_NL / IQ4_XS / Q4_0 / Q5_0, and Q2_K_S and the IQ1_* / IQ2_* / IQ3_XXS types require it
  // (for every matrix but token_embd and output; IQ1_S / IQ2_XXS / IQ2_XS everywhere).
  // quantize_model() sets it from QuantizeOptions::imatrix.
  bool imatrix = false;
};

// The type of every tensor of `in` under `preset`, in file order. Matrices (2-D or more, named
// *.weight) are converted except norms and RWKV's small LoRA / mixing / bonus tensors, which stay
// as they are (llama.cpp's rules, checked tensor by tensor against llama-quantize's files in
// tests/model/test_quantize.cpp). Throws vkr::Error(BadModelFile) naming the tensor when one
// that must be converted has a type the CPU cannot decode; InvalidArgument when an override type
// cannot be encoded or its blocks do not divide the tensor's rows, or when a matrix needs
// importance weights (Q2_K_S's Q2_K, IQ1_S / IQ1_M / IQ2_XXS / IQ2_XS / IQ2_S / IQ3_XXS, or a
// type whose encoder requires them) and there is no importance matrix.
std::vector<TensorPlan> plan_quantization(const gguf::File& in, QuantPreset preset,
                                          const PlanOptions& options = {});

struct QuantizeOptions {
  unsigned threads = 0;  // 0: one per hardware thread
  // Converting tensors that are already quantized (Q8_0 -> Q4_K) compounds two rounding errors;
  // refused unless set, as llama-quantize does.
  bool allow_requantize = false;
  // (bytes written, total) after each tensor.
  std::function<void(uint64_t, uint64_t)> progress;
  // Set by another thread (a signal handler's): the rewrite stops within a few rows and throws
  // vkr::Error(InvalidArgument, "interrupted"), leaving no output file.
  const std::atomic<bool>* stop = nullptr;
  PlanOptions plan;
  // Importance matrix (imatrix.hpp; not owned): each converted matrix with an entry is encoded
  // with its per-column weights, as llama-quantize --imatrix does; `imatrix_file` names it in the
  // output's quantize.imatrix.* keys.
  const Imatrix* imatrix = nullptr;
  std::string imatrix_file;
  // llama-quantize --keep-split: a model in parts is written in as many parts, each with the
  // tensors of its input part (named split_part_path(prefix, i, n), the prefix being `out`
  // without ".gguf"); otherwise one file.
  bool keep_split = false;
};

struct QuantizeSummary {
  std::vector<TensorPlan> plan;
  uint64_t bytes_in = 0;   // tensor data of the input
  uint64_t bytes_out = 0;  // tensor data of the output
  size_t converted = 0;    // tensors re-encoded (the rest copied)
  // With an imatrix: converted tensors encoded with its weights / without an entry for them.
  size_t imatrix_used = 0;
  std::vector<std::string> imatrix_missing;
  std::vector<std::filesystem::path> files;  // written (quantize_model), in order
};

// The plan and the sizes quantize_model() would produce, without writing anything (converted
// counts the tensors it would re-encode).
QuantizeSummary preview_quantization(const gguf::File& in, QuantPreset preset,
                                     const PlanOptions& options = {});

// The files quantize_model() writes for `out` (more than one with keep_split and a split input).
std::vector<std::filesystem::path> quantize_outputs(const gguf::File& in,
                                                    const std::filesystem::path& out,
                                                    bool keep_split);

// Writes `out` (via out.part, renamed at the end) with every metadata key of `in`
// (general.file_type and general.quantization_version set for the preset) and the tensors in `in`'s
// order, converted per plan_quantization(). Memory: one output tensor plus a row per thread. Throws
// vkr::Error: InvalidArgument when `out` is `in` or when requantizing without allow_requantize,
// BadModelFile naming the tensor and row when a weight is NaN or infinite (or naming the imatrix
// entry whose width does not match its tensor), Io for file errors.
QuantizeSummary quantize_model(const gguf::File& in, const std::filesystem::path& out,
                               QuantPreset preset, const QuantizeOptions& options = {});

}  // namespace vkr
