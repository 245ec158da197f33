// write_random_model(): the tensors and keys llama.cpp's converter writes for rwkv6 / rwkv6qwen2
// (spec §1-§2), filled with seeded random values scaled so a forward pass behaves like a trained
// model's (O(1) activations, logits std ~2, decays spread over 0.3..0.999).
#include "random_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vkr/error.hpp>

#include "gguf_writer.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;
using gguf::KvValue;

// splitmix64: tiny, fast, and fully specified, so files are identical on every platform
// (std::normal_distribution is implementation-defined).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-24f; }  // [0, 1)
  // Sum of four 16-bit uniforms, standardized: close to N(0,1), one draw per value, and bounded
  // (|x| < 3.5), which keeps f16 weights far from overflow.
  float normal() {
    const uint64_t r = next();
    const uint64_t s = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
    return (static_cast<float>(s) * 0x1p-16f - 2.0f) * 1.7320508f;
  }
};

GgmlType matrix_type(const std::string& dtype) {
  if (dtype == "f32") return GgmlType::F32;
  if (dtype == "f16") return GgmlType::F16;
  if (dtype == "bf16") return GgmlType::BF16;
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("dtype '{}' is not supported (choose f32, f16 or bf16)", dtype));
}

uint32_t file_type(GgmlType t) {  // llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_BF16
  return t == GgmlType::F32 ? 0u : t == GgmlType::F16 ? 1u : 32u;
}

