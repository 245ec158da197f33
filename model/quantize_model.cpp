// quantize_model.cpp: llama-quantize's per-tensor type rules for the two RWKV-6 architectures and
// the streaming rewrite of a GGUF file with them (rows encoded in parallel, one tensor in memory).
#include "quantize_model.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <mutex>
#include <regex>
#include <span>
#include <thread>
#include <vkr/error.hpp>

#include "dequant.hpp"
#include "gguf_split_writer.hpp"
#include "gguf_writer.hpp"
#include "quantize.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;

bool is_block_quant(uint32_t t) {
  const auto g = static_cast<GgmlType>(t);
  return g != GgmlType::F32 && g != GgmlType::F16 && g != GgmlType::BF16;
}

uint32_t block_elems(GgmlType t) { return gguf::type_traits(t)->block_elems; }

// Dimensions up to the last one above 1 (ggml_n_dims): a {C, 1, 1} vector is 1-D.
size_t n_dims(const std::vector<uint64_t>& ne) {
  size_t n = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] > 1) n = d + 1;
  }
  return n;
}

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// llama-quantize's rule: the token embedding and the output matrix excepted, matrices encoded as
// IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S or IQ3_XXS (or as Q2_K by Q2_K_S) must be encoded with
// importance weights: at 1-3 bits the codes are only as good as the weights placing them. The
// types whose encoders cannot run without them (IQ1_S, IQ2_XXS, IQ2_XS) need them everywhere
// (llama-quantize asserts there, e.g. on an --output-tensor-type IQ1_S; we refuse up front).
bool needs_imatrix(const TensorPlan& p, QuantPreset preset) {
  if (p.to == p.from) return false;
  if (quantize_needs_importance(p.to)) return true;
  if (p.name == "token_embd.weight" || p.name == "output.weight") return false;
  const auto t = static_cast<GgmlType>(p.to);
  return (preset == QuantPreset::Q2_K_S && t == GgmlType::Q2_K) || t == GgmlType::IQ1_S ||
         t == GgmlType::IQ1_M || t == GgmlType::IQ2_XXS || t == GgmlType::IQ2_XS ||
         t == GgmlType::IQ2_S || t == GgmlType::IQ3_XXS;
}

// Matrices a preset converts. Norm weights, and RWKV's LoRA matrices, bonus and fused lerp
// tensors (small, and sensitive: llama.cpp keeps them F32 too) are never converted.
bool convertible(const gguf::TensorInfo& t) {
  if (n_dims(t.ne) < 2) return false;
  const std::string_view n = t.name;
  if (n.size() < 6 || n.substr(n.size() - 6) != "weight") return false;
  if (contains(n, "_norm.weight")) return false;
  for (std::string_view keep :
       {"time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight"}) {
    if (contains(n, keep)) return false;
  }
  return true;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// A row length the chosen block does not divide falls back to a 32-element type of similar size,
// then to F16 (llama.cpp's tensor_type_fallback, as its llama-quantize applied it to the files
// of tests/data/llama_quant: Q2_K and Q3_K go to Q4_0, IQ4_XS to IQ4_NL).
GgmlType fall_back(GgmlType t, uint64_t ncols, std::string& why) {
  if (ncols % block_elems(t) == 0) return t;
  GgmlType f = GgmlType::F16;
  switch (t) {
    case GgmlType::Q4_K:
      f = GgmlType::Q5_0;
      break;
    case GgmlType::Q5_K:
      f = GgmlType::Q5_1;
      break;
    case GgmlType::Q6_K:
      f = GgmlType::Q8_0;
      break;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
      f = GgmlType::Q4_0;
      break;
    case GgmlType::IQ4_XS:
    case GgmlType::IQ2_XXS:
    case GgmlType::IQ2_XS:
    case GgmlType::IQ2_S:
    case GgmlType::IQ3_XXS:
    case GgmlType::IQ3_S:
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:
      f = GgmlType::IQ4_NL;
      break;
    default:
      break;
  }
  if (ncols % block_elems(f) != 0) f = GgmlType::F16;
  why = fmt::format("rows of {} are not a multiple of {}'s {}", ncols, gguf::type_name(t),
                    block_elems(t));
  return f;
}

// A converted tensor's name to show in an error (a layer matrix where there is one).
std::string example_matrix_name(const gguf::File& in) {
  std::string any;
  for (const gguf::TensorInfo& t : in.tensors()) {
    if (!convertible(t)) continue;
    if (t.name.starts_with("blk.")) return t.name;
    if (any.empty()) any = t.name;
  }
  return any;
}

}  // namespace

