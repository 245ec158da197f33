// read_config(): GGUF metadata keys -> ModelConfig, then every needed tensor checked against it.
#include "config.hpp"

#include <array>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <vkr/error.hpp>

#include "dequant.hpp"
#include "gguf_types.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;

template <typename... Args>
[[noreturn]] void fail(const gguf::File& file, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(ErrorCode::BadModelFile,
              fmt::format("{}: {}", file.path().string(),
                          fmt::format(format, std::forward<Args>(args)...)));
}

// ---- metadata keys (spec §1) ---------------------------------------------------------------

std::optional<uint32_t> opt_u32(const gguf::File& file, const std::string& key) {
  const auto v = file.get_uint(key);  // accepts any integer type; throws on other types
  if (!v) return std::nullopt;
  if (*v > std::numeric_limits<uint32_t>::max()) {
    fail(file, "metadata key '{}' = {} does not fit 32 bits", key, *v);
  }
  return static_cast<uint32_t>(*v);
}

uint32_t req_u32(const gguf::File& file, const std::string& key, bool nonzero = true) {
  const auto v = opt_u32(file, key);
  if (!v) fail(file, "missing metadata key '{}'", key);
  if (nonzero && *v == 0) fail(file, "metadata key '{}' is 0, expected a positive value", key);
  return *v;
}

float req_eps(const gguf::File& file, const std::string& key) {
  const auto v = file.get_float(key);
  if (!v) fail(file, "missing metadata key '{}'", key);
  if (!(*v > 0.0 && *v < 1.0)) fail(file, "metadata key '{}' = {} is not an epsilon", key, *v);
  return static_cast<float>(*v);
}

Arch read_arch(const gguf::File& file) {
  const auto name = file.get_string("general.architecture");
  if (!name) fail(file, "missing metadata key 'general.architecture'");
  if (*name == "rwkv6") return Arch::Rwkv6;
  if (*name == "rwkv6qwen2") return Arch::QRwkv6;
  fail(file, "unsupported architecture '{}' (general.architecture); supported: rwkv6, rwkv6qwen2",
       printable(*name));
}

// Head counts: head_count is written as 0 (derive H = C / S); a non-zero value must agree.
// QRWKV6 head_count_kv: absent, 0 or H means full-width K/V.
void read_heads(const gguf::File& file, const std::string& a, ModelConfig& c) {
  if (c.C % c.S != 0)
    fail(file, "embedding_length {} is not a multiple of wkv.head_size {}", c.C, c.S);
  c.H = c.C / c.S;
  const uint32_t written = opt_u32(file, a + ".attention.head_count").value_or(0);
  if (written != 0 && written != c.H) {
    fail(file, "metadata key '{}.attention.head_count' = {}, expected 0 or C/S = {}", a, written,
         c.H);
  }
  c.Hkv = c.H;
  if (c.arch == Arch::QRwkv6) {
    const uint32_t kv = opt_u32(file, a + ".attention.head_count_kv").value_or(0);
    if (kv != 0) c.Hkv = kv;
    if (c.Hkv > c.H || c.H % c.Hkv != 0) {
      fail(file, "metadata key '{}.attention.head_count_kv' = {} does not divide H = {}", a, c.Hkv,
           c.H);
    }
  }
}

void read_keys(const gguf::File& file, ModelConfig& c) {
  const std::string a(arch_name(c.arch));
  c.C = req_u32(file, a + ".embedding_length");
  c.n_layer = req_u32(file, a + ".block_count");
  c.F = req_u32(file, a + ".feed_forward_length");
  c.S = req_u32(file, a + ".wkv.head_size");
  c.Dm = req_u32(file, a + ".time_mix_extra_dim");
  c.Dd = req_u32(file, a + ".time_decay_extra_dim");
  read_heads(file, a, c);
  const uint32_t want_shift = c.arch == Arch::Rwkv6 ? 2 : 1;  // llama.cpp's graphs assert these
  c.token_shift_count = opt_u32(file, a + ".token_shift_count").value_or(want_shift);
  if (c.token_shift_count != want_shift) {
    fail(file, "metadata key '{}.token_shift_count' = {}, expected {} for {}", a,
         c.token_shift_count, want_shift, a);
  }
  if (c.arch == Arch::Rwkv6) {
    c.norm_eps = req_eps(file, a + ".attention.layer_norm_epsilon");
    c.rescale_every = opt_u32(file, a + ".rescale_every_n_layers").value_or(0);
  } else {
    c.norm_eps = req_eps(file, a + ".attention.layer_norm_rms_epsilon");
  }
}

