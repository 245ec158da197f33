// harness.cpp: timing with GPU timestamps, the peak probes, and row output (table / JSON Lines).
#include "harness.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "kernels/gemm.hpp"
#include "reference/ops.hpp"
#include "vkr/error.hpp"
#include "vkr/gpu_timer.hpp"
#include "vkr/kernel.hpp"

namespace vkr::bench {

namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

std::string_view peak_name(PeakKind k) {
  switch (k) {
    case PeakKind::Bandwidth: return "copy_bw";
    case PeakKind::ReadBandwidth: return "read_bw";
    case PeakKind::F32: return "fma_f32";
    case PeakKind::F16: return "fma_f16";
    case PeakKind::CoopMat: return "coopmat";
    default: return "";
  }
}

std::string shape_string(const std::map<std::string, int64_t>& shape) {
  std::string s;
  for (const auto& [k, v] : shape) s += fmt::format("{}{}={}", s.empty() ? "" : " ", k, v);
  return s;
}

// "kernel/variant shape" of a row, for the summary.
std::string row_name(const Row& r) {
  return fmt::format("{}/{} {} {}", r.kernel, r.variant, r.dtype, shape_string(r.shape));
}

}  // namespace

double wall_us(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

double linear_cpu_ref_us(uint64_t T, uint64_t N, uint64_t K, std::span<const float> x,
                         const std::function<void(uint64_t, std::span<float>)>& decode_row,
                         int matrices) {
  // ~1e7 multiply-adds (tens of ms): long enough to time, short enough for --quick.
  const uint64_t rows = std::clamp<uint64_t>(10'000'000 / std::max<uint64_t>(T * K, 1), 1, N);
  std::vector<float> w(rows * K), y(T * rows);
  const double us = wall_us([&] {
    for (int m = 0; m < matrices; ++m) {
      for (uint64_t o = 0; o < rows; ++o) decode_row(o, std::span(w).subspan(o * K, K));
      ref::gemm(static_cast<int>(T), static_cast<int>(K), static_cast<int>(rows),
                x.subspan(0, T * K), w, {}, y);
    }
  });
  return us * static_cast<double>(N) / static_cast<double>(rows);
}

Harness::Harness(Context& ctx, Options options) : ctx_(ctx), options_(std::move(options)) {}

bool Harness::selected(std::string_view kernel, std::string_view variant) const {
  if (options_.filter.empty()) return true;
  const std::string name = fmt::format("{}/{}", kernel, variant);
  size_t start = 0;
  while (start <= options_.filter.size()) {
    size_t end = options_.filter.find(',', start);
    if (end == std::string::npos) end = options_.filter.size();
    const std::string part = options_.filter.substr(start, end - start);
    if (!part.empty() && name.find(part) != std::string::npos) return true;
    start = end + 1;
  }
  return false;
}

Timing Harness::time(const std::function<void(Recorder&)>& record) {
  const int reps = std::max(1, options_.quick ? std::min(options_.reps, 5) : options_.reps);
  GpuTimer timer(ctx_, static_cast<uint32_t>(reps) + 1);
  Recorder rec(ctx_);
  // One submission of n groups of `per` calls with a barrier between calls (they read and write
  // the same buffers). With `stamps`, a timestamp after every group (group i took stamp[i + 1] -
  // stamp[i]); otherwise the whole batch's total. Returns microseconds per group.
  auto batch = [&](int n, int per, bool stamps) {
    rec.reset();
    rec.reset_timer(timer);
    rec.timestamp(timer, 0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < per; ++j) {
        if (i > 0 || j > 0) rec.barrier();
        record(rec);
      }
      if (stamps) rec.timestamp(timer, static_cast<uint32_t>(i) + 1);
    }
    if (!stamps) rec.timestamp(timer, 1);
    ctx_.queue().submit(rec).wait();
    const std::vector<double> ns = timer.read_ns(stamps ? static_cast<uint32_t>(n) + 1 : 2);
    std::vector<double> us;
    for (size_t i = 1; i < ns.size(); ++i) us.push_back((ns[i] - ns[i - 1]) * 1e-3);
    return us;
  };
  // GPUs lower their clocks when idle, and one call per submission leaves them idle between the
  // host's waits: on the H100 compute-bound kernels (GEMM, WKV) measured that way ran 3-5x slower
  // than in a busy stream, by how long the host had paused, while bandwidth-bound ones did not
  // move. So the warm-up is one submission of back-to-back calls lasting kGpuWarmupUs of device
  // time and the timed calls follow in one submission too, as a model's forward pass runs them.
  // CPU devices keep the fixed warm-up count (every call there costs real time).
  constexpr double kGpuWarmupUs = 100'000;
  constexpr int kMaxWarmup = 5000;
  const bool gpu = ctx_.caps().device_type != VK_PHYSICAL_DEVICE_TYPE_CPU;
  int warm = std::max(options_.warmup, 0);
  double one = 0;  // one call's time in a stream of calls (no timestamp between them)
  if (gpu) {
    one = batch(1, 1, false)[0];
    const double calls = std::min<double>(kMaxWarmup, kGpuWarmupUs / std::max(one, 1.0));
    warm = std::max(warm, static_cast<int>(calls));
  }
  if (warm > 0) one = batch(warm, 1, false)[0] / warm;
  if (one <= 0) one = batch(1, 1, false)[0];
  // A timestamp is not free: lavapipe flushes at each one (~70 us, measured: a 1-workgroup
  // dispatch took 96 us between two timestamps and 27-30 us in a stream of 10-50). So calls
  // shorter than kGroupUs are timed in groups of up to kMaxPer between timestamps and reported
  // per call; longer ones (every GPU kernel worth timing alone) one per timestamp.
  constexpr double kGroupUs = 2000;
  constexpr int kMaxPer = 64;
  const int per = std::clamp(static_cast<int>(kGroupUs / std::max(one, 1.0)), 1, kMaxPer);
  std::vector<double> us = batch(reps, per, true);
  for (double& u : us) u /= per;
  last_kernels_ = rec.kernels_used();
  last_calls_per_stamp_ = per;
  return {percentile(us, 0.5), percentile(us, 0.1), percentile(us, 0.9)};
}

