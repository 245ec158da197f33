// test_gguf_split.cpp: split models (llama-gguf-split's parts). Our parts of the tiny f16 model
// are byte for byte llama-gguf-split's (tests/data/llama_gguf_split: sha256 of each part, made
// by ggml's writer), open as the unsplit model, merge back; broken sets are named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "gguf_split_writer.hpp"
#include "gguf_writer.hpp"
#include "quantize_test_util.hpp"
#include "support/refmodels.hpp"
#include "support/sha256.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

const fs::path kSplitDir = fs::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_gguf_split";

std::string error_of(const fs::path& p) {
  try {
    gguf::File::open(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The manifest's runs (--split-max-tensors 20, --split-max-size 4M, --no-tensor-first-split,
// the default 128): same parts, same bytes; each set opens as the unsplit model.
TEST(GgufSplit, PartsAreLlamaGgufSplitsAndOpenAsTheModel) {
  const Json m = read_json(kSplitDir / "manifest.json");
  const gguf::File in = gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf");
  ASSERT_EQ(file_sha256(in.path()), m.at("input").at("sha256").get<std::string>());
  const TempDir dir;
  for (const Json& run : m.at("runs")) {
    SCOPED_TRACE(run.at("command").get<std::string>());
    gguf::SplitOptions o;
    if (run.at("mode") == "size") {
      o.max_bytes = run.at("split_max_size_bytes");
    } else {
      o.max_tensors = run.at("split_max_tensors");
    }
    o.no_tensor_first_split = run.at("no_tensor_first_split");
    const fs::path sub = dir.path() / run.at("name").get<std::string>();
    fs::create_directories(sub);
    const std::string prefix = (sub / run.at("output_prefix").get<std::string>()).string();
    const auto parts = gguf::write_split(in, prefix, o);
    ASSERT_EQ(parts.size(), run.at("n_split").get<size_t>());
    for (size_t p = 0; p < parts.size(); ++p) {
      const Json& want = run.at("shards").at(p);
      EXPECT_EQ(parts[p].filename().string(), want.at("file").get<std::string>());
      EXPECT_EQ(file_sha256(parts[p]), want.at("sha256").get<std::string>()) << parts[p];
    }
    const gguf::File split = gguf::File::open(parts[0]);
    EXPECT_EQ(split.n_shards(), parts.size());
    ASSERT_EQ(split.tensors().size(), in.tensors().size());
    for (const gguf::TensorInfo& t : in.tensors()) {
      const gguf::TensorInfo* s = split.tensor(t.name);
      ASSERT_NE(s, nullptr) << t.name;
      EXPECT_EQ(s->ne, t.ne);
      const auto a = in.tensor_data(t), b = split.tensor_data(*s);
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0) << t.name;
    }
    EXPECT_EQ(split.get_string("general.architecture"), in.get_string("general.architecture"));
  }
}

// --merge of run a's parts: llama-gguf-split's file (split.count 0 and the other split keys
// kept), which opens as one file.
TEST(GgufSplit, MergeIsLlamaGgufSplits) {
  const Json m = read_json(kSplitDir / "manifest.json");
  const gguf::File in = gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf");
  const TempDir dir;
  gguf::SplitOptions o;
  o.max_tensors = 20;
  const auto parts = gguf::write_split(in, (dir.path() / "m").string(), o);
  const fs::path merged = dir.path() / "merged.gguf";
  gguf::write_merged(gguf::File::open(parts[0]), merged);
  EXPECT_EQ(file_sha256(merged), m.at("merge").at("sha256").get<std::string>());
  const gguf::File f = gguf::File::open(merged);
  EXPECT_EQ(f.n_shards(), 1u);
  EXPECT_EQ(f.tensors().size(), in.tensors().size());
}

// What llama.cpp refuses, refused with the file and the fix named.
TEST(GgufSplit, BrokenSetsAreNamed) {
  const gguf::File in = gguf::File::open(kRefDir / "tiny-qrwkv6-f16.gguf");
  const TempDir dir;
  gguf::SplitOptions o;
  o.max_tensors = 20;
  const auto parts = gguf::write_split(in, (dir.path() / "t").string(), o);
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_NE(error_of(parts[1]).find("part 2 of a model split in 4 files; open its first part (" +
                                    parts[0].string() + ")"),
            std::string::npos)
      << error_of(parts[1]);
  // The first part under another name: the others cannot be found.
  const fs::path renamed = dir.path() / "part0.gguf";
  fs::copy_file(parts[0], renamed);
  EXPECT_NE(error_of(renamed).find("does not end in -00001-of-00004.gguf"), std::string::npos)
      << error_of(renamed);
  // A part swapped for another: its split.no names it.
  const fs::path moved = dir.path() / "moved";
  fs::create_directories(moved);
  for (size_t p = 0; p < 4; ++p) fs::copy_file(parts[p], moved / parts[p].filename());
  fs::remove(moved / parts[2].filename());
  EXPECT_NE(error_of(moved / parts[0].filename()).find("part 3 of this split model"),
            std::string::npos);
  EXPECT_NE(error_of(moved / parts[0].filename()).find("is missing"), std::string::npos);
  fs::copy_file(parts[1], moved / parts[2].filename());
  EXPECT_NE(error_of(moved / parts[0].filename())
                .find("says it is part 2 of 4 (split.no / split.count), expected part 3 of 4"),
            std::string::npos)
      << error_of(moved / parts[0].filename());
  // A tensor in two parts, and a tensor count that does not add up.
  auto part = [&](const std::string& name, uint16_t no, int32_t total, const char* tensor) {
    gguf::GgufWriter w;
    if (no == 0) w.add_kv("general.architecture", gguf::KvValue::str("rwkv6"));
    w.add_kv("split.no", gguf::KvValue::u16(no));
    w.add_kv("split.tensors.count", gguf::KvValue::i32(total));
    w.add_kv("split.count", gguf::KvValue::u16(2));
    w.add_tensor(tensor, {4}, gguf::GgmlType::F32, std::vector<std::byte>(16));
    w.write(dir.path() / fmt::format("{}-{:05d}-of-00002.gguf", name, no + 1));
  };
  part("dup", 0, 2, "a.weight");
  part("dup", 1, 2, "a.weight");
  EXPECT_NE(error_of(dir.path() / "dup-00001-of-00002.gguf").find("tensor 'a.weight' is in both"),
            std::string::npos);
  part("cnt", 0, 3, "a.weight");
  part("cnt", 1, 3, "b.weight");
  EXPECT_NE(error_of(dir.path() / "cnt-00001-of-00002.gguf")
                .find("split.tensors.count says the model has 3 tensors, its 2 parts hold 2"),
            std::string::npos);
  // A limit smaller than the first tensor: a part would be empty.
  gguf::SplitOptions tiny;
  tiny.max_bytes = 16;
  EXPECT_THROW(gguf::plan_split(in, tiny), Error);
}

}  // namespace
}  // namespace vkr::test
