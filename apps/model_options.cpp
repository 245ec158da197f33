// model_options.cpp: shared model-loading options of the CLI.
#include "model_options.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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
  sub->add_option("-d,--device", common.device,
                  "Device index or name substring; a comma list (0,1) splits the layers over "
                  "several devices");
  sub->add_option("--split", mo.split,
                  "Layers per device with several devices (e.g. 20,44; default: in proportion "
                  "to free memory)")
      ->delimiter(',');
  sub->add_flag("--validation", common.validation, "Enable the Khronos validation layer");
  sub->add_option("--batch", mo.max_tokens, "Tokens per forward call (longer inputs go in pieces)")
      ->check(CLI::Range(1, 65536));
}

std::vector<std::string> device_list(const std::string& spec) {
  std::vector<std::string> out;
  if (spec.find(',') == std::string::npos) return {spec};
  size_t at = 0;
  while (true) {
    const size_t comma = spec.find(',', at);
    std::string entry =
        spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    require(!entry.empty(), ErrorCode::InvalidArgument,
            "--device '{}': empty entry in the device list (expected e.g. 0,1)", spec);
    out.push_back(entry);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

std::string describe_parts(const Model& model) {
  std::string out;
  auto mib = [](uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  for (const auto& p : model.parts()) {
    const char* extra = p.embed && p.head ? " + embedding + head"
                        : p.embed         ? " + embedding"
                        : p.head          ? " + head"
                                          : "";
    out += fmt::format("  layers {}-{}{} on device {} ({}): weights {:.0f} MiB, state {:.1f} MiB "
                       "per sequence\n",
                       p.first, p.end - 1, extra,
                       p.ctx->device_index(), p.ctx->caps().device_name, mib(p.plan.weights),
                       mib(p.plan.state_per_sequence));
  }
  return out;
}

Loaded load_model(const CommonOptions& common, const ModelOptions& mo) {
  Loaded l;
  const char* env = std::getenv("VKR_DEVICE");
  const auto devices = device_list(common.device.empty() && env ? env : common.device);
  require(mo.split.empty() || devices.size() > 1, ErrorCode::InvalidArgument,
          "--split needs several devices (e.g. --device 0,1); one device holds every layer");
  std::vector<Context*> ctxs;
  for (const auto& d : devices) {
    ContextOptions co;
    co.device = d;
    co.validation = common.validation;
    l.devices.push_back(Context::create(co));
    ctxs.push_back(l.devices.back().get());
  }
  LoadOptions lo;
  lo.max_tokens = mo.max_tokens;
  lo.sequences = mo.sequences;
  lo.layer_split = mo.split;
  l.model = Model::load(ctxs, mo.model.empty() ? default_model_path() : mo.model, lo);
  if (l.model->parts().size() > 1) {
    fmt::print(stderr, "{} split over {} devices:\n{}", l.model->file().path().filename().string(),
               l.model->parts().size(), describe_parts(*l.model));
  }
  return l;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), ErrorCode::Io, "{}: cannot open", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const Tokenizer& require_tokenizer(const Model& model) {
  const Tokenizer* t = model.tokenizer();
  require(t != nullptr, ErrorCode::BadModelFile,
          "{}: the GGUF has no tokenizer (tokenizer.ggml.model); use `vkrwkv logits --tokens`",
          model.file().path().string());
  return *t;
}

}  // namespace vkr::cli
