// read_config() on the reference models and on crafted GGUFs (missing/misshapen tensors, bad keys,
// unknown arch, legacy layouts), check_supported_types(), and the hand-written dequantizers.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vkr/error.hpp>

#include "config.hpp"
#include "dequant.hpp"
#include "gguf_test_util.hpp"

namespace vkr::test {
namespace {

using gguf::GgmlType;
using Json = nlohmann::json;

const std::filesystem::path kRefDir = std::filesystem::path(VKR_SHARED_DIR) / "refmodels";

TEST(ModelConfig, ReferenceModelsMatchManifest) {
  std::ifstream in(kRefDir / "manifest.json");
  ASSERT_TRUE(in) << "cannot read manifest";
  const Json manifest = Json::parse(in);
  for (const Json& m : manifest.at("models")) {
    const std::string file = m.at("file");
    SCOPED_TRACE(file);
    const gguf::File f = gguf::File::open(kRefDir / file);
    const ModelConfig c = read_config(f);
    const Json& d = m.at("dims");
    const bool qrwkv = m.at("arch") == "rwkv6qwen2";
    EXPECT_EQ(c.arch, qrwkv ? Arch::QRwkv6 : Arch::Rwkv6);
    EXPECT_EQ(c.C, d.at("n_embd").get<uint32_t>());
    EXPECT_EQ(c.n_layer, d.at("n_layer").get<uint32_t>());
    EXPECT_EQ(c.S, d.at("head_size").get<uint32_t>());
    EXPECT_EQ(c.F, d.at("n_ff").get<uint32_t>());
    EXPECT_EQ(c.V, d.at("n_vocab").get<uint32_t>());
    EXPECT_EQ(c.Dm, d.at("tm_extra").get<uint32_t>());
    EXPECT_EQ(c.Dd, d.at("td_extra").get<uint32_t>());
    EXPECT_EQ(c.H, c.C / c.S);
    EXPECT_EQ(c.token_shift_count, qrwkv ? 1u : 2u);
    EXPECT_TRUE(c.has_lerp_fused);
    if (qrwkv) {
      EXPECT_EQ(c.Hkv, d.at("n_head_kv").get<uint32_t>());
      EXPECT_EQ(c.n_rep(), d.at("n_rep").get<uint32_t>());
      EXPECT_EQ(c.has_rkv_bias, d.at("rkv_biases").get<bool>());
      EXPECT_FLOAT_EQ(c.norm_eps, d.at("rms_eps").get<float>());
    } else {
      EXPECT_EQ(c.Hkv, c.H);
      EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
      EXPECT_TRUE(c.has_output_norm_bias);
    }
    const std::string text = describe(c);
    EXPECT_NE(text.find(std::string(arch_name(c.arch))), std::string::npos) << text;
    const uint64_t want_state =
        uint64_t{c.n_layer} * (uint64_t{c.token_shift_count} * c.C + uint64_t{c.H} * c.S * c.S) * 4;
    EXPECT_EQ(state_bytes_per_sequence(c), want_state);
    // Every reference file (f32, f16 and the quantized ones) passes the GPU type check.
    EXPECT_NO_THROW(check_supported_types(f, gpu_supported_types())) << m.at("file");
  }
}

TEST(ModelConfig, StateBytesOfRealModels) {  // spec §8.3
  ModelConfig q;
  q.arch = Arch::QRwkv6;
  q.n_layer = 64, q.C = 5120, q.S = 128, q.H = 40, q.token_shift_count = 1;
  EXPECT_EQ(state_bytes_per_sequence(q), 160ull * 1024 * 1024 + 1280ull * 1024);
  ModelConfig r;
  r.n_layer = 24, r.C = 2048, r.S = 64, r.H = 32, r.token_shift_count = 2;
  EXPECT_EQ(state_bytes_per_sequence(r), 12ull * 1024 * 1024 + 384ull * 1024);
}

// A minimal model described by its dims; tensors are filled with the builder's byte pattern
// (read_config never looks at the data). `edit` may drop or reshape tensors and keys.
struct Mini {
  bool qrwkv = true;
  uint64_t C = 64, S = 32, Hkv = 1, F = 96, V = 16, Dm = 4, Dd = 8, layers = 2;
  bool biases = true, legacy_lerp = false, lerp_3d = false;
  std::map<std::string, std::vector<uint64_t>> shape_override;  // name -> ne
  std::map<std::string, GgmlType> type_override;
  std::vector<std::string> drop;                  // tensors left out
  std::map<std::string, GgufValue> key_override;  // replaces / adds keys
};

void add_tensor(GgufBuilder& b, const Mini& m, const std::string& name, std::vector<uint64_t> ne,
                GgmlType type = GgmlType::F32) {
  if (std::find(m.drop.begin(), m.drop.end(), name) != m.drop.end()) return;
  if (auto it = m.shape_override.find(name); it != m.shape_override.end()) ne = it->second;
  if (auto it = m.type_override.find(name); it != m.type_override.end()) type = it->second;
  b.add_tensor(name, ne, type);
}

void add_keys(GgufBuilder& b, const Mini& m) {
  const std::string a = m.qrwkv ? "rwkv6qwen2" : "rwkv6";
  std::map<std::string, GgufValue> keys{
      {"general.architecture", GgufValue::str(a)},
      {a + ".embedding_length", GgufValue::u32(static_cast<uint32_t>(m.C))},
      {a + ".block_count", GgufValue::u32(static_cast<uint32_t>(m.layers))},
      {a + ".feed_forward_length", GgufValue::u64(m.F)},  // any integer type is accepted
      {a + ".wkv.head_size", GgufValue::i32(static_cast<int32_t>(m.S))},
      {a + ".time_mix_extra_dim", GgufValue::u32(static_cast<uint32_t>(m.Dm))},
      {a + ".time_decay_extra_dim", GgufValue::u16(static_cast<uint16_t>(m.Dd))},
      {a + ".attention.head_count", GgufValue::u32(0)},
  };
  if (m.qrwkv) {
    keys.emplace(a + ".attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(m.Hkv)));
    keys.emplace(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f));
    keys.emplace(a + ".token_shift_count", GgufValue::u32(1));
  } else {
    keys.emplace(a + ".attention.layer_norm_epsilon", GgufValue::f32(1e-5f));
    keys.emplace(a + ".rescale_every_n_layers", GgufValue::u32(6));
  }
  for (const auto& [k, v] : m.key_override) keys.insert_or_assign(k, v);
  for (const auto& [k, v] : keys) b.add_kv(k, v);
}

void add_layer(GgufBuilder& b, const Mini& m, uint64_t il) {
  const uint64_t C = m.C, KV = m.qrwkv ? m.Hkv * m.S : C, F = m.F;
  const auto t = [&](const std::string& n, std::vector<uint64_t> ne, GgmlType ty = GgmlType::F32) {
    add_tensor(b, m, "blk." + std::to_string(il) + "." + n, std::move(ne), ty);
  };
  const std::vector<uint64_t> vec = m.lerp_3d ? std::vector<uint64_t>{C, 1, 1} : std::vector{C};
  t("attn_norm.weight", {C});
  t("time_mix_lerp_x.weight", vec);
  if (m.legacy_lerp) {
    for (const char* g : {"w", "k", "v", "r", "g"})
      t(std::string("time_mix_lerp_") + g + ".weight", vec);
  } else {
    t("time_mix_lerp_fused.weight", {C, 1, 1, 5});
  }
  t("time_mix_w1.weight", {C, 5 * m.Dm});
  t("time_mix_w2.weight", {m.Dm, C, 5});
  t("time_mix_decay.weight", vec);
  t("time_mix_decay_w1.weight", {C, m.Dd});
  t("time_mix_decay_w2.weight", {m.Dd, C});
  for (const char* n : {"receptance", "gate", "output"})
    t(std::string("time_mix_") + n + ".weight", {C, C}, GgmlType::F16);
  t("time_mix_key.weight", {C, KV}, GgmlType::F16);
  t("time_mix_value.weight", {C, KV}, GgmlType::F16);
  if (m.qrwkv) {
    if (m.biases) {
      t("time_mix_receptance.bias", {C});
      t("time_mix_key.bias", {KV});
      t("time_mix_value.bias", {KV});
    }
    t("ffn_norm.weight", {C});
    t("ffn_gate.weight", {C, F}, GgmlType::F16);
    t("ffn_up.weight", {C, F}, GgmlType::F16);
    t("ffn_down.weight", {F, C}, GgmlType::F16);
    return;
  }
  for (const char* n : {"attn_norm.bias", "attn_norm_2.weight", "attn_norm_2.bias",
                        "time_mix_ln.weight", "time_mix_ln.bias"}) {
    t(n, {C});
  }
  t("channel_mix_lerp_k.weight", vec);
  t("channel_mix_lerp_r.weight", vec);
  t("time_mix_first.weight", {m.S, C / m.S});
  t("channel_mix_key.weight", {C, F}, GgmlType::F16);
  t("channel_mix_value.weight", {F, C}, GgmlType::F16);
  t("channel_mix_receptance.weight", {C, C}, GgmlType::F16);
}

std::filesystem::path write_mini(const TempDir& dir, const Mini& m, const std::string& name) {
  GgufBuilder b;
  add_keys(b, m);
  add_tensor(b, m, "token_embd.weight", {m.C, m.V}, GgmlType::F16);
  if (!m.qrwkv) {
    add_tensor(b, m, "token_embd_norm.weight", {m.C});
    add_tensor(b, m, "token_embd_norm.bias", {m.C});
    add_tensor(b, m, "output_norm.bias", {m.C});
  }
  for (uint64_t il = 0; il < m.layers; ++il) add_layer(b, m, il);
  add_tensor(b, m, "output_norm.weight", {m.C});
  add_tensor(b, m, "output.weight", {m.C, m.V}, GgmlType::F16);
  const auto path = dir.file(name);
  b.write(path);
  return path;
}

// read_config(path) must throw BadModelFile with a message holding the file name and `needles`.
void expect_config_error(const std::filesystem::path& path,
                         std::initializer_list<std::string_view> needles) {
  const gguf::File f = gguf::File::open(path);
  try {
    read_config(f);
    ADD_FAILURE() << path << ": read_config accepted a bad model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadModelFile) << e.message();
    EXPECT_NE(e.message().find(path.filename().string()), std::string::npos) << e.message();
    for (auto n : needles) EXPECT_NE(e.message().find(n), std::string::npos) << e.message();
  }
}

TEST(ModelConfig, MinimalModelsAreAccepted) {
  TempDir dir;
  Mini q;
  const gguf::File fq = gguf::File::open(write_mini(dir, q, "q.gguf"));
  const ModelConfig cq = read_config(fq);
  EXPECT_EQ(cq.H, 2u);
  EXPECT_EQ(cq.Hkv, 1u);
  EXPECT_EQ(cq.F, 96u);
  EXPECT_EQ(cq.V, 16u);
  EXPECT_TRUE(cq.has_rkv_bias);
  EXPECT_FALSE(cq.has_output_norm_bias);
  Mini r;
  r.qrwkv = false, r.legacy_lerp = true, r.lerp_3d = true;
  const gguf::File fr = gguf::File::open(write_mini(dir, r, "r.gguf"));
  const ModelConfig cr = read_config(fr);
  EXPECT_EQ(cr.arch, Arch::Rwkv6);
  EXPECT_FALSE(cr.has_lerp_fused);
  EXPECT_EQ(cr.rescale_every, 6u);
  EXPECT_EQ(cr.Hkv, cr.H);
  Mini nb;  // no biases; head_count_kv 0 means full-width K/V
  nb.biases = false;
  nb.Hkv = 2;
  nb.key_override.emplace("rwkv6qwen2.attention.head_count_kv", GgufValue::u32(0));
  const gguf::File fn = gguf::File::open(write_mini(dir, nb, "nb.gguf"));
  EXPECT_EQ(read_config(fn).Hkv, 2u);
  EXPECT_FALSE(read_config(fn).has_rkv_bias);
}

TEST(ModelConfig, MissingTensor) {
  TempDir dir;
  Mini m;
  m.drop = {"blk.1.ffn_up.weight"};
  expect_config_error(write_mini(dir, m, "missing.gguf"),
                      {"missing tensor", "blk.1.ffn_up.weight"});
  Mini b;
  b.drop = {"blk.1.time_mix_key.bias"};  // biases must come all together in every layer
  expect_config_error(write_mini(dir, b, "bias.gguf"), {"blk.1.time_mix_key.bias"});
}

TEST(ModelConfig, WrongShape) {
  TempDir dir;
  Mini m;  // r/k/v full width although head_count_kv = 1
  m.shape_override["blk.1.time_mix_key.weight"] = {64, 64};
  expect_config_error(write_mini(dir, m, "shape.gguf"),
                      {"'blk.1.time_mix_key.weight'", "{64, 64}", "expected {64, 32}", "KV=32"});
  Mini w2;
  w2.shape_override["blk.0.time_mix_w2.weight"] = {64, 4, 5};
  expect_config_error(write_mini(dir, w2, "w2.gguf"), {"time_mix_w2", "Dm=4"});
}

TEST(ModelConfig, WrongTensorType) {
  TempDir dir;
  Mini m;  // LoRA matrices must stay float
  m.type_override["blk.0.time_mix_w1.weight"] = GgmlType::Q8_0;
  expect_config_error(write_mini(dir, m, "type.gguf"), {"time_mix_w1", "Q8_0"});
  Mini u;  // a matrix type no decoder knows
  u.type_override["blk.0.ffn_up.weight"] = GgmlType::MXFP4;
  expect_config_error(write_mini(dir, u, "mx.gguf"), {"ffn_up", "MXFP4"});
  Mini q;  // quantized projections the kernels decode pass both checks
  q.type_override["blk.0.ffn_up.weight"] = GgmlType::Q8_0;
  const gguf::File f = gguf::File::open(write_mini(dir, q, "q8.gguf"));
  EXPECT_NO_THROW(read_config(f));
  EXPECT_NO_THROW(check_supported_types(f, gpu_supported_types()));
  // A type the GPU kernels do not decode is refused by name (the file itself opens).
  const gguf::File fmx = gguf::File::open(dir.file("mx.gguf"));
  try {
    check_supported_types(fmx, gpu_supported_types());
    ADD_FAILURE() << "MXFP4 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("blk.0.ffn_up.weight"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("MXFP4"), std::string::npos) << e.message();
  }
}

TEST(ModelConfig, UnknownArchitecture) {
  TempDir dir;
  Mini m;
  m.key_override.emplace("general.architecture", GgufValue::str("llama"));
  expect_config_error(write_mini(dir, m, "arch.gguf"), {"'llama'", "rwkv6", "rwkv6qwen2"});
}

TEST(ModelConfig, BadKeys) {
  TempDir dir;
  Mini s;
  s.key_override.emplace("rwkv6qwen2.embedding_length", GgufValue::str("256"));
  expect_config_error(write_mini(dir, s, "str.gguf"), {"rwkv6qwen2.embedding_length"});
  Mini neg;
  neg.key_override.emplace("rwkv6qwen2.block_count", GgufValue::i32(-2));
  expect_config_error(write_mini(dir, neg, "neg.gguf"), {"rwkv6qwen2.block_count"});
  Mini kv;
  kv.key_override.emplace("rwkv6qwen2.attention.head_count_kv", GgufValue::u32(3));
  expect_config_error(write_mini(dir, kv, "kv.gguf"), {"head_count_kv", "3"});
  Mini miss;
  miss.key_override.emplace("rwkv6qwen2.wkv.head_size", GgufValue::u32(0));
  expect_config_error(write_mini(dir, miss, "s0.gguf"), {"wkv.head_size"});
  Mini shift;
  shift.key_override.emplace("rwkv6qwen2.token_shift_count", GgufValue::u32(2));
  expect_config_error(write_mini(dir, shift, "shift.gguf"), {"token_shift_count"});
}

// ---- dequantization ----------------------------------------------------------------------

TEST(Dequant, HalfToFloatEdgeCases) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));                 // smallest normal
  EXPECT_EQ(std::bit_cast<uint32_t>(half_to_float(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(half_to_float(0x7C00), INFINITY);
  EXPECT_EQ(half_to_float(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::isnan(half_to_float(0xFC01)));
}

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}

TEST(Dequant, Q8_0AndQ4_0Blocks) {
  auto q8 = bytes({0x00, 0x40});  // d = 2
  for (int j = 0; j < 32; ++j) q8.push_back(static_cast<std::byte>(static_cast<int8_t>(j - 16)));
  std::vector<float> y(32);
  dequantize_row(static_cast<uint32_t>(GgmlType::Q8_0), q8.data(), y.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * static_cast<float>(j - 16)) << j;
  auto q4 = bytes({0x00, 0x38});  // d = 0.5
  for (int j = 0; j < 16; ++j) q4.push_back(static_cast<std::byte>(j | ((15 - j) << 4)));
  dequantize_row(static_cast<uint32_t>(GgmlType::Q4_0), q4.data(), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8)) << j;            // low nibbles first
    EXPECT_EQ(y[j + 16], 0.5f * static_cast<float>(15 - j - 8)) << j;  // then high nibbles
  }
}