// Probe buffer size: big enough that caches do not matter (the H100 has 50 MB of L2) and the
// timing is not launch-bound; smaller on CPU devices (the host's own RAM and cores).
static uint64_t probe_bytes(const Capabilities& caps, bool quick) {
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  uint64_t bytes = cpu ? (quick ? (64ull << 20) : (256ull << 20)) : (1ull << 30);
  bytes = std::min<uint64_t>(bytes, caps.max_storage_buffer_range);
  bytes = std::min<uint64_t>(bytes, caps.max_buffer_size / 2);
  if (caps.max_allocation_size) bytes = std::min<uint64_t>(bytes, caps.max_allocation_size);
  return bytes & ~uint64_t{255};
}

// Copy bandwidth (read + write bytes counted): the better of vkCmdCopyBuffer and a shader copy,
// then read bandwidth (read bytes only). Fills peaks.copy_gbps and peaks.read_gbps.
static void probe_bandwidth(Harness& h, bool quick, Peaks& peaks) {
  Context& ctx = h.ctx();
  const uint64_t bytes = probe_bytes(ctx.caps(), quick);
  Buffer a = Buffer::create(ctx, Lifetime::Activations, bytes, MemoryUsage::Device, "probe-a");
  Buffer b = Buffer::create(ctx, Lifetime::Activations, bytes, MemoryUsage::Device, "probe-b");
  // Nonzero contents: never time over memory nothing wrote.
  Recorder fill(ctx);
  fill.fill(a.range(), 0x3F8CCCCDu);
  ctx.queue().submit(fill).wait();
  Timing t = h.time([&](Recorder& rec) { rec.copy(a.range(), b.range()); });
  const double cmd = 2.0 * static_cast<double>(bytes) / (t.median_us * 1e3);

  const uint32_t n = static_cast<uint32_t>(bytes / 16);
  constexpr uint32_t kWg = 256, kUnroll = 4;
  const uint64_t want_groups = std::max<uint64_t>(1, n / (uint64_t{kWg} * kUnroll * 4));
  const uint32_t groups = static_cast<uint32_t>(
      std::min<uint64_t>(want_groups, ctx.caps().max_workgroup_count[0]));
  const Kernel& copy_k = ctx.pipelines().get({ShaderId::bw_probe, 2, 4}, {kWg, 0, kUnroll});
  t = h.time([&](Recorder& rec) {
    rec.dispatch(copy_k, {a.range(), b.range()}, n, grid_1d(groups, ctx.caps()));
  });
  const double shader = 2.0 * static_cast<double>(bytes) / (t.median_us * 1e3);
  peaks.copy_gbps = std::max(cmd, shader);

  Buffer sink = Buffer::create(ctx, Lifetime::Activations, uint64_t{groups} * kWg * 4,
                               MemoryUsage::Device, "probe-sink");
  const Kernel& read_k = ctx.pipelines().get({ShaderId::bw_probe, 2, 4}, {kWg, 1, kUnroll});
  t = h.time([&](Recorder& rec) {
    rec.dispatch(read_k, {a.range(), sink.range()}, n, grid_1d(groups, ctx.caps()));
  });
  peaks.read_storage_gbps = static_cast<double>(bytes) / (t.median_us * 1e3);

  const uint64_t texels = std::min<uint64_t>(n, ctx.caps().max_texel_buffer_elements);
  const Kernel& tex_k =
      ctx.pipelines().get({ShaderId::bw_probe_tex, 2, 4, 0b01}, {kWg, kUnroll});
  const uint32_t nt = static_cast<uint32_t>(texels);
  t = h.time([&](Recorder& rec) {
    rec.dispatch(tex_k, {a.range(0, texels * kTexelBytes), sink.range()}, nt,
                 grid_1d(groups, ctx.caps()));
  });
  peaks.read_texel_gbps = static_cast<double>(texels * kTexelBytes) / (t.median_us * 1e3);
  peaks.read_gbps = std::max(peaks.read_storage_gbps, peaks.read_texel_gbps);

  // Launch floor: one workgroup copying 4 KiB in a stream of such calls, the cost of any
  // dispatch however small (lavapipe: waking its thread pool, binding the descriptors; GPUs: a
  // few microseconds). Rows whose CPU reference takes less than this cannot beat it.
  t = h.time([&](Recorder& rec) {
    rec.dispatch(copy_k, {a.range(0, 4096), b.range(0, 4096)}, 4096u / 16u, Grid{1, 1, 1});
  });
  peaks.dispatch_us = t.median_us;
}

