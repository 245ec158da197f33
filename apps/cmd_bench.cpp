// cmd_bench.cpp: `vkrwkv bench kernels`: the kernel benchmark suite (bench/), with device peaks.
#include <memory>

#include "commands.hpp"
#include "harness.hpp"
#include "vkr/context.hpp"

namespace vkr::cli {

Command add_bench(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand("bench", "Benchmarks");
  auto* kernels = sub->add_subcommand("kernels", "Kernel benchmarks vs probed device peaks");
  sub->require_subcommand(1);
  auto opt = std::make_shared<bench::Options>();
  kernels->add_flag("--quick", opt->quick, "Smaller shapes and fewer repetitions (< 2 min on lavapipe)");
  kernels->add_flag("--json", opt->json, "JSON Lines: one object per row");
  kernels->add_option("--filter", opt->filter,
                      "Only rows whose kernel/variant contains this (comma-separated list)");
  kernels->add_option("--reps", opt->reps, "Timed repetitions per row")->check(CLI::PositiveNumber);
  kernels->add_option("-d,--device", common.device, "Device index or name substring");
  return {sub, [&common, opt] {
            ContextOptions co;
            co.device = common.device;
            auto ctx = Context::create(co);
            bench::run_kernel_benchmarks(*ctx, *opt);
            return 0;
          }};
}

}  // namespace vkr::cli
