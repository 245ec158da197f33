// refmodels.hpp: access to ../shared/refmodels (manifest, llama.cpp logits) and the logits
// comparison shared by the CPU-reference and GPU model tests.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace vkr::test {

using Json = nlohmann::json;

inline const std::filesystem::path kRefDir = std::filesystem::path(VKR_SHARED_DIR) / "refmodels";

// A JSON file, or an empty object when it cannot be read (the tests that need it then say so).
Json read_json(const std::filesystem::path& path);
// The parsed manifest.json (an empty object when it cannot be read).
const Json& manifest();
// Model files listed in the manifest.
std::vector<std::string> model_files();
// The manifest entry of `file` (throws when absent).
const Json& model_entry(const std::string& file);
// The token ids of prompt `prompt` ("p16", "p150") for `file`.
std::vector<int32_t> prompt_tokens(const std::string& file, const std::string& prompt);
// Raw little-endian f32 file of exactly n floats.
std::vector<float> read_logits(const std::filesystem::path& path, size_t n);
// tests/data/llama_quant: models llama.cpp quantized to the types ../shared/refmodels lacks (Q4_1,
// Q2_K, Q3_K, IQ4_NL, IQ4_XS; made from the tiny f16 models by model/tools/llama_quant_refs.py)
// with llama.cpp's logits for the same prompts, plus block-level dequantize / quantize goldens.
inline const std::filesystem::path kLlamaQuantDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_quant";
// Its parsed manifest.json (an empty object when it cannot be read).
const Json& llama_quant_manifest();
// The model files of kLlamaQuantDir that are checked in (the manifest lists more).
std::vector<std::string> llama_quant_models();
// tests/data/llama_iquant: the same for the codebook i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S; model/tools/llama_iquant_refs.py, with the tiny models' imatrix).
inline const std::filesystem::path kLlamaIquantDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_iquant";
const Json& llama_iquant_manifest();
std::vector<std::string> llama_iquant_models();
// The folder (kLlamaQuantDir or kLlamaIquantDir) holding model file `file`.
std::filesystem::path llama_quant_dir_of(const std::string& file);
// Prompt `prompt`'s token ids for a llama_quant / llama_iquant model (those of the f16 model of
// its arch).
std::vector<int32_t> llama_quant_tokens(const std::string& file, const std::string& prompt);

struct LogitsTolerance {
  double max_abs, mean_abs;
};
// Tolerances vs llama.cpp for every llama_quant and llama_iquant model: ../shared/refmodels'
// K-quant ones. Its CPU
// backend rounds activations to 8 bits before quantized matmuls (we do not); measured 0.11-0.22
// max / 0.021-0.030 mean (tests/data/llama_quant/README.md), as the 0.12-0.19 / 0.022-0.029
// recorded there for Q4_0 ... Q6_K; the i-quant files 0.10-0.21 / 0.021-0.030 (their logits
// differ from the f16 model's by 2.0-5.8 / 0.39-0.84); a wrong decoder gives 2-7 / 0.2-1.
inline constexpr LogitsTolerance kLlamaQuantTolerance{0.6, 0.1};

// Gap between the largest and second-largest value of a row.
float top2_gap(std::span<const float> row);

struct CaseResult {
  double max_diff = 0.0, mean_diff = 0.0;
  int max_pos = 0, argmax_agree = 0, excused = 0;
  std::vector<int> bad_argmax;  // positions where the argmax differs although the gap is wide
};
// Max/mean |diff| over T rows of V logits, and argmax agreement (a disagreement is excused where
// the reference's top-2 gap is below max_tol).
CaseResult compare_logits(int T, int V, std::span<const float> want, std::span<const float> got,
                          double max_tol);

}  // namespace vkr::test
