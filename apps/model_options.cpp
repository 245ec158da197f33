// model_options.cpp: shared model-loading options of the CLI.
#include "model_options.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "vkr/error.hpp"

namespace vkr::cli {

std::string default_model_path() {
  // The source tree's copy serves builds run from a checkout; the share dir serves installs.
  const std::filesystem::path candidates[] = {VKR_SOURCE_DEFAULT_MODEL, VKR_INSTALLED_DEFAULT_MODEL};
  for (const auto& p : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  throw Error(ErrorCode::Io,
              fmt::format("no -m given and the bundled default model is missing (looked for {} and "
                          "{}); pass -m with a rwkv6 or rwkv6qwen2 GGUF file",
                          candidates[0].string(), candidates[1].string()));
}

void add_model_options(CLI::App* sub, CommonOptions& common, ModelOptions& mo) {
  sub->add_option("-m,--model", mo.model,
                  "GGUF model file (rwkv6 or rwkv6qwen2; default: the bundled KJV QRWKV6 model)");
  sub->add_option("-d,--device", common.device, "Device index or name substring");
  sub->add_flag("--validation", common.validation, "Enable the Khronos validation layer");
  sub->add_option("--batch", mo.max_tokens, "Tokens per forward call (longer inputs go in pieces)")
      ->check(CLI::Range(1, 65536));
}

Loaded load_model(const CommonOptions& common, const ModelOptions& mo) {
  Loaded l;
  ContextOptions co;
  co.device = common.device;
  co.validation = common.validation;
  l.ctx = Context::create(co);
  LoadOptions lo;
  lo.max_tokens = mo.max_tokens;
  lo.sequences = mo.sequences;
  l.model = Model::load(*l.ctx, mo.model.empty() ? default_model_path() : mo.model, lo);
  return l;
}

const Tokenizer& require_tokenizer(const Model& model) {
  const Tokenizer* t = model.tokenizer();
  require(t != nullptr, ErrorCode::BadModelFile,
          "{}: the GGUF has no tokenizer (tokenizer.ggml.model); use `vkrwkv logits --tokens`",
          model.file().path().string());
  return *t;
}

}  // namespace vkr::cli
