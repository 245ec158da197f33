// model_options.hpp: CLI options shared by the subcommands that load a model (model path, device,
// validation, tokens per call) and the one place that turns them into a Context + Model.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "model.hpp"
#include "vkr/context.hpp"

namespace vkr::cli {

struct ModelOptions {
  std::string model;
  uint32_t max_tokens = 256;  // tokens per forward call
  uint32_t sequences = 1;
  std::vector<uint32_t> split;  // --split: layers per device (several --device entries)
};

// The bundled model (model/default/kjv-qrwkv6.gguf in the source tree, else the installed copy),
// or an error naming both places when neither exists.
std::string default_model_path();

// Adds -m/--model (default: default_model_path()), --device (a comma list splits the model's
// layers over those devices), --split, --validation and --batch to `sub`.
void add_model_options(CLI::App* sub, CommonOptions& common, ModelOptions& mo);

struct Loaded {
  std::vector<std::unique_ptr<Context>> devices;  // one per --device entry
  std::unique_ptr<Model> model;
};
// "0,1" -> {"0", "1"}; empty -> {""} (the default device). Entries are trimmed; an empty entry
// in a list is an error.
std::vector<std::string> device_list(const std::string& spec);
// A line per model part: its layers, device and memory (for the CLI's stderr when split).
std::string describe_parts(const Model& model);
Loaded load_model(const CommonOptions& common, const ModelOptions& mo);

// A whole text file (prompts, calibration and task files); vkr::Error(Io) naming it.
std::string read_text_file(const std::string& path);

// The model's tokenizer, or an error naming the file when the GGUF has none.
const Tokenizer& require_tokenizer(const Model& model);

}  // namespace vkr::cli