// ---- tensors (spec §2) -----------------------------------------------------------------------

// One named dimension of an expected shape; an empty name marks a literal (e.g. the 5 groups).
struct Dim {
  const char* name;
  uint64_t value;
};

// Vectors and LoRA matrices are always stored in a float type (llama-quantize skips them);
// projection matrices may take any type dequantize_row() decodes.
enum class Kind { Float, Matrix };

std::string shape_string(std::span<const uint64_t> ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", ne[i]);
  return s + "}";
}

// Size-1 dims do not move any element, so {C}, {C,1,1} and {C,1,1,5} ~ {C,5} are compared squeezed.
std::vector<uint64_t> squeezed(std::span<const uint64_t> ne) {
  std::vector<uint64_t> out;
  for (uint64_t d : ne) {
    if (d != 1) out.push_back(d);
  }
  return out;
}

// Checks one tensor; returns nullptr for an absent optional tensor.
const gguf::TensorInfo* check_tensor(const gguf::File& file, const std::string& name,
                                     std::initializer_list<Dim> dims, Kind kind,
                                     bool required = true) {
  const gguf::TensorInfo* t = file.tensor(name);
  std::vector<uint64_t> want;
  std::string note;
  for (const Dim& d : dims) {
    want.push_back(d.value);
    if (d.name[0] != '\0')
      note += fmt::format("{}{}={}", note.empty() ? "" : ", ", d.name, d.value);
  }
  if (t == nullptr) {
    if (!required) return nullptr;
    fail(file, "missing tensor '{}' (expected shape {})", name, shape_string(want));
  }
  if (squeezed(t->ne) != squeezed(want)) {
    fail(file, "tensor '{}' has shape {}, expected {} ({})", name, shape_string(t->ne),
         shape_string(want), note);
  }
  const auto type = t->ggml_type();
  const bool is_float = type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
  if (kind == Kind::Float && !is_float) {
    fail(file, "tensor '{}' has type {}, expected F32, F16 or BF16", name,
         gguf::type_name(t->type));
  }
  if (!dequantize_supported(t->type)) {
    fail(file, "tensor '{}' has unsupported type {}", name, gguf::type_name(t->type));
  }
  return t;
}

std::string blk(uint32_t il, const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); }

// Token-shift LoRA, decay LoRA and the r/k/v/g/o projections: identical names in both archs.
void check_time_mix(const gguf::File& file, const ModelConfig& c, uint32_t il) {
  const Dim C{"C", c.C}, Dm{"Dm", c.Dm}, Dd{"Dd", c.Dd}, KV{"KV", c.KV()};
  const Dim Dm5{"5*Dm", 5ull * c.Dm}, five{"", 5};
  check_tensor(file, blk(il, "time_mix_lerp_x.weight"), {C}, Kind::Float);
  if (c.has_lerp_fused) {
    check_tensor(file, blk(il, "time_mix_lerp_fused.weight"), {C, five}, Kind::Float);
  } else {
    for (const char* g : {"w", "k", "v", "r", "g"}) {
      check_tensor(file, fmt::format("blk.{}.time_mix_lerp_{}.weight", il, g), {C}, Kind::Float);
    }
  }
  check_tensor(file, blk(il, "time_mix_w1.weight"), {C, Dm5}, Kind::Float);
  check_tensor(file, blk(il, "time_mix_w2.weight"), {Dm, C, five}, Kind::Float);
  check_tensor(file, blk(il, "time_mix_decay.weight"), {C}, Kind::Float);
  check_tensor(file, blk(il, "time_mix_decay_w1.weight"), {C, Dd}, Kind::Float);
  check_tensor(file, blk(il, "time_mix_decay_w2.weight"), {Dd, C}, Kind::Float);
  check_tensor(file, blk(il, "time_mix_receptance.weight"), {C, C}, Kind::Matrix);
  check_tensor(file, blk(il, "time_mix_key.weight"), {C, KV}, Kind::Matrix);
  check_tensor(file, blk(il, "time_mix_value.weight"), {C, KV}, Kind::Matrix);
  check_tensor(file, blk(il, "time_mix_gate.weight"), {C, C}, Kind::Matrix);
  check_tensor(file, blk(il, "time_mix_output.weight"), {C, C}, Kind::Matrix);
}

