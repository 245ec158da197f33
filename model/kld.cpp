// kld.cpp: llama-perplexity's logits file, its per-row encoding and its statistics. The float /
// double split of every expression follows tools/perplexity/perplexity.cpp (see kld.hpp), so
// files and figures agree with llama.cpp's to the last bit where the logits do.
#include "kld.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "vkr/error.hpp"

namespace vkr {

namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
constexpr float kClamp = 16.0f;  // log-probabilities this far below the top are not resolved

// ggml's nearest_int: round to nearest, ties to even, by the 1.5 * 2^23 trick.
int nearest(float v) {
  const auto bits = std::bit_cast<uint32_t>(v + 12582912.f);
  return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

float record_float(std::span<const uint16_t> r, size_t at) {
  uint32_t bits = 0;
  std::memcpy(&bits, r.data() + at, 4);
  return std::bit_cast<float>(bits);
}

double covariance(double a, double b, double ab, uint64_t n) {
  if (n < 10) return 0;
  const double dn = static_cast<double>(n);
  return (ab / dn - (a / dn) * (b / dn)) / (dn - 1);
}

}  // namespace

float encode_log_probs(std::span<const float> logits, int32_t target, std::span<uint16_t> record) {
  const size_t V = logits.size();
  require(V > 0 && record.size() == log_prob_record_words(V), ErrorCode::InvalidArgument,
          "encode_log_probs: {} logits need a record of {} words, got {}", V,
          log_prob_record_words(V), record.size());
  require(target >= 0 && static_cast<size_t>(target) < V, ErrorCode::InvalidArgument,
          "encode_log_probs: target {} outside [0, {})", target, V);
  float max = logits[0], min = logits[0];
  for (float v : logits) {
    max = std::max(max, v);
    min = std::min(min, v);
  }
  min = std::max(min, max - kClamp);
  const auto lse = static_cast<float>(std::log(sum_exp_below(logits, max)));
  const float min_log_prob = (min - max) - lse;
  const float scale = (max - min) / 65535.f;
  std::memcpy(record.data(), &scale, 4);
  std::memcpy(record.data() + 2, &min_log_prob, 4);
  uint16_t* q = record.data() + 4;
  if (scale != 0.0f) {
    const float inv = 1.0f / scale;
    for (size_t i = 0; i < V; ++i)
      q[i] = logits[i] > min ? static_cast<uint16_t>(nearest(inv * (logits[i] - min))) : 0;
  } else {
    std::fill(q, q + V, uint16_t{0});
  }
  if (V % 2) q[V] = 0;
  return (max + lse) - logits[static_cast<size_t>(target)];
}

float decoded_log_prob(std::span<const uint16_t> record, size_t i) {
  return record_float(record, 0) * static_cast<float>(record[4 + i]) + record_float(record, 2);
}

// ---- file

LogitsFileWriter::LogitsFileWriter(const std::filesystem::path& path, const LogitsFileHeader& h)
    : path_(path), part_(path.string() + ".part"), words_(h.record_words()) {
  require(h.n_ctx >= 3 && h.n_vocab > 0 && h.n_chunk > 0 &&
              h.tokens.size() == size_t{h.n_ctx} * h.n_chunk,
          ErrorCode::InvalidArgument,
          "logits file: {} chunks of {} tokens (n_ctx >= 3) and {} tokens do not fit", h.n_chunk,
          h.n_ctx, h.tokens.size());
  expected_ = uint64_t{h.n_chunk} * h.rows_per_chunk();
  f_ = std::fopen(part_.c_str(), "wb");
  require(f_ != nullptr, ErrorCode::Io, "{}: cannot create", part_.string());
  const int32_t dims[3] = {static_cast<int32_t>(h.n_ctx), static_cast<int32_t>(h.n_vocab),
                           static_cast<int32_t>(h.n_chunk)};
  const bool ok = std::fwrite(kMagic, 1, 8, f_) == 8 && std::fwrite(dims, 4, 3, f_) == 3 &&
                  std::fwrite(h.tokens.data(), 4, h.tokens.size(), f_) == h.tokens.size();
  require(ok, ErrorCode::Io, "{}: write failed", part_.string());
}

LogitsFileWriter::~LogitsFileWriter() {
  if (!f_) return;
  std::fclose(f_);
  std::error_code ignored;
  std::filesystem::remove(part_, ignored);
}

void LogitsFileWriter::add(std::span<const uint16_t> record) {
  require(f_ && record.size() == words_ && records_ < expected_, ErrorCode::InvalidArgument,
          "logits file {}: record {} of {} words (expected {} records of {})", path_.string(),
          records_, record.size(), expected_, words_);
  require(std::fwrite(record.data(), 2, record.size(), f_) == record.size(), ErrorCode::Io,
          "{}: write failed", part_.string());
  ++records_;
}

void LogitsFileWriter::finish() {
  require(records_ == expected_, ErrorCode::InvalidArgument,
          "logits file {}: {} of {} records written", path_.string(), records_, expected_);
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  std::error_code ec;
  if (!closed) std::filesystem::remove(part_, ec);
  require(closed, ErrorCode::Io, "{}: close failed", part_.string());
  std::filesystem::rename(part_, path_, ec);
  require(!ec, ErrorCode::Io, "{}: cannot rename to {}: {}", part_.string(), path_.string(),
          ec.message());
}

LogitsFileReader::LogitsFileReader(const std::filesystem::path& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  require(f_ != nullptr, ErrorCode::Io, "{}: cannot open", path.string());
  const auto bad = [&](const std::string& what) {
    throw Error(ErrorCode::BadModelFile, fmt::format("logits file {}: {}", path.string(), what));
  };
  char magic[8];
  int32_t dims[3];
  if (std::fread(magic, 1, 8, f_) != 8 || std::memcmp(magic, kMagic, 8) != 0)
    bad("no '_logits_' magic (not a --kl-divergence-base file)");
  if (std::fread(dims, 4, 3, f_) != 3) bad("truncated header");
  if (dims[0] < 3 || dims[1] <= 0 || dims[2] <= 0)
    bad(fmt::format("n_ctx {}, n_vocab {}, n_chunk {}", dims[0], dims[1], dims[2]));
  header_.n_ctx = static_cast<uint32_t>(dims[0]);
  header_.n_vocab = static_cast<uint32_t>(dims[1]);
  header_.n_chunk = static_cast<uint32_t>(dims[2]);
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  const uint64_t want = 20 + 4ull * header_.n_chunk * header_.n_ctx +
                        2ull * header_.record_words() * header_.n_chunk * header_.rows_per_chunk();
  if (ec || size != want)
    bad(fmt::format("{} bytes, but {} chunks of {} tokens over {} words need {}", size,
                    header_.n_chunk, header_.n_ctx, header_.n_vocab, want));
  header_.tokens.resize(size_t{header_.n_chunk} * header_.n_ctx);
  if (std::fread(header_.tokens.data(), 4, header_.tokens.size(), f_) != header_.tokens.size())
    bad("truncated tokens");
  for (size_t i = 0; i < header_.tokens.size(); ++i) {
    if (header_.tokens[i] < 0 || static_cast<uint32_t>(header_.tokens[i]) >= header_.n_vocab)
      bad(fmt::format("token {} at {} outside [0, {})", header_.tokens[i], i, header_.n_vocab));
  }
}

LogitsFileReader::~LogitsFileReader() {
  if (f_) std::fclose(f_);
}

void LogitsFileReader::next(std::span<uint16_t> record) {
  require(record.size() == header_.record_words(), ErrorCode::InvalidArgument,
          "logits file: a record has {} words, not {}", header_.record_words(), record.size());
  require(std::fread(record.data(), 2, record.size(), f_) == record.size(), ErrorCode::BadModelFile,
          "logits file {}: truncated record", path_.string());
}

// ---- statistics

double sum_exp_below(std::span<const float> l, float max) {
  double s = 0;
  for (float v : l) s += std::exp(v - max);  // float exp, double sum, in index order
  return s;
}

MeanErr mean_and_uncertainty(double s, double s2, uint64_t n) {
  if (n == 0) return {};
  const double dn = static_cast<double>(n);
  const double f = s / dn;
  const double df = s2 / dn - f * f;
  return {f, df > 0 && n > 10 ? std::sqrt(df / (dn - 1)) : 0.0};
}

float percentile(std::span<const float> v, float fraction) {
  if (v.empty()) return std::nanf("");
  if (fraction <= 0) return v.front();
  if (fraction >= 1) return v.back();
  float p = fraction * static_cast<float>(v.size() - 1);
  const auto ip = static_cast<size_t>(p);
  p -= static_cast<float>(ip);
  return (1 - p) * v[ip] + p * v[std::min(ip + 1, v.size() - 1)];
}

float median(std::span<const float> v) {
  if (v.empty()) return std::nanf("");
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2] + v[n / 2 - 1]);
}