void store(std::span<const float> src, GgmlType type, std::byte* dst) {
  if (type == GgmlType::F32) {
    std::memcpy(dst, src.data(), src.size_bytes());
    return;
  }
  for (size_t i = 0; i < src.size(); ++i) {
    const uint16_t h =
        type == GgmlType::F16 ? gguf::float_to_half(src[i]) : gguf::float_to_bf16(src[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}

std::string blk(uint32_t il, const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); }

// Adds tensors to a writer, each with its own seed derived from (spec seed, tensor index), so a
// tensor's values depend on nothing but its place in the file.
class Builder {
 public:
  Builder(const RandomModelSpec& s, gguf::GgufWriter& w)
      : s_(s), w_(w), big_(matrix_type(s.dtype)), H_(s.C / s.S) {}
  void build();

 private:
  uint64_t next_seed() {
    Rng mix{s_.seed ^ (0xd1b54a32d192ed03ull * ++count_)};
    return mix.next();
  }
  // Projection matrix ne = {in, out}: N(0, sigma) in the file's matrix dtype.
  void matrix(std::string name, uint64_t in, uint64_t out, float sigma);
  // F32 tensor whose element i is f(i, rng).
  void vec(std::string name, std::vector<uint64_t> ne, std::function<float(uint64_t, Rng&)> f);
  void normal_vec(std::string name, std::vector<uint64_t> ne, float mean, float sigma) {
    vec(std::move(name), std::move(ne),
        [mean, sigma](uint64_t, Rng& r) { return mean + sigma * r.normal(); });
  }
  void uniform_vec(std::string name, std::vector<uint64_t> ne) {
    vec(std::move(name), std::move(ne), [](uint64_t, Rng& r) { return r.uniform(); });
  }
  void time_mix(uint32_t il, float out_scale);
  void decay(uint32_t il);
  void rwkv6_layer(uint32_t il);
  void qrwkv6_layer(uint32_t il);

  const RandomModelSpec& s_;
  gguf::GgufWriter& w_;
  GgmlType big_;
  uint32_t H_;
  uint64_t count_ = 0;
};

void Builder::matrix(std::string name, uint64_t in, uint64_t out, float sigma) {
  const GgmlType type = big_;
  w_.add_tensor(std::move(name), {in, out}, type,
                [seed = next_seed(), in, out, sigma, type](std::span<std::byte> bytes) {
                  Rng rng{seed};
                  std::vector<float> row(in);
                  const uint64_t row_bytes = bytes.size() / out;
                  for (uint64_t o = 0; o < out; ++o) {
                    for (float& x : row) x = sigma * rng.normal();
                    store(row, type, bytes.data() + o * row_bytes);
                  }
                });
}

void Builder::vec(std::string name, std::vector<uint64_t> ne,
                  std::function<float(uint64_t, Rng&)> f) {
  w_.add_tensor(std::move(name), std::move(ne), GgmlType::F32,
                [seed = next_seed(), f = std::move(f)](std::span<std::byte> bytes) {
                  Rng rng{seed};
                  for (uint64_t i = 0; i < bytes.size() / 4; ++i) {
                    const float x = f(i, rng);
                    std::memcpy(bytes.data() + 4 * i, &x, 4);
                  }
                });
}

// Whole heads are fast or slow, in a different head order in each layer; within a head the
// channels spread over the head's slice of d0 in [-7, 0.2], i.e. w = exp(-exp(d0)) in
// [0.295, 0.999] (what trained RWKV-6 decays look like).
void Builder::decay(uint32_t il) {
  Rng perm_rng{next_seed()};
  std::vector<uint32_t> perm(H_);
  for (uint32_t h = 0; h < H_; ++h) perm[h] = h;
  for (uint32_t h = H_; h > 1; --h) std::swap(perm[h - 1], perm[perm_rng.next() % h]);
  const uint32_t S = s_.S, H = H_;
  vec(blk(il, "time_mix_decay.weight"), {s_.C}, [perm, S, H](uint64_t c, Rng& r) {
    const double t = (perm[c / S] + (static_cast<double>(c % S) + r.uniform()) / S) / H;
    return static_cast<float>(-7.0 + 7.2 * t);
  });
  const float C = static_cast<float>(s_.C), Dd = static_cast<float>(s_.Dd);
  // The per-token decay LoRA moves d0 by about +-0.3.
  vec(blk(il, "time_mix_decay_w1.weight"), {s_.C, s_.Dd},
      [C](uint64_t, Rng& r) { return 0.5f / std::sqrt(C) * r.normal(); });
  vec(blk(il, "time_mix_decay_w2.weight"), {s_.Dd, s_.C},
      [Dd](uint64_t, Rng& r) { return 0.6f / std::sqrt(Dd) * r.normal(); });
}

// Token-shift LoRA, decay and the r/k/v/g/o projections (identical names in both archs).
void Builder::time_mix(uint32_t il, float out_scale) {
  const uint64_t C = s_.C, KV = uint64_t{s_.Hkv} * s_.S, Dm = s_.Dm;
  const float inv_c = 1.0f / std::sqrt(static_cast<float>(C));
  uniform_vec(blk(il, "time_mix_lerp_x.weight"), {C});
  uniform_vec(blk(il, "time_mix_lerp_fused.weight"), {C, 1, 1, 5});
  normal_vec(blk(il, "time_mix_w1.weight"), {C, 5 * Dm}, 0.0f, 0.5f * inv_c);
  normal_vec(blk(il, "time_mix_w2.weight"), {Dm, C, 5}, 0.0f,
             0.2f / std::sqrt(static_cast<float>(Dm)));
  decay(il);
  matrix(blk(il, "time_mix_receptance.weight"), C, C, inv_c);
  matrix(blk(il, "time_mix_key.weight"), C, KV, inv_c);
  matrix(blk(il, "time_mix_value.weight"), C, KV, inv_c);
  if (s_.rkv_bias) {
    normal_vec(blk(il, "time_mix_receptance.bias"), {C}, 0.0f, 0.1f);
    normal_vec(blk(il, "time_mix_key.bias"), {KV}, 0.0f, 0.1f);
    normal_vec(blk(il, "time_mix_value.bias"), {KV}, 0.0f, 0.1f);
  }
  matrix(blk(il, "time_mix_gate.weight"), C, C, inv_c);
  matrix(blk(il, "time_mix_output.weight"), C, C, 0.5f * inv_c * out_scale);
}

void Builder::rwkv6_layer(uint32_t il) {
  const uint64_t C = s_.C, F = s_.F;
  const float inv_c = 1.0f / std::sqrt(static_cast<float>(C));
  // The converter pre-divides the two residual-feeding matrices by 2^floor(il / R), matching the
  // graph's halving of the residual after every R-th layer.
  const float rescale =
      s_.rescale_every == 0 ? 1.0f : std::ldexp(1.0f, -static_cast<int>(il / s_.rescale_every));
  normal_vec(blk(il, "attn_norm.weight"), {C}, 1.0f, 0.1f);
  normal_vec(blk(il, "attn_norm.bias"), {C}, 0.0f, 0.05f);
  normal_vec(blk(il, "attn_norm_2.weight"), {C}, 1.0f, 0.1f);
  normal_vec(blk(il, "attn_norm_2.bias"), {C}, 0.0f, 0.05f);
  time_mix(il, rescale);
  normal_vec(blk(il, "time_mix_first.weight"), {s_.S, H_}, 0.0f, 0.5f);
  normal_vec(blk(il, "time_mix_ln.weight"), {C}, 1.0f, 0.1f);
  normal_vec(blk(il, "time_mix_ln.bias"), {C}, 0.0f, 0.05f);
  uniform_vec(blk(il, "channel_mix_lerp_k.weight"), {C});
  uniform_vec(blk(il, "channel_mix_lerp_r.weight"), {C});
  matrix(blk(il, "channel_mix_key.weight"), C, F, inv_c);
  // relu(k)^2 has second moment 1.5 for unit-variance k.
  matrix(blk(il, "channel_mix_value.weight"), F, C,
         0.4f / std::sqrt(static_cast<float>(F)) * rescale);
  matrix(blk(il, "channel_mix_receptance.weight"), C, C, inv_c);
}

void Builder::qrwkv6_layer(uint32_t il) {
  const uint64_t C = s_.C, F = s_.F;
  const float inv_c = 1.0f / std::sqrt(static_cast<float>(C));
  normal_vec(blk(il, "attn_norm.weight"), {C}, 1.0f, 0.1f);
  time_mix(il, 1.0f);
  normal_vec(blk(il, "ffn_norm.weight"), {C}, 1.0f, 0.1f);
  matrix(blk(il, "ffn_gate.weight"), C, F, inv_c);
  matrix(blk(il, "ffn_up.weight"), C, F, inv_c);
  matrix(blk(il, "ffn_down.weight"), F, C, 0.5f / std::sqrt(static_cast<float>(F)));
}

void Builder::build() {
  const uint64_t C = s_.C, V = s_.V;
  const bool rwkv6 = s_.arch == Arch::Rwkv6;
  matrix("token_embd.weight", C, V, 1.0f);
  if (rwkv6) {
    normal_vec("token_embd_norm.weight", {C}, 1.0f, 0.1f);
    normal_vec("token_embd_norm.bias", {C}, 0.0f, 0.05f);
  }
  for (uint32_t il = 0; il < s_.n_layer; ++il) {
    if (rwkv6) {
      rwkv6_layer(il);
    } else {
      qrwkv6_layer(il);
    }
  }
  normal_vec("output_norm.weight", {C}, 1.0f, 0.1f);
  if (rwkv6) normal_vec("output_norm.bias", {C}, 0.0f, 0.05f);
  // Unit-RMS normalized input: logits std = sigma * sqrt(C) = 2.
  matrix("output.weight", C, V, 2.0f / std::sqrt(static_cast<float>(C)));
}

// Metadata keys in the order llama.cpp's converter writes them (spec §1).
void add_keys(const RandomModelSpec& s, gguf::GgufWriter& w) {
  const std::string a(arch_name(s.arch));
  const bool rwkv6 = s.arch == Arch::Rwkv6;
  w.add_kv("general.architecture", KvValue::str(a));
  w.add_kv("general.name", KvValue::str(fmt::format("random-{}-{}", a, s.dtype)));
  w.add_kv(a + ".context_length", KvValue::u32(1048576));  // RWKV has no context limit
  w.add_kv(a + ".embedding_length", KvValue::u32(s.C));
  w.add_kv(a + ".block_count", KvValue::u32(s.n_layer));
  w.add_kv(a + ".feed_forward_length", KvValue::u32(s.F));
  w.add_kv(a + ".attention.head_count", KvValue::u32(0));  // "required by llama.cpp, unused"
  w.add_kv(a + ".wkv.head_size", KvValue::u32(s.S));
  w.add_kv(a + ".time_mix_extra_dim", KvValue::u32(s.Dm));
  w.add_kv(a + ".time_decay_extra_dim", KvValue::u32(s.Dd));
  w.add_kv("general.file_type", KvValue::u32(file_type(matrix_type(s.dtype))));
  if (rwkv6) {
    w.add_kv(a + ".attention.layer_norm_epsilon", KvValue::f32(s.norm_eps));
    w.add_kv(a + ".rescale_every_n_layers", KvValue::u32(s.rescale_every));
  } else {
    w.add_kv(a + ".attention.layer_norm_rms_epsilon", KvValue::f32(s.norm_eps));
    w.add_kv(a + ".token_shift_count", KvValue::u32(1));
    w.add_kv(a + ".attention.head_count_kv", KvValue::u32(s.Hkv));
  }
}

void add_tokenizer(const RandomModelSpec& s, gguf::GgufWriter& w) {
  const bool rwkv6 = s.arch == Arch::Rwkv6;
  const RandomVocab v = rwkv6 ? random_world_vocab(s.V) : random_bpe_vocab(s.V);
  w.add_kv("tokenizer.ggml.model", KvValue::str(rwkv6 ? "rwkv" : "gpt2"));
  if (!rwkv6) w.add_kv("tokenizer.ggml.pre", KvValue::str("qwen2"));
  w.add_kv("tokenizer.ggml.tokens", KvValue::string_array(v.tokens));
  w.add_kv("tokenizer.ggml.token_type", KvValue::i32_array(v.token_types));
  if (rwkv6) {
    w.add_kv("tokenizer.chat_template", KvValue::str("rwkv-world"));
  } else {
    w.add_kv("tokenizer.ggml.merges", KvValue::string_array(v.merges));
    w.add_kv("tokenizer.ggml.eos_token_id", KvValue::u32(static_cast<uint32_t>(v.eos_id)));
  }
}

}  // namespace

RandomModelSpec resolved(const RandomModelSpec& spec) {
  RandomModelSpec s = spec;
  const bool rwkv6 = s.arch == Arch::Rwkv6;
  matrix_type(s.dtype);  // throws on an unknown dtype
  require(s.n_layer >= 1, ErrorCode::InvalidArgument, "--layers must be at least 1");
  require(s.C >= 1 && s.F >= 1 && s.V >= 1, ErrorCode::InvalidArgument,
          "width, FFN width and vocab must be positive");
  // The WKV kernels run one head per workgroup with S a multiple of the 32-wide tiles.
  require(s.S >= 32 && s.S <= 256 && s.S % 32 == 0, ErrorCode::InvalidArgument,
          "head size {} is not supported: it must be a multiple of 32 in [32, 256]", s.S);
  require(s.C % s.S == 0, ErrorCode::InvalidArgument,
          "width {} is not a multiple of the head size {}", s.C, s.S);
  const uint32_t H = s.C / s.S;
  if (rwkv6) {
    require(s.Hkv == 0 || s.Hkv == H, ErrorCode::InvalidArgument,
            "rwkv6 has no grouped K/V: --kv-heads must be {} (H) or 0", H);
    require(!s.rkv_bias, ErrorCode::InvalidArgument,
            "r/k/v biases exist only in rwkv6qwen2 (QRWKV6) models");
    s.Hkv = H;
  } else {
    require(s.rescale_every == 0, ErrorCode::InvalidArgument,
            "rescale_every applies only to rwkv6 models");
    if (s.Hkv == 0) s.Hkv = H % 4 == 0 ? H / 4 : H;
    require(s.Hkv <= H && H % s.Hkv == 0, ErrorCode::InvalidArgument,
            "kv heads {} do not divide the {} query heads (C/S)", s.Hkv, H);
  }
  const bool wide = rwkv6 ? s.C == 4096 : s.C >= 4096;  // the converter's default ranks
  if (s.Dm == 0) s.Dm = wide ? 64 : 32;
  if (s.Dd == 0) s.Dd = wide ? 128 : 64;
  if (s.norm_eps == 0.0f) s.norm_eps = rwkv6 ? 1e-5f : 1e-6f;
  require(s.norm_eps > 0.0f && s.norm_eps < 1.0f, ErrorCode::InvalidArgument,
          "norm eps {} is not an epsilon", s.norm_eps);
  if (s.with_tokenizer) {
    const uint32_t min_v = rwkv6 ? 257 : 258;
    require(s.V >= min_v, ErrorCode::InvalidArgument,
            "vocab {} is too small for the generated tokenizer (at least {})", s.V, min_v);
  }
  return s;
}

uint64_t random_model_data_bytes(const RandomModelSpec& spec) {
  const RandomModelSpec s = resolved(spec);
  gguf::GgufWriter w;
  Builder(s, w).build();  // only declares tensors; nothing is generated until write()
  return w.data_bytes();
}

void write_random_model(const RandomModelSpec& spec, const std::filesystem::path& path,
                        const std::function<void(uint64_t, uint64_t)>& progress) {
  const RandomModelSpec s = resolved(spec);
  gguf::GgufWriter w;
  add_keys(s, w);
  if (s.with_tokenizer) add_tokenizer(s, w);
  Builder(s, w).build();
  w.write(path, progress);
}

}  // namespace vkr
