// The codebook i-quant encoders (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): our bytes
// vs ggml's own ggml_quantize_chunk (tests/data/llama_quant/quant_<T>.imatrix.bin and .null.bin,
// made by model/tools/llama_quant_imatrix_refs.py), the lattice tables they search, the importance
// requirement of IQ1_S / IQ2_XXS / IQ2_XS, and odd inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "imatrix.hpp"
#include "iq_lattice.hpp"
#include "quantize_model.hpp"
#include "quantize_test_util.hpp"
#include "support/expect_error.hpp"
#include "support/refmodels.hpp"

namespace vkr::test {
namespace {

constexpr size_t kRows = 8;
constexpr size_t kCols = 512;

// In increasing bits per weight (IQ1_S 1.56 ... IQ3_S 3.44).
const std::vector<GgmlType> kGridTypes = {GgmlType::IQ1_S,  GgmlType::IQ1_M, GgmlType::IQ2_XXS,
                                          GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS,
                                          GgmlType::IQ3_S};

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
std::vector<float> read_floats(const fs::path& path) {
  const std::vector<char> raw = read_bytes(path);
  std::vector<float> v(raw.size() / 4);
  std::memcpy(v.data(), raw.data(), v.size() * 4);
  return v;
}

std::vector<std::byte> encode_rows(GgmlType t, const float* x, const float* w, size_t rows) {
  const auto tr = *gguf::type_traits(t);
  const size_t row_bytes = kCols / tr.block_elems * tr.block_bytes;
  std::vector<std::byte> out(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    quantize_row(id(t), x + r * kCols, out.data() + r * row_bytes, kCols,
                 w != nullptr ? w + r * kCols : nullptr);
  }
  return out;
}

// Blocks whose bytes differ from `want`, as "block b (first byte k)".
std::vector<std::string> differing_blocks(const std::vector<std::byte>& ours,
                                          const std::vector<char>& want, uint32_t block_bytes) {
  std::vector<std::string> out;
  for (size_t b = 0; b * block_bytes < ours.size() && b * block_bytes < want.size(); ++b) {
    for (size_t k = 0; k < block_bytes; ++k) {
      if (ours[b * block_bytes + k] != static_cast<std::byte>(want[b * block_bytes + k])) {
        out.push_back(fmt::format("block {} (first differing byte {})", b, k));
        break;
      }
    }
  }
  return out;
}

// Every row of the eight input shapes (gaussian, uniform, outliers, zeros, ~1e-6, constant,
// small, positive) with the eight importance shapes (six decades, scattered zeros, ones, whole
// zero blocks, an all-zero row), and for the types that allow it without importance: the bytes
// must be ggml's, block for block.
TEST(QuantizeIq, EveryGridTypeGivesBackGgmlBytes) {
  const std::vector<float> x = read_floats(kLlamaQuantDir / "quant_input.f32");
  const std::vector<float> w = read_floats(kLlamaQuantDir / "quant_imatrix.f32");
  ASSERT_EQ(x.size(), kRows * kCols);
  ASSERT_EQ(w.size(), kRows * kCols);
  std::set<std::string> seen;
  for (const Json& g : llama_quant_manifest().at("goldens")) {
    if (g.at("kind") != "quant_iq_grid") continue;
    const std::string name = g.at("type");
    const auto t = static_cast<GgmlType>(g.at("ggml_type").get<uint32_t>());
    ASSERT_EQ(gguf::type_name(t), name);
    const auto bb = g.at("block_bytes").get<uint32_t>();
    const std::vector<char> want = read_bytes(kLlamaQuantDir / g.at("file").get<std::string>());
    const std::vector<std::byte> ours = encode_rows(t, x.data(), w.data(), kRows);
    ASSERT_EQ(ours.size(), want.size()) << name;
    const auto diff = differing_blocks(ours, want, bb);
    EXPECT_TRUE(diff.empty()) << name << " with importance: " << diff.size() << " blocks differ, "
                              << diff.front();
    std::printf("[iq encode vs ggml] %-7s importance: %zu / %zu blocks identical\n", name.c_str(),
                ours.size() / bb - diff.size(), ours.size() / bb);
    EXPECT_EQ(g.at("requires_imatrix").get<bool>(), quantize_needs_importance(id(t))) << name;
    if (g.contains("null_file")) {
      const std::vector<char> want0 =
          read_bytes(kLlamaQuantDir / g.at("null_file").get<std::string>());
      const std::vector<std::byte> ours0 = encode_rows(t, x.data(), nullptr, kRows);
      const auto diff0 = differing_blocks(ours0, want0, bb);
      EXPECT_TRUE(diff0.empty()) << name << " without: " << diff0.size() << " blocks differ, "
                                 << diff0.front();
      // the weighted path is a different search: some rows must differ from the plain one
      EXPECT_NE(ours0, ours) << name;
    }
    seen.insert(name);
  }
  EXPECT_EQ(seen.size(), kGridTypes.size());
}

// IQ1_S / IQ2_XXS / IQ2_XS place their codes by the importance; ggml asserts without it, we
// refuse.
TEST(QuantizeIq, LowestBitTypesNeedImportance) {
  std::vector<float> x(256, 0.5f);
  std::vector<std::byte> out(74);
  for (GgmlType t : {GgmlType::IQ1_S, GgmlType::IQ2_XXS, GgmlType::IQ2_XS}) {
    EXPECT_TRUE(quantize_supported(id(t)));
    EXPECT_TRUE(quantize_needs_importance(id(t)));
    expect_error([&] { quantize_row(id(t), x.data(), out.data(), x.size()); },
                 ErrorCode::InvalidArgument, {"needs importance weights", gguf::type_name(t)});
  }
  for (GgmlType t :
       {GgmlType::IQ1_M, GgmlType::IQ2_S, GgmlType::IQ3_XXS, GgmlType::IQ3_S, GgmlType::Q4_K}) {
    EXPECT_FALSE(quantize_needs_importance(id(t))) << gguf::type_name(t);
    EXPECT_TRUE(quantize_supported(id(t))) << gguf::type_name(t);
  }
}

// The tables: every grid entry maps to itself, every reachable off-grid point has a non-empty
// list of valid entries, all at no greater distance than any entry left out of it.
TEST(QuantizeIq, LatticeNeighbourListsAreNearestEntries) {
  for (GgmlType t : kGridTypes) {
    const qblocks::IqLattice& lat = qblocks::iq_lattice(id(t));
    const size_t entries = lat.points.size() / static_cast<size_t>(lat.dims);
    const int levels = lat.dims == 8 ? 3 : 8;
    size_t on = 0;
    size_t off = 0;
    for (uint32_t u = 0; u < lat.map.size(); ++u) {
      bool reachable = true;
      std::vector<int> pos(static_cast<size_t>(lat.dims));
      for (int k = 0; k < lat.dims; ++k) {
        const int l = static_cast<int>((u >> (lat.bits * k)) & ((1u << lat.bits) - 1));
        reachable = reachable && l < levels;
        pos[static_cast<size_t>(k)] = 2 * l + 1;
      }
      if (!reachable) continue;
      const auto dist = [&](uint32_t e) {
        int d2 = 0;
        for (int k = 0; k < lat.dims; ++k) {
          const int diff = lat.point(e)[static_cast<size_t>(k)] - pos[static_cast<size_t>(k)];
          d2 += diff * diff;
        }
        return d2;
      };
      if (lat.map[u] >= 0) {
        ++on;
        ASSERT_EQ(dist(static_cast<uint32_t>(lat.map[u])), 0) << gguf::type_name(t);
        continue;
      }
      ++off;
      const uint16_t* nb = lat.neighbours_of(u);
      ASSERT_GT(nb[0], 0) << gguf::type_name(t) << " index " << u;
      int worst = 0;
      std::set<uint32_t> listed;
      for (uint32_t j = 1; j <= nb[0]; ++j) {
        ASSERT_LT(nb[j], entries);
        worst = std::max(worst, dist(nb[j]));
        listed.insert(nb[j]);
      }
      for (uint32_t e = 0; e < entries; ++e) {
        if (listed.count(e) == 0) {
          ASSERT_GE(dist(e), worst) << gguf::type_name(t) << " " << u;
        }
      }
    }
    EXPECT_EQ(on, entries) << gguf::type_name(t);
    EXPECT_GT(off, 0u) << gguf::type_name(t);
  }
  EXPECT_EQ(&qblocks::iq_lattice(id(GgmlType::IQ1_S)), &qblocks::iq_lattice(id(GgmlType::IQ1_M)));
  expect_error([] { qblocks::iq_lattice(id(GgmlType::Q4_K)); }, ErrorCode::InvalidArgument,
               {"Q4_K has no grid encoder"});
}

// Decoded rows are close to the input, closer for the types with more bits (random gaussian rows,
// importance from squared gaussians), and odd rows (zeros, one spike, large and tiny magnitudes,
// a zero sub-block inside a block) encode without errors to finite values.
TEST(QuantizeIq, RoundTripErrorShrinksWithBitsAndOddRowsEncode) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const size_t n = 4096;
  std::vector<float> x(n);
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = nd(rng);
    const float g = nd(rng);
    w[i] = g * g + 0.01f;
  }
  std::vector<double> rel;
  for (GgmlType t : kGridTypes) {
    const auto tr = *gguf::type_traits(t);
    std::vector<std::byte> q(n / tr.block_elems * tr.block_bytes);
    quantize_row(id(t), x.data(), q.data(), n, w.data());
    const std::vector<float> y = decode(t, q, n);
    double err = 0;
    double ref = 0;
    for (size_t i = 0; i < n; ++i) {
      err += w[i] * (y[i] - x[i]) * (y[i] - x[i]);
      ref += w[i] * x[i] * x[i];
    }
    rel.push_back(std::sqrt(err / ref));
    std::printf("[iq round trip] %-7s weighted relative rms error %.4f\n", tr.name.data(),
                rel.back());
    EXPECT_LT(rel.back(), t == GgmlType::IQ1_S || t == GgmlType::IQ1_M ? 0.5 : 0.35) << tr.name;
  }
  // IQ1_S (1.56 bits) > IQ1_M (1.75) > IQ2_XXS (2.06) > IQ2_XS (2.31) > IQ2_S (2.5) > IQ3_XXS
  // (3.06) > IQ3_S (3.44)
  for (size_t i = 1; i < rel.size(); ++i) EXPECT_LT(rel[i], rel[i - 1]) << i;

