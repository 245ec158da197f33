// refmodels.cpp: manifest access and logits comparison for the model tests.
#include "support/refmodels.hpp"

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "reference/ops.hpp"

namespace vkr::test {

Json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return in ? Json::parse(in) : Json::object();
}

const Json& manifest() {
  static const Json m = read_json(kRefDir / "manifest.json");
  return m;
}

// Model files listed in the manifest (empty when it cannot be read; ManifestReadable then fails).
std::vector<std::string> model_files() {
  std::vector<std::string> out;
  if (manifest().contains("models")) {
    for (const Json& m : manifest().at("models")) out.push_back(m.at("file"));
  }
  return out;
}

std::vector<float> read_logits(const std::filesystem::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<float> v(n);  // raw little-endian f32, as is the host
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (in.gcount() != static_cast<std::streamsize>(n * sizeof(float)) || in.get() != EOF) {
    throw std::runtime_error(path.string() + ": size is not " + std::to_string(n) + " floats");
  }
  return v;
}

// Gap between the largest and second-largest logit of one row.
float top2_gap(std::span<const float> row) {
  float a = -INFINITY, b = -INFINITY;
  for (float x : row) {
    if (x > a) {
      b = a;
      a = x;
    } else if (x > b) {
      b = x;
    }
  }
  return a - b;
}

CaseResult compare_logits(int T, int V, std::span<const float> want, std::span<const float> got,
                          double max_tol) {
  CaseResult r;
  double sum = 0.0;
  for (int t = 0; t < T; ++t) {
    const auto w = want.subspan(static_cast<size_t>(t) * V, static_cast<size_t>(V));
    const auto g = got.subspan(static_cast<size_t>(t) * V, static_cast<size_t>(V));
    for (int i = 0; i < V; ++i) {
      const double d = std::fabs(static_cast<double>(w[i]) - g[i]);
      sum += d;
      if (!(d <= r.max_diff)) {  // NaN lands here too and sticks
        r.max_diff = d;
        r.max_pos = t;
      }
    }
    if (ref::argmax(w) == ref::argmax(g)) {
      ++r.argmax_agree;
    } else if (top2_gap(w) < max_tol) {
      ++r.excused;
    } else {
      r.bad_argmax.push_back(t);
    }
  }
  r.mean_diff = sum / (static_cast<double>(T) * V);
  return r;
}

const Json& model_entry(const std::string& file) {
  for (const Json& m : manifest().at("models")) {
    if (m.at("file") == file) return m;
  }
  throw std::runtime_error("no manifest entry for " + file);
}

std::vector<int32_t> prompt_tokens(const std::string& file, const std::string& prompt) {
  for (const Json& c : manifest().at("cases")) {
    if (c.at("model") == file && c.at("prompt") == prompt) return c.at("tokens");
  }
  throw std::runtime_error("no " + prompt + " case for " + file);
}

const Json& llama_quant_manifest() {
  static const Json m = read_json(kLlamaQuantDir / "manifest.json");
  return m;
}

const Json& llama_iquant_manifest() {
  static const Json m = read_json(kLlamaIquantDir / "manifest.json");
  return m;
}

namespace {
// The quantized (not f16) model files a manifest lists that are checked in under `dir`.
std::vector<std::string> checked_in_models(const Json& manifest, const std::filesystem::path& dir) {
  std::vector<std::string> out;
  if (!manifest.contains("models")) return out;
  for (const Json& m : manifest.at("models")) {
    const std::string file = m.at("file");
    if (file.find("-f16.") == std::string::npos && std::filesystem::exists(dir / file)) {
      out.push_back(file);
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> llama_quant_models() {
  return checked_in_models(llama_quant_manifest(), kLlamaQuantDir);
}

std::vector<std::string> llama_iquant_models() {
  return checked_in_models(llama_iquant_manifest(), kLlamaIquantDir);
}

std::filesystem::path llama_quant_dir_of(const std::string& file) {
  return std::filesystem::exists(kLlamaIquantDir / file) ? kLlamaIquantDir : kLlamaQuantDir;
}

std::vector<int32_t> llama_quant_tokens(const std::string& file, const std::string& prompt) {
  const bool qrwkv6 = file.find("qrwkv6") != std::string::npos;
  return prompt_tokens(qrwkv6 ? "tiny-qrwkv6-f16.gguf" : "tiny-rwkv6-f16.gguf", prompt);
}

}  // namespace vkr::test
