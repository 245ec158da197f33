// The choices llama-quantize makes differently with an importance matrix (IQ4_NL / IQ4_XS drop
// their first-eighth ffn_down bump, Q4_0 / Q5_0 gain Q4_1 / Q5_1 there, Q2_K_S needs one) on a
// 16-layer model, where those first-eighth rules fire: types and bytes vs llama-quantize's
// (tests/data/llama_quant_plan, model/tools/llama_quant_plan_refs.py).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "imatrix.hpp"
#include "quantize_model.hpp"
#include "quantize_test_util.hpp"
#include "random_model.hpp"
#include "support/refmodels.hpp"
#include "support/sha256.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

const fs::path kPlanDir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_quant_plan";

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

TEST(Sha256, StandardVectors) {
  EXPECT_EQ(sha256_hex(bytes_of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(bytes_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(bytes_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// The manifest's model (make-model's generator, same spec and seed: same bytes) and imatrix
// (value 0.25 + ((7 j + 3 t) % 11) / 4 for column j of the t-th quantized tensor).
struct PlanFixture {
  TempDir dir;
  Json m = read_json(kPlanDir / "manifest.json");
  fs::path model = dir.path() / "plan16-f16.gguf";
  Imatrix imatrix;

  PlanFixture() {
    RandomModelSpec spec;
    spec.arch = Arch::QRwkv6;
    spec.n_layer = 16;
    spec.C = 256;
    spec.F = 512;
    spec.S = 64;
    spec.V = 512;
    spec.seed = 7;
    spec.dtype = "f16";
    write_random_model(spec, model);
    const gguf::File f = gguf::File::open(model);
    uint64_t t = 0;
    for (const Json& name : m.at("imatrix").at("names")) {
      const gguf::TensorInfo* info = f.tensor(name.get<std::string>());
      EXPECT_NE(info, nullptr) << name;
      if (info == nullptr) continue;
      ImatrixEntry e;
      e.K = info->ne[0];
      for (uint64_t j = 0; j < e.K; ++j) {
        e.sums.push_back(0.25f + static_cast<float>((j * 7 + t * 3) % 11) / 4.0f);
      }
      e.counts = {1.0};
      imatrix.entries.emplace_back(name.get<std::string>(), std::move(e));
      ++t;
    }
  }
};

TEST(QuantizeLlamaPlan, ModelIsTheManifests) {
  PlanFixture fx;
  const gguf::File f = gguf::File::open(fx.model);
  EXPECT_EQ(f.tensors().size(), fx.m.at("model").at("n_tensors").get<size_t>());
  std::ifstream in(fx.model, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(sha256_hex(bytes_of(bytes)), fx.m.at("model").at("sha256").get<std::string>());
}

// Every run: the same type for every tensor; with an imatrix, the same bytes too (ggml's
// weighted searches); Q2_K_S without one refused, naming a Q2_K tensor.
TEST(QuantizeLlamaPlan, TypesAndBytesMatchLlamaQuantize) {
  PlanFixture fx;
  const gguf::File in = gguf::File::open(fx.model);
  int runs = 0, compared = 0;
  for (const Json& run : fx.m.at("runs")) {
    const std::string preset_name = run.at("preset");
    const bool with = run.at("imatrix");
    SCOPED_TRACE(preset_name + (with ? " with imatrix" : " without imatrix"));
    const QuantPreset preset = *parse_quant_preset(preset_name);
    EXPECT_EQ(preset_info(preset).file_type, run.at("ftype").get<uint32_t>());
    PlanOptions po;
    po.imatrix = with;
    if (!run.at("ok").get<bool>()) {
      try {
        plan_quantization(in, preset, po);
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        EXPECT_NE(e.message().find("needs an importance matrix"), std::string::npos) << e.message();
      }
      continue;
    }
    const auto plan = plan_quantization(in, preset, po);
    std::map<std::string, std::string> types;
    for (const TensorPlan& p : plan) types[p.name] = gguf::type_name(p.to);
    std::vector<std::string> ffn_down;
    for (int l = 0; l < 16; ++l)
      ffn_down.push_back(types.at(fmt::format("blk.{}.ffn_down.weight", l)));
    EXPECT_EQ(ffn_down, run.at("ffn_down_types").get<std::vector<std::string>>());
    if (!run.contains("tensors")) continue;  // a contrast run: ffn_down types only
    ++runs;
    for (const Json& t : run.at("tensors")) {
      EXPECT_EQ(types.at(t.at("name")), t.at("type").get<std::string>()) << t.at("name");
    }
    if (!with) continue;
    QuantizeOptions qo;
    qo.imatrix = &fx.imatrix;
    qo.imatrix_file = "synthetic";
    const fs::path out = fx.dir.path() / (preset_name + ".gguf");
    quantize_model(in, out, preset, qo);
    const gguf::File q = gguf::File::open(out);
    for (const Json& t : run.at("tensors")) {
      const gguf::TensorInfo* info = q.tensor(t.at("name").get<std::string>());
      ASSERT_NE(info, nullptr);
      EXPECT_EQ(sha256_hex(q.tensor_data(*info)), t.at("sha256").get<std::string>())
          << t.at("name") << " (" << t.at("type") << ")";
      ++compared;
    }
    fs::remove(out);
  }
  EXPECT_GE(runs, 19);
  EXPECT_EQ(compared, 17 * 130);  // 17 imatrix runs (IQ1_S ... IQ3_M, Q2_K_S ...) x 130 tensors
}

// Q2_K_S with an imatrix that lacks one of its Q2_K matrices: an error naming it (llama-quantize
// aborts there too), not a silently unweighted 2-bit matrix.
TEST(QuantizeLlamaPlan, Q2KSNeedsEveryQ2KMatrixInTheImatrix) {
  PlanFixture fx;
  const gguf::File in = gguf::File::open(fx.model);
  Imatrix partial = fx.imatrix;
  std::erase_if(partial.entries,
                [](const auto& e) { return e.first == "blk.3.time_mix_key.weight"; });
  QuantizeOptions qo;
  qo.imatrix = &partial;
  qo.imatrix_file = "partial.imatrix";
  try {
    quantize_model(in, fx.dir.path() / "q2ks.gguf", QuantPreset::Q2_K_S, qo);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("no entry for 'blk.3.time_mix_key.weight'"), std::string::npos)
        << e.message();
  }
  EXPECT_FALSE(fs::exists(fx.dir.path() / "q2ks.gguf"));
}

// The same for the codebook mixtures: an IQ3_XS matrix (a middle layer's ffn_up, IQ3_XXS there)
// missing from the imatrix is an error naming it and its type, and nothing is written.
TEST(QuantizeLlamaPlan, CodebookMixturesNeedEveryMatrixInTheImatrix) {
  PlanFixture fx;
  const gguf::File in = gguf::File::open(fx.model);
  Imatrix partial = fx.imatrix;
  std::erase_if(partial.entries, [](const auto& e) { return e.first == "blk.5.ffn_up.weight"; });
  QuantizeOptions qo;
  qo.imatrix = &partial;
  qo.imatrix_file = "partial.imatrix";
  try {
    quantize_model(in, fx.dir.path() / "iq3xs.gguf", QuantPreset::IQ3_XS, qo);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("no entry for 'blk.5.ffn_up.weight', which IQ3_XS encodes as "
                               "IQ3_XXS"),
              std::string::npos)
        << e.message();
  }
  EXPECT_FALSE(fs::exists(fx.dir.path() / "iq3xs.gguf"));
}

}  // namespace
}  // namespace vkr::test