void check_rwkv6_layer(const gguf::File& file, const ModelConfig& c, uint32_t il) {
  const Dim C{"C", c.C}, F{"F", c.F}, S{"S", c.S}, H{"H", c.H};
  for (const char* n : {"attn_norm.weight", "attn_norm.bias", "attn_norm_2.weight",
                        "attn_norm_2.bias", "time_mix_ln.weight", "time_mix_ln.bias",
                        "channel_mix_lerp_k.weight", "channel_mix_lerp_r.weight"}) {
    check_tensor(file, blk(il, n), {C}, Kind::Float);
  }
  check_time_mix(file, c, il);
  check_tensor(file, blk(il, "time_mix_first.weight"), {S, H}, Kind::Float);
  check_tensor(file, blk(il, "channel_mix_key.weight"), {C, F}, Kind::Matrix);
  check_tensor(file, blk(il, "channel_mix_value.weight"), {F, C}, Kind::Matrix);
  check_tensor(file, blk(il, "channel_mix_receptance.weight"), {C, C}, Kind::Matrix);
}

void check_qrwkv6_layer(const gguf::File& file, const ModelConfig& c, uint32_t il) {
  const Dim C{"C", c.C}, F{"F", c.F}, KV{"KV", c.KV()};
  check_tensor(file, blk(il, "attn_norm.weight"), {C}, Kind::Float);
  check_tensor(file, blk(il, "ffn_norm.weight"), {C}, Kind::Float);
  check_time_mix(file, c, il);
  // The three biases come together (Qwen2 q/k/v biases); all layers must agree with layer 0.
  const std::array<std::pair<const char*, Dim>, 3> biases{
      {{"time_mix_receptance.bias", C}, {"time_mix_key.bias", KV}, {"time_mix_value.bias", KV}}};
  for (const auto& [n, d] : biases) {
    const auto* t = check_tensor(file, blk(il, n), {d}, Kind::Float, c.has_rkv_bias);
    if (t != nullptr && !c.has_rkv_bias) {
      fail(file, "unexpected tensor '{}': blk.0 has no r/k/v biases", blk(il, n));
    }
  }
  check_tensor(file, blk(il, "ffn_gate.weight"), {C, F}, Kind::Matrix);
  check_tensor(file, blk(il, "ffn_up.weight"), {C, F}, Kind::Matrix);
  check_tensor(file, blk(il, "ffn_down.weight"), {F, C}, Kind::Matrix);
}

void check_tensors(const gguf::File& file, ModelConfig& c) {
  const gguf::TensorInfo* embd = file.tensor("token_embd.weight");
  if (embd == nullptr) fail(file, "missing tensor 'token_embd.weight'");
  const auto e = squeezed(embd->ne);
  if (e.size() != 2 || e[0] != c.C) {
    fail(file, "tensor 'token_embd.weight' has shape {}, expected {{{}, V}} (C={})",
         shape_string(embd->ne), c.C, c.C);
  }
  c.V = static_cast<uint32_t>(e[1]);
  const Dim C{"C", c.C}, V{"V", c.V};
  check_tensor(file, "token_embd.weight", {C, V}, Kind::Matrix);
  check_tensor(file, "output.weight", {C, V}, Kind::Matrix);
  check_tensor(file, "output_norm.weight", {C}, Kind::Float);
  const bool rwkv6 = c.arch == Arch::Rwkv6;
  c.has_output_norm_bias =
      check_tensor(file, "output_norm.bias", {C}, Kind::Float, rwkv6) != nullptr;
  if (rwkv6) {
    check_tensor(file, "token_embd_norm.weight", {C}, Kind::Float);
    check_tensor(file, "token_embd_norm.bias", {C}, Kind::Float);
  }
  c.has_lerp_fused = file.tensor(blk(0, "time_mix_lerp_fused.weight")) != nullptr;
  c.has_rkv_bias = !rwkv6 && file.tensor(blk(0, "time_mix_receptance.bias")) != nullptr;
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    if (rwkv6) {
      check_rwkv6_layer(file, c, il);
    } else {
      check_qrwkv6_layer(file, c, il);
    }
  }
}

