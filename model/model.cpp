// model.cpp: Model::load (config, memory plan check, upload with progress, per-layer views).
#include "model.hpp"

#include <fmt/format.h>

#include "dequant.hpp"
#include "forward.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Hash of everything that makes a state file meaningful for a model: arch, dims, tensor
// names, shapes and types (not the weight bytes: hashing gigabytes at load would cost seconds).
uint64_t model_fingerprint(const gguf::File& file, const ModelConfig& c) {
  uint64_t h = 0xCBF29CE484222325ull;
  h = fnv1a(h, fmt::format("{} {} {} {} {} {} {} {} {} {}", arch_name(c.arch), c.n_layer, c.C,
                           c.F, c.S, c.H, c.Hkv, c.V, c.Dm, c.Dd));
  for (const auto& t : file.tensors()) {
    h = fnv1a(h, t.name);
    for (uint64_t d : t.ne) h = fnv1a(h, fmt::format(",{}", d));
    h = fnv1a(h, fmt::format(":{}", t.type));
  }
  return h;
}

std::string blk(uint32_t i, std::string_view name) { return fmt::format("blk.{}.{}", i, name); }

}  // namespace

MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens) {
  MemoryPlan p;
  for (const auto& t : file.tensors()) p.weights += (t.n_bytes + 255) / 256 * 256;
  p.weights += uint64_t{config.n_layer} * 7 * config.C * sizeof(float);  // stacked lerps
  p.state_per_sequence = state_bytes_per_sequence(config);
  p.scratch = scratch_bytes(config, max_tokens);
  return p;
}