// FMA throughput: fma_probe with enough work to run >= ~5 ms (grown until it does).
static double probe_fma(Harness& h, ShaderId shader) {
  Context& ctx = h.ctx();
  constexpr uint32_t kWg = 256, kIters = 512;
  const Kernel& k = ctx.pipelines().get({shader, 1, 4}, {kWg, kIters});
  uint32_t groups = 64;
  for (int attempt = 0; attempt < 8; ++attempt) {
    Buffer out = Buffer::create(ctx, Lifetime::Activations, uint64_t{groups} * kWg * 4,
                                MemoryUsage::Device, "probe-fma");
    const float seed = 0.5f;
    Timing t = h.time([&](Recorder& rec) {
      rec.dispatch(k, {out.range()}, seed, grid_1d(groups, ctx.caps()));
    });
    const double flops = double(groups) * kWg * kIters * 8.0 * 2.0;
    if (t.median_us > 5000.0 || groups >= (1u << 22)) return flops / (t.median_us * 1e3);
    groups *= static_cast<uint32_t>(std::clamp(5000.0 / std::max(t.median_us, 1.0), 2.0, 64.0));
  }
  return 0;
}

// Cooperative-matrix throughput: coopmat_probe (register-only chains of 16 x cn x 16 f16 MMAs),
// grown like probe_fma until it runs >= ~5 ms. Only called where gemm_coopmat can run.
static double probe_coopmat(Harness& h, uint32_t cn) {
  Context& ctx = h.ctx();
  constexpr uint32_t kSubgroups = 4, kIters = 1024, kChains = 8;  // kChains: see the shader
  const uint32_t sg = ctx.caps().subgroup_size;
  const Kernel& k =
      ctx.pipelines().get({ShaderId::coopmat_probe, 1, 4}, {kSubgroups * sg, kIters, cn});
  uint32_t groups = 64;
  for (int attempt = 0; attempt < 8; ++attempt) {
    Buffer out =
        Buffer::create(ctx, Lifetime::Activations, uint64_t{groups} * kSubgroups * 16 * cn * 4,
                       MemoryUsage::Device, "probe-coopmat");
    const float seed = 0.5f;  // > 0: the shader's dead-code guard
    Timing t = h.time([&](Recorder& rec) {
      rec.dispatch(k, {out.range()}, seed, grid_1d(groups, ctx.caps()));
    });
    const double flops = double(groups) * kSubgroups * kIters * kChains * 2.0 * 16 * cn * 16;
    if (t.median_us > 5000.0 || groups >= (1u << 20)) return flops / (t.median_us * 1e3);
    groups *= static_cast<uint32_t>(std::clamp(5000.0 / std::max(t.median_us, 1.0), 2.0, 64.0));
  }
  return 0;
}