  std::vector<std::vector<float>> odd(5, std::vector<float>(512, 0.0f));
  odd[1][300] = 7.0f;
  for (size_t i = 0; i < 512; ++i) {
    odd[2][i] = (i % 2 ? 3e4f : -1e4f);  // large, still within the f16 scales' range
    odd[3][i] = 1e-30f * static_cast<float>(i % 7);
    odd[4][i] = i / 32 == 3 ? 0.0f : nd(rng);  // sub-block 3 of block 0 all zeros
  }
  for (GgmlType t : kGridTypes) {
    const auto tr = *gguf::type_traits(t);
    for (size_t r = 0; r < odd.size(); ++r) {
      std::vector<std::byte> q(512 / tr.block_elems * tr.block_bytes);
      quantize_row(id(t), odd[r].data(), q.data(), 512, w.data());
      const std::vector<float> y = decode(t, q, 512);
      for (float v : y) ASSERT_TRUE(std::isfinite(v)) << tr.name << " row " << r;
      if (r == 0) {
        for (std::byte b : q) ASSERT_EQ(b, std::byte{0}) << tr.name;
      }
      if (r == 4) {
        // The zero sub-block decodes to the smallest values the format has (its grids hold no
        // zero), and the other sub-blocks keep their places.
        float amax = 0;
        for (size_t i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(odd[4][i]));
        for (size_t i = 96; i < 128; ++i) EXPECT_LT(std::fabs(y[i]), 0.05f * amax) << tr.name;
        double e = 0;
        double s = 0;
        for (size_t i = 0; i < 512; ++i) {
          e += (y[i] - odd[4][i]) * (y[i] - odd[4][i]);
          s += odd[4][i] * odd[4][i];
        }
        EXPECT_LT(std::sqrt(e / s), 0.6) << tr.name;
      }
    }
  }
}

