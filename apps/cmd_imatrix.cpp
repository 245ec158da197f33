// cmd_imatrix.cpp: `vkrwkv imatrix`: computes an importance matrix from a calibration text (the
// per-column activation statistics `vkrwkv quantize --imatrix` and llama-quantize weight their
// rounding errors by), in llama-imatrix's file formats.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "imatrix_collect.hpp"
#include "model_options.hpp"
#include "session.hpp"
#include "signal_watch.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

struct ImatrixCliOptions {
  std::string file;
  std::vector<std::string> in_files;
  std::string out = "imatrix.gguf";
  std::string format;  // "" = from the extension
  uint32_t chunk = 512;
  uint32_t chunks = 0;
  bool process_output = false;
  bool no_ppl = false;
};

ImatrixFormat output_format(const ImatrixCliOptions& o) {
  if (o.format == "gguf") return ImatrixFormat::Gguf;
  if (o.format == "dat") return ImatrixFormat::Dat;
  require(o.format.empty(), ErrorCode::InvalidArgument, "--output-format: '{}' is not gguf or dat",
          o.format);
  return o.out.ends_with(".dat") ? ImatrixFormat::Dat : ImatrixFormat::Gguf;
}

// Runs the calibration text (if any) and returns its statistics; Ctrl-C / SIGTERM ends it after
// the chunk in progress, keeping what was collected.
Imatrix calibrate(const CommonOptions& common, const ModelOptions& mo, const ImatrixCliOptions& o) {
  std::atomic<bool> stop{false};
  const SignalWatch on_signal([&stop](const char* name, int, const std::atomic<bool>&) {
    fmt::print(stderr, "\n{}: stopping after the chunk in progress, then saving\n", name);
    stop = true;
  });
  const std::string text = read_text_file(o.file);
  auto loaded = load_model(common, mo);
  const Tokenizer& tok = require_tokenizer(*loaded.model);
  const auto ids = tok.encode(text, /*parse_special=*/false);
  const uint64_t whole = ids.size() / std::max<uint32_t>(o.chunk, 1);
  const uint64_t planned = o.chunks ? std::min<uint64_t>(whole, o.chunks) : whole;
  if (planned > 0)  // else collect_imatrix() says why, as the only line
    fmt::print(stderr, "{}: {} tokens, {} chunks of {} tokens\n", o.file, ids.size(), planned,
               o.chunk);
  Session session(*loaded.model, 1);
  ImatrixRunOptions ro;
  ro.chunk = o.chunk;
  ro.chunks = o.chunks;
  ro.head = o.process_output;
  ro.perplexity = !o.no_ppl;
  ro.stop = &stop;
  const auto t0 = std::chrono::steady_clock::now();
  ro.progress = [&](uint32_t done, uint32_t all, double nll) {
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = sec / done * (all - done);
    if (std::isnan(nll)) {
      fmt::print(stderr, "[{}/{}] {:.1f} s, ETA {:.0f} s\n", done, all, sec, eta);
    } else {
      fmt::print(stderr, "[{}/{}] chunk perplexity {:.4f}, {:.1f} s, ETA {:.0f} s\n", done, all,
                 std::exp(nll), sec, eta);
    }
  };
  ImatrixRun r = collect_imatrix(session, ids, ro);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.interrupted) fmt::print(stderr, "interrupted: keeping {} chunks\n", r.imatrix.chunk_count);
  if (r.scored > 0)
    fmt::print(stderr, "perplexity over {} scored tokens: {:.4f}\n", r.scored, std::exp(r.nll));
  fmt::print(stderr, "{} chunks of {} tokens in {:.1f} s ({:.0f} tokens/s)\n",
             r.imatrix.chunk_count, o.chunk, sec,
             static_cast<double>(r.imatrix.chunk_count) * o.chunk / sec);
  r.imatrix.datasets = {o.file};
  return std::move(r.imatrix);
}

int run(const CommonOptions& common, const ModelOptions& mo, const ImatrixCliOptions& o) {
  const ImatrixFormat format = output_format(o);
  require(!o.file.empty() || !o.in_files.empty(), ErrorCode::InvalidArgument,
          "imatrix: give a calibration text (-f) and/or imatrix files to combine (--in-file)");
  // Files to add to are read (and checked) before the long run.
  Imatrix total;
  for (const std::string& f : o.in_files) {
    const Imatrix in = read_imatrix(f);
    fmt::print(stderr, "{}: {} entries, {} chunks\n", f, in.entries.size(), in.chunk_count);
    total.merge(in);
  }
  if (!o.file.empty()) total.merge(calibrate(common, mo, o));
  write_imatrix(total, o.out, format);
  fmt::print("wrote {} ({} entries, {} chunks{})\n", o.out, total.entries.size(), total.chunk_count,
             total.chunk_size ? fmt::format(" of {} tokens", total.chunk_size) : std::string());
  return 0;
}

}  // namespace

Command add_imatrix(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand(
      "imatrix",
      "Compute an importance matrix from a calibration text (for quantize --imatrix; "
      "llama-imatrix's formats)");
  auto mo = std::make_shared<ModelOptions>();
  auto o = std::make_shared<ImatrixCliOptions>();
  add_model_options(sub, common, *mo);
  sub->add_option("-f,--file", o->file, "Calibration text (UTF-8)");
  sub->add_option("--in-file", o->in_files,
                  "Imatrix file (.gguf or .dat) to add to; repeat to combine several")
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", o->out, "Output file (default imatrix.gguf; *.dat: legacy)");
  sub->add_option("--output-format", o->format, "gguf or dat (default: from the extension)");
  sub->add_option("-c,--chunk", o->chunk,
                  "Tokens per chunk; each chunk starts from a zero state (default 512)")
      ->check(CLI::Range(2u, 1u << 20));
  sub->add_option("--chunks", o->chunks, "Process at most N chunks (default: the whole text)");
  sub->add_flag("--process-output", o->process_output,
                "Also collect the output matrix's input (llama-imatrix's --process-output)");
  sub->add_flag("--no-ppl", o->no_ppl, "Skip the perplexity of each chunk");
  return {sub, [&common, mo, o] { return run(common, *mo, *o); }};
}

}  // namespace vkr::cli