std::vector<TensorPlan> plan_quantization(const gguf::File& in, QuantPreset preset,
                                          const PlanOptions& options) {
  for (const auto& o : {options.output_type, options.token_embd_type}) {
    require(!o || quantize_supported(static_cast<uint32_t>(*o)), ErrorCode::InvalidArgument,
            "quantize: cannot encode {} (types: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K "
            "Q4_K Q5_K Q6_K IQ4_NL IQ4_XS IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S)",
            gguf::type_name(static_cast<uint32_t>(*o)));
  }
  require(!(options.leave_output && options.output_type), ErrorCode::InvalidArgument,
          "quantize: --leave-output-tensor keeps output.weight as it is; --output-tensor-type "
          "asks for another type: give one of them");
  std::vector<std::regex> patterns;
  for (const auto& [pattern, type] : options.tensor_types) {
    require(quantize_supported(static_cast<uint32_t>(type)), ErrorCode::InvalidArgument,
            "quantize: --tensor-type {}: cannot encode {}", pattern,
            gguf::type_name(static_cast<uint32_t>(type)));
    try {
      patterns.emplace_back(pattern);
    } catch (const std::regex_error& e) {
      throw Error(
          ErrorCode::InvalidArgument,
          fmt::format("quantize: --tensor-type '{}' is not a valid regex: {}", pattern, e.what()));
    }
  }
  std::vector<bool> pattern_used(patterns.size(), false);
  const QuantPresetInfo& info = preset_info(preset);
  const GgmlType base = info.base;
  const bool quant = is_block_quant(static_cast<uint32_t>(base));
  const bool tied = in.tensor("output.weight") == nullptr;  // head shares token_embd
  int n_ffn_down = 0;
  int n_ffn_gate = 0;
  int n_ffn_up = 0;
  for (const gguf::TensorInfo& t : in.tensors()) {
    if (!convertible(t)) continue;
    n_ffn_down += contains(t.name, "ffn_down") ? 1 : 0;
    n_ffn_gate += contains(t.name, "ffn_gate") ? 1 : 0;
    n_ffn_up += contains(t.name, "ffn_up") ? 1 : 0;
  }
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  // IQ1_S / IQ1_M follow IQ2_XXS / IQ2_XS's rules for the head, token_embd and ffn_down
  const bool iq2 = preset == QuantPreset::IQ2_XXS || preset == QuantPreset::IQ2_XS ||
                   preset == QuantPreset::IQ1_S || preset == QuantPreset::IQ1_M;
  const bool iq2s = preset == QuantPreset::IQ2_S || preset == QuantPreset::IQ2_M;
  std::vector<TensorPlan> plan;
  plan.reserve(in.tensors().size());
  for (const gguf::TensorInfo& t : in.tensors()) {
    TensorPlan p{t.name, t.ne, t.type, t.type, {}};
    if (!convertible(t) || (options.leave_output && t.name == "output.weight")) {
      plan.push_back(std::move(p));
      continue;
    }
    GgmlType to = base;
    if (quant) {
      const uint64_t ncols = t.ne[0];
      const bool head = t.name == "output.weight" || (tied && t.name == "token_embd.weight");
      if (options.pure) {
        // the base type everywhere (then the row-length fallback below)
      } else if (head) {
        // The head decides every logit: Q6_K unless the preset is Q8_0 already (Q8_0 when its
        // rows do not fit the base type's blocks).
        // (Q5_K for the 2-bit and IQ3_XXS mixtures, as llama-quantize)
        if (ncols % block_elems(base) != 0) {
          to = GgmlType::Q8_0;
        } else if (iq2 || iq2s || preset == QuantPreset::IQ3_XXS) {
          to = GgmlType::Q5_K;
        } else if (base != GgmlType::Q8_0) {
          to = GgmlType::Q6_K;
        }
        if (to != base) p.why = "output matrix";
      } else if (t.name == "token_embd.weight" && (iq2 || iq2s || preset == QuantPreset::IQ3_XXS)) {
        // a row is read per token, never multiplied: the codebook mixtures keep it cheap to
        // decode and a bit more precise
        to = iq2 ? GgmlType::Q2_K : GgmlType::IQ3_S;
        p.why = "token embedding";
      } else if (contains(t.name, "ffn_down")) {
        const int i = i_ffn_down++;
        const int n = n_ffn_down;
        const bool iq4 = preset == QuantPreset::IQ4_NL || preset == QuantPreset::IQ4_XS;
        if ((preset == QuantPreset::Q4_K_M || preset == QuantPreset::Q5_K_M) &&
            use_more_bits(i, n)) {
          to = GgmlType::Q6_K;
          p.why = "ffn_down of a layer use_more_bits() picks";
        } else if ((preset == QuantPreset::Q4_K_S || (iq4 && !options.imatrix)) && i < n / 8) {
          to = GgmlType::Q5_K;
          p.why = "ffn_down of the first eighth of the layers";
        } else if (preset == QuantPreset::Q2_K) {
          to = GgmlType::Q3_K;
          p.why = "ffn_down (Q2_K spends a bit more there)";
        } else if (preset == QuantPreset::Q2_K_S && i < n / 8) {
          to = GgmlType::Q4_K;
          p.why = "ffn_down of the first eighth of the layers";
        } else if ((preset == QuantPreset::Q4_0 || preset == QuantPreset::Q5_0) &&
                   options.imatrix && i < n / 8) {
          // llama-quantize's guard against the first layers' ffn_down going wrong even with an
          // importance matrix (only then, so that files without one stay as they were).
          to = preset == QuantPreset::Q4_0 ? GgmlType::Q4_1 : GgmlType::Q5_1;
          p.why = "ffn_down of the first eighth of the layers (with an imatrix)";
        } else if (preset == QuantPreset::Q3_K_M) {
          to = i < n / 16 ? GgmlType::Q5_K : GgmlType::Q4_K;
          p.why = i < n / 16 ? "ffn_down of the first 1/16 of the layers" : "ffn_down";
        } else if (preset == QuantPreset::Q3_K_L) {
          to = GgmlType::Q5_K;
          p.why = "ffn_down";
        } else if ((iq2 || iq2s) && i < n / 8) {
          to = iq2 ? GgmlType::Q2_K : GgmlType::IQ3_S;
          p.why = "ffn_down of the first eighth of the layers";
        } else if (preset == QuantPreset::IQ3_M && i < n / 8) {
          to = GgmlType::Q4_K;
          p.why = "ffn_down of the first eighth of the layers";
        }
      } else if (contains(t.name, "ffn_gate") || contains(t.name, "ffn_up")) {
        const bool gate = contains(t.name, "ffn_gate");
        const int i = gate ? i_ffn_gate++ : i_ffn_up++;
        const int n = gate ? n_ffn_gate : n_ffn_up;
        if (preset == QuantPreset::IQ3_XS && i >= n / 8 && i < 7 * n / 8) {
          to = GgmlType::IQ3_XXS;
          p.why = "ffn_gate / ffn_up of the middle layers";
        }
      }
      to = fall_back(to, ncols, p.why);
    }
    // Overrides replace the preset's choice as given (no fallback: a type that does not fit the
    // rows is an error, not a silent substitute).
    std::optional<GgmlType> forced;
    if (t.name == "token_embd.weight" && options.token_embd_type) {
      forced = options.token_embd_type;
      p.why = "--token-embedding-type";
    } else if (options.output_type &&
               (t.name == "output.weight" || (tied && t.name == "token_embd.weight"))) {
      forced = options.output_type;
      p.why = "--output-tensor-type";
    }
    for (size_t k = 0; k < patterns.size(); ++k) {
      if (!std::regex_search(t.name, patterns[k])) continue;
      forced = options.tensor_types[k].second;
      p.why = fmt::format("--tensor-type {}", options.tensor_types[k].first);
      pattern_used[k] = true;
      break;
    }
    if (forced) {
      to = *forced;
      require(t.ne[0] % block_elems(to) == 0, ErrorCode::InvalidArgument,
              "quantize: tensor '{}' has rows of {}, not a multiple of {}'s {}-element blocks",
              t.name, t.ne[0], gguf::type_name(to), block_elems(to));
    }
    p.to = static_cast<uint32_t>(to);
    if (p.to != p.from && !dequantize_supported(p.from)) {
      throw Error(ErrorCode::BadModelFile,
                  fmt::format("{}: tensor '{}' is {}, which vkrwkv cannot decode to convert it",
                              in.path().string(), t.name, gguf::type_name(p.from)));
    }
    plan.push_back(std::move(p));
  }
  for (size_t k = 0; k < patterns.size(); ++k) {
    require(pattern_used[k], ErrorCode::InvalidArgument,
            "quantize: --tensor-type '{}' matches none of the tensors to quantize (names look "
            "like '{}')",
            options.tensor_types[k].first, example_matrix_name(in));
  }
  if (!options.imatrix) {
    for (const TensorPlan& p : plan) {
      if (!needs_imatrix(p, preset)) continue;
      // an override's type names the option that chose it, not the preset
      if (p.why.starts_with("--")) {
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("quantize: {} makes '{}' {}, which is encoded only with "
                                "importance weights: give an --imatrix FILE (made by `vkrwkv "
                                "imatrix`) or another type",
                                p.why, p.name, gguf::type_name(p.to)));
      }
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("quantize: {} needs an importance matrix (--imatrix FILE, made by "
                              "`vkrwkv imatrix`) for its {} tensors such as '{}': without one "
                              "their 1-3-bit blocks are too coarse to be useful (llama-quantize "
                              "refuses it too). Make an imatrix, or use {}",
                              info.name, gguf::type_name(p.to), p.name,
                              preset == QuantPreset::Q2_K_S ? "Q2_K" : "IQ3_S, IQ3_M or Q3_K_M"));
    }
  }
  return plan;
}