const Peaks& Harness::peaks() {
  if (peaks_measured_) return peaks_;
  peaks_measured_ = true;
  probe_bandwidth(*this, options_.quick, peaks_);
  peaks_.fma_f32_gflops = probe_fma(*this, ShaderId::fma_probe_f32);
  if (ctx_.caps().fp16_arith) peaks_.fma_f16_gflops = probe_fma(*this, ShaderId::fma_probe_f16);
  // Only where gemm_coopmat runs (same extension, shape and shaderFloat16 requirements): no
  // CooperativeMatrixNV pipeline is ever built elsewhere. Coopmat rows fall back to the f16 FMA
  // peak while this stays 0.
  const auto& caps = ctx_.caps();
  if (kernels::coopmat_unavailable_reason(caps, DType::F16, kernels::Epilogue::None).empty()) {
    peaks_.coopmat_gflops = probe_coopmat(*this, kernels::coopmat_nv_f16_n(caps));
  }
  return peaks_;
}

void Harness::add(Row row) {
  const double ns = row.time.median_us * 1e3;
  const double gbps = ns > 0 ? row.bytes / ns : 0;
  const double gflops = ns > 0 ? row.flops / ns : 0;
  const Peaks& p = peaks();
  double peak = 0;
  switch (row.peak) {
    case PeakKind::Bandwidth: peak = p.copy_gbps; break;
    case PeakKind::ReadBandwidth: peak = p.read_gbps; break;
    case PeakKind::F32: peak = p.fma_f32_gflops; break;
    case PeakKind::F16: peak = p.fma_f16_gflops; break;
    case PeakKind::CoopMat: peak = p.coopmat_gflops ? p.coopmat_gflops : p.fma_f16_gflops; break;
    case PeakKind::None: break;
  }
  const double achieved =
      row.peak == PeakKind::Bandwidth || row.peak == PeakKind::ReadBandwidth ? gbps : gflops;
  const double pct = peak > 0 ? 100.0 * achieved / peak : 0;
  // Speed-up over the naive CPU reference (0 = not timed).
  const double vs_cpu =
      row.cpu_ref_us > 0 && row.time.median_us > 0 ? row.cpu_ref_us / row.time.median_us : 0;
  // Driver statistics of the pipelines the row's timed calls ran (Context::pipeline_statistics).
  nlohmann::json pipelines = nlohmann::json::array();
  for (const Kernel* k : last_kernels_) {
    if (k->statistics().empty()) continue;
    nlohmann::json stats;
    for (const auto& s : k->statistics()) stats[s.name] = s.value;
    pipelines.push_back({{"name", std::string(k->name())}, {"stats", stats}});
    row.note += fmt::format(" | {}: {}", k->name(), k->statistics_summary());
  }
  last_kernels_.clear();
  if (options_.json) {
    nlohmann::json j = {{"kernel", row.kernel}, {"variant", row.variant}, {"dtype", row.dtype},
                        {"median_us", row.time.median_us}, {"p10_us", row.time.p10_us},
                        {"p90_us", row.time.p90_us}, {"gbps", gbps}, {"gflops", gflops},
                        {"peak_pct", pct}, {"peak", peak_name(row.peak)}, {"note", row.note},
                        {"device", ctx_.caps().device_name},
                        {"calls_per_stamp", last_calls_per_stamp_}};
    if (vs_cpu > 0) {
      j["cpu_ref_us"] = row.cpu_ref_us;
      j["vs_cpu_ref"] = vs_cpu;
    }
    if (!pipelines.empty()) j["pipelines"] = std::move(pipelines);
    for (const auto& [k, v] : row.shape) j[k] = v;
    fmt::print("{}\n", j.dump());
  } else {
    if (!header_printed_) {
      header_printed_ = true;
      fmt::print("{:<14} {:<12} {:<5} {:<34} {:>11} {:>19} {:>8} {:>9} {:>7} {:>7}  {}\n",
                 "kernel", "variant", "dtype", "shape", "median_us", "p10..p90_us", "GB/s",
                 "GFLOP/s", "%peak", "vs_cpu", "note");
    }
    fmt::print("{:<14} {:<12} {:<5} {:<34} {:>11.1f} {:>19} {:>8.2f} {:>9.2f} {:>7} {:>7}  {}\n",
               row.kernel, row.variant, row.dtype, shape_string(row.shape), row.time.median_us,
               fmt::format("{:.1f}..{:.1f}", row.time.p10_us, row.time.p90_us), gbps, gflops,
               row.peak == PeakKind::None ? std::string("-")
                                          : fmt::format("{:.1f}% {}", pct, peak_name(row.peak)),
               vs_cpu > 0 ? fmt::format("{:.1f}x", vs_cpu) : std::string("-"), row.note);
  }
  std::fflush(stdout);
  rows_.push_back(std::move(row));
}

