// commands.hpp: the CLI's subcommands, each registering itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace vkr::cli {

// Options every subcommand that touches a GPU shares.
struct CommonOptions {
  std::string device;  // --device: index or name substring
  bool validation = false;
};

// Each add_* registers a subcommand; `run` executes it when it was chosen.
struct Command {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};
Command add_info(CLI::App& app, CommonOptions& common);
Command add_bench(CLI::App& app, CommonOptions& common);
Command add_generate(CLI::App& app, CommonOptions& common);
Command add_logits(CLI::App& app, CommonOptions& common);
Command add_perplexity(CLI::App& app, CommonOptions& common);
Command add_imatrix(CLI::App& app, CommonOptions& common);
Command add_serve(CLI::App& app, CommonOptions& common);
Command add_make_model(CLI::App& app);  // CPU only: no device options
Command add_quantize(CLI::App& app);    // CPU only
Command add_gguf_split(CLI::App& app);  // CPU only

}  // namespace vkr::cli
