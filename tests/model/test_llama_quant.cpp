// The quant types ../shared/refmodels lacks (Q4_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS: tests/data/
// llama_quant; IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S: tests/data/llama_iquant)
// against llama.cpp / ggml: our CPU dequantizer vs ggml's on random blocks, and the CPU
// reference forward pass of llama-quantize's files vs llama.cpp's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dequant.hpp"
#include "gguf.hpp"
#include "gguf_types.hpp"
#include "reference/forward.hpp"
#include "support/refmodels.hpp"
#include "vkr/iq_grids.hpp"

namespace vkr::test {
namespace {

std::vector<char> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string param_name(const ::testing::TestParamInfo<std::string>& p) {
  std::string name = p.param.substr(0, p.param.find(".gguf"));
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

TEST(LlamaQuantData, ManifestAndModelsPresent) {
  ASSERT_TRUE(llama_quant_manifest().contains("models")) << kLlamaQuantDir / "manifest.json";
  EXPECT_GE(llama_quant_models().size(), 5u);
  ASSERT_TRUE(llama_iquant_manifest().contains("models")) << kLlamaIquantDir / "manifest.json";
  EXPECT_GE(llama_iquant_models().size(), 2u);
}

// 64 blocks of random bytes (finite f16 scales) per type, decoded by ggml's to_float: ours must
// give the same floats bit for bit (same arithmetic order as ggml's reference dequantizers).
// The codebook i-quants' goldens (tests/data/llama_iquant) also check the grids
// (runtime/data/iq_grids.bin) entry by entry: random indices reach most of every grid.
TEST(LlamaQuantDequant, MatchesGgmlBitForBit) {
  for (const std::string type : {"Q4_1", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS",
                                 "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"}) {
    const std::filesystem::path dir =
        type.starts_with("IQ4") || !type.starts_with("IQ") ? kLlamaQuantDir : kLlamaIquantDir;
    const auto blocks = read_all(dir / ("dequant_" + type + ".bin"));
    const auto floats = read_all(dir / ("dequant_" + type + ".f32"));
    uint32_t id = 0;
    while (gguf::type_name(id) != type) ++id;
    const auto traits = gguf::type_traits(id);
    ASSERT_TRUE(traits.has_value());
    const uint64_t n = floats.size() / 4;
    ASSERT_EQ(blocks.size(), n / traits->block_elems * traits->block_bytes) << type;
    std::vector<float> want(n), got(n);
    std::memcpy(want.data(), floats.data(), floats.size());
    dequantize_row(id, reinterpret_cast<const std::byte*>(blocks.data()), got.data(), n);
    uint64_t differ = 0, nonzero = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (std::memcmp(&want[i], &got[i], 4) != 0) ++differ;
      if (want[i] != 0.0f) ++nonzero;
    }
    std::printf("[dequant-vs-ggml] %-7s %llu values, %llu non-zero, %llu differ\n", type.c_str(),
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(nonzero),
                static_cast<unsigned long long>(differ));
    EXPECT_EQ(differ, 0u) << type;
    EXPECT_GT(nonzero, n / 2) << type << ": the goldens should exercise real values";
  }
}

// The codebooks the decoders use (runtime/data/iq_grids.bin, embedded) are the ones
// model/tools/llama_iquant_refs.py extracted from ggml and checked against it on its own.
TEST(LlamaQuantDequant, GridsAreGgmls) {
  const auto want = read_all(kLlamaIquantDir / "iq_grids.bin");
  const std::span<const uint32_t> got = iq::grid_words();
  ASSERT_EQ(want.size(), got.size_bytes());
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size()), 0);
}

class LlamaQuantRefForward : public ::testing::TestWithParam<std::string> {};

// The CPU reference forward pass (weights dequantized by model/dequant.cpp, f32 activations) vs
// llama.cpp's logits at every position of both prompts.
TEST_P(LlamaQuantRefForward, MatchesLlamaCppLogits) {
  const std::string file = GetParam();
  const std::filesystem::path dir = llama_quant_dir_of(file);
  const LogitsTolerance tol = kLlamaQuantTolerance;
  const gguf::File gguf = gguf::File::open(dir / file);
  const ref::RefModel model(gguf);
  const int V = static_cast<int>(model.config().V);
  for (const std::string prompt : {"p16", "p150"}) {
    const auto tokens = llama_quant_tokens(file, prompt);
    const int T = static_cast<int>(tokens.size());
    const auto want =
        read_logits(dir / (file.substr(0, file.size() - 5) + "." + prompt + ".logits.f32"),
                    static_cast<size_t>(T) * V);
    ref::RefState state = model.new_state();
    const auto got = model.forward(tokens, state);
    ASSERT_EQ(got.size(), want.size());
    const CaseResult r = compare_logits(T, V, want, got, tol.max_abs);
    std::printf(
        "[ref-vs-llama.cpp] %-26s %-4s max|diff| %.3g (pos %d)  mean|diff| %.3g  argmax "
        "%d/%d (+%d excused)  tol %.3g / %.3g\n",
        file.c_str(), prompt.c_str(), r.max_diff, r.max_pos, r.mean_diff, r.argmax_agree, T,
        r.excused, tol.max_abs, tol.mean_abs);
    EXPECT_LE(r.max_diff, tol.max_abs) << file << " " << prompt << " at position " << r.max_pos;
    EXPECT_LE(r.mean_diff, tol.mean_abs) << file << " " << prompt;
    EXPECT_TRUE(r.bad_argmax.empty()) << file << " " << prompt << ": argmax differs at "
                                      << r.bad_argmax.size() << " confident position(s)";
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaQuant, LlamaQuantRefForward,
                         ::testing::ValuesIn(llama_quant_models()), param_name);
INSTANTIATE_TEST_SUITE_P(LlamaIquant, LlamaQuantRefForward,
                         ::testing::ValuesIn(llama_iquant_models()), param_name);

}  // namespace
}  // namespace vkr::test
