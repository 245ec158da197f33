// quantize_presets.cpp: the presets `vkrwkv quantize` offers, by llama-quantize's names and
// llama_ftype ids, and their lookup (the per-tensor rules are in quantize_model.cpp).
#include <cctype>
#include <vkr/error.hpp>

#include "quantize_model.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;

// llama_ftype values (llama.h), written to general.file_type.
const std::vector<QuantPresetInfo> kPresets = {
    {QuantPreset::Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K,
     "4.5-bit K-quant; output and 3/8 of ffn_down Q6_K (the usual choice)"},
    {QuantPreset::Q4_K_S, "Q4_K_S", 14, GgmlType::Q4_K,
     "4.5-bit K-quant; output Q6_K, first 1/8 of ffn_down Q5_K"},
    {QuantPreset::Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K,
     "5.5-bit K-quant; output and 3/8 of ffn_down Q6_K"},
    {QuantPreset::Q5_K_S, "Q5_K_S", 16, GgmlType::Q5_K, "5.5-bit K-quant; output Q6_K"},
    {QuantPreset::Q6_K, "Q6_K", 18, GgmlType::Q6_K, "6.6-bit K-quant"},
    {QuantPreset::Q3_K_M, "Q3_K_M", 12, GgmlType::Q3_K,
     "3.4-bit K-quant; ffn_down Q4_K, output Q6_K (for tight memory)"},
    {QuantPreset::Q3_K_S, "Q3_K_S", 11, GgmlType::Q3_K, "3.4-bit K-quant; output Q6_K"},
    {QuantPreset::Q3_K_L, "Q3_K_L", 13, GgmlType::Q3_K,
     "3.4-bit K-quant; ffn_down Q5_K, output Q6_K"},
    {QuantPreset::Q2_K, "Q2_K", 10, GgmlType::Q2_K,
     "2.6-bit K-quant; ffn_down Q3_K, output Q6_K (quality drops a lot)"},
    {QuantPreset::Q2_K_S, "Q2_K_S", 21, GgmlType::Q2_K,
     "2.6-bit K-quant; first 1/8 of ffn_down Q4_K, output Q6_K (needs --imatrix)"},
    {QuantPreset::IQ4_XS, "IQ4_XS", 30, GgmlType::IQ4_XS,
     "4.25-bit non-linear; first 1/8 of ffn_down Q5_K (without --imatrix), output Q6_K"},
    {QuantPreset::IQ4_NL, "IQ4_NL", 25, GgmlType::IQ4_NL,
     "4.5-bit non-linear; first 1/8 of ffn_down Q5_K (without --imatrix), output Q6_K"},
    {QuantPreset::IQ3_M, "IQ3_M", 27, GgmlType::IQ3_S,
     "3.7-bit codebook; first 1/8 of ffn_down Q4_K, output Q6_K"},
    {QuantPreset::IQ3_S, "IQ3_S", 26, GgmlType::IQ3_S, "3.44-bit codebook; output Q6_K"},
    {QuantPreset::IQ3_XS, "IQ3_XS", 22, GgmlType::IQ3_S,
     "3.3-bit codebook; middle layers' ffn_gate / ffn_up IQ3_XXS (needs --imatrix)"},
    {QuantPreset::IQ3_XXS, "IQ3_XXS", 23, GgmlType::IQ3_XXS,
     "3.06-bit codebook; token_embd IQ3_S, output Q5_K (needs --imatrix)"},
    {QuantPreset::IQ2_M, "IQ2_M", 29, GgmlType::IQ2_S,
     "2.7-bit codebook; first 1/8 of ffn_down and token_embd IQ3_S (needs --imatrix)"},
    {QuantPreset::IQ2_S, "IQ2_S", 28, GgmlType::IQ2_XS,
     "2.5-bit codebook (IQ2_XS); ffn_down's first 1/8, token_embd IQ3_S (needs --imatrix)"},
    {QuantPreset::IQ2_XS, "IQ2_XS", 20, GgmlType::IQ2_XS,
     "2.31-bit codebook; first 1/8 of ffn_down and token_embd Q2_K (needs --imatrix)"},
    {QuantPreset::IQ2_XXS, "IQ2_XXS", 19, GgmlType::IQ2_XXS,
     "2.06-bit codebook; first 1/8 of ffn_down and token_embd Q2_K (needs --imatrix)"},
    {QuantPreset::IQ1_M, "IQ1_M", 31, GgmlType::IQ1_M,
     "1.75-bit codebook; first 1/8 of ffn_down and token_embd Q2_K (needs --imatrix)"},
    {QuantPreset::IQ1_S, "IQ1_S", 24, GgmlType::IQ1_S,
     "1.56-bit codebook; first 1/8 of ffn_down and token_embd Q2_K (needs --imatrix)"},
    {QuantPreset::Q8_0, "Q8_0", 7, GgmlType::Q8_0, "8.5 bits, near-lossless"},
    {QuantPreset::Q4_0, "Q4_0", 2, GgmlType::Q4_0,
     "4.5 bits, legacy; output Q6_K (with --imatrix: first 1/8 of ffn_down Q4_1)"},
    {QuantPreset::Q5_0, "Q5_0", 8, GgmlType::Q5_0,
     "5.5 bits, legacy; output Q6_K (with --imatrix: first 1/8 of ffn_down Q5_1)"},
    {QuantPreset::Q5_1, "Q5_1", 9, GgmlType::Q5_1, "6 bits, legacy; output Q6_K"},
    {QuantPreset::Q4_1, "Q4_1", 3, GgmlType::Q4_1, "5 bits, legacy; output Q6_K"},
    {QuantPreset::F16, "F16", 1, GgmlType::F16, "16-bit float"},
    {QuantPreset::BF16, "BF16", 32, GgmlType::BF16, "16-bit bfloat"},
    {QuantPreset::F32, "F32", 0, GgmlType::F32, "32-bit float (no rounding)"},
};

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

}  // namespace

const std::vector<QuantPresetInfo>& quant_presets() { return kPresets; }

std::optional<QuantPreset> parse_quant_preset(std::string_view name) {
  std::string u = upper(name);
  if (u == "Q4_K") u = "Q4_K_M";
  if (u == "Q5_K") u = "Q5_K_M";
  if (u == "Q3_K") u = "Q3_K_M";
  for (const QuantPresetInfo& p : kPresets) {
    if (p.name == u) return p.preset;
  }
  return std::nullopt;
}

const QuantPresetInfo& preset_info(QuantPreset preset) {
  for (const QuantPresetInfo& p : kPresets) {
    if (p.preset == preset) return p;
  }
  throw Error(ErrorCode::InvalidArgument, "unknown quantization preset");
}

}  // namespace vkr
