// bench_main.cpp: standalone kernel benchmark (same suite as `vkrwkv bench kernels`).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "harness.hpp"
#include "vkr/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vkrwkv kernel benchmarks", "vkr_bench_kernels"};
  vkr::bench::Options opt;
  std::string device;
  app.add_flag("--quick", opt.quick, "Smaller shapes, fewer repetitions");
  app.add_flag("--json", opt.json, "JSON Lines output");
  app.add_option("--filter", opt.filter, "Only cases whose kernel/variant contains this");
  app.add_option("--reps", opt.reps, "Timed repetitions per row")->check(CLI::PositiveNumber);
  app.add_option("-d,--device", device, "Device index or name substring");
  app.add_flag("--pipeline-stats", opt.pipeline_stats,
               "Driver statistics (registers, ...) of each row's pipelines, where the device has "
               "VK_KHR_pipeline_executable_properties");
  CLI11_PARSE(app, argc, argv);
  try {
    vkr::ContextOptions co;
    co.device = device;
    co.pipeline_statistics = opt.pipeline_stats;
    auto ctx = vkr::Context::create(co);
    vkr::bench::run_kernel_benchmarks(*ctx, opt);
  } catch (const vkr::Error& e) {
    fmt::print(stderr, "vkr_bench_kernels: error: {}\n", e.message());
    return 1;
  }
  return 0;
}
