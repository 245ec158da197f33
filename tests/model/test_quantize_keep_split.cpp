// quantize of split models vs llama.cpp's own quantizer (tests/data/llama_quant_keep_split, made
// by model/tools/llama_quant_keep_split_refs.py): the sets of tests/data/llama_gguf_split (runs a
// and c: 20 tensors per part, and the same with a metadata-only first part) quantized to Q8_0 and
// Q4_K_M with --keep-split give llama-quantize's parts byte for byte (names, keys in its order,
// each part's tensors), and without it (or from the unsplit file) its single file byte for byte
// (tensors in its loader's order).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "gguf.hpp"
#include "gguf_split_writer.hpp"
#include "quantize_model.hpp"
#include "quantize_test_util.hpp"
#include "support/refmodels.hpp"
#include "support/sha256.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

const fs::path kDir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_quant_keep_split";

TEST(QuantizeKeepSplit, LlamaQuantizeBytes) {
  const Json m = read_json(kDir / "manifest.json");
  const fs::path src = kRefDir / "tiny-qrwkv6-f16.gguf";
  ASSERT_EQ(file_sha256(src), m.at("input").at("sha256").get<std::string>());
  const TempDir dir;
  // The split inputs, as llama-gguf-split writes them (checked against its bytes).
  const gguf::File whole = gguf::File::open(src);
  for (const char* set : {"a", "c"}) {
    gguf::SplitOptions o;
    o.max_tensors = 20;
    o.no_tensor_first_split = std::string(set) == "c";
    fs::create_directories(dir.path() / set);
    const auto parts = gguf::write_split(whole, (dir.path() / set / "tiny-qrwkv6-f16").string(), o);
    const Json& want = m.at("split_inputs").at(set).at("parts");
    ASSERT_EQ(parts.size(), want.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      ASSERT_EQ(file_sha256(parts[i]), want.at(i).at("sha256").get<std::string>()) << parts[i];
    }
  }
  size_t checked = 0;
  for (const Json& run : m.at("runs")) {
    const std::string id = run.at("id");
    SCOPED_TRACE(id);
    const std::string set = run.at("input_set");
    const bool keep = run.at("keep_split");
    // llama writes OUT-00001-of-00001.gguf for a single input with keep_split; here OUT itself
    // (checked below: the plain file's bytes).
    if (set == "unsplit" && keep) continue;
    const fs::path in_path =
        set == "unsplit"
            ? src
            : dir.path() / set /
                  m.at("split_inputs").at(set).at("parts").at(0).at("file").get<std::string>();
    const gguf::File in = gguf::File::open(in_path);
    const std::string type = run.at("ftype_name").get<std::string>().substr(7);  // MOSTLY_
    const auto preset = parse_quant_preset(type);
    ASSERT_TRUE(preset) << type;
    const fs::path out_dir = dir.path() / ("out_" + id);
    fs::create_directories(out_dir);
    QuantizeOptions opt;
    opt.keep_split = keep;
    opt.threads = 2;
    // The CLI's OUT: llama-quantize's name with .gguf (stripped for the parts' prefix).
    std::string out_name = run.at("fname_out");
    if (keep && !out_name.ends_with(".gguf")) out_name += ".gguf";
    const auto s = quantize_model(in, out_dir / out_name, *preset, opt);
    const Json& files = run.at("files");
    ASSERT_EQ(s.files.size(), files.size());
    for (size_t i = 0; i < files.size(); ++i) {
      std::string want_name = files.at(i).at("file");
      if (run.contains("sha256_equal_to_run")) {  // llama kept ".gguf" inside the prefix
        const size_t at = want_name.find(".gguf-");
        want_name = want_name.substr(0, at) + want_name.substr(at + 5);
      }
      EXPECT_EQ(s.files[i].filename().string(), want_name);
      EXPECT_EQ(fs::file_size(s.files[i]), files.at(i).at("bytes").get<uint64_t>()) << s.files[i];
      EXPECT_EQ(file_sha256(s.files[i]), files.at(i).at("sha256").get<std::string>()) << s.files[i];
      ++checked;
    }
  }
  EXPECT_GE(checked, 21u);
  // Parts named like the input's would overwrite them: refused before anything is written.
  const gguf::File a = gguf::File::open(dir.path() / "a" / "tiny-qrwkv6-f16-00001-of-00004.gguf");
  const std::string before = file_sha256(a.shard_path(2));
  try {
    quantize_model(a, dir.path() / "a" / "tiny-qrwkv6-f16.gguf", QuantPreset::Q8_0,
                   QuantizeOptions{.keep_split = true});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("tiny-qrwkv6-f16-00001-of-00004.gguf is one of the input's parts; "
                               "write to another path"),
              std::string::npos)
        << e.message();
  }
  EXPECT_EQ(file_sha256(a.shard_path(2)), before);
  // A single input with keep_split: the plain file, as without it.
  const auto single = quantize_model(whole, dir.path() / "ks.gguf", QuantPreset::Q8_0,
                                     QuantizeOptions{.keep_split = true});
  ASSERT_EQ(single.files.size(), 1u);
  EXPECT_EQ(single.files[0].filename(), "ks.gguf");
  EXPECT_EQ(file_sha256(single.files[0]),
            m.at("runs").at(0).at("files").at(0).at("sha256").get<std::string>());
}

}  // namespace
}  // namespace vkr::test
