// GGUF reader tests on valid files: the shared reference models vs manifest.json, the tokenizer
// vocab files, a builder round-trip of every value type, getters, moves and the type table.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "gguf_test_util.hpp"

namespace vkr::test {
namespace {

using gguf::File;
using gguf::GgmlType;
using gguf::ValueType;
using Json = nlohmann::json;

const std::filesystem::path kRefDir = std::filesystem::path(VKR_SHARED_DIR) / "refmodels";

Json load_manifest() {
  std::ifstream in(kRefDir / "manifest.json");
  if (!in) throw std::runtime_error("cannot read " + (kRefDir / "manifest.json").string());
  return Json::parse(in);
}

// Expected shapes (ne order) of a few tensors whose dims follow from the manifest's `dims`.
std::map<std::string, std::vector<uint64_t>> expected_shapes(const Json& model) {
  const Json& d = model.at("dims");
  const uint64_t c = d.at("n_embd"), f = d.at("n_ff"), v = d.at("n_vocab"), s = d.at("head_size");
  const uint64_t dm = d.at("tm_extra"), dd = d.at("td_extra");
  const bool qrwkv = model.at("arch") == "rwkv6qwen2";
  const uint64_t kv = qrwkv ? d.at("n_head_kv").get<uint64_t>() * s : c;
  const bool lerp_3d = d.at("lerp_vectors") == "{C,1,1}";
  std::map<std::string, std::vector<uint64_t>> shapes = {
      {"token_embd.weight", {c, v}},
      {"output.weight", {c, v}},
      {"output_norm.weight", {c}},
      {"blk.0.time_mix_w1.weight", {c, 5 * dm}},
      {"blk.0.time_mix_w2.weight", {dm, c, 5}},
      {"blk.0.time_mix_decay_w1.weight", {c, dd}},
      {"blk.0.time_mix_decay_w2.weight", {dd, c}},
      {"blk.0.time_mix_receptance.weight", {c, c}},
      {"blk.0.time_mix_key.weight", {c, kv}},
      {"blk.0.time_mix_value.weight", {c, kv}},
      {"blk.0.time_mix_output.weight", {c, c}},
      {"blk.0.time_mix_lerp_x.weight", lerp_3d ? std::vector<uint64_t>{c, 1, 1} : std::vector{c}},
  };
  if (qrwkv) {
    shapes["blk.0.ffn_up.weight"] = {c, f};
    shapes["blk.0.ffn_gate.weight"] = {c, f};
    shapes["blk.0.ffn_down.weight"] = {f, c};
  } else {
    shapes["blk.0.time_mix_first.weight"] = {s, c / s};
    shapes["blk.0.channel_mix_key.weight"] = {c, f};
    shapes["blk.0.channel_mix_value.weight"] = {f, c};
  }
  return shapes;
}

void check_model_against_manifest(const Json& model) {
  const std::string name = model.at("file");
  SCOPED_TRACE(name);
  const File file = File::open(kRefDir / name);
  const std::string arch = model.at("arch");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.file_size(), model.at("bytes").get<uint64_t>());
  EXPECT_EQ(file.get_string("general.architecture"), arch);
  const Json& dims = model.at("dims");
  EXPECT_EQ(file.get_uint(arch + ".embedding_length"), dims.at("n_embd").get<uint64_t>());
  EXPECT_EQ(file.get_uint(arch + ".block_count"), dims.at("n_layer").get<uint64_t>());
  EXPECT_EQ(file.get_uint(arch + ".feed_forward_length"), dims.at("n_ff").get<uint64_t>());
  EXPECT_EQ(file.get_uint(arch + ".wkv.head_size"), dims.at("head_size").get<uint64_t>());

  // Names and types: exactly the manifest's set, and the per-type counts.
  const Json& types = model.at("tensor_types");
  ASSERT_EQ(file.tensors().size(), types.size());
  std::map<std::string, uint64_t> counts;
  for (const auto& t : file.tensors()) {
    ASSERT_TRUE(types.contains(t.name)) << t.name;
    EXPECT_EQ(gguf::type_name(t.type), types.at(t.name).get<std::string>()) << t.name;
    ++counts[gguf::type_name(t.type)];
    EXPECT_EQ(file.tensor(t.name), &t);
  }
  for (const auto& [type, n] : model.at("tensor_type_counts").items()) {
    EXPECT_EQ(counts[type], n.get<uint64_t>()) << type;
  }
  for (const auto& [tname, ne] : expected_shapes(model)) {
    const gguf::TensorInfo* t = file.tensor(tname);
    ASSERT_NE(t, nullptr) << tname;
    EXPECT_EQ(t->ne, ne) << tname;
  }