QuantizeSummary preview_quantization(const gguf::File& in, QuantPreset preset,
                                     const PlanOptions& options) {
  QuantizeSummary summary;
  summary.plan = plan_quantization(in, preset, options);
  for (size_t i = 0; i < summary.plan.size(); ++i) {
    const TensorPlan& p = summary.plan[i];
    summary.bytes_in += in.tensors()[i].n_bytes;
    summary.bytes_out += gguf::GgufWriter::tensor_bytes(p.ne, static_cast<GgmlType>(p.to));
    if (p.to != p.from) ++summary.converted;
  }
  return summary;
}

namespace {

// The order llama-quantize writes tensors in (so its files and ours are the same bytes): in
// parts, each part's tensors as the input has them; in one file, its loader's weights map order:
// tensors outside the blocks by name, then block by block (blk.N. by number), each by name.
std::vector<size_t> write_order(const gguf::File& in, bool parts) {
  std::vector<size_t> order(in.tensors().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (parts) return order;
  const auto block = [](const std::string& name) {
    int n = -1;
    if (name.starts_with("blk.")) {
      const auto [p, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), n);
      if (ec != std::errc() || p == name.data() + name.size() || *p != '.') n = -1;
    }
    return n;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const std::string& x = in.tensors()[a].name;
    const std::string& y = in.tensors()[b].name;
    const int bx = block(x), by = block(y);
    return bx != by ? bx < by : x < y;
  });
  return order;
}

}  // namespace

