// cmd_perplexity.cpp: `vkrwkv perplexity`: the model's perplexity over a text, as one sequence
// (the default: RWKV reads any length) or in llama-perplexity's chunks (-c N), and its
// KL-divergence mode: --kl-divergence-base F saves a (f16) model's log-probabilities, F with
// --kl-divergence compares another (quantized) model with them -- llama.cpp's file and
// statistics (model/kld.hpp), so either tool can read the other's files -- and its task scores
// (--hellaswag, --winogrande, --multiple-choice: model/choice_eval.hpp).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>

#include "choice_eval.hpp"
#include "chunk_eval.hpp"
#include "hellaswag.hpp"
#include "kld.hpp"
#include "model_options.hpp"
#include "multiple_choice.hpp"
#include "session.hpp"
#include "vkr/error.hpp"
#include "winogrande.hpp"

namespace vkr::cli {

namespace {

struct PerplexityOptions {
  std::string file;
  size_t limit = 0;
  uint32_t chunk = 0;  // 0: one sequence
  uint32_t chunks = 0;
  std::string kld_base;
  bool kld = false;
  bool hellaswag = false;
  size_t hellaswag_tasks = 400;
  bool winogrande = false;
  size_t winogrande_tasks = 0;
  bool multiple_choice = false;
  size_t multiple_choice_tasks = 0;
};

std::vector<int32_t> text_tokens(const Model& model, const PerplexityOptions& o) {
  require(!o.file.empty(), ErrorCode::InvalidArgument, "perplexity: -f FILE is required{}",
          o.kld ? "" : " (except with --kl-divergence, which reads the tokens from the base file)");
  auto ids = require_tokenizer(model).encode(read_text_file(o.file), /*parse_special=*/false);
  if (o.limit > 0 && ids.size() > o.limit) ids.resize(o.limit);
  return ids;
}

// The default: one sequence from a zero state; the per-token NLL is computed on the GPU and the
// text runs in pieces of the session's logits rows, so memory stays bounded and only one float
// per token comes back.
int whole_text(Session& session, const PerplexityOptions& o) {
  const auto ids = text_tokens(session.model(), o);
  require(ids.size() >= 2, ErrorCode::InvalidArgument, "{}: needs at least 2 tokens, has {}",
          o.file, ids.size());
  const auto nlls =
      session.eval_nll(0, std::span(ids).first(ids.size() - 1), std::span(ids).subspan(1));
  double nll = 0;
  for (float x : nlls) nll += x;
  const double n = static_cast<double>(ids.size() - 1);
  fmt::print("{}: {} tokens, perplexity {:.4f} (mean NLL {:.5f} nats)\n", o.file, ids.size(),
             std::exp(nll / n), nll / n);
  return 0;
}

// llama-perplexity's chunks: each n_ctx tokens from a zero state, the second half scored; with
// --kl-divergence-base each scored row's log-probabilities are also saved.
int chunked(Session& session, const PerplexityOptions& o) {
  const uint32_t n_ctx = o.chunk ? o.chunk : 512;
  const auto ids = text_tokens(session.model(), o);
  uint64_t n_chunk = ids.size() / n_ctx;
  require(n_chunk >= 1, ErrorCode::InvalidArgument,
          "{}: {} tokens, fewer than one chunk of {} (use a smaller -c)", o.file, ids.size(),
          n_ctx);
  if (o.chunks) n_chunk = std::min<uint64_t>(n_chunk, o.chunks);
  const uint32_t V = session.model().config().V;
  LogitsFileHeader h{n_ctx, V, static_cast<uint32_t>(n_chunk),
                     std::vector<int32_t>(ids.begin(), ids.begin() + n_chunk * n_ctx)};
  std::optional<LogitsFileWriter> out;
  if (!o.kld_base.empty()) out.emplace(o.kld_base, h);
  std::vector<uint16_t> record(h.record_words());
  PplAccumulator acc;
  for (uint32_t c = 0; c < h.n_chunk; ++c) {
    const auto chunk = std::span(h.tokens).subspan(size_t{c} * n_ctx, n_ctx);
    const auto logits = chunk_logits(session, chunk);
    for (uint32_t r = 0; r < h.rows_per_chunk(); ++r) {
      const auto row = std::span(logits).subspan(size_t{r} * V, V);
      const int32_t target = chunk[h.first() + r + 1];
      if (out) {
        acc.add(encode_log_probs(row, target, record));
        out->add(record);
      } else {
        acc.add(row_nll(row, target));
      }
    }
    fmt::print("[{}]{:.4f},", c + 1, acc.ppl());
    std::fflush(stdout);
  }
  fmt::print("\n");
  std::fflush(stdout);
  if (out) {
    out->finish();
    fmt::print(stderr, "wrote {} ({} chunks of {} tokens, {} scored rows of {} log-probs)\n",
               o.kld_base, h.n_chunk, n_ctx, acc.count, V);
  }
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.5f}\n", acc.ppl(), acc.err());
  return 0;
}

// Another model against a base file: per-chunk running figures, then the whole report.
int kl_divergence(Session& session, LogitsFileReader& in, const PerplexityOptions& o) {
  const LogitsFileHeader& h = in.header();
  const uint32_t V = session.model().config().V;
  require(h.n_vocab == V, ErrorCode::InvalidArgument,
          "--kl-divergence: {} holds log-probabilities over {} tokens, the model has {}: made "
          "with another vocabulary",
          o.kld_base, h.n_vocab, V);
  uint32_t n_chunk = h.n_chunk;
  if (o.chunks) n_chunk = std::min(n_chunk, o.chunks);
  fmt::print(stderr, "{}: {} chunks of {} tokens\n", o.kld_base, n_chunk, h.n_ctx);
  KldAccumulator acc;
  std::vector<uint16_t> record(h.record_words());
  for (uint32_t c = 0; c < n_chunk; ++c) {
    const auto chunk = std::span(h.tokens).subspan(size_t{c} * h.n_ctx, h.n_ctx);
    const auto logits = chunk_logits(session, chunk);
    for (uint32_t r = 0; r < h.rows_per_chunk(); ++r) {
      in.next(record);
      acc.add(std::span(logits).subspan(size_t{r} * V, V), record, chunk[h.first() + r + 1]);
    }
    fmt::print("\n{}{}", kld_chunk_header(), kld_chunk_line(c + 1, acc.summary()));
    std::fflush(stdout);
  }
  fmt::print("\n{}", kld_report(acc.summary()));
  return 0;
}

// `score()` of the task at file index `index`; its errors say which task (file, number, text).
template <class Score>
auto in_task(const std::string& file, size_t index, const std::string& text, Score score) {
  try {
    return score();
  } catch (const Error& e) {
    throw Error(e.code(),
                fmt::format("{}: task {} (\"{:.40}\"): {}", file, index + 1, text, e.message()));
  }
}

// llama-perplexity --hellaswag: the tasks in its order, each continuation scored by the mean
// log-probability of its tokens after the shared prefix; running accuracy with a 95% interval.
int hellaswag(Model& model, const std::vector<HellaswagTask>& tasks, const PerplexityOptions& o) {
  const auto order = hellaswag_order(tasks.size(), o.hellaswag_tasks);
  fmt::print(stderr, "{}: {} tasks, scoring {}\n", o.file, tasks.size(), order.size());
  const Tokenizer& tok = require_tokenizer(model);
  Session session(model, 2);
  fmt::print("\ntask\tacc_norm\t95% confidence interval\n");
  size_t correct = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const HellaswagTask& t = tasks[order[i]];
    std::array<std::vector<int32_t>, 4> seqs;
    for (size_t e = 0; e < 4; ++e)
      seqs[e] = tok.encode(t.context + " " + t.endings[e], /*parse_special=*/false);
    const HellaswagScore s =
        in_task(o.file, order[i], t.context, [&] { return score_hellaswag(session, seqs); });
    if (static_cast<int>(s.chosen) == t.gold) ++correct;
    fmt::print("{}\n", hellaswag_line(i + 1, correct));
    std::fflush(stdout);
  }
  fmt::print("\n");
  return 0;
}

