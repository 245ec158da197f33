// harness.hpp: the kernel benchmark harness shared by every bench case: GPU-timestamp timing with
// warm-up (median, p10, p90), device peak probes measured in the same run, rows printed as a human
// table or JSON Lines. Cases verify their kernel once against the CPU reference before timing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vkr/context.hpp"
#include "vkr/recorder.hpp"

namespace vkr::bench {

struct Options {
  bool quick = false;      // smaller shapes / fewer reps so the whole suite takes < 2 min on lavapipe
  bool json = false;       // JSON Lines instead of the table
  std::string filter;      // substring (or comma-separated substrings) of "kernel/variant"
  int warmup = 2;
  int reps = 10;
  // Create the context with ContextOptions::pipeline_statistics: every row's note (and JSON
  // "pipelines") then carries the driver's statistics of the pipelines it ran (registers, ...).
  bool pipeline_stats = false;
};

struct Timing {
  double median_us = 0, p10_us = 0, p90_us = 0;
};

// Device peaks measured by probes in the same run (0 = not measured / not available).
struct Peaks {
  double copy_gbps = 0;        // copy bandwidth, read + write bytes: the better of vkCmdCopyBuffer
                               // and a shader copy (bw_probe.comp)
  double read_gbps = 0;        // read-only bandwidth: the better of storage-buffer loads
                               // (bw_probe.comp MODE 1) and texel fetches (bw_probe_tex.comp,
                               // how CPU-device variants read): the ceiling of gemv-like kernels
  double read_storage_gbps = 0, read_texel_gbps = 0;  // the two probes behind read_gbps
  double fma_f32_gflops = 0;   // shader FMA throughput, f32
  double fma_f16_gflops = 0;   // shader FMA throughput, f16 arithmetic (0 if no shaderFloat16)
  double coopmat_gflops = 0;   // cooperative-matrix throughput (0 if none)
};

enum class PeakKind { None, Bandwidth, ReadBandwidth, F32, F16, CoopMat };

struct Row {
  std::string kernel;   // e.g. "wkv_prefill"
  std::string variant;  // e.g. "chunked", "sequential", "tiled", "coopmat"
  std::string dtype;    // storage dtype of the main operand, e.g. "f16"
  // Shape letters as in DESIGN.md (B, T, H, S or M, N, K ...), in insertion order of the map key.
  std::map<std::string, int64_t> shape;
  Timing time;
  double bytes = 0;   // bytes moved per call (for GB/s)
  double flops = 0;   // flops per call (for GFLOP/s)
  PeakKind peak = PeakKind::None;  // which peak the % is relative to
  std::string note;   // e.g. "2.3x sequential", "verified nmse=1e-9"
};

class Harness {
 public:
  Harness(Context& ctx, Options options);
  Context& ctx() { return ctx_; }
  const Options& options() const { return options_; }

  // Measures the peak probes (once; later calls return the cached values).
  const Peaks& peaks();

  // True when a case named "kernel/variant" passes --filter.
  bool selected(std::string_view kernel, std::string_view variant) const;

  // Times one kernel invocation: `record` records it into a fresh Recorder (it may record several
  // dispatches; the whole recording is timed with timestamps around it). Warm-up runs first.
  Timing time(const std::function<void(Recorder&)>& record);

  // Computes GB/s, GFLOP/s and % of peak, then prints the row (table or JSON line).
  void add(Row row);
  const std::vector<Row>& rows() const { return rows_; }

 private:
  Context& ctx_;
  Options options_;
  Peaks peaks_;
  bool peaks_measured_ = false;
  std::vector<Row> rows_;
  bool header_printed_ = false;
  std::vector<const Kernel*> last_kernels_;  // of the last time() (pipeline statistics)
};

// A bench case family: registers rows for one kernel (reads h.options().quick for sizes).
using BenchFn = void (*)(Harness& h);

// Every family, in the order `vkrwkv bench kernels` runs them (bench/registry.cpp).
const std::vector<std::pair<std::string_view, BenchFn>>& bench_families();

// Runs the probes and every selected family; returns the rows.
std::vector<Row> run_kernel_benchmarks(Context& ctx, const Options& options);

}  // namespace vkr::bench