TEST(Dequant, Q5_0HighBitsComeFromQh) {
  auto b = bytes({0x00, 0x3C, 0x01, 0x00, 0x01, 0x80});  // d = 1; qh bits 0, 16, 31 set
  for (int j = 0; j < 16; ++j) b.push_back(std::byte{0});
  std::vector<float> y(32);
  dequantize_row(static_cast<uint32_t>(GgmlType::Q5_0), b.data(), y.data(), 32);
  EXPECT_EQ(y[0], 0.0f);  // 16 - 16
  EXPECT_EQ(y[1], -16.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 0.0f);
  EXPECT_EQ(y[30], -16.0f);
}

TEST(Dequant, Q4_KScalePacking) {
  // d = 1, dmin = 1; sub-block 5's scale/min use the split 6-bit encoding.
  std::vector<std::byte> b(144, std::byte{0});
  b[1] = std::byte{0x3C};
  b[3] = std::byte{0x3C};
  b[4 + 1] = std::byte{0xC0 | 3};  // scales[1]: sc(1) = 3, top bits 3 -> sc(5) high
  b[4 + 5] = std::byte{0x80 | 7};  // scales[5]: mn(1) = 7, top bits 2 -> mn(5) high
  b[4 + 9] = std::byte{0x21};      // scales[9]: sc(5) low = 1, mn(5) low = 2
  for (int l = 0; l < 32; ++l) b[16 + 32 * 2 + l] = std::byte{0x52};  // q = 2 (lo), 5 (hi)
  for (int l = 0; l < 32; ++l) b[16 + l] = std::byte{0x40};           // group 0: hi = 4
  std::vector<float> y(256);
  dequantize_row(static_cast<uint32_t>(GgmlType::Q4_K), b.data(), y.data(), 256);
  EXPECT_EQ(y[32], 3.0f * 4 - 7.0f);                     // sub-block 1
  EXPECT_EQ(y[160], (1 + 48) * 5.0f - (2 + 32) * 1.0f);  // sub-block 5 = group 2, high nibble
  EXPECT_EQ(y[0], 0.0f);
}

TEST(Dequant, UnsupportedTypeIsNamed) {
  std::vector<std::byte> b(64);
  std::vector<float> y(32);
  try {
    dequantize_row(static_cast<uint32_t>(GgmlType::MXFP4), b.data(), y.data(), 32);
    ADD_FAILURE() << "MXFP4 decoded";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("MXFP4"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace vkr::test
