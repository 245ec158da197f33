// cmd_quantize.cpp: `vkrwkv quantize IN OUT TYPE`, an f16 / bf16 / f32 GGUF rewritten with
// llama-quantize's mixtures (Q4_K_M, Q8_0, ...), on the CPU, without a llama.cpp build.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "gguf.hpp"
#include "gguf_types.hpp"
#include "quantize_model.hpp"
#include "signal_watch.hpp"
#include "vkr/error.hpp"
#include "weights.hpp"

namespace vkr::cli {
namespace {

struct QuantizeCliOptions {
  std::string in;
  std::string out;
  std::string type;
  unsigned threads = 0;
  bool allow_requantize = false;
  bool verbose = false;
  bool dry_run = false;
  bool keep_split = false;
  bool pure = false;
  bool leave_output = false;
  std::string output_type;
  std::string token_embd_type;
  std::string imatrix;
  std::vector<std::string> tensor_types;  // PATTERN=TYPE
};

// A ggml type by name, any case ("q8_0"); "" = not set.
std::optional<gguf::GgmlType> parse_type(const std::string& name, const char* option) {
  if (name.empty()) return std::nullopt;
  std::string up = name;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (uint32_t id = 0; id < 64; ++id) {
    if (gguf::type_traits(id) && gguf::type_name(id) == up) return static_cast<gguf::GgmlType>(id);
  }
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("quantize: {}: unknown type '{}'", option, name));
}

std::string mib(uint64_t b) {
  return fmt::format("{:.1f} MiB", static_cast<double>(b) / 1048576.0);
}

// What went where: per tensor with --verbose, else a count per (from -> to) pair, with the
// reasons for every tensor that left the preset's base type; then the sizes.
void report(const gguf::File& in, const QuantizeSummary& s, const QuantizeCliOptions& o,
            const std::string& what, double sec) {
  std::map<std::string, int> moves;
  for (const TensorPlan& p : s.plan) {
    const std::string move =
        p.to == p.from ? fmt::format("{} kept", gguf::type_name(p.from))
                       : fmt::format("{} -> {}", gguf::type_name(p.from), gguf::type_name(p.to));
    if (o.verbose) {
      fmt::print(stderr, "  {:<40} {:<24} {:<16} {}\n", p.name,
                 fmt::format("{}", fmt::join(p.ne, " x ")), move, p.why);
    }
    ++moves[move];
  }
  for (const auto& [move, n] : moves) fmt::print(stderr, "  {:4d} tensors {}\n", n, move);
  if (!o.verbose) {
    for (const TensorPlan& p : s.plan) {
      if (!p.why.empty()) {
        fmt::print(stderr, "  {} -> {}: {}\n", p.name, gguf::type_name(p.to), p.why);
      }
    }
  }
  uint64_t weights = 0;
  for (const gguf::TensorInfo& t : in.tensors()) weights += t.n_elements;
  const auto bits = [&](uint64_t bytes) {
    return 8.0 * static_cast<double>(bytes) / static_cast<double>(std::max<uint64_t>(weights, 1));
  };
  if (!o.imatrix.empty() && !o.dry_run) {
    fmt::print(stderr, "  imatrix {}: weights {} of the {} converted tensors\n", o.imatrix,
               s.imatrix_used, s.converted);
    if (!s.imatrix_missing.empty())
      fmt::print(stderr, "  no imatrix entry (quantized unweighted): {}\n",
                 fmt::join(s.imatrix_missing, ", "));
  }
  fmt::print(stderr, "{}: tensors {} -> {} ({:.2f} -> {:.2f} bits per weight), {} converted{}\n",
             what, mib(s.bytes_in), mib(s.bytes_out), bits(s.bytes_in), bits(s.bytes_out),
             s.converted, o.dry_run ? "" : fmt::format(", {:.1f} s", sec));
}

int run_quantize(const QuantizeCliOptions& o) {
  const std::optional<QuantPreset> preset = parse_quant_preset(o.type);
  if (!preset) {
    std::string names;
    for (const QuantPresetInfo& p : quant_presets()) names += fmt::format(" {}", p.name);
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("quantize: unknown type '{}'; one of:{}", o.type, names));
  }
  PlanOptions plan;
  plan.pure = o.pure;
  plan.imatrix = !o.imatrix.empty();
  plan.leave_output = o.leave_output;
  plan.output_type = parse_type(o.output_type, "--output-tensor-type");
  plan.token_embd_type = parse_type(o.token_embd_type, "--token-embedding-type");
  for (const std::string& tt : o.tensor_types) {
    const size_t eq = tt.rfind('=');
    require(eq != std::string::npos && eq > 0 && eq + 1 < tt.size(), ErrorCode::InvalidArgument,
            "quantize: --tensor-type '{}' is not PATTERN=TYPE (e.g. ffn_down=q6_k)", tt);
    plan.tensor_types.emplace_back(tt.substr(0, eq),
                                   *parse_type(tt.substr(eq + 1), "--tensor-type"));
  }
  const gguf::File in = gguf::File::open(o.in);
  // Read (and checked) before anything is written.
  std::optional<Imatrix> imatrix;
  if (!o.imatrix.empty()) imatrix = read_imatrix(o.imatrix);
  const auto files = quantize_outputs(in, o.out, o.keep_split);
  const auto names = [&] {
    std::vector<std::string> n;
    for (const auto& f : files) n.push_back(f.string());
    return fmt::format("{}", fmt::join(n, ", "));
  };
  if (o.dry_run) {
    report(in, preview_quantization(in, *preset, plan), o, "would write " + names(), 0.0);
    return 0;
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Ctrl-C / SIGTERM: the rewrite stops and removes its .part file instead of leaving it.
  std::atomic<bool> stop{false};
  const SignalWatch on_signal([&stop](const char* name, int, const std::atomic<bool>&) {
    fmt::print(stderr, "\n{}: stopping\n", name);
    stop = true;
  });
  QuantizeOptions options;
  options.stop = &stop;
  options.threads = o.threads;
  options.allow_requantize = o.allow_requantize;
  options.plan = plan;
  options.keep_split = o.keep_split;
  if (imatrix) {
    options.imatrix = &*imatrix;
    options.imatrix_file = o.imatrix;
  }
  options.progress = terminal_progress(fmt::format("quantizing to {}", preset_info(*preset).name));
  const QuantizeSummary s = quantize_model(in, o.out, *preset, options);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report(in, s, o, "wrote " + names(), sec);
  return 0;
}

}  // namespace

