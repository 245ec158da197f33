// harness.hpp: the kernel benchmark harness shared by every bench case: GPU-timestamp timing with
// warm-up (median, p10, p90), device peak probes measured in the same run, rows printed as a human
// table or JSON Lines. Cases verify their kernel once against the CPU reference before timing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
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
  double dispatch_us = 0;      // one trivial dispatch (1 workgroup, 4 KiB): the launch floor
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
  // Wall time of the naive single-threaded CPU reference (tests/reference) doing the row's whole
  // call, 0 = not timed. Families time it on a part of the work where the whole would be slow
  // (some rows of W, some heads) and scale linearly; the harness prints the kernel's speed-up
  // over it and lists the rows slower than it (issue 3: "no kernel slower than the naive CPU
  // reference").
  double cpu_ref_us = 0;
  // A variant the device's own choice does not run (forced for comparison: the chunked WKV
  // kernels on CPU devices, split sampling where rows are not split, forced tilings ...). The CPU
  // summary lists these apart from the kernels a model actually runs on this device.
  bool alternative = false;
};

// Wall time of `f` in microseconds (for Row::cpu_ref_us).
double wall_us(const std::function<void()>& f);

// Row::cpu_ref_us of a linear layer y = x·W^T (+ SwiGLU's second matrix: `matrices` = 2): the
// naive reference (decode a row of W to f32, then tests/reference's double-accumulating gemm) on
// every token and as many rows of W as take ~1e7 multiply-adds, scaled to all N rows.
// `decode_row(o, out)` writes row o of W (K floats).
double linear_cpu_ref_us(uint64_t T, uint64_t N, uint64_t K, std::span<const float> x,
                         const std::function<void(uint64_t, std::span<float>)>& decode_row,
                         int matrices = 1);

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
  // Calls shorter than ~2 ms are timed in back-to-back groups between two timestamps and
  // reported per call (a timestamp costs ~70 us on lavapipe).
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
  int last_calls_per_stamp_ = 1;             // of the last time(): calls timed per timestamp
};

// A bench case family: registers rows for one kernel (reads h.options().quick for sizes).
using BenchFn = void (*)(Harness& h);

// Every family, in the order `vkrwkv bench kernels` runs them (bench/registry.cpp).
const std::vector<std::pair<std::string_view, BenchFn>>& bench_families();

// Runs the probes and every selected family; returns the rows.
std::vector<Row> run_kernel_benchmarks(Context& ctx, const Options& options);

}  // namespace vkr::bench
