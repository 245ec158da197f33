// cmd_bench_model.cpp: `vkrwkv bench model`: llama-bench style prompt processing (ppN) and token
// generation (tgN) tokens/s, plus where decode time goes (GPU timestamps per stage).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "model_options.hpp"
#include "session.hpp"
#include "vkr/error.hpp"
#include "vkr/gpu_timer.hpp"
#include "vkr/queue.hpp"
#include "vkr/recorder.hpp"

namespace vkr::cli {

namespace {

struct BenchModelOptions {
  ModelOptions model;
  uint32_t pp = 512, tg = 128;
  uint32_t batch =
      4;  // --parallel: sequences of the batched tg row (as `serve --parallel`); 1: none
  int reps = 3;
  uint32_t lookup = 8;  // guesses per prompt-lookup check timed (0: no such row)
  bool json = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GPU time of a stage boundary (a barrier and a timestamp) by itself: the median interval of 32
// empty stages. lavapipe flushes at every timestamp (~70 us, more than most of a small model's
// stages take), GPUs spend well under a microsecond; either way it is not the stage's own time.
double stage_boundary_us(Context& ctx) {
  constexpr uint32_t kStamps = 33;
  GpuTimer timer(ctx, kStamps);
  Recorder rec(ctx);
  rec.reset_timer(timer);
  for (uint32_t i = 0; i < kStamps; ++i) {
    rec.barrier();
    rec.timestamp(timer, i);
  }
  ctx.queue().submit(rec).wait();
  const auto ns = timer.read_ns(kStamps);
  std::vector<double> us;
  for (uint32_t i = 1; i < kStamps; ++i) us.push_back((ns[i] - ns[i - 1]) * 1e-3);
  return median(us);
}

// One forward pass's GPU time per stage label, from a profiled call, less `boundary_us` per
// stage boundary (the profiling's own cost).
std::map<std::string, double> stage_times(Session& s, GpuTimer& timer, std::span<const int32_t> ids,
                                          double boundary_us) {
  StageProfile prof{&timer};
  s.set_profile(&prof);
  s.eval(0, ids);
  s.set_profile(nullptr);
  const auto ns = timer.read_ns(prof.used);
  std::map<std::string, double> out;
  for (size_t i = 1; i < prof.used; ++i) {
    out[prof.labels[i - 1]] += std::max(0.0, (ns[i] - ns[i - 1]) * 1e-3 - boundary_us);
  }
  return out;
}

}  // namespace

void run_bench_model(const CommonOptions& common, const BenchModelOptions& o) {
  ModelOptions mo = o.model;
  mo.max_tokens = std::max(mo.max_tokens, o.pp);
  auto loaded = load_model(common, mo);
  Model& model = *loaded.model;
  Session session(model, std::max<uint32_t>(o.batch, 2), o.pp);
  const uint32_t check = o.lookup > 0
                             ? std::min({o.lookup + 1, session.rows(), session.max_last_rows()})
                             : 0;  // tokens of one prompt-lookup check
  require(o.batch <= session.max_batch(), ErrorCode::InvalidArgument,
          "--parallel {}: at most {} sequences per call here (--pp sets the rows of a call)",
          o.batch, session.max_batch());
  std::mt19937 rng(1234);
  const uint32_t checks = std::max<uint32_t>(1, o.tg / 4);  // timed per repetition
  std::vector<int32_t> ids(std::max({o.pp, o.tg + o.batch, checks + check}));
  for (auto& id : ids) id = static_cast<int32_t>(rng() % model.config().V);
  using Clock = std::chrono::steady_clock;
  auto secs = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  std::vector<double> pp_s, tg_s, tg_fresh_s, tg_batch_s, check_s;
  // Warm-up: every call shape the rows below time (a prompt, a one-token step, a batched step)
  // once, so none of them pays pipeline creation (seconds per quantized kernel on lavapipe when
  // the disk cache is cold; it made the first tg row of quantized models look 2.5x slow).
  session.eval(0, std::span(ids).first(std::min<size_t>(8, ids.size())));
  session.eval(0, std::span(ids).first(1));
  if (o.batch > 1) session.decode_batch(0, std::span(ids).first(o.batch));
  if (check > 0) session.eval_argmax_last(1, std::span(ids).first(check), check);
  for (int r = 0; r < o.reps; ++r) {
    session.state().reset(0);
    auto t0 = Clock::now();
    session.eval(0, std::span(ids).first(o.pp));
    pp_s.push_back(secs(t0));
    t0 = Clock::now();
    for (uint32_t i = 0; i < o.tg; ++i) session.eval(0, std::span(ids).subspan(i, 1));
    tg_s.push_back(secs(t0));
    // The same steps recorded afresh every token (what replaying the recorded step saves).
    session.set_replay(false);
    t0 = Clock::now();
    for (uint32_t i = 0; i < o.tg; ++i) session.eval(0, std::span(ids).subspan(i, 1));
    tg_fresh_s.push_back(secs(t0));
    session.set_replay(true);
    // `batch` sequences a token each per call, all logits read back (as the server samples).
    if (o.batch > 1) {
      for (uint32_t b = 0; b < o.batch; ++b) session.state().reset(b);
      t0 = Clock::now();
      for (uint32_t i = 0; i < o.tg; ++i)
        session.decode_batch(0, std::span(ids).subspan(i, o.batch));
      tg_batch_s.push_back(secs(t0));
    }
    // Prompt-lookup checks as generate --lookup runs them (greedy): the state copied to a spare
    // slot, `check` tokens through it, every row's argmax read back. Their cost in plain steps is
    // what the kept guesses must beat (generation.hpp).
    if (check > 0) {
      t0 = Clock::now();
      for (uint32_t i = 0; i < checks; ++i) {
        session.state().copy(0, 1);
        session.eval_argmax_last(1, std::span(ids).subspan(i, check), check);
      }
      check_s.push_back(secs(t0) / checks);
    }
  }
  // Per-stage timestamps need one device (one timer, one command buffer per call).
  const bool one_device = model.parts().size() == 1;
  std::map<std::string, double> stages, pp_stages;
  double boundary = 0;
  if (one_device) {
    GpuTimer timer(model.ctx(), profile_queries(model.config()));
    boundary = stage_boundary_us(model.ctx());
    stages = stage_times(session, timer, std::span(ids).first(1), boundary);
    session.state().reset(0);
    pp_stages = stage_times(session, timer, std::span(ids).first(o.pp), boundary);
  }
  // (total, share of it outside the GEMV / GEMM stages)
  auto split = [](const std::map<std::string, double>& st) {
    double total = 0, matmul = 0;
    for (const auto& [label, us] : st) {
      total += us;
      if (label.rfind("linear", 0) == 0) matmul += us;
    }
    return std::pair{total, total > 0 ? 1 - matmul / total : 0.0};
  };
  const auto [total, non_matmul] = split(stages);
  const auto [pp_total, pp_non_matmul] = split(pp_stages);
  const double pp_tps = o.pp / median(pp_s), tg_tps = o.tg / median(tg_s);
  const double tg_fresh_tps = o.tg / median(tg_fresh_s);
  const double tg_batch_tps = o.batch > 1 ? o.tg * o.batch / median(tg_batch_s) : 0.0;
  // One check's time in plain steps: the ids a check must give (kept guesses + 1) to pay.
  const double check_ms = check > 0 ? 1e3 * median(check_s) : 0.0;
  const double check_steps = check > 0 ? median(check_s) * tg_tps : 0.0;
  const auto& c = model.config();
  const std::string name = model.file().path().filename().string();
  const double gib = static_cast<double>(model.plan().weights) / (1ull << 30);
  std::string device;
  for (const auto& p : model.parts()) {
    device += (device.empty() ? "" : " + ") + p.ctx->caps().device_name;
  }
  if (o.json) {
    nlohmann::json stage_json, pp_stage_json;
    for (const auto& [label, us] : stages) stage_json[label] = us;
    for (const auto& [label, us] : pp_stages) pp_stage_json[label] = us;
    fmt::print("{}\n", nlohmann::json{{"model", name},
                                      {"arch", arch_name(c.arch)},
                                      {"weights_gib", gib},
                                      {"device", device},
                                      {"devices", model.parts().size()},
                                      {"pp", o.pp},
                                      {"pp_tokens_per_s", pp_tps},
                                      {"tg", o.tg},
                                      {"tg_tokens_per_s", tg_tps},
                                      {"tg_rerecorded_tokens_per_s", tg_fresh_tps},
                                      {"batch", o.batch},
                                      {"tg_batch_tokens_per_s", tg_batch_tps},
                                      {"lookup_check_tokens", check},
                                      {"lookup_check_ms", check_ms},
                                      {"lookup_check_in_steps", check_steps},
                                      {"reps", o.reps},
                                      {"decode_stage_us", stage_json},
                                      {"stage_boundary_us", boundary},
                                      {"decode_non_matmul_share", non_matmul},
                                      {"prefill_stage_us", pp_stage_json},
                                      {"prefill_non_matmul_share", pp_non_matmul}}
                           .dump());
    return;
  }
  fmt::print("| model | size | device | test | t/s |\n|---|---|---|---|---|\n");
  std::vector<std::pair<std::string, double>> rows = {
      {fmt::format("pp{}", o.pp), pp_tps},
      {fmt::format("tg{}", o.tg), tg_tps},
      {fmt::format("tg{} re-recorded", o.tg), tg_fresh_tps}};
  if (o.batch > 1) rows.emplace_back(fmt::format("tg{} x{} batched", o.tg, o.batch), tg_batch_tps);
  // At most check tokens per check call, when every guess is kept.
  if (check > 0)
    rows.emplace_back(fmt::format("lookup check x{}, all kept", check), check / median(check_s));
  for (const auto& [test, tps] : rows) {
    fmt::print("| {} ({}) | {:.2f} GiB | {} | {} | {:.2f} |\n", name, arch_name(c.arch), gib,
               device, test, tps);
  }
  if (check > 0) {
    fmt::print(
        "\nprompt-lookup check of {} tokens: {:.3f} ms = {:.2f} plain steps (it pays when "
        "more than {:.2f} of its {} guesses are kept on average)\n",
        check, check_ms, check_steps, std::max(0.0, check_steps - 1), check - 1);
  }
  if (!one_device) {
    fmt::print("\nper-stage GPU times need the model on one device (split over {})\n",
               model.parts().size());
    return;
  }
  auto print_stages = [](const std::map<std::string, double>& st, double all, double share) {
    for (const auto& [label, us] : st) {
      fmt::print("  {:<20} {:10.1f} us {:5.1f}%\n", label, us, all > 0 ? 100 * us / all : 0);
    }
    fmt::print("  outside GEMV/GEMM: {:.1f}% of {:.1f} us\n", 100 * share, all);
  };
  fmt::print(
      "\ndecode step GPU time by stage ({} reps median wall: pp {:.3f} s, tg {:.3f} s; "
      "{:.1f} us per stage boundary, the timestamps' own cost, subtracted):\n",
      o.reps, median(pp_s), median(tg_s), boundary);
  print_stages(stages, total, non_matmul);
  fmt::print("\nprefill (pp{}, one call) GPU time by stage:\n", o.pp);
  print_stages(pp_stages, pp_total, pp_non_matmul);
}

CLI::App* add_bench_model(CLI::App* bench, CommonOptions& common, std::function<int()>& run) {
  auto* sub = bench->add_subcommand("model", "Prompt processing and generation speed of a model");
  auto o = std::make_shared<BenchModelOptions>();
  add_model_options(sub, common, o->model);
  sub->add_option("--pp", o->pp, "Prompt tokens (ppN)")->check(CLI::Range(1, 65536));
  sub->add_option("--tg", o->tg, "Generated tokens (tgN)")->check(CLI::Range(1, 65536));
  sub->add_option("--parallel", o->batch,
                  "Sequences decoded together in the batched tg row, all tokens/s counted "
                  "(1: no such row)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("-r,--repetitions", o->reps, "Repetitions (median reported)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--lookup", o->lookup,
                  "Guesses per prompt-lookup check timed (generate --lookup N: a call of N + 1 "
                  "tokens in a spare state slot; 0: no such row)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  sub->add_flag("--json", o->json, "One JSON object");
  run = [&common, o] {
    run_bench_model(common, *o);
    return 0;
  };
  return sub;
}

}  // namespace vkr::cli