Command add_quantize(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "quantize",
      "Rewrite an F16 / BF16 / F32 GGUF with quantized weights (CPU; llama-quantize's "
      "mixtures)");
  auto o = std::make_shared<QuantizeCliOptions>();
  std::string types;
  for (const QuantPresetInfo& p : quant_presets()) {
    types += fmt::format("\n  {:<7} {}", p.name, p.summary);
  }
  sub->add_option("input,-m,--model", o->in, "Input .gguf (rwkv6 or rwkv6qwen2)")->required();
  sub->add_option("output,-o,--out", o->out, "Output .gguf (written via OUT.part)")->required();
  sub->add_option("type,-t,--type", o->type, "Target type:" + types)->required();
  sub->add_option("--threads", o->threads, "CPU threads (default: all)");
  sub->add_flag("--allow-requantize", o->allow_requantize,
                "Convert tensors that are already quantized (loses more accuracy)");
  sub->add_flag("-v,--verbose", o->verbose, "List every tensor with its shape and new type");
  sub->add_flag("--pure", o->pure,
                "Every converted matrix gets TYPE's base type (no Q6_K output, no ffn_down bumps)");
  sub->add_flag("--leave-output-tensor", o->leave_output,
                "Keep output.weight as it is (not quantized), as llama-quantize's flag");
  sub->add_option("--output-tensor-type", o->output_type,
                  "Type of the output matrix (e.g. Q8_0, F16), whatever TYPE chooses");
  sub->add_option("--token-embedding-type", o->token_embd_type,
                  "Type of token_embd (e.g. Q8_0), whatever TYPE chooses");
  sub->add_option("--tensor-type", o->tensor_types,
                  "PATTERN=TYPE: tensors whose name matches the regex get TYPE, before every "
                  "other rule (repeatable; first match wins), e.g. 'ffn_down=q6_k'");
  sub->add_option("--imatrix", o->imatrix,
                  "Importance matrix (from `vkrwkv imatrix` or llama-imatrix, .gguf or .dat): "
                  "each matrix's rounding error is weighted by its input's activations");
  sub->add_flag("--keep-split", o->keep_split,
                "A model in parts (llama-gguf-split's) is written in as many parts, each with "
                "its input part's tensors, named OUT-00001-of-0000N.gguf (OUT without .gguf), "
                "as llama-quantize --keep-split does");
  sub->add_flag("--dry-run", o->dry_run,
                "Print the types and the output size, write nothing (OUT is not touched)");
  return {sub, [o] { return run_quantize(*o); }};
}

}  // namespace vkr::cli