  // Byte sizes per spec §6.1, and the data section is exactly the tensors (plus alignment pad).
  uint64_t end = 0;
  for (const auto& t : file.tensors()) {
    const auto traits = gguf::type_traits(t.type);
    ASSERT_TRUE(traits);
    EXPECT_EQ(t.n_bytes, t.n_elements / traits->block_elems * traits->block_bytes) << t.name;
    EXPECT_EQ(file.tensor_data(t).size(), t.n_bytes);
    end = std::max(end, t.offset + t.n_bytes);
  }
  EXPECT_LE(file.file_size() - (file.data_offset() + end), file.alignment());
}

TEST(GgufRefModels, EveryModelMatchesManifest) {
  const Json manifest = load_manifest();
  ASSERT_FALSE(manifest.at("models").empty());
  for (const Json& model : manifest.at("models")) check_model_against_manifest(model);
}

TEST(GgufRefModels, EveryGgufInTheDirectoryOpens) {
  size_t n = 0;
  for (const auto& dir : {kRefDir, kRefDir / "tokenizer"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".gguf") continue;
      SCOPED_TRACE(entry.path().string());
      EXPECT_NO_THROW(File::open(entry.path()));
      ++n;
    }
  }
  EXPECT_GE(n, 17u);
}

// The quantized files were made from the same f32 weights, so the tensors llama-quantize keeps in
// F32 must be byte-identical across the dtypes of a preset: checks tensor_data() offsets.
TEST(GgufRefModels, F32TensorBytesAgreeAcrossQuantizations) {
  const File a = File::open(kRefDir / "tiny-rwkv6-Q8_0.gguf");
  const File b = File::open(kRefDir / "tiny-rwkv6-Q6_K.gguf");
  size_t compared = 0;
  for (const auto& ta : a.tensors()) {
    if (ta.ggml_type() != GgmlType::F32) continue;
    const gguf::TensorInfo* tb = b.tensor(ta.name);
    ASSERT_NE(tb, nullptr) << ta.name;
    ASSERT_EQ(tb->ggml_type(), GgmlType::F32) << ta.name;
    const auto da = a.tensor_data(ta), db = b.tensor_data(*tb);
    ASSERT_EQ(da.size(), db.size());
    EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size()), 0) << ta.name;
    ++compared;
  }
  EXPECT_EQ(compared, 68u);
  // And the values are sane floats (norm weights of a random model are finite).
  const auto* norm = a.tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  const auto bytes = a.tensor_data(*norm);
  for (size_t i = 0; i < bytes.size(); i += 4) {
    float x;
    std::memcpy(&x, bytes.data() + i, 4);
    EXPECT_TRUE(std::isfinite(x));
  }
}

TEST(GgufRefModels, VocabFiles) {
  const File qwen = File::open(kRefDir / "tokenizer" / "vocab-qwen2.gguf");
  EXPECT_TRUE(qwen.tensors().empty());
  EXPECT_EQ(qwen.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(qwen.get_string("tokenizer.ggml.pre"), "qwen2");
  const auto tokens = qwen.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->size(), 152064u);
  EXPECT_EQ((*tokens)[151643], "<|endoftext|>");
  EXPECT_EQ(qwen.get_string_array("tokenizer.ggml.merges")->size(), 151387u);
  const auto token_types = qwen.get_int_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(token_types);
  EXPECT_EQ(token_types->size(), 152064u);
  EXPECT_EQ((*token_types)[151643], 3);
  EXPECT_EQ(qwen.get_uint("tokenizer.ggml.bos_token_id"), 151643u);

  const File world = File::open(kRefDir / "tokenizer" / "vocab-rwkv-world.gguf");
  EXPECT_EQ(world.get_string("tokenizer.ggml.model"), "rwkv");
  EXPECT_EQ(world.get_string_array("tokenizer.ggml.tokens")->size(), 65536u);
}