// The rows' standing against the naive CPU reference: how many were timed against it, the
// slowest ratio, and every row the reference beat (none, if the kernels are doing their job).
// Rows slower than the reference are split three ways: launch-bound (the reference takes less
// than one trivial dispatch, so no kernel can win), alternatives the device does not run, and
// the rest (the ones to fix).
static void print_cpu_summary(const std::vector<Row>& rows, double dispatch_us, bool json) {
  struct Slow {
    std::string name;
    double ratio;
    const char* kind;
  };
  std::vector<Slow> slower;
  size_t timed = 0;
  double worst = 0;
  std::string worst_name;
  for (const Row& r : rows) {
    if (r.cpu_ref_us <= 0 || r.time.median_us <= 0) continue;
    ++timed;
    const double ratio = r.cpu_ref_us / r.time.median_us;
    if (!r.alternative && (worst_name.empty() || ratio < worst)) {
      worst = ratio;
      worst_name = row_name(r);
    }
    if (ratio >= 1.0) continue;
    const char* kind = r.alternative                  ? "alternative"
                       : r.cpu_ref_us <= dispatch_us ? "launch-bound"
                                                     : "slower";
    slower.push_back({row_name(r), ratio, kind});
  }
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Slow& s : slower)
      list.push_back({{"row", s.name}, {"vs_cpu_ref", s.ratio}, {"kind", s.kind}});
    nlohmann::json j = {{"kernel", "summary"}, {"rows", rows.size()}, {"cpu_ref_rows", timed},
                        {"dispatch_us", dispatch_us}, {"slower_than_cpu_ref", list}};
    if (!worst_name.empty()) j["min_vs_cpu_ref"] = worst;
    fmt::print("{}\n", j.dump());
    return;
  }
  if (!timed) return;
  fmt::print("\nnaive CPU reference: {} of {} rows timed against it; slowest of the kernels this "
             "device runs: {:.2f}x ({})\n",
             timed, rows.size(), worst, worst_name);
  for (const char* kind : {"slower", "launch-bound", "alternative"}) {
    std::string list;
    for (const Slow& s : slower) {
      if (s.kind == kind) list += fmt::format("\n  {:.2f}x  {}", s.ratio, s.name);
    }
    const char* what = kind == std::string_view("slower")
                           ? "slower than it"
                       : kind == std::string_view("launch-bound")
                           ? "slower, but the reference takes less than one dispatch"
                           : "slower, alternatives this device does not run";
    fmt::print("rows {}: {}{}\n", what, list.empty() ? "none" : "", list);
  }
}

std::vector<Row> run_kernel_benchmarks(Context& ctx, const Options& options) {
  if (options.pipeline_stats && !ctx.pipeline_statistics()) {
    fmt::print(stderr,
               "note: --pipeline-stats: {} has no VK_KHR_pipeline_executable_properties; rows "
               "carry no pipeline statistics\n",
               ctx.caps().device_name);
  }
  Harness h(ctx, options);
  const Peaks& p = h.peaks();
  if (!options.json) {
    fmt::print("device: {} ({})\n", ctx.caps().device_name, ctx.caps().driver_info);
    fmt::print(
        "peaks:  copy {:.2f} GB/s, read {:.2f} GB/s (storage {:.2f}, texel {:.2f}), fma f32 "
        "{:.1f} GFLOP/s, fma f16 {:.1f} GFLOP/s, dispatch floor {:.1f} us{}\n\n",
        p.copy_gbps, p.read_gbps, p.read_storage_gbps, p.read_texel_gbps, p.fma_f32_gflops,
        p.fma_f16_gflops, p.dispatch_us,
               p.coopmat_gflops ? fmt::format(", coopmat {:.1f} GFLOP/s", p.coopmat_gflops) : "");
  } else {
    nlohmann::json j = {{"kernel", "peaks"}, {"device", ctx.caps().device_name},
                        {"copy_gbps", p.copy_gbps}, {"read_gbps", p.read_gbps},
                        {"read_storage_gbps", p.read_storage_gbps},
                        {"read_texel_gbps", p.read_texel_gbps},
                        {"fma_f32_gflops", p.fma_f32_gflops},
                        {"fma_f16_gflops", p.fma_f16_gflops}, {"coopmat_gflops", p.coopmat_gflops},
                        {"dispatch_us", p.dispatch_us}};
    fmt::print("{}\n", j.dump());
  }
  for (const auto& [name, fn] : bench_families()) fn(h);
  print_cpu_summary(h.rows(), h.peaks().dispatch_us, options.json);
  return h.rows();
}

}  // namespace vkr::bench