// llama-quantize's own i-quant files of the tiny reference models (tests/data/llama_iquant, made
// with the imatrix of tests/data/llama_imatrix): the same preset and imatrix here must give every
// tensor the same type and the same bytes.
TEST(QuantizeIq, LlamaQuantizeFilesAreReproducedByteForByte) {
  const fs::path imatrix_dir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_imatrix";
  const TempDir dir;
  size_t files = 0;
  for (const Json& m : llama_iquant_manifest().at("models")) {
    const std::string file = m.at("file");
    const auto preset = parse_quant_preset(m.at("requested_ftype").at("name").get<std::string>());
    ASSERT_TRUE(preset.has_value()) << file;
    SCOPED_TRACE(file);
    const std::string src = m.at("quantized_from");
    const gguf::File in = gguf::File::open(kRefDir / src);
    const Imatrix im =
        read_imatrix(imatrix_dir / (src.substr(0, src.size() - 5) + ".imatrix.gguf"));
    QuantizeOptions qo;
    qo.imatrix = &im;
    qo.imatrix_file = "tiny.imatrix.gguf";
    qo.threads = 2;
    if (m.contains("tt_overrides")) {  // llama-quantize --tensor-type PATTERN=TYPE
      for (const Json& o : m.at("tt_overrides")) {
        const std::string type = o.at("type");
        std::optional<GgmlType> t;
        for (GgmlType g : kGridTypes) t = gguf::type_name(g) == type ? g : t;
        ASSERT_TRUE(t.has_value()) << type;
        qo.plan.tensor_types.emplace_back(o.at("pattern").get<std::string>(), *t);
      }
    }
    const fs::path out = dir.path() / file;
    quantize_model(in, out, *preset, qo);
    const gguf::File ours = gguf::File::open(out);
    const gguf::File want = gguf::File::open(kLlamaIquantDir / file);
    ASSERT_EQ(ours.tensors().size(), want.tensors().size());
    size_t same = 0;
    for (const gguf::TensorInfo& w : want.tensors()) {
      const gguf::TensorInfo* o = ours.tensor(w.name);
      ASSERT_NE(o, nullptr) << w.name;
      EXPECT_EQ(gguf::type_name(o->type), gguf::type_name(w.type)) << w.name;
      const auto a = ours.tensor_data(*o);
      const auto b = want.tensor_data(w);
      const bool eq = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
      EXPECT_TRUE(eq) << w.name << " (" << gguf::type_name(w.type) << ")";
      same += eq ? 1 : 0;
    }
    std::printf("[iq files vs llama-quantize] %s: %zu / %zu tensors identical\n", file.c_str(),
                same, want.tensors().size());
    ++files;
  }
  EXPECT_EQ(files, 5u);
}

