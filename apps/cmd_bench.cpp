// cmd_bench.cpp: `vkrwkv bench kernels` (kernel suite vs probed device peaks, when built with
// bench/) and `vkrwkv bench model` (cmd_bench_model.cpp).
#include <memory>

#include "commands.hpp"
#include "vkr/context.hpp"
#ifdef VKR_HAVE_BENCH
#include "harness.hpp"
#endif

namespace vkr::cli {

// cmd_bench_model.cpp
CLI::App* add_bench_model(CLI::App* bench, CommonOptions& common, std::function<int()>& run);

Command add_bench(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand("bench", "Benchmarks");
  sub->require_subcommand(1);
  auto run_model = std::make_shared<std::function<int()>>();
  auto* model = add_bench_model(sub, common, *run_model);
#ifdef VKR_HAVE_BENCH
  auto* kernels = sub->add_subcommand("kernels", "Kernel benchmarks vs probed device peaks");
  auto opt = std::make_shared<bench::Options>();
  kernels->add_flag("--quick", opt->quick, "Smaller shapes and fewer repetitions (< 2 min on lavapipe)");
  kernels->add_flag("--json", opt->json, "JSON Lines: one object per row");
  kernels->add_option("--filter", opt->filter,
                      "Only rows whose kernel/variant contains this (comma-separated list)");
  kernels->add_option("--reps", opt->reps, "Timed repetitions per row")->check(CLI::PositiveNumber);
  kernels->add_option("-d,--device", common.device, "Device index or name substring");
  kernels->add_flag("--pipeline-stats", opt->pipeline_stats,
                    "Driver statistics (registers, ...) of each row's pipelines, where the device "
                    "has VK_KHR_pipeline_executable_properties");
#endif
  return {sub, [=, &common] {
            if (model->parsed()) return (*run_model)();
#ifdef VKR_HAVE_BENCH
            ContextOptions co;
            co.device = common.device;
            co.pipeline_statistics = opt->pipeline_stats;
            auto ctx = Context::create(co);
            bench::run_kernel_benchmarks(*ctx, *opt);
#endif
            return 0;
          }};
}

}  // namespace vkr::cli