// llama-perplexity --winogrande: each task's two sentences scored by the mean log-probability of
// the words after the option; a line per task, the final score from 100 tasks on.
int winogrande(Model& model, const WinograndeFile& file, const PerplexityOptions& o) {
  for (const std::string& why : file.skipped) fmt::print(stderr, "{}: skipped {}\n", o.file, why);
  const auto order = winogrande_order(file.tasks.size(), o.winogrande_tasks);
  fmt::print(stderr, "{}: {} tasks, scoring {}\n", o.file, file.tasks.size(), order.size());
  const Tokenizer& tok = require_tokenizer(model);
  Session session(model, 2);
  size_t correct = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const WinograndeTask& t = file.tasks[order[i]];
    std::array<std::vector<int32_t>, 2> seqs;
    std::array<size_t, 2> n_base{};
    for (size_t c = 0; c < 2; ++c) {
      seqs[c] = tok.encode(t.first + t.options[c] + t.second, /*parse_special=*/false);
      n_base[c] = tok.encode(t.first + t.options[c], /*parse_special=*/false).size();
    }
    const WinograndeScore s =
        in_task(o.file, order[i], t.first, [&] { return score_winogrande(session, seqs, n_base); });
    if (s.chosen == t.answer) ++correct;
    fmt::print("{}\n", winogrande_line(i + 1, correct, s.mean[0], s.mean[1], s.chosen, t.answer));
    std::fflush(stdout);
  }
  fmt::print("\n");
  if (order.size() >= 100) fmt::print("{}\n", winogrande_final(order.size(), correct));
  return 0;
}