double PplAccumulator::ppl() const { return std::exp(nll / static_cast<double>(count)); }

double PplAccumulator::err() const {
  const double n = static_cast<double>(count);
  const double m = nll / n;
  const double var = nll2 / n - m * m;
  return var > 0 && count > 1 ? std::sqrt(var / (n - 1)) * std::exp(m) : std::nan("");
}

double row_nll(std::span<const float> logits, int32_t target) {
  float max = logits[0];
  for (float v : logits) max = std::max(max, v);
  const double sum_exp = sum_exp_below(logits, max);
  return -(static_cast<double>(logits[static_cast<size_t>(target)] - max) - std::log(sum_exp));
}

void KldAccumulator::add(std::span<const float> l, std::span<const uint16_t> base, int32_t target) {
  const size_t V = l.size();
  require(base.size() == log_prob_record_words(V) && target >= 0 && static_cast<size_t>(target) < V,
          ErrorCode::InvalidArgument,
          "kl-divergence: {} logits vs a record of {} words (target {})", V, base.size(), target);
  float max = l[0];
  size_t imax = 0;
  for (size_t i = 1; i < V; ++i) {
    if (l[i] > max) {
      max = l[i];
      imax = i;
    }
  }
  const auto lse = static_cast<float>(std::log(sum_exp_below(l, max)));
  const float nll = max + lse - l[static_cast<size_t>(target)];
  sum_nll_ += nll;
  sum_nll2_ += nll * nll;
  const float scale = record_float(base, 0), min_log_prob = record_float(base, 2);
  const uint16_t* q = base.data() + 4;
  const float nll_base = -(scale * q[target] + min_log_prob);
  sum_nll_base_ += nll_base;
  sum_nll_base2_ += nll_base * nll_base;
  sum_nll_nll_base_ += nll * nll_base;
  max += lse;  // now log of the normaliser: log p_Q(i) = l[i] - max
  double sum = 0;
  float best = 0;
  size_t imax_base = 0;
  for (size_t i = 0; i < V; ++i) {
    const float plb = scale * q[i] + min_log_prob;
    if (i == 0 || plb > best) {
      best = plb;
      imax_base = i;
    }
    if (plb > -kClamp) sum += std::exp(plb) * ((plb - l[i]) + max);
  }
  sum_kld_ += sum;
  sum_kld2_ += sum * sum;
  ++count_;
  if (imax == imax_base) ++same_top_;
  const float p_diff = std::exp(-nll) - std::exp(-nll_base);
  sum_p_diff_ += p_diff;
  const double p_diff2 = p_diff * p_diff;
  sum_p_diff2_ += p_diff2;
  sum_p_diff4_ += p_diff2 * p_diff2;
  kld_.push_back(static_cast<float>(sum));
  p_diff_.push_back(p_diff);
}