// Every codebook mixture (IQ1_S ... IQ3_M) of both tiny reference models (QRWKV6 and RWKV-6, whose
// 896-wide channel-mix rows fall back to IQ4_NL): the type llama-quantize gave each tensor
// (tests/data/llama_iquant's "plans", made with the same imatrices) is the type planned here.
TEST(QuantizeIq, EveryMixtureOfBothArchitecturesPlansAsLlamaQuantize) {
  size_t plans = 0;
  for (const Json& pl : llama_iquant_manifest().at("plans")) {
    const std::string model = pl.at("model");
    const std::string name = pl.at("ftype").at("name");
    SCOPED_TRACE(model + " " + name);
    ASSERT_TRUE(pl.at("ok").get<bool>());
    const auto preset = parse_quant_preset(name);
    ASSERT_TRUE(preset.has_value());
    EXPECT_EQ(preset_info(*preset).file_type, pl.at("ftype").at("id").get<uint32_t>());
    const gguf::File in = gguf::File::open(kRefDir / model);
    PlanOptions po;
    po.imatrix = true;
    size_t converted = 0;
    const Json& want = pl.at("quantized_tensors");
    for (const TensorPlan& p : plan_quantization(in, *preset, po)) {
      if (p.to == p.from) {
        EXPECT_FALSE(want.contains(p.name)) << p.name;
        continue;
      }
      ++converted;
      ASSERT_TRUE(want.contains(p.name)) << p.name;
      EXPECT_EQ(gguf::type_name(p.to), want.at(p.name).get<std::string>()) << p.name;
    }
    EXPECT_EQ(converted, want.size());
    ++plans;
  }
  EXPECT_EQ(plans, 20u);  // 10 mixtures x 2 models
}

}  // namespace
}  // namespace vkr::test