// A file using every value type (nested arrays included) and several tensor types.
GgufBuilder round_trip_builder() {
  GgufBuilder b;
  b.alignment(64)
      .add_kv("t.u8", GgufValue::u8(250))
      .add_kv("t.i8", GgufValue::i8(-7))
      .add_kv("t.u16", GgufValue::u16(65535))
      .add_kv("t.i16", GgufValue::i16(-32768))
      .add_kv("t.u32", GgufValue::u32(4000000000u))
      .add_kv("t.i32", GgufValue::i32(-123456))
      .add_kv("t.f32", GgufValue::f32(1.5e-6f))
      .add_kv("t.bool", GgufValue::boolean(true))
      .add_kv("t.string", GgufValue::str(std::string("h\xc3\xa9llo\0x", 8)))
      .add_kv("t.empty", GgufValue::str(""))
      .add_kv("t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max()))
      .add_kv("t.i64", GgufValue::i64(std::numeric_limits<int64_t>::min()))
      .add_kv("t.f64", GgufValue::f64(-2.25e300))
      .add_kv("t.strings", GgufValue::string_array({"a", "", "<|im_end|>"}))
      .add_kv("t.i32s", GgufValue::i32_array({1, -2, 3}))
      .add_kv("t.f32s", GgufValue::f32_array({0.5f, -1.0f}))
      .add_kv("t.u8s", GgufValue::array(ValueType::U8, {GgufValue::u8(1), GgufValue::u8(255)}))
      .add_kv("t.bools", GgufValue::array(ValueType::Bool,
                                          {GgufValue::boolean(false), GgufValue::boolean(true)}))
      .add_kv("t.none", GgufValue::array(ValueType::I64, {}))
      .add_kv("t.nested", GgufValue::array(ValueType::Array,
                                           {GgufValue::i32_array({7, 8}), GgufValue::i32_array({}),
                                            GgufValue::string_array({"x"})}))
      .add_tensor("a.f32", {4, 3}, GgmlType::F32)
      .add_tensor("b.f16", {8}, GgmlType::F16)
      .add_tensor("c.q4_0", {64, 2}, GgmlType::Q4_0)
      .add_tensor("d.q4_k", {256, 1, 2}, GgmlType::Q4_K)
      .add_tensor("e.q6_k", {512, 1, 1, 3}, GgmlType::Q6_K)
      .add_tensor("f.bf16", {2, 2}, GgmlType::BF16);
  return b;
}

TEST(GgufRoundTrip, EveryValueTypeAndTensor) {
  TempDir dir;
  const auto path = dir.file("round_trip.gguf");
  const GgufBuilder builder = round_trip_builder();
  const GgufBytes bytes = builder.build();
  write_bytes(path, bytes.bytes);
  const File f = File::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.file_size(), bytes.bytes.size());
  EXPECT_EQ(f.data_offset(), bytes.data_offset);
  ASSERT_EQ(f.metadata().size(), 21u);
  EXPECT_EQ(f.metadata()[1].first, "t.u8");  // file order
  EXPECT_EQ(f.get_uint("t.u8"), 250u);
  EXPECT_EQ(f.get_int("t.i8"), -7);
  EXPECT_EQ(f.get_uint("t.u16"), 65535u);
  EXPECT_EQ(f.get_int("t.i16"), -32768);
  EXPECT_EQ(f.get_uint("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_int("t.i32"), -123456);
  EXPECT_EQ(f.get_float("t.f32"), static_cast<double>(1.5e-6f));
  EXPECT_EQ(f.get_bool("t.bool"), true);
  EXPECT_EQ(f.get_string("t.string"), std::string_view("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(f.get_string("t.empty"), "");
  EXPECT_EQ(f.get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_float("t.f64"), -2.25e300);
  EXPECT_EQ(f.get_float("t.i32"), -123456.0);  // integers are accepted as numbers
  EXPECT_EQ(f.get_string_array("t.strings"),
            (std::vector<std::string_view>{"a", "", "<|im_end|>"}));
  EXPECT_EQ(f.get_int_array("t.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_int_array("t.u8s"), (std::vector<int64_t>{1, 255}));
  EXPECT_EQ(f.get_float_array("t.f32s"), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(f.get_int_array("t.none"), std::vector<int64_t>{});
  const gguf::Value* bools = f.find("t.bools");
  ASSERT_NE(bools, nullptr);
  EXPECT_EQ(bools->at(0).as_bool(), false);
  EXPECT_EQ(bools->at(1).as_bool(), true);
  const gguf::Value* nested = f.find("t.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->element_type(), ValueType::Array);
  ASSERT_EQ(nested->arrays().size(), 3u);
  EXPECT_EQ(nested->arrays()[0].element_type(), ValueType::I32);
  EXPECT_EQ(nested->arrays()[0].at(1).as_i64(), 8);
  EXPECT_EQ(nested->arrays()[1].size(), 0u);
  EXPECT_EQ(nested->arrays()[2].strings()[0], "x");
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(f.get_uint("absent"), std::nullopt);

  ASSERT_EQ(f.tensors().size(), 6u);
  const std::vector<std::vector<uint64_t>> shapes = {{4, 3},         {8},   {64, 2}, {256, 1, 2},
                                                     {512, 1, 1, 3}, {2, 2}};
  const std::vector<uint64_t> sizes = {48, 16, 72, 288, 1260, 8};
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const gguf::TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.ne, shapes[i]) << t.name;
    EXPECT_EQ(t.n_bytes, sizes[i]) << t.name;
    EXPECT_EQ(t.offset, bytes.tensor_offsets[i]) << t.name;
    EXPECT_EQ(t.offset % 64, 0u) << t.name;
    const auto data = f.tensor_data(t);
    ASSERT_EQ(data.size(), t.n_bytes);
    EXPECT_EQ(
        std::memcmp(data.data(), bytes.bytes.data() + bytes.data_offset + t.offset, data.size()), 0)
        << t.name;
  }
  EXPECT_EQ(f.tensor("d.q4_k")->ggml_type(), GgmlType::Q4_K);
  EXPECT_EQ(f.tensor("e.q6_k")->n_elements, 1536u);
  EXPECT_EQ(f.tensor("missing"), nullptr);
}

TEST(GgufRoundTrip, Version2AndDefaultAlignment) {
  TempDir dir;
  const auto path = dir.file("v2.gguf");
  GgufBuilder()
      .version(2)
      .add_kv("k", GgufValue::u32(1))
      .add_tensor("t", {33}, GgmlType::F32)
      .add_tensor("u", {32}, GgmlType::Q8_0)
      .write(path);
  const File f = File::open(path);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.tensor("u")->offset, 160u);  // 132 bytes of "t" rounded up to 32
}

TEST(GgufGetters, WrongTypesNameFileAndKey) {
  TempDir dir;
  const auto path = dir.file("getters.gguf");
  round_trip_builder().write(path);
  const File f = File::open(path);
  const auto expect_key_error = [&](auto&& call, std::string_view key) {
    try {
      call();
      ADD_FAILURE() << "no error for " << key;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BadModelFile);
      EXPECT_NE(e.message().find("getters.gguf"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find(key), std::string::npos) << e.message();
    }
  };
  expect_key_error([&] { (void)f.get_uint("t.i8"); }, "t.i8");  // negative
  expect_key_error([&] { (void)f.get_uint("t.f32"); }, "t.f32");
  expect_key_error([&] { (void)f.get_int("t.u64"); }, "t.u64");  // > INT64_MAX
  expect_key_error([&] { (void)f.get_float("t.string"); }, "t.string");
  expect_key_error([&] { (void)f.get_string("t.u32"); }, "t.u32");
  expect_key_error([&] { (void)f.get_bool("t.u8"); }, "t.u8");
  expect_key_error([&] { (void)f.get_string_array("t.i32s"); }, "t.i32s");
  expect_key_error([&] { (void)f.get_int_array("t.strings"); }, "t.strings");
  expect_key_error([&] { (void)f.get_float_array("t.nested"); }, "t.nested");
}

TEST(GgufFile, MoveKeepsViewsValid) {
  TempDir dir;
  const auto path = dir.file("move.gguf");
  round_trip_builder().write(path);
  File a = File::open(path);
  const auto before = a.get_string_array("t.strings");  // views into the mapping
  File b = std::move(a);
  EXPECT_EQ(before->at(2), "<|im_end|>");
  EXPECT_EQ(b.get_string_array("t.strings")->at(2), "<|im_end|>");
  ASSERT_NE(b.tensor("a.f32"), nullptr);
  EXPECT_EQ(b.tensor_data(*b.tensor("a.f32")).size(), 48u);
  File c = File::open(kRefDir / "micro-rwkv6-f32.gguf");
  c = std::move(b);  // unmaps c's old file
  EXPECT_EQ(c.path(), path);
  EXPECT_EQ(c.get_uint("t.u8"), 250u);
}

TEST(GgufFile, TensorDataRejectsForeignTensor) {
  TempDir dir;
  const auto path = dir.file("foreign.gguf");
  round_trip_builder().write(path);
  const File a = File::open(path);
  const File b = File::open(path);
  try {
    (void)a.tensor_data(b.tensors()[0]);
    ADD_FAILURE() << "foreign tensor accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
}

TEST(GgufTypes, TableAndNames) {
  const auto q4k = gguf::type_traits(GgmlType::Q4_K);
  ASSERT_TRUE(q4k);
  EXPECT_EQ(q4k->block_elems, 256u);
  EXPECT_EQ(q4k->block_bytes, 144u);
  EXPECT_EQ(gguf::type_traits(GgmlType::Q6_K)->block_bytes, 210u);
  EXPECT_EQ(gguf::type_traits(GgmlType::Q5_K)->block_bytes, 176u);
  EXPECT_EQ(gguf::type_traits(GgmlType::Q8_0)->block_bytes, 34u);
  EXPECT_EQ(gguf::type_traits(GgmlType::BF16)->block_bytes, 2u);
  EXPECT_EQ(gguf::type_name(12), "Q4_K");
  EXPECT_EQ(gguf::type_name(99), "type 99");
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 1000u}) {
    EXPECT_FALSE(gguf::type_traits(removed)) << removed;
  }
  EXPECT_EQ(gguf::value_type_name(ValueType::String), "string");
  EXPECT_EQ(gguf::value_type_name(13), "value type 13");
}

}  // namespace
}  // namespace vkr::test
