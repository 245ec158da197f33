// cmd_gguf_split.cpp: `vkrwkv gguf-split`, llama-gguf-split's two jobs with its options: cut a
// GGUF into parts NAME-00001-of-0000N.gguf (Hugging Face takes files up to 50 GB; every command
// loads such a set from its first part) or merge the parts into one file (model/gguf_split_writer).
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <memory>

#include "commands.hpp"
#include "gguf.hpp"
#include "gguf_split_writer.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {
namespace {

struct GgufSplitCliOptions {
  std::string in, out;
  bool merge = false;
  uint64_t max_tensors = 128;
  std::string max_size;  // "4G", "500M"
  bool no_tensor_first_split = false;
  bool dry_run = false;
};

// llama-gguf-split's sizes: an integer with M (10^6 bytes) or G (10^9 bytes).
uint64_t parse_size(const std::string& s) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  const std::string_view unit(end, s.data() + s.size());
  require(ec == std::errc() && n > 0 && (unit == "M" || unit == "G"), ErrorCode::InvalidArgument,
          "gguf-split: --split-max-size '{}' is not a size like 500M or 4G (M = 10^6 bytes, G = "
          "10^9, as llama-gguf-split reads them)",
          s);
  return n * (unit == "G" ? 1'000'000'000ull : 1'000'000ull);
}

std::string size_text(uint64_t b) {
  return b >= 1'000'000'000 ? fmt::format("{:.2f} GB", static_cast<double>(b) / 1e9)
                            : fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6);
}

int run(const GgufSplitCliOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const gguf::File in = gguf::File::open(o.in);
  if (o.merge) {
    require(in.n_shards() > 1, ErrorCode::InvalidArgument,
            "gguf-split --merge: {} is not the first part of a split model (no split.count > 1)",
            o.in);
    if (!o.dry_run) gguf::write_merged(in, o.out);
    fmt::print("{} {} parts ({} tensors) into {}\n", o.dry_run ? "would merge" : "merged",
               in.n_shards(), in.tensors().size(), o.out);
    return 0;
  }
  gguf::SplitOptions so;
  so.max_tensors = o.max_tensors;
  if (!o.max_size.empty()) so.max_bytes = parse_size(o.max_size);
  so.no_tensor_first_split = o.no_tensor_first_split;
  const auto plan = gguf::plan_split(in, so);
  for (size_t p = 0; p < plan.size(); ++p) {
    uint64_t bytes = 0;
    for (size_t i : plan[p]) bytes += in.tensors()[i].n_bytes;
    fmt::print("{}: {} tensors, {} of tensor data\n",
               gguf::split_part_path(o.out, p + 1, plan.size()).string(), plan[p].size(),
               size_text(bytes));
  }
  if (!o.dry_run) gguf::write_split(in, o.out, so);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{} {} parts with {} tensors{}\n", o.dry_run ? "would write" : "wrote", plan.size(),
             in.tensors().size(), o.dry_run ? "" : fmt::format(" in {:.1f} s", sec));
  return 0;
}

}  // namespace

Command add_gguf_split(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "gguf-split",
      "Cut a GGUF into parts (PREFIX-00001-of-0000N.gguf) or --merge parts, as llama-gguf-split "
      "(the same bytes); split models load from their first part");
  auto o = std::make_shared<GgufSplitCliOptions>();
  sub->add_option("in", o->in, "Input GGUF (with --merge: the first part)")->required();
  sub->add_option("out", o->out, "Output prefix (with --merge: the output file)")->required();
  sub->add_flag("--merge", o->merge, "Merge the parts of a split model into one file");
  sub->add_option("--split-max-tensors", o->max_tensors, "At most N tensors per part")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--split-max-size", o->max_size,
                  "At most this much tensor data per part: 500M, 4G (decimal units; a larger "
                  "tensor gets a part of its own)");
  sub->add_flag("--no-tensor-first-split", o->no_tensor_first_split,
                "The first part holds the metadata only");
  sub->add_flag("--dry-run", o->dry_run, "Print the parts without writing them");
  return {sub, [o] { return run(*o); }};
}

}  // namespace vkr::cli
