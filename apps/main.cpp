// main.cpp: the `vkrwkv` command line (subcommands in cmd_*.cpp). Errors become one line on stderr
// and exit code 1; nothing escapes as a crash.
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "commands.hpp"
#include "vkr/error.hpp"

#include "vkr/capabilities.hpp"

#ifndef VKR_VERSION
#define VKR_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"vkrwkv: RWKV-6 / QRWKV6 inference on Vulkan compute", "vkrwkv"};
  app.set_version_flag("--version", std::string("vkrwkv ") + VKR_VERSION);
  app.require_subcommand(1);
  vkr::cli::CommonOptions common;
  std::vector<vkr::cli::Command> commands;
  commands.push_back(vkr::cli::add_info(app, common));
  commands.push_back(vkr::cli::add_generate(app, common));
  commands.push_back(vkr::cli::add_logits(app, common));
  commands.push_back(vkr::cli::add_perplexity(app, common));
  commands.push_back(vkr::cli::add_imatrix(app, common));
  commands.push_back(vkr::cli::add_serve(app, common));
  commands.push_back(vkr::cli::add_bench(app, common));
  commands.push_back(vkr::cli::add_make_model(app));
  commands.push_back(vkr::cli::add_quantize(app));
  commands.push_back(vkr::cli::add_gguf_split(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& c : commands) {
      if (c.sub->parsed()) return c.run();
    }
    return 0;
  } catch (const vkr::Error& e) {
    // One line for users: the message and the Vulkan result, without our source location.
    std::string line = e.message();
    if (e.vk_result() != VK_SUCCESS) line += fmt::format(" ({})", vkr::vk_result_name(e.vk_result()));
    std::fprintf(stderr, "vkrwkv: error: %s\n", line.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkrwkv: error: %s\n", e.what());
    return 1;
  }
}