// llama-perplexity --multiple-choice: each task's answers scored by the mean log-probability of
// their tokens after the shared prefix; the running accuracy, then the final score and chance.
int multiple_choice(Model& model, const std::vector<MultipleChoiceTask>& tasks,
                    const PerplexityOptions& o) {
  const auto order = winogrande_order(tasks.size(), o.multiple_choice_tasks);
  fmt::print(stderr, "{}: {} tasks, scoring {}\n", o.file, tasks.size(), order.size());
  const Tokenizer& tok = require_tokenizer(model);
  Session session(model, 2);
  fmt::print("\ntask\tacc_norm\n");
  size_t correct = 0, answers = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const MultipleChoiceTask& t = tasks[order[i]];
    std::vector<std::vector<int32_t>> seqs;
    for (const std::string& a : t.mc1.answers) {
      seqs.push_back(tok.encode(t.question + " " + a, /*parse_special=*/false));
    }
    const MultipleChoiceScore s =
        in_task(o.file, order[i], t.question, [&] { return score_multiple_choice(session, seqs); });
    if (t.mc1.labels[s.chosen] == 1) ++correct;
    answers += seqs.size();
    fmt::print("{}\n", multiple_choice_line(i + 1, correct));
    std::fflush(stdout);
  }
  fmt::print("\n{}\n", multiple_choice_final(order.size(), correct, answers));
  return 0;
}

