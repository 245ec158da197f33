// test_kld.cpp: llama-perplexity's KL-divergence file and statistics vs llama.cpp's own
// (tests/data/llama_kld, made by model/tools/llama_kld_refs.py): encoding llama.cpp's logits gives
// its file's bytes, the per-row KLD / delta-p and every percentile match, the file round-trips,
// and malformed files are refused naming the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kld.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_kld";
const fs::path kBase = kDir / "tiny-qrwkv6-f16.kld";

const Json& kld_manifest() {
  static const Json m = read_json(kDir / "manifest.json");
  return m;
}
const Json& q4km_kld() {
  return kld_manifest().at("kl_divergence").at("tiny-qrwkv6-Q4_K_M vs tiny-qrwkv6-f16.kld");
}

// Chunk 0 of the file starts from a zero state at the p150 prompt's first token, so its logits
// are rows of ../shared/refmodels' p150 logits (llama.cpp's, equal bit for bit to the ones the
// file was made from).
std::vector<float> chunk0_logits(const std::string& model, size_t rows) {
  const fs::path path = kRefDir / (model + ".p150.logits.f32");
  auto all = read_logits(path, fs::file_size(path) / 4);
  all.resize(rows * 1024);
  return all;
}

TEST(LlamaKld, EncodingLlamasLogitsGivesItsFileBytes) {
  LogitsFileReader in(kBase);
  const LogitsFileHeader& h = in.header();
  ASSERT_EQ(h.n_ctx, 64u);
  ASSERT_EQ(h.n_vocab, 1024u);
  ASSERT_EQ(h.n_chunk, 2u);
  EXPECT_EQ(h.tokens, kld_manifest().at("tokens").at("ids").get<std::vector<int32_t>>());
  const auto logits = chunk0_logits("tiny-qrwkv6-f16", 63);
  std::vector<uint16_t> want(h.record_words()), got(h.record_words());
  for (uint32_t pos = h.first(); pos + 1 < h.n_ctx; ++pos) {
    in.next(want);
    const float nll = encode_log_probs(std::span(logits).subspan(size_t{pos} * 1024, 1024),
                                       h.tokens[pos + 1], got);
    ASSERT_EQ(got, want) << "position " << pos;
    EXPECT_NEAR(-nll, decoded_log_prob(got, size_t(h.tokens[pos + 1])), 2e-3) << pos;
  }
}

TEST(LlamaKld, RowsAndStatisticsMatchLlamas) {
  // Chunk 0's rows of Q4_K_M against the f16 file: llama.cpp's per-row KLD and delta-p exactly.
  LogitsFileReader in(kBase);
  const LogitsFileHeader& h = in.header();
  const auto logits = chunk0_logits("tiny-qrwkv6-Q4_K_M", 63);
  const auto kld = q4km_kld().at("per_row_kld").get<std::vector<double>>();
  const auto dp = q4km_kld().at("per_row_p_diff").get<std::vector<double>>();
  KldAccumulator acc;
  std::vector<uint16_t> rec(h.record_words());
  for (uint32_t pos = h.first(); pos + 1 < h.n_ctx; ++pos) {
    in.next(rec);
    acc.add(std::span(logits).subspan(size_t{pos} * 1024, 1024), rec, h.tokens[pos + 1]);
  }
  const auto s = acc.summary();
  ASSERT_EQ(acc.count(), 31u);
  std::vector<float> want_kld(kld.begin(), kld.begin() + 31), want_dp(dp.begin(), dp.begin() + 31);
  std::ranges::sort(want_kld);
  std::ranges::sort(want_dp);
  EXPECT_EQ(s.kld_sorted, want_kld);
  EXPECT_EQ(s.delta_p_sorted, want_dp);
  // The running line after chunk 1, as llama-perplexity printed it.
  const Json& line = q4km_kld().at("chunk_lines").at(0);
  EXPECT_NEAR(s.ppl.mean, line.at("ppl").get<double>(), 1e-9 * s.ppl.mean);
  EXPECT_NEAR(s.kld.mean, line.at("kld").get<double>(), 1e-12);
  EXPECT_NEAR(s.kld.err, line.at("kld_unc").get<double>(), 1e-12);
  EXPECT_NEAR(s.same_top.mean, line.at("same_top").get<double>(), 1e-12);
  EXPECT_NEAR(s.rms_delta_p.mean, line.at("rms_dp").get<double>(), 1e-12);
  EXPECT_NEAR(s.ln_ratio.mean, line.at("ln_ppl_ratio").get<double>(), 1e-9);
  EXPECT_EQ(kld_chunk_line(1, s), q4km_kld().at("printed_output").at(2).get<std::string>() + "\n");
}

// The percentiles of llama.cpp's 62 per-row values, as it computes them (f32 interpolation).
TEST(LlamaKld, PercentilesMatchLlamas) {
  auto to_sorted = [](const Json& j) {
    std::vector<float> v;
    for (double x : j.get<std::vector<double>>()) v.push_back(static_cast<float>(x));
    std::ranges::sort(v);
    return v;
  };
  const auto k = to_sorted(q4km_kld().at("per_row_kld"));
  const auto p = to_sorted(q4km_kld().at("per_row_p_diff"));
  const Json& fk = q4km_kld().at("final_statistics").at("kld");
  const Json& fp = q4km_kld().at("final_statistics").at("delta_p");
  const std::pair<const char*, float> kq[] = {{"p99.9", 0.999f}, {"p99.0", 0.99f}, {"p95.0", 0.95f},
                                              {"p90.0", 0.90f},  {"p10.0", 0.10f}, {"p5.0", 0.05f},
                                              {"p1.0", 0.01f},   {"p0.1", 0.001f}};
  for (const auto& [name, f] : kq) {
    EXPECT_EQ(percentile(k, f), fk.at(name).get<float>()) << name;
    EXPECT_EQ(percentile(p, f), fp.at(name).get<float>()) << name;
  }
  EXPECT_EQ(percentile(p, 0.75f), fp.at("p75.0").get<float>());
  EXPECT_EQ(percentile(p, 0.25f), fp.at("p25.0").get<float>());
  EXPECT_EQ(median(k), fk.at("median").get<float>());
  EXPECT_EQ(median(p), fp.at("median").get<float>());
}

class KldFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vkr_kld_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static LogitsFileHeader small() {
    LogitsFileHeader h;
    h.n_ctx = 5;
    h.n_vocab = 7;  // odd: records carry a pad word
    h.n_chunk = 2;
    h.tokens = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2};
    return h;
  }
  std::string error_of(const fs::path& p) {
    try {
      LogitsFileReader r(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(KldFileTest, RoundTripAndSizes) {
  const LogitsFileHeader h = small();
  ASSERT_EQ(h.rows_per_chunk(), 2u);
  ASSERT_EQ(h.record_words(), 12u);
  const fs::path path = dir_ / "a.kld";
  std::vector<std::vector<uint16_t>> records;
  {
    LogitsFileWriter w(path, h);
    for (int r = 0; r < 4; ++r) {
      std::vector<float> logits{0.5f * static_cast<float>(r), 1, -2, 3, 0, 0.25f, -40};
      std::vector<uint16_t> rec(h.record_words());
      encode_log_probs(logits, r, rec);
      EXPECT_EQ(rec.back(), 0);  // the pad
      // -40 is more than 16 below the top: clamped to the lowest code
      EXPECT_EQ(rec[4 + 6], 0);
      w.add(rec);
      records.push_back(rec);
    }
    w.finish();
  }
  EXPECT_EQ(fs::file_size(path), 20u + 4 * 10 + 4 * 12 * 2);
  LogitsFileReader r(path);
  EXPECT_EQ(r.header().tokens, h.tokens);
  std::vector<uint16_t> rec(h.record_words());
  for (const auto& want : records) {
    r.next(rec);
    EXPECT_EQ(rec, want);
  }
  EXPECT_THROW(r.next(rec), Error);  // past the end
}

TEST_F(KldFileTest, UnfinishedWriterLeavesNothing) {
  const fs::path path = dir_ / "b.kld";
  {
    LogitsFileWriter w(path, small());
    std::vector<uint16_t> rec(12);
    w.add(rec);
    EXPECT_THROW(w.finish(), Error);  // 1 of 4 records
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".part"));
}

TEST_F(KldFileTest, MalformedFilesAreNamed) {
  const fs::path good = dir_ / "g.kld";
  {
    LogitsFileWriter w(good, small());
    std::vector<uint16_t> rec(12);
    for (int r = 0; r < 4; ++r) w.add(rec);
    w.finish();
  }
  std::ifstream in(good, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
  auto variant = [&](const std::string& name, auto edit) {
    std::vector<char> b = bytes;
    edit(b);
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
    return p;
  };
  EXPECT_NE(error_of(variant("m.kld", [](auto& b) { b[0] = 'X'; })).find("_logits_"),
            std::string::npos);
  EXPECT_NE(error_of(variant("t.kld", [](auto& b) { b.resize(b.size() - 2); })).find("bytes"),
            std::string::npos);
  EXPECT_NE(error_of(variant("v.kld",
                             [](auto& b) {
                               const int32_t big = 99;
                               std::memcpy(b.data() + 20 + 4, &big, 4);
                             }))
                .find("token 99 at 1 outside [0, 7)"),
            std::string::npos);
  EXPECT_NE(error_of(dir_ / "missing.kld").find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace vkr::test

namespace vkr::test {
namespace {

// The final report's text, from llama.cpp's figures for Q4_K_M vs f16 (its values and per-row
// lists in the manifest), equals the block llama-perplexity prints.
TEST(LlamaKld, ReportTextIsLlamaPerplexitys) {
  const Json& q = q4km_kld();
  const Json& f = q.at("final_statistics");
  KldAccumulator::Summary s;
  auto me = [](const Json& j, const char* m, const char* e) {
    return MeanErr{j.at(m).get<double>(), j.at(e).get<double>()};
  };
  s.ppl = me(f, "mean_ppl_q", "mean_ppl_q_unc");
  s.ppl_base = me(f, "mean_ppl_base", "mean_ppl_base_unc");
  s.cor = f.at("cor_ln_ppl").get<double>();
  s.ln_ratio = me(f, "mean_ln_ppl_ratio", "mean_ln_ppl_ratio_unc");
  s.ratio = me(f, "mean_ppl_ratio", "mean_ppl_ratio_unc");
  s.diff = me(f, "mean_ppl_diff", "mean_ppl_diff_unc");
  s.kld = me(f.at("kld"), "mean", "mean_unc");
  s.delta_p = me(f.at("delta_p"), "mean", "mean_unc");
  s.rms_delta_p = me(f.at("delta_p"), "rms", "rms_unc");
  s.same_top = me(f, "same_top_p", "same_top_p_unc");
  for (double v : q.at("per_row_kld").get<std::vector<double>>())
    s.kld_sorted.push_back(static_cast<float>(v));
  for (double v : q.at("per_row_p_diff").get<std::vector<double>>())
    s.delta_p_sorted.push_back(static_cast<float>(v));
  std::ranges::sort(s.kld_sorted);
  std::ranges::sort(s.delta_p_sorted);
  std::string want;
  for (const Json& line : q.at("final_block_text_if_count_ge_100"))
    want += line.get<std::string>() + "\n";
  EXPECT_EQ(kld_report(s), want);
}

}  // namespace
}  // namespace vkr::test
