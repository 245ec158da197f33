// test_imatrix.cpp: importance-matrix files: both formats round-trip, weights() is the mean
// square, and malformed files are refused with errors that name the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "gguf_writer.hpp"
#include "imatrix.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

namespace fs = std::filesystem;

class ImatrixFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vkr_imatrix_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path path(const std::string& name) const { return dir_ / name; }

  static Imatrix sample() {
    Imatrix m;
    m.datasets = {"calibration.txt"};
    m.chunk_count = 3;
    m.chunk_size = 64;
    ImatrixEntry a;
    a.K = 4;
    a.sums = {4.0f, 0.0f, 12.5f, 1e-3f};
    a.counts = {8};
    ImatrixEntry b;  // two stacked matrices (experts)
    b.K = 2;
    b.sums = {1.0f, 2.0f, 30.0f, 60.0f};
    b.counts = {2, 6};
    m.entries = {{"blk.1.ffn_down.weight", a}, {"blk.0.time_mix_key.weight", b}};
    return m;
  }

  // Raw bytes of `file` with `edit` applied, written to `name`.
  fs::path edited(const fs::path& file, const std::string& name,
                  const std::function<void(std::vector<char>&)>& edit) {
    std::ifstream in(file, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    edit(bytes);
    const fs::path out = path(name);
    std::ofstream(out, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return out;
  }

  static std::vector<char> slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  static std::string error_of(const fs::path& p) {
    try {
      read_imatrix(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path dir_;
};

TEST_F(ImatrixFileTest, GgufRoundTripKeepsSumsCountsAndMetadata) {
  const Imatrix m = sample();
  write_imatrix(m, path("m.gguf"));
  const gguf::File f = gguf::File::open(path("m.gguf"));
  EXPECT_EQ(f.get_string("general.type").value_or(""), "imatrix");
  // Tensors sorted by name, as llama-imatrix writes them.
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "blk.0.time_mix_key.weight.in_sum2");
  EXPECT_EQ(f.tensors()[1].name, "blk.0.time_mix_key.weight.counts");
  const Imatrix r = read_imatrix(path("m.gguf"));
  EXPECT_EQ(r.datasets, m.datasets);
  EXPECT_EQ(r.chunk_count, 3u);
  EXPECT_EQ(r.chunk_size, 64u);
  for (const auto& [name, e] : m.entries) {
    const ImatrixEntry* got = r.find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_EQ(got->K, e.K);
    EXPECT_EQ(got->sums, e.sums);
    EXPECT_EQ(got->counts, e.counts);
  }
}

TEST_F(ImatrixFileTest, WeightsAreMeanSquaresInBothFormats) {
  const Imatrix m = sample();
  write_imatrix(m, path("m.gguf"));
  write_imatrix(m, path("m.dat"), ImatrixFormat::Dat);
  for (const char* file : {"m.gguf", "m.dat"}) {
    SCOPED_TRACE(file);
    const Imatrix r = read_imatrix(path(file));
    const auto w = r.weights("blk.1.ffn_down.weight", 4);
    ASSERT_TRUE(w.has_value());
    const std::vector<float> want{0.5f, 0.0f, 12.5f / 8, 1e-3f / 8};
    ASSERT_EQ(w->size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ((*w)[i], want[i]) << i;
    const auto w2 = r.weights("blk.0.time_mix_key.weight", 2);
    ASSERT_TRUE(w2.has_value());
    EXPECT_FLOAT_EQ((*w2)[0], 0.5f);
    EXPECT_FLOAT_EQ((*w2)[3], 10.0f);
    EXPECT_FALSE(r.weights("output.weight", 4).has_value());
    EXPECT_EQ(r.chunk_count, 3u);
    EXPECT_EQ(r.datasets, m.datasets);
  }
}

TEST_F(ImatrixFileTest, WrongWidthOrZeroCountIsNamed) {
  Imatrix m = sample();
  EXPECT_THROW(
      {
        try {
          m.weights("blk.1.ffn_down.weight", 8);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("blk.1.ffn_down.weight"), std::string::npos);
          EXPECT_NE(std::string(e.what()).find("4 columns"), std::string::npos);
          throw;
        }
      },
      Error);
  // A matrix that saw no activations gets uniform weights (llama-quantize's rule).
  m.entries[0].second.counts = {0};
  EXPECT_EQ(m.weights("blk.1.ffn_down.weight", 4), std::vector<float>(4, 1.0f));
}

TEST_F(ImatrixFileTest, MergeAddsSumsAndCounts) {
  Imatrix a = sample();
  Imatrix b = sample();
  b.datasets = {"more.txt"};
  ImatrixEntry extra;
  extra.K = 2;
  extra.sums = {1.0f, 1.0f};
  extra.counts = {4};
  b.entries.emplace_back("blk.2.ffn_up.weight", extra);
  a.merge(b);
  EXPECT_EQ(a.chunk_count, 6u);
  EXPECT_EQ(a.datasets, (std::vector<std::string>{"calibration.txt", "more.txt"}));
  ASSERT_EQ(a.entries.size(), 3u);
  const ImatrixEntry* e = a.find("blk.1.ffn_down.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->sums, (std::vector<float>{8.0f, 0.0f, 25.0f, 2e-3f}));
  EXPECT_EQ(e->counts, std::vector<double>{16});
  // Same statistics twice: the same weights.
  EXPECT_EQ(a.weights("blk.1.ffn_down.weight", 4), sample().weights("blk.1.ffn_down.weight", 4));
  EXPECT_NE(a.find("blk.2.ffn_up.weight"), nullptr);
  // A matrix of another width (another model) cannot be merged.
  Imatrix c = sample();
  c.entries[0].second.K = 2;
  c.entries[0].second.sums.resize(2);
  EXPECT_THROW(a.merge(c), Error);
}

// A legacy file counts chunks: merged with row-counted statistics it is scaled by their chunk
// size, so both weigh by tokens; its weights (mean squares) are unchanged by the scaling.
TEST_F(ImatrixFileTest, MergingALegacyFileScalesItsCountsToRows) {
  write_imatrix(sample(), path("m.dat"), ImatrixFormat::Dat);
  const Imatrix legacy = read_imatrix(path("m.dat"));  // counts = ncall = 1 (8 rows / 64)
  Imatrix rows = sample();                             // chunk_size 64, counts 8 rows
  rows.merge(legacy);
  const ImatrixEntry* e = rows.find("blk.1.ffn_down.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->counts, std::vector<double>{8 + 64});
  const auto w = rows.weights("blk.1.ffn_down.weight", 4);
  ASSERT_TRUE(w);
  EXPECT_FLOAT_EQ((*w)[0], 0.5f);  // both halves had mean square 0.5
  // The other way round: the legacy statistics first, then row-counted ones.
  Imatrix l2 = legacy;
  l2.merge(sample());
  EXPECT_EQ(l2.chunk_size, 64u);
  EXPECT_EQ(l2.find("blk.1.ffn_down.weight")->counts, std::vector<double>{64 + 8});
}

// The files llama.cpp's collector rules produced (tests/data/llama_imatrix, made by
// model/tools/llama_imatrix_refs.py): both formats read, and give the same weights.
TEST_F(ImatrixFileTest, ReadsLlamaImatrixFilesInBothFormats) {
  const fs::path dir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_imatrix";
  for (const char* model : {"tiny-qrwkv6-f16", "tiny-rwkv6-f16"}) {
    SCOPED_TRACE(model);
    const Imatrix g = read_imatrix(dir / (std::string(model) + ".imatrix.gguf"));
    const Imatrix d = read_imatrix(dir / (std::string(model) + ".imatrix.dat"));
    EXPECT_EQ(g.chunk_count, 2u);
    EXPECT_EQ(g.chunk_size, 64u);
    EXPECT_EQ(d.chunk_count, 2u);
    ASSERT_EQ(g.entries.size(), d.entries.size());
    ASSERT_FALSE(g.entries.empty());
    // Written back, both files come out byte for byte as llama.cpp's rules wrote them.
    for (auto [format, ext] : {std::pair{ImatrixFormat::Gguf, ".imatrix.gguf"},
                               std::pair{ImatrixFormat::Dat, ".imatrix.dat"}}) {
      const fs::path again = path(std::string(model) + ext);
      write_imatrix(format == ImatrixFormat::Gguf ? g : d, again, format);
      EXPECT_EQ(slurp(again), slurp(dir / (std::string(model) + ext))) << ext;
    }
    for (const auto& [name, e] : g.entries) {
      EXPECT_EQ(e.counts, std::vector<double>{128.0}) << name;
      const auto wg = g.weights(name, e.K), wd = d.weights(name, e.K);
      ASSERT_TRUE(wg && wd) << name;
      for (size_t j = 0; j < wg->size(); ++j)
        EXPECT_NEAR((*wg)[j], (*wd)[j], 1e-6 * (*wg)[j]) << name << " column " << j;
    }
  }
}

TEST_F(ImatrixFileTest, MalformedFilesAreRefused) {
  write_imatrix(sample(), path("m.dat"), ImatrixFormat::Dat);
  // Truncated in the middle of the first entry's values.
  const fs::path cut = edited(path("m.dat"), "cut.dat", [](auto& b) { b.resize(40); });
  EXPECT_NE(error_of(cut).find("truncated"), std::string::npos) << error_of(cut);
  // A negative sum of squares.
  const fs::path neg = edited(path("m.dat"), "neg.dat", [](auto& b) {
    // entry 0: count(4) + name len(4) + name(25) + ncall(4) + nval(4), then the values
    const float v = -1.0f;
    std::memcpy(b.data() + 4 + 4 + 25 + 8, &v, 4);
  });
  EXPECT_NE(error_of(neg).find(">= 0"), std::string::npos) << error_of(neg);
  // Not an imatrix at all.
  std::ofstream(path("text.dat")) << "hello";
  EXPECT_NE(error_of(path("text.dat")).find("imatrix"), std::string::npos);
  EXPECT_NE(error_of(path("missing.gguf")).find("cannot open"), std::string::npos);
  // A model GGUF handed over by mistake.
  gguf::GgufWriter w;
  w.add_kv("general.type", gguf::KvValue::str("model"));
  w.add_tensor("token_embd.weight", {4}, gguf::GgmlType::F32, std::vector<std::byte>(16));
  w.write(path("model.gguf"));
  EXPECT_NE(error_of(path("model.gguf")).find("not 'imatrix'"), std::string::npos);
  // in_sum2 without counts.
  gguf::GgufWriter w2;
  w2.add_tensor("blk.0.ffn_up.weight.in_sum2", {4}, gguf::GgmlType::F32,
                std::vector<std::byte>(16));
  w2.write(path("nocounts.gguf"));
  EXPECT_NE(error_of(path("nocounts.gguf")).find("counts"), std::string::npos);
}

}  // namespace
}  // namespace vkr
