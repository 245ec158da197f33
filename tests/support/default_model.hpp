// default_model.hpp: the bundled default model (model/default/, trained by
// model/tools/train_default.py) for tests: its files and the numbers its trainer recorded.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace vkr::test {

inline const std::filesystem::path kDefaultModelDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "model" / "default";
inline const std::string kDefaultModelFile = "kjv-qrwkv6.gguf";

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// model/default/train_metrics.json: held-out perplexities, token count and id hash, sample.
inline nlohmann::json default_model_metrics() {
  return nlohmann::json::parse(read_text_file(kDefaultModelDir / "train_metrics.json"));
}

}  // namespace vkr::test
