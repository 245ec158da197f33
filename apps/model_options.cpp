// model_options.cpp: shared model-loading options of the CLI.
#include "model_options.hpp"

#include "vkr/error.hpp"

namespace vkr::cli {

void add_model_options(CLI::App* sub, CommonOptions& common, ModelOptions& mo) {
  sub->add_option("-m,--model", mo.model, "GGUF model file (rwkv6 or rwkv6qwen2)")->required();
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
  l.model = Model::load(*l.ctx, mo.model, lo);
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