int run(const CommonOptions& common, const ModelOptions& mo, const PerplexityOptions& o) {
  require(!o.kld || !o.kld_base.empty(), ErrorCode::InvalidArgument,
          "--kl-divergence needs --kl-divergence-base FILE (the base model's log-probabilities)");
  // The base file is checked before a possibly large model loads.
  std::optional<LogitsFileReader> base;
  if (o.kld) base.emplace(o.kld_base);
  const int kinds = int{o.hellaswag} + int{o.winogrande} + int{o.multiple_choice};
  require(kinds == 0 || (!o.kld && o.kld_base.empty() && !o.chunk && kinds == 1),
          ErrorCode::InvalidArgument,
          "--hellaswag / --winogrande / --multiple-choice score multiple-choice tasks, one kind "
          "per run; they take no -c / --kl-divergence options");
  // Task files are read (and checked) before the model loads too.
  require(kinds == 0 || !o.file.empty(), ErrorCode::InvalidArgument,
          "--{}: -f FILE is required ({})",
          o.hellaswag    ? "hellaswag"
          : o.winogrande ? "winogrande"
                         : "multiple-choice",
          o.hellaswag    ? "HellaSwag tasks, 6 lines each"
          : o.winogrande ? "CSV: index,sentence with _,option1,option2,answer"
                         : "llama-perplexity's binary task file, e.g. arc-easy-validation.bin");
  std::vector<HellaswagTask> hs;
  if (o.hellaswag) hs = parse_hellaswag(read_text_file(o.file), o.file);
  std::optional<WinograndeFile> wg;
  if (o.winogrande) wg = parse_winogrande(read_text_file(o.file), o.file);
  std::vector<MultipleChoiceTask> mc;
  if (o.multiple_choice) mc = parse_multiple_choice(read_text_file(o.file), o.file);
  auto loaded = load_model(common, mo);
  if (o.hellaswag) return hellaswag(*loaded.model, hs, o);
  if (wg) return winogrande(*loaded.model, *wg, o);
  if (o.multiple_choice) return multiple_choice(*loaded.model, mc, o);
  Session session(*loaded.model, 1);
  if (base) return kl_divergence(session, *base, o);
  if (o.chunk || !o.kld_base.empty()) return chunked(session, o);
  return whole_text(session, o);
}

}  // namespace

Command add_perplexity(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand(
      "perplexity", "Perplexity over a text file; llama-perplexity's chunks and KL divergence");
  auto mo = std::make_shared<ModelOptions>();
  auto o = std::make_shared<PerplexityOptions>();
  add_model_options(sub, common, *mo);
  sub->add_option("-f,--file", o->file, "UTF-8 text file");
  sub->add_option("--limit", o->limit, "Score only the file's first N tokens (0: all)");
  sub->add_option("-c,--chunk", o->chunk,
                  "Chunks of N tokens as llama-perplexity -c (each from a zero state, its second "
                  "half scored; default: the whole text as one sequence)")
      ->check(CLI::Range(3u, 1u << 20));
  sub->add_option("--chunks", o->chunks, "At most N chunks");
  sub->add_option("--kl-divergence-base", o->kld_base,
                  "Save the log-probabilities of every scored token to FILE (chunked; -c default "
                  "512), llama-perplexity's format; with --kl-divergence: read them");
  sub->add_flag("--kl-divergence", o->kld,
                "Compare this model with the --kl-divergence-base FILE of another (tokens from "
                "the file): KL divergence, top-token agreement, delta p, PPL ratio");
  sub->add_flag("--hellaswag", o->hellaswag,
                "Multiple-choice accuracy over a HellaSwag file (-f; 6 lines per task: context, "
                "gold index, 4 endings), as llama-perplexity --hellaswag scores it");
  sub->add_option("--hellaswag-tasks", o->hellaswag_tasks,
                  "Tasks to score, drawn in llama-perplexity's order (default 400)");
  sub->add_flag("--winogrande", o->winogrande,
                "Winogrande accuracy over a CSV file (-f; index,sentence with _,option1,option2,"
                "answer), as llama-perplexity --winogrande scores it");
  sub->add_option("--winogrande-tasks", o->winogrande_tasks,
                  "Tasks to score, drawn in llama-perplexity's order (default 0: all, in order)");
  sub->add_flag("--multiple-choice", o->multiple_choice,
                "Accuracy over llama-perplexity's binary multiple-choice tasks (-f; ARC, MMLU, "
                "TruthfulQA, HellaSwag .bin files), as llama-perplexity --multiple-choice scores "
                "them");
  sub->add_option("--multiple-choice-tasks", o->multiple_choice_tasks,
                  "Tasks to score, drawn in llama-perplexity's order (default 0: all, in order)");
  return {sub, [&common, mo, o] { return run(common, *mo, *o); }};
}

}  // namespace vkr::cli
