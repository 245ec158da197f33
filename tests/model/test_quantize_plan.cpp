// The per-tensor types of `vkrwkv quantize` (model/quantize_model.cpp) against llama-quantize's
// files (../shared/refmodels, tests/data/llama_quant), preset names, and llama-quantize's
// overrides (--pure, --output-tensor-type, --token-embedding-type).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "gguf_writer.hpp"
#include "quantize_model.hpp"
#include "quantize_test_util.hpp"
#include "support/expect_error.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

// ---- types: every tensor as llama-quantize chose it --------------------------------------------

// The manifest lists llama-quantize's type for every tensor of its files; our plan for the f16
// file of the same preset must agree tensor by tensor (output Q6_K, ffn_down bumps, fallbacks for
// rows of 896, LoRA / norm / bonus tensors left F32).
TEST(QuantizePlan, MatchesLlamaQuantizeTensorByTensor) {
  int checked = 0;
  for (const std::string arch : {"tiny-qrwkv6", "tiny-rwkv6"}) {
    const gguf::File f16 = gguf::File::open(kRefDir / (arch + "-f16.gguf"));
    for (const std::string preset : {"Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"}) {
      const std::string file = arch + "-" + preset + ".gguf";
      const Json& want = model_entry(file).at("tensor_types");
      const auto plan = plan_quantization(f16, *parse_quant_preset(preset));
      ASSERT_EQ(plan.size(), want.size()) << file;
      for (const TensorPlan& p : plan) {
        ASSERT_TRUE(want.contains(p.name)) << file << " lacks " << p.name;
        EXPECT_EQ(gguf::type_name(p.to), want.at(p.name).get<std::string>())
            << file << ": " << p.name << " (" << p.why << ")";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 500);
}

// The same for the presets of tests/data/llama_quant (made by llama-quantize from the f16 files;
// its manifest lists every file it made, also those not checked in).
TEST(QuantizePlan, MatchesLlamaQuantizeForTheLowBitPresets) {
  int checked = 0;
  std::set<std::string> presets;
  for (const Json& m : llama_quant_manifest().at("models")) {
    const std::string file = m.at("file");
    const std::string arch =
        file.find("qrwkv6") != std::string::npos ? "tiny-qrwkv6" : "tiny-rwkv6";
    const std::string preset = file.substr(arch.size() + 1, file.size() - arch.size() - 6);
    if (preset == "f16") continue;
    const auto parsed = parse_quant_preset(preset);
    ASSERT_TRUE(parsed.has_value()) << preset;
    EXPECT_EQ(preset_info(*parsed).file_type, m.at("general.file_type").get<uint32_t>()) << file;
    const gguf::File f16 = gguf::File::open(kRefDir / (arch + "-f16.gguf"));
    const auto plan = plan_quantization(f16, *parsed);
    std::map<std::string, std::string> want;  // llama-quantize writes its own tensor order
    for (const Json& t : m.at("tensors")) want[t.at("name")] = t.at("type");
    ASSERT_EQ(plan.size(), want.size()) << file;
    for (const TensorPlan& p : plan) {
      ASSERT_TRUE(want.count(p.name)) << file << " lacks " << p.name;
      EXPECT_EQ(gguf::type_name(p.to), want.at(p.name))
          << file << ": " << p.name << " (" << p.why << ")";
      ++checked;
    }
    presets.insert(preset);
  }
  EXPECT_EQ(presets.size(), 7u);  // Q4_1 Q2_K Q3_K_S Q3_K_M Q3_K_L IQ4_NL IQ4_XS
  EXPECT_GT(checked, 1000);
}

// llama-quantize's --pure / --output-tensor-type / --token-embedding-type.
TEST(QuantizePlan, PureAndOverrides) {
  const gguf::File q = gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf");
  PlanOptions pure;
  pure.pure = true;
  for (const TensorPlan& p : plan_quantization(q, QuantPreset::Q4_K_M, pure)) {
    if (p.to != p.from) {
      EXPECT_EQ(p.to, id(GgmlType::Q4_K)) << p.name;
    }
  }
  const gguf::File r = gguf::File::open(kRefDir / "tiny-rwkv6-f16.gguf");
  for (const TensorPlan& p : plan_quantization(r, QuantPreset::Q4_K_M, pure)) {
    if (p.name.find("channel_mix_value") != std::string::npos) {
      EXPECT_EQ(p.to, id(GgmlType::Q5_0)) << p.name;  // rows of 896: the fallback still applies
    }
  }
  PlanOptions o;
  o.output_type = GgmlType::Q8_0;
  o.token_embd_type = GgmlType::F16;
  for (const TensorPlan& p : plan_quantization(q, QuantPreset::Q3_K_M, o)) {
    if (p.name == "output.weight") {
      EXPECT_EQ(p.to, id(GgmlType::Q8_0));
    }
    if (p.name == "token_embd.weight") {
      EXPECT_EQ(p.to, id(GgmlType::F16));
    }
    if (p.name == "blk.1.ffn_down.weight") {
      EXPECT_EQ(p.to, id(GgmlType::Q4_K));  // preset kept
    }
  }
  // An override that cannot be encoded, that can only be encoded with importance weights when
  // there are none, or whose blocks do not divide the rows, is an error.
  o.output_type = GgmlType::Q8_1;
  expect_error([&] { plan_quantization(q, QuantPreset::Q4_K_M, o); }, ErrorCode::InvalidArgument,
               {"cannot encode Q8_1"});
  o.output_type = GgmlType::IQ1_S;
  expect_error([&] { plan_quantization(q, QuantPreset::Q4_K_M, o); }, ErrorCode::InvalidArgument,
               {"--output-tensor-type makes 'output.weight' IQ1_S", "importance weights"});
  o.imatrix = true;
  EXPECT_NO_THROW(plan_quantization(q, QuantPreset::Q4_K_M, o));
  o.imatrix = false;
  const TempDir dir;
  gguf::GgufWriter w;
  w.add_kv("general.architecture", gguf::KvValue::str("rwkv6"));
  w.add_tensor("output.weight", {96, 4}, GgmlType::F32, std::vector<std::byte>(96 * 4 * 4));
  w.write(dir.path() / "narrow.gguf");
  const gguf::File narrow = gguf::File::open(dir.path() / "narrow.gguf");
  PlanOptions k;
  k.output_type = GgmlType::Q4_K;
  try {
    plan_quantization(narrow, QuantPreset::Q8_0, k);
    ADD_FAILURE() << "Q4_K rows of 96 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("output.weight"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("96"), std::string::npos) << e.message();
  }
}

TEST(QuantizePlan, PresetNames) {
  EXPECT_EQ(parse_quant_preset("q4_k_m"), QuantPreset::Q4_K_M);
  EXPECT_EQ(parse_quant_preset("Q4_K"), QuantPreset::Q4_K_M);  // llama.cpp's alias
  EXPECT_EQ(parse_quant_preset("Q5_K"), QuantPreset::Q5_K_M);
  EXPECT_EQ(parse_quant_preset("Q3_K"), QuantPreset::Q3_K_M);
  EXPECT_EQ(parse_quant_preset("iq4_xs"), QuantPreset::IQ4_XS);
  EXPECT_EQ(parse_quant_preset("bf16"), QuantPreset::BF16);
  EXPECT_EQ(parse_quant_preset("iq1_s"), QuantPreset::IQ1_S);
  EXPECT_EQ(preset_info(QuantPreset::IQ1_S).file_type, 24u);
  EXPECT_EQ(preset_info(QuantPreset::IQ1_M).file_type, 31u);
  EXPECT_FALSE(parse_quant_preset("IQ1_XS").has_value());
  EXPECT_EQ(parse_quant_preset("iq2_xxs"), QuantPreset::IQ2_XXS);
  EXPECT_FALSE(parse_quant_preset("").has_value());
  EXPECT_EQ(preset_info(QuantPreset::Q4_K_M).file_type, 15u);  // what llama-quantize writes
  EXPECT_EQ(preset_info(QuantPreset::Q8_0).file_type, 7u);
}

// --tensor-type PATTERN=TYPE: first matching pattern wins over every preset rule (output and
// ffn_down bumps included); a pattern matching nothing, a bad regex, a type that cannot be
// encoded or whose blocks do not divide the rows are errors naming the pattern.
TEST(QuantizePlan, TensorTypePatterns) {
  const gguf::File q = gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf");
  PlanOptions o;
  o.tensor_types = {{"blk\\.[01]\\.ffn_down", GgmlType::Q8_0},
                    {"ffn_down", GgmlType::Q5_K},
                    {"^output", GgmlType::Q4_K}};
  std::map<std::string, uint32_t> got;
  for (const TensorPlan& p : plan_quantization(q, QuantPreset::Q4_K_M, o)) got[p.name] = p.to;
  EXPECT_EQ(got["blk.0.ffn_down.weight"], id(GgmlType::Q8_0));
  EXPECT_EQ(got["blk.1.ffn_down.weight"], id(GgmlType::Q8_0));
  EXPECT_EQ(got["blk.3.ffn_down.weight"], id(GgmlType::Q5_K));  // Q6_K under the preset alone
  EXPECT_EQ(got["output.weight"], id(GgmlType::Q4_K));          // Q6_K under the preset alone
  EXPECT_EQ(got["blk.0.ffn_up.weight"], id(GgmlType::Q4_K));    // untouched
  EXPECT_EQ(got["blk.0.attn_norm.weight"], id(GgmlType::F32));  // never converted
  auto error_of = [&](std::vector<std::pair<std::string, GgmlType>> tt) -> std::string {
    PlanOptions bad;
    bad.tensor_types = std::move(tt);
    try {
      plan_quantization(q, QuantPreset::Q4_K_M, bad);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  PlanOptions leave;
  leave.leave_output = true;
  for (const TensorPlan& p : plan_quantization(q, QuantPreset::Q4_K_M, leave)) {
    if (p.name == "output.weight") {
      EXPECT_EQ(p.to, p.from);
    }
  }
  EXPECT_NE(error_of({{"attn_v", GgmlType::Q8_0}}).find("'attn_v' matches none"),
            std::string::npos);
  EXPECT_NE(error_of({{"attn_norm", GgmlType::Q8_0}}).find("matches none"), std::string::npos);
  EXPECT_NE(error_of({{"ffn_(", GgmlType::Q8_0}}).find("not a valid regex"), std::string::npos);
  EXPECT_NE(error_of({{"ffn_up", GgmlType::Q8_1}}).find("cannot encode Q8_1"), std::string::npos);
  EXPECT_NE(error_of({{"ffn_up", GgmlType::IQ1_M}}).find("--tensor-type ffn_up makes"),
            std::string::npos);
}

}  // namespace
}  // namespace vkr::test