constexpr std::array<GgmlType, 22> kGpuTypes{
    GgmlType::F32,     GgmlType::F16,   GgmlType::BF16,    GgmlType::Q8_0,   GgmlType::Q4_0,
    GgmlType::Q4_1,    GgmlType::Q5_0,  GgmlType::Q5_1,    GgmlType::Q2_K,   GgmlType::Q3_K,
    GgmlType::Q4_K,    GgmlType::Q5_K,  GgmlType::Q6_K,    GgmlType::IQ4_NL, GgmlType::IQ4_XS,
    GgmlType::IQ1_S,   GgmlType::IQ1_M, GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S,
    GgmlType::IQ3_XXS, GgmlType::IQ3_S};

}  // namespace

std::string_view arch_name(Arch arch) { return arch == Arch::Rwkv6 ? "rwkv6" : "rwkv6qwen2"; }

ModelConfig read_config(const gguf::File& file) {
  ModelConfig c;
  c.arch = read_arch(file);
  read_keys(file, c);
  check_tensors(file, c);
  return c;
}

void check_supported_types(const gguf::File& file, std::span<const gguf::GgmlType> types) {
  for (const gguf::TensorInfo& t : file.tensors()) {
    bool ok = false;
    for (GgmlType ty : types) ok = ok || ty == t.ggml_type();
    if (ok) continue;
    std::string list;
    for (GgmlType ty : types)
      list += fmt::format("{}{}", list.empty() ? "" : ", ", gguf::type_name(ty));
    fail(file, "tensor '{}' has type {}, which this backend does not support yet (supported: {})",
         t.name, gguf::type_name(t.type), list);
  }
}

std::span<const gguf::GgmlType> gpu_supported_types() { return kGpuTypes; }

std::string describe(const ModelConfig& c) {
  const bool rwkv6 = c.arch == Arch::Rwkv6;
  std::string s = fmt::format(
      "{} ({}): {} layers, C={}, F={}, V={}, {} heads of size {}", arch_name(c.arch),
      rwkv6 ? "RWKV-6 Finch" : "QRWKV6 gated linear attention", c.n_layer, c.C, c.F, c.V, c.H, c.S);
  if (!rwkv6) {
    s += fmt::format(" ({} kv heads, n_rep {}{})", c.Hkv, c.n_rep(),
                     c.has_rkv_bias ? ", r/k/v biases" : "");
  }
  s += fmt::format(", LoRA ranks Dm={} Dd={}, {} eps {:g}", c.Dm, c.Dd,
                   rwkv6 ? "LayerNorm" : "RMSNorm", c.norm_eps);
  if (rwkv6) {
    s += c.rescale_every == 0 ? std::string(", no rescale")
                              : fmt::format(", residual halved every {} layers", c.rescale_every);
  }
  if (!c.has_lerp_fused) s += ", legacy per-gate lerp tensors";
  s += fmt::format("; recurrent state {:.1f} KiB per sequence.",
                   static_cast<double>(state_bytes_per_sequence(c)) / 1024.0);
  return s;
}

uint64_t state_bytes_per_sequence(const ModelConfig& c) {
  const uint64_t shift = uint64_t{c.token_shift_count} * c.C;
  const uint64_t wkv = uint64_t{c.H} * c.S * c.S;
  return uint64_t{c.n_layer} * (shift + wkv) * sizeof(float);
}

}  // namespace vkr
