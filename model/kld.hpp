// kld.hpp: llama-perplexity's chunked perplexity and KL-divergence evaluation, file for file:
// `vkrwkv perplexity --kl-divergence-base F` writes the log-probabilities of a (f16) model in the
// layout llama-perplexity writes, and `--kl-divergence` compares another (quantized) model with
// such a file, ours or llama.cpp's, with the same statistics. The rounding of every step is
// llama-perplexity's (tools/perplexity/perplexity.cpp; facts in model/tools/llama_kld_refs.py,
// which made tests/data/llama_kld with llama.cpp), so a file written from the same logits is the
// same bytes.
//
// Chunks: the token stream in pieces of n_ctx, each run from a zero state; the positions
// first = n_ctx / 2 .. n_ctx - 2 are scored (their logits predict tokens first + 1 .. n_ctx - 1),
// so every scored prediction has at least n_ctx / 2 tokens of context.
//
// File: "_logits_", i32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk * n_ctx], then per
// scored row a record of 2 * ((n_vocab + 1) / 2) + 4 u16: f32 scale, f32 min_log_prob, u16
// codes (log p = scale * code + min_log_prob; log-probabilities more than 16 below the top are
// clamped), a zero u16 pad when n_vocab is odd.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vkr {

// u16 words of one row's record over a vocabulary of n_vocab: scale, min, codes, even padding.
inline size_t log_prob_record_words(size_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

struct LogitsFileHeader {
  uint32_t n_ctx = 0, n_vocab = 0, n_chunk = 0;
  std::vector<int32_t> tokens;  // n_chunk * n_ctx

  uint32_t first() const { return n_ctx / 2; }
  uint32_t rows_per_chunk() const { return n_ctx - 1 - n_ctx / 2; }
  size_t record_words() const { return log_prob_record_words(n_vocab); }
};

// One row of logits as a record (record_words() u16); returns the NLL of `target` the way
// llama-perplexity computes it while writing (float: max + log-sum-exp - logit).
float encode_log_probs(std::span<const float> logits, int32_t target, std::span<uint16_t> record);
// log p of token i of a record.
float decoded_log_prob(std::span<const uint16_t> record, size_t i);

class LogitsFileWriter {
 public:
  // Writes the header to path.part; finish() renames it to `path` (a writer destroyed before
  // finish() removes the part file: no half file is left).
  LogitsFileWriter(const std::filesystem::path& path, const LogitsFileHeader& header);
  ~LogitsFileWriter();
  LogitsFileWriter(const LogitsFileWriter&) = delete;
  LogitsFileWriter& operator=(const LogitsFileWriter&) = delete;
  void add(std::span<const uint16_t> record);
  // Throws vkr::Error(InvalidArgument) unless exactly n_chunk * rows_per_chunk records came.
  void finish();

 private:
  std::filesystem::path path_, part_;
  size_t words_ = 0;
  uint64_t records_ = 0, expected_ = 0;
  std::FILE* f_ = nullptr;
};

class LogitsFileReader {
 public:
  // Checks the magic, the sizes (n_ctx >= 3, the file's length against them) and the tokens
  // (in [0, n_vocab)); throws vkr::Error(BadModelFile) naming the file and the problem.
  explicit LogitsFileReader(const std::filesystem::path& path);
  ~LogitsFileReader();
  LogitsFileReader(const LogitsFileReader&) = delete;
  LogitsFileReader& operator=(const LogitsFileReader&) = delete;
  const LogitsFileHeader& header() const { return header_; }
  // The next record, in file order.
  void next(std::span<uint16_t> record);

 private:
  std::filesystem::path path_;
  LogitsFileHeader header_;
  std::FILE* f_ = nullptr;
};

// ---- statistics (llama-perplexity's formulas)

struct MeanErr {
  double mean = 0, err = 0;
};
// mean s / n and its standard error sqrt((s2 / n - mean^2) / (n - 1)) (0 for n <= 10 or a
// non-positive variance).
MeanErr mean_and_uncertainty(double s, double s2, uint64_t n);
// Linear interpolation between the sorted values around fraction * (n - 1), in f32 as llama.cpp.
float percentile(std::span<const float> sorted, float fraction);
float median(std::span<const float> sorted);

// Chunked perplexity: exp(mean NLL) and its error exp(mean) * sqrt(var / (count - 1)).
struct PplAccumulator {
  double nll = 0, nll2 = 0;
  uint64_t count = 0;
  void add(double v) {
    nll += v;
    nll2 += v * v;
    ++count;
  }
  double ppl() const;
  double err() const;  // NaN when the variance is not positive
};

// sum_i expf(logits[i] - max) in index order, f32 terms in a double sum (llama-perplexity's
// softmax normaliser, shared by every score here).
double sum_exp_below(std::span<const float> logits, float max);

// The NLL of `target` under `logits` as llama-perplexity computes it without a base file.
double row_nll(std::span<const float> logits, int32_t target);

class KldAccumulator {
 public:
  // One scored row: the compared model's logits, the base model's record, the target token.
  void add(std::span<const float> logits, std::span<const uint16_t> base, int32_t target);
  uint64_t count() const { return count_; }

  struct Summary {
    MeanErr ppl, ppl_base;          // PPL(Q), PPL(base): exp(mean NLL) and its error
    double cor = 0;                 // correlation of ln PPL(Q) and ln PPL(base)
    MeanErr ln_ratio;               // mean ln(PPL(Q) / PPL(base))
    MeanErr ratio, diff;            // PPL(Q) / PPL(base), PPL(Q) - PPL(base)
    MeanErr kld;                    // mean KL(base || Q) per token (nats)
    MeanErr delta_p;                // mean p_Q(target) - p_base(target)
    MeanErr rms_delta_p;            // sqrt(mean delta_p^2)
    MeanErr same_top;               // fraction of rows whose argmax agrees
    std::vector<float> kld_sorted;  // per row, ascending (for the percentiles)
    std::vector<float> delta_p_sorted;
  };
  Summary summary() const;

 private:
  double sum_nll_ = 0, sum_nll2_ = 0, sum_nll_base_ = 0, sum_nll_base2_ = 0, sum_nll_nll_base_ = 0,
         sum_kld_ = 0, sum_kld2_ = 0, sum_p_diff_ = 0, sum_p_diff2_ = 0, sum_p_diff4_ = 0;
  uint64_t count_ = 0, same_top_ = 0;
  std::vector<float> kld_, p_diff_;
};

// llama-perplexity's text: the per-chunk header + line, and the final statistics block.
std::string kld_chunk_header();
std::string kld_chunk_line(uint32_t chunk, const KldAccumulator::Summary& s);
std::string kld_report(const KldAccumulator::Summary& s);

}  // namespace vkr