QuantizeSummary quantize_model(const gguf::File& in, const std::filesystem::path& out,
                               QuantPreset preset, const QuantizeOptions& options) {
  std::error_code ec;
  const auto paths = quantize_outputs(in, out, options.keep_split);
  for (const auto& path : paths) {
    for (size_t i = 0; i < in.n_shards(); ++i) {
      require(!std::filesystem::equivalent(in.shard_path(i), path, ec), ErrorCode::InvalidArgument,
              "quantize: the output {} is {}; write to another path", path.string(),
              in.n_shards() > 1 ? "one of the input's parts" : "the input file");
    }
  }
  const QuantPresetInfo& info = preset_info(preset);
  PlanOptions plan_options = options.plan;
  plan_options.imatrix = options.imatrix != nullptr;
  QuantizeSummary summary = preview_quantization(in, preset, plan_options);
  if (!options.allow_requantize) {
    for (const TensorPlan& p : summary.plan) {
      require(p.to == p.from || !is_block_quant(p.from), ErrorCode::InvalidArgument,
              "quantize: {} is already quantized (tensor '{}' is {}); converting it to {} "
              "rounds twice and loses more than quantizing the original f16 / bf16 / f32 file. "
              "Use that file, or pass --allow-requantize",
              in.path().string(), p.name, gguf::type_name(p.from), gguf::type_name(p.to));
    }
  }

  std::vector<gguf::GgufWriter> writers(paths.size());
  gguf::GgufWriter& writer = writers[0];  // the metadata
  for (const auto& [key, value] : in.metadata()) {
    // A split model's part keys would make the single output file look like a first part.
    if (key == "general.file_type" || key == "general.quantization_version" ||
        key == "general.alignment" || key.starts_with("split.")) {
      continue;
    }
    writer.add_kv(key, gguf::KvValue::copy_of(value));
  }
  writer.add_kv("general.quantization_version", gguf::KvValue::u32(2));
  writer.add_kv("general.file_type", gguf::KvValue::u32(info.file_type));
  // Per-tensor importance weights, looked up (and checked against the tensor's width) before
  // anything is written; llama-quantize's metadata keys say which imatrix was used.
  std::vector<std::optional<std::vector<float>>> importance(summary.plan.size());
  if (options.imatrix) {
    for (size_t i = 0; i < summary.plan.size(); ++i) {
      const TensorPlan& p = summary.plan[i];
      if (p.to == p.from) continue;
      importance[i] = options.imatrix->weights(p.name, p.ne[0]);
      if (importance[i]) {
        const uint64_t rows_per_mat = p.ne.size() > 1 ? p.ne[1] : 1;
        const uint64_t mats = importance[i]->size() / p.ne[0];
        const uint64_t rows = in.tensors()[i].n_elements / p.ne[0];
        require(mats == 1 || mats * rows_per_mat == rows, ErrorCode::BadModelFile,
                "quantize: imatrix entry '{}' holds {} matrices, the tensor {}", p.name, mats,
                rows / rows_per_mat);
        ++summary.imatrix_used;
      } else {
        require(!needs_imatrix(p, preset), ErrorCode::InvalidArgument,
                "quantize: the imatrix {} has no entry for '{}', which {} encodes as {} (only "
                "with importance weights); use an imatrix of this model",
                options.imatrix_file, p.name, preset_info(preset).name, gguf::type_name(p.to));
        summary.imatrix_missing.push_back(p.name);
      }
    }
    // Not one name in common: an imatrix of another model (or another naming); quantizing
    // "with" it would silently quantize without it.
    require(summary.imatrix_used > 0 || summary.imatrix_missing.empty(), ErrorCode::InvalidArgument,
            "quantize: the imatrix {} has no entry for any of the {} tensors to quantize (its {} "
            "entries name e.g. '{}'); was it made for another model?",
            options.imatrix_file, summary.imatrix_missing.size(), options.imatrix->entries.size(),
            options.imatrix->entries.empty() ? "" : options.imatrix->entries.front().first);
    writer.add_kv("quantize.imatrix.file", gguf::KvValue::str(options.imatrix_file));
    if (!options.imatrix->datasets.empty())
      writer.add_kv("quantize.imatrix.dataset",
                    gguf::KvValue::str(options.imatrix->datasets.front()));
    writer.add_kv("quantize.imatrix.entries_count",
                  gguf::KvValue::i32(static_cast<int32_t>(options.imatrix->entries.size())));
    writer.add_kv("quantize.imatrix.chunks_count",
                  gguf::KvValue::i32(static_cast<int32_t>(options.imatrix->chunk_count)));
  }

  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::string in_name = in.path().string();
  for (const size_t i : write_order(in, writers.size() > 1)) {
    const TensorPlan& p = summary.plan[i];
    const gguf::TensorInfo& t = in.tensors()[i];
    gguf::GgufWriter& part = writers[writers.size() > 1 ? t.shard : 0];
    if (p.to == p.from) {
      part.add_tensor(p.name, p.ne, static_cast<GgmlType>(p.to),
                      [&in, &t](std::span<std::byte> dst) {
                        const auto src = in.tensor_data(t);
                        std::copy(src.begin(), src.end(), dst.begin());
                      });
      continue;
    }
    part.add_tensor(
        p.name, p.ne, static_cast<GgmlType>(p.to),
        [&in, &t, &p, threads, &in_name, stop = options.stop,
         weights = importance[i] ? &*importance[i] : nullptr](std::span<std::byte> dst) {
          const std::span<const std::byte> src = in.tensor_data(t);
          const uint64_t cols = t.ne[0];
          const uint64_t rows = t.n_elements / cols;
          const uint64_t src_row = t.n_bytes / rows;
          const uint64_t dst_row = dst.size() / rows;
          // Rows go to threads in interleaved runs so every thread has work to the end.
          std::atomic<uint64_t> next{0};
          std::exception_ptr failure;
          std::mutex failure_mutex;
          const uint64_t run = std::max<uint64_t>(1, (1u << 16) / cols);
          auto work = [&] {
            std::vector<float> row(cols);
            std::vector<float> back(cols);
            try {
              for (;;) {
                const uint64_t r0 = next.fetch_add(run);
                if (r0 >= rows) break;
                if (stop != nullptr && stop->load()) {
                  throw Error(ErrorCode::InvalidArgument, "quantize: interrupted");
                }
                for (uint64_t r = r0; r < std::min(rows, r0 + run); ++r) {
                  dequantize_row(p.from, src.data() + r * src_row, row.data(), cols);
                  for (uint64_t c = 0; c < cols; ++c) {
                    if (!std::isfinite(row[c])) {
                      throw Error(ErrorCode::BadModelFile,
                                  fmt::format("{}: tensor '{}' row {} column {} is {}; a "
                                              "quantized block cannot hold it",
                                              in_name, p.name, r, c, row[c]));
                    }
                  }
                  std::byte* const q = dst.data() + r * dst_row;
                  // Stacked matrices (ne[2] > 1) each have their own row of weights.
                  const float* w = nullptr;
                  if (weights) {
                    const uint64_t mat = weights->size() > cols ? r / t.ne[1] : 0;
                    w = weights->data() + mat * cols;
                  }
                  quantize_row(p.to, row.data(), q, cols, w);
                  // Scales are f16: a row whose values need a scale past 65504 would decode to
                  // inf. Decoding it again costs little next to the encoding's search.
                  dequantize_row(p.to, q, back.data(), cols);
                  if (!std::all_of(back.begin(), back.end(),
                                   [](float v) { return std::isfinite(v); })) {
                    float amax = 0;
                    for (float v : row) amax = std::max(amax, std::fabs(v));
                    throw Error(ErrorCode::BadModelFile,
                                fmt::format("{}: tensor '{}' row {}: values up to {} are too "
                                            "large for {} (its f16 scales overflow); the F32 "
                                            "preset keeps them",
                                            in_name, p.name, r, amax, gguf::type_name(p.to)));
                  }
                }
              }
            } catch (...) {
              const std::lock_guard lock(failure_mutex);
              if (!failure) failure = std::current_exception();
              next = rows;  // stop the others early
            }
          };
          const unsigned n =
              static_cast<unsigned>(std::min<uint64_t>(threads, (rows + run - 1) / run));
          std::vector<std::jthread> pool;
          for (unsigned k = 1; k < n; ++k) pool.emplace_back(work);
          work();
          pool.clear();  // joins
          if (failure) std::rethrow_exception(failure);
        });
  }
  // Parts: every one names its place in the set (after the first part's other keys).
  if (writers.size() > 1) {
    for (size_t i = 0; i < writers.size(); ++i) {
      writers[i].add_kv("split.no", gguf::KvValue::u16(static_cast<uint16_t>(i)));
      writers[i].add_kv("split.count", gguf::KvValue::u16(static_cast<uint16_t>(writers.size())));
      writers[i].add_kv("split.tensors.count",
                        gguf::KvValue::i32(static_cast<int32_t>(in.tensors().size())));
    }
  }
  uint64_t total = 0, before = 0;
  for (const auto& w : writers) total += w.data_bytes();
  size_t written = 0;
  try {
    for (; written < writers.size(); ++written) {
      writers[written].write(paths[written], [&](uint64_t done, uint64_t) {
        if (options.progress) options.progress(before + done, total);
      });
      before += writers[written].data_bytes();
    }
  } catch (...) {  // no partial set left behind either
    for (size_t i = 0; i < written; ++i) std::filesystem::remove(paths[i], ec);
    throw;
  }
  summary.files = paths;
  return summary;
}

std::vector<std::filesystem::path> quantize_outputs(const gguf::File& in,
                                                    const std::filesystem::path& out,
                                                    bool keep_split) {
  if (!keep_split || in.n_shards() == 1) return {out};
  std::string prefix = out.string();
  if (prefix.ends_with(".gguf")) prefix.resize(prefix.size() - 5);
  std::vector<std::filesystem::path> paths;
  for (size_t i = 0; i < in.n_shards(); ++i)
    paths.push_back(gguf::split_part_path(prefix, i + 1, in.n_shards()));
  return paths;
}

}  // namespace vkr