void check_memory_plan(const Context& ctx, const MemoryPlan& plan, uint32_t sequences,
                       const std::string& model_name) {
  // The largest device-local heap is where weights go; its budget (VK_EXT_memory_budget) or, when
  // the driver cannot tell, its size.
  uint64_t available = 0;
  for (const auto& h : ctx.memory_budget()) {
    if (!h.device_local) continue;
    const uint64_t free = h.budget ? (h.budget > h.usage ? h.budget - h.usage : 0) : h.size;
    available = std::max(available, free);
  }
  const uint64_t need = plan.total(sequences);
  auto mib = [](uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  require(need <= available, ErrorCode::OutOfDeviceMemory,
          "{}: needs {:.0f} MiB on {} (weights {:.0f} + state {:.0f} x {} sequences + scratch "
          "{:.0f} MiB) but only {:.0f} MiB are available",
          model_name, mib(need), ctx.caps().device_name, mib(plan.weights),
          mib(plan.state_per_sequence), sequences, mib(plan.scratch), mib(available));
}

// F16/BF16 weights are read as 16-bit storage elements; a device (or a borrowed one whose host did
// not enable storageBuffer16BitAccess) without it is refused before anything is uploaded.
static void check_device_features(const Context& ctx, const gguf::File& file,
                                  const std::string& name) {
  if (ctx.caps().fp16_storage) return;
  for (const auto& t : file.tensors()) {
    const bool half = t.ggml_type() == gguf::GgmlType::F16 || t.ggml_type() == gguf::GgmlType::BF16;
    require(!half, ErrorCode::DeviceUnsupported,
            "{}: tensor {} is {}, which needs storageBuffer16BitAccess "
            "(VkPhysicalDeviceVulkan11Features) on {}",
            name, t.name, gguf::type_name(t.ggml_type()), ctx.caps().device_name);
  }
}

Model::Model(Context& ctx, gguf::File file) : ctx_(ctx), file_(std::move(file)) {}

std::unique_ptr<Model> Model::load(Context& ctx, const std::filesystem::path& path,
                                   const LoadOptions& options) {
  require(options.max_tokens > 0 && options.sequences > 0, ErrorCode::InvalidArgument,
          "max_tokens and sequences must be > 0");
  std::unique_ptr<Model> m(new Model(ctx, gguf::File::open(path)));
  m->options_ = options;
  m->config_ = read_config(m->file_);
  check_supported_types(m->file_, gpu_supported_types());
  m->plan_ = plan_memory(m->file_, m->config_, options.max_tokens);
  const std::string name = path.filename().string();
  check_memory_plan(ctx, m->plan_, options.sequences, name);
  check_device_features(ctx, m->file_, name);
  m->fingerprint_ = model_fingerprint(m->file_, m->config_);
  if (m->file_.get_string("tokenizer.ggml.model")) {
    m->tokenizer_.emplace(vocab_from_gguf(m->file_));
  }
  m->weights_ = std::make_unique<WeightStore>(
      ctx, m->file_, options.progress ? terminal_progress("loading " + name) : nullptr);
  m->bind_weights();
  return m;
}

void Model::bind_weights() {
  const auto& c = config_;
  auto& w = *weights_;
  auto get = [&](const std::string& n) { return w.at(n).view; };
  auto opt = [&](const std::string& n) { return w.find(n) ? w.at(n).view : Tensor{}; };
  auto host = [&](const std::string& n) {
    const auto* info = file_.tensor(n);
    require(info != nullptr, ErrorCode::BadModelFile, "{}: missing tensor '{}'",
            file_.path().string(), n);
    return dequantize_tensor(file_, *info);
  };
  token_embd_ = get("token_embd.weight");
  output_ = get("output.weight");
  output_norm_w_ = get("output_norm.weight");
  output_norm_b_ = opt("output_norm.bias");
  embd_norm_w_ = opt("token_embd_norm.weight");
  embd_norm_b_ = opt("token_embd_norm.bias");
  const Shape vec{c.C};
  for (uint32_t i = 0; i < c.n_layer; ++i) {
    LayerWeights L;
    L.attn_norm_w = get(blk(i, "attn_norm.weight"));
    L.attn_norm_b = opt(blk(i, "attn_norm.bias"));
    L.lerp_x = reshaped(get(blk(i, "time_mix_lerp_x.weight")), vec, "time_mix_lerp_x");
    if (c.has_lerp_fused) {
      L.lambda = reshaped(get(blk(i, "time_mix_lerp_fused.weight")), Shape{5, c.C}, "lerp_fused");
    } else {  // legacy per-gate vectors, stacked once here in the fused order w,k,v,r,g
      std::vector<float> stacked;
      for (const char* g : {"w", "k", "v", "r", "g"}) {
        auto part = host(blk(i, fmt::format("time_mix_lerp_{}.weight", g)));
        stacked.insert(stacked.end(), part.begin(), part.end());
      }
      const std::string n = blk(i, "time_mix_lerp_fused.derived");
      w.add_derived(ctx_, n, stacked, Shape{5, c.C});
      L.lambda = get(n);
    }
    L.w1 = get(blk(i, "time_mix_w1.weight"));
    L.w2 = reshaped(get(blk(i, "time_mix_w2.weight")), Shape{5, c.C, c.Dm}, "time_mix_w2");
    L.decay = reshaped(get(blk(i, "time_mix_decay.weight")), vec, "time_mix_decay");
    L.decay_w1 = get(blk(i, "time_mix_decay_w1.weight"));
    L.decay_w2 = get(blk(i, "time_mix_decay_w2.weight"));
    L.wr = get(blk(i, "time_mix_receptance.weight"));
    L.wk = get(blk(i, "time_mix_key.weight"));
    L.wv = get(blk(i, "time_mix_value.weight"));
    L.wg = get(blk(i, "time_mix_gate.weight"));
    L.wo = get(blk(i, "time_mix_output.weight"));
    L.br = opt(blk(i, "time_mix_receptance.bias"));
    L.bk = opt(blk(i, "time_mix_key.bias"));
    L.bv = opt(blk(i, "time_mix_value.bias"));
    if (c.arch == Arch::Rwkv6) {
      L.ffn_norm_w = get(blk(i, "attn_norm_2.weight"));
      L.ffn_norm_b = get(blk(i, "attn_norm_2.bias"));
      L.first = reshaped(get(blk(i, "time_mix_first.weight")), Shape{c.H, c.S}, "time_mix_first");
      L.ln_x_w = get(blk(i, "time_mix_ln.weight"));
      L.ln_x_b = get(blk(i, "time_mix_ln.bias"));
      auto mu = host(blk(i, "channel_mix_lerp_k.weight"));
      auto mu_r = host(blk(i, "channel_mix_lerp_r.weight"));
      mu.insert(mu.end(), mu_r.begin(), mu_r.end());
      const std::string n = blk(i, "channel_mix_lerp_kr.derived");
      w.add_derived(ctx_, n, mu, Shape{2, c.C});
      L.cm_mu = get(n);
      L.cm_key = get(blk(i, "channel_mix_key.weight"));
      L.cm_value = get(blk(i, "channel_mix_value.weight"));
      L.cm_recept = get(blk(i, "channel_mix_receptance.weight"));
    } else {
      L.ffn_norm_w = get(blk(i, "ffn_norm.weight"));
      L.ffn_gate = get(blk(i, "ffn_gate.weight"));
      L.ffn_up = get(blk(i, "ffn_up.weight"));
      L.ffn_down = get(blk(i, "ffn_down.weight"));
    }
    layers_.push_back(L);
  }
}

}  // namespace vkr