KldAccumulator::Summary KldAccumulator::summary() const {
  Summary s;
  const MeanErr ln_q = mean_and_uncertainty(sum_nll_, sum_nll2_, count_);
  const MeanErr ln_b = mean_and_uncertainty(sum_nll_base_, sum_nll_base2_, count_);
  s.ppl = {std::exp(ln_q.mean), std::exp(ln_q.mean) * ln_q.err};
  s.ppl_base = {std::exp(ln_b.mean), std::exp(ln_b.mean) * ln_b.err};
  const double cov = covariance(sum_nll_, sum_nll_base_, sum_nll_nll_base_, count_);
  s.cor = cov / (ln_q.err * ln_b.err);
  const double d = ln_q.mean - ln_b.mean;
  const double d_err = std::sqrt(ln_q.err * ln_q.err + ln_b.err * ln_b.err - 2 * cov);
  s.ln_ratio = {d, d_err};
  s.ratio = {std::exp(d), std::exp(d) * d_err};
  s.diff = {s.ppl.mean - s.ppl_base.mean,
            std::sqrt(s.ppl.err * s.ppl.err + s.ppl_base.err * s.ppl_base.err -
                      2 * s.ppl.mean * s.ppl_base.mean * cov)};
  s.kld = mean_and_uncertainty(sum_kld_, sum_kld2_, count_);
  s.delta_p = mean_and_uncertainty(sum_p_diff_, sum_p_diff2_, count_);
  const MeanErr mse = mean_and_uncertainty(sum_p_diff2_, sum_p_diff4_, count_);
  const double rms = std::sqrt(mse.mean);
  s.rms_delta_p = {rms, rms > 0 ? 0.5 / rms * mse.err : 0.0};
  const double n = static_cast<double>(count_);
  const double p = count_ ? static_cast<double>(same_top_) / n : 0.0;
  s.same_top = {p, count_ > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0.0};
  s.kld_sorted = kld_;
  s.delta_p_sorted = p_diff_;
  std::ranges::sort(s.kld_sorted);
  std::ranges::sort(s.delta_p_sorted);
  return s;
}

