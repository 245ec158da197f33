// model_options.hpp: CLI options shared by the subcommands that load a model (model path, device,
// validation, tokens per call) and the one place that turns them into a Context + Model.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "commands.hpp"
#include "model.hpp"
#include "vkr/context.hpp"

namespace vkr::cli {

struct ModelOptions {
  std::string model;
  uint32_t max_tokens = 256;  // tokens per forward call
  uint32_t sequences = 1;
};

// The bundled model (model/default/kjv-qrwkv6.gguf in the source tree, else the installed copy),
// or an error naming both places when neither exists.
std::string default_model_path();

// Adds -m/--model (default: default_model_path()), --device, --validation and --batch to `sub`.
void add_model_options(CLI::App* sub, CommonOptions& common, ModelOptions& mo);

struct Loaded {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Model> model;
};
Loaded load_model(const CommonOptions& common, const ModelOptions& mo);

// The model's tokenizer, or an error naming the file when the GGUF has none.
const Tokenizer& require_tokenizer(const Model& model);

}  // namespace vkr::cli