std::string kld_chunk_header() {
  return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence      "
         "        \u0394p RMS            Same top p\n";
}

std::string kld_chunk_line(uint32_t chunk, const KldAccumulator::Summary& s) {
  return fmt::format(
      "{:4d}    {:9.4f} \u00b1 {:9.4f}    {:10.5f} \u00b1 {:10.5f}    {:10.5f} \u00b1 {:10.5f}    "
      "{:6.3f} \u00b1 {:6.3f} %    {:6.3f} \u00b1 {:6.3f} %\n",
      chunk, s.ppl.mean, s.ppl.err, s.ln_ratio.mean, s.ln_ratio.err, s.kld.mean, s.kld.err,
      100 * s.rms_delta_p.mean, 100 * s.rms_delta_p.err, 100 * s.same_top.mean,
      100 * s.same_top.err);
}

std::string kld_report(const KldAccumulator::Summary& s) {
  const auto& k = s.kld_sorted;
  const auto& p = s.delta_p_sorted;
  std::string out = "====== Perplexity statistics ======\n";
  auto line = [&out](std::string_view label, const MeanErr& v) {
    out += fmt::format("{:<30}: {:10.6f} \u00b1 {:10.6f}\n", label, v.mean, v.err);
  };
  line("Mean PPL(Q)", s.ppl);
  line("Mean PPL(base)", s.ppl_base);
  out += fmt::format("Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2f}%\n", 100 * s.cor);
  line("Mean ln(PPL(Q)/PPL(base))", s.ln_ratio);
  line("Mean PPL(Q)/PPL(base)", s.ratio);
  line("Mean PPL(Q)-PPL(base)", s.diff);
  out += "\n====== KL divergence statistics ======\n";
  out += fmt::format("Mean    KLD: {:10.6f} \u00b1 {:10.6f}\n", s.kld.mean, s.kld.err);
  // llama-perplexity's percentile rows; fraction 1 / 0 are the largest / smallest value, -1 the
  // median.
  const auto rows = [&out](std::span<const float> v,
                           std::initializer_list<std::pair<std::string_view, float>> which,
                           auto&& format) {
    for (const auto& [label, f] : which) {
      const float x = v.empty() ? NAN : f < 0 ? median(v) : percentile(v, f);
      out += format(label, x);
    }
  };
  rows(k,
       {{"Maximum", 1.f},
        {"99.9%  ", 0.999f},
        {"99.0%  ", 0.99f},
        {"95.0%  ", 0.95f},
        {"90.0%  ", 0.90f},
        {"Median ", -1.f},
        {"10.0%  ", 0.10f},
        {" 5.0%  ", 0.05f},
        {" 1.0%  ", 0.01f},
        {" 0.1%  ", 0.001f},
        {"Minimum", 0.f}},
       [](std::string_view label, float x) { return fmt::format("{} KLD: {:10.6f}\n", label, x); });
  out += "\n====== Token probability statistics ======\n";
  out += fmt::format("Mean    \u0394p: {:6.3f} \u00b1 {:5.3f} %\n", 100 * s.delta_p.mean,
                     100 * s.delta_p.err);
  rows(p,
       {{"Maximum", 1.f},
        {"99.9%  ", 0.999f},
        {"99.0%  ", 0.99f},
        {"95.0%  ", 0.95f},
        {"90.0%  ", 0.90f},
        {"75.0%  ", 0.75f},
        {"Median ", -1.f},
        {"25.0%  ", 0.25f},
        {"10.0%  ", 0.10f},
        {" 5.0%  ", 0.05f},
        {" 1.0%  ", 0.01f},
        {" 0.1%  ", 0.001f},
        {"Minimum", 0.f}},
       [](std::string_view label, float x) {
         return fmt::format("{} \u0394p: {:6.3f}%\n", label, 100 * x);
       });
  out += fmt::format("RMS \u0394p    : {:6.3f} \u00b1 {:5.3f} %\n", 100 * s.rms_delta_p.mean,
                     100 * s.rms_delta_p.err);
  out += fmt::format("Same top p: {:6.3f} \u00b1 {:5.3f} %\n", 100 * s.same_top.mean,
                     100 * s.same_top.err);
  return out;
}

}  // namespace vkr
