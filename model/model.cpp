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

bool tensor_in_part(std::string_view name, const ModelConfig& config, uint32_t first,
                    uint32_t end) {
  if (name.starts_with("blk.")) {
    uint32_t l = 0;
    size_t i = 4;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') l = l * 10 + (name[i++] - '0');
    return l >= first && l < end;
  }
  // token_embd(.weight) and token_embd_norm go with the embedding, output(_norm) with the head.
  if (name.starts_with("output")) return end == config.n_layer;
  return first == 0;
}

MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens,
                       uint32_t first, uint32_t end) {
  MemoryPlan p;
  for (const auto& t : file.tensors()) {
    if (tensor_in_part(t.name, config, first, end)) p.weights += (t.n_bytes + 255) / 256 * 256;
  }
  const uint32_t layers = end - first;
  p.weights += uint64_t{layers} * 7 * config.C * sizeof(float);  // stacked lerps
  p.state_per_sequence = state_bytes_per_sequence(config) / config.n_layer * layers;
  p.scratch = scratch_bytes(config, max_tokens, first == 0, end == config.n_layer);
  return p;
}

MemoryPlan plan_memory(const gguf::File& file, const ModelConfig& config, uint32_t max_tokens) {
  return plan_memory(file, config, max_tokens, 0, config.n_layer);
}

uint64_t device_free_bytes(const Context& ctx) {
  // The largest device-local heap is where weights go; its budget (VK_EXT_memory_budget) or, when
  // the driver cannot tell, its size.
  uint64_t available = 0;
  for (const auto& h : ctx.memory_budget()) {
    if (!h.device_local) continue;
    const uint64_t free = h.budget ? (h.budget > h.usage ? h.budget - h.usage : 0) : h.size;
    available = std::max(available, free);
  }
  return available;
}

std::vector<uint32_t> plan_layer_split(const gguf::File& file, const ModelConfig& config,
                                       std::span<const uint64_t> free_bytes,
                                       std::span<const uint32_t> split) {
  const auto n = static_cast<uint32_t>(free_bytes.size());
  const uint32_t L = config.n_layer;
  require(n >= 1, ErrorCode::InvalidArgument, "{}: no device to load the model on",
          file.path().filename().string());
  require(n <= L, ErrorCode::InvalidArgument,
          "{}: {} devices for {} layers (each device needs at least one layer)",
          file.path().filename().string(), n, L);
  if (!split.empty()) {
    require(split.size() == n, ErrorCode::InvalidArgument,
            "layer split: {} counts given for {} devices (one per device)", split.size(), n);
    uint64_t sum = 0;
    for (size_t i = 0; i < split.size(); ++i) {
      require(split[i] >= 1, ErrorCode::InvalidArgument,
              "layer split: device {} gets 0 layers (each device needs at least one)", i);
      sum += split[i];
    }
    require(sum == L, ErrorCode::InvalidArgument,
            "layer split: the counts sum to {}, the model has {} layers", sum, L);
    return {split.begin(), split.end()};
  }
  // Weights of each layer, the embedding counted with layer 0 and the head with the last layer.
  std::vector<double> w(L, 0.0);
  for (const auto& t : file.tensors()) {
    for (uint32_t l = 0; l < L; ++l) {
      if (tensor_in_part(t.name, config, l, l + 1)) w[l] += static_cast<double>(t.n_bytes);
    }
  }
  double total = 0, cap = 0;
  for (double x : w) total += x;
  for (uint64_t f : free_bytes) cap += static_cast<double>(f);
  std::vector<uint32_t> out(n, 0);
  double done = 0, share = 0;
  uint32_t l = 0;
  for (uint32_t d = 0; d < n; ++d) {
    share += cap > 0 ? static_cast<double>(free_bytes[d]) / cap : 1.0 / n;
    const double target = d + 1 == n ? total : total * share;
    // at least one layer each, and enough left for the devices after this one
    while (l < L && (out[d] == 0 || (done + w[l] / 2 <= target && L - l > n - d - 1))) {
      done += w[l++];
      ++out[d];
    }
  }
  out[n - 1] += L - l;
  return out;
}

void check_memory_plan(const Context& ctx, const MemoryPlan& plan, uint32_t sequences,
                       const std::string& model_name) {
  const uint64_t available = device_free_bytes(ctx);
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

Model::Model(gguf::File file) : file_(std::move(file)) {}

std::unique_ptr<Model> Model::load(Context& ctx, const std::filesystem::path& path,
                                   const LoadOptions& options) {
  Context* one[] = {&ctx};
  return load(one, path, options);
}

std::unique_ptr<Model> Model::load(std::span<Context* const> devices,
                                   const std::filesystem::path& path, const LoadOptions& options) {
  require(options.max_tokens > 0 && options.sequences > 0, ErrorCode::InvalidArgument,
          "max_tokens and sequences must be > 0");
  for (Context* c : devices) {
    require(c != nullptr, ErrorCode::InvalidArgument, "Model::load: null device context");
  }
  std::unique_ptr<Model> m(new Model(gguf::File::open(path)));
  m->options_ = options;
  m->config_ = read_config(m->file_);
  check_supported_types(m->file_, gpu_supported_types());
  const auto& c = m->config_;
  m->plan_ = plan_memory(m->file_, c, options.max_tokens);
  const std::string name = path.filename().string();
  std::vector<uint64_t> free;
  for (Context* d : devices) free.push_back(device_free_bytes(*d));
  const auto split = plan_layer_split(m->file_, c, free, options.layer_split);
  uint32_t first = 0;
  for (size_t i = 0; i < devices.size(); ++i) {
    ModelPart p;
    p.ctx = devices[i];
    p.first = first;
    p.end = first + split[i];
    p.embed = p.first == 0;
    p.head = p.end == c.n_layer;
    p.plan = plan_memory(m->file_, c, options.max_tokens, p.first, p.end);
    first = p.end;
    // Two parts on one device (tests) share its memory: check what the device holds in all.
    MemoryPlan on_device = p.plan;
    for (const auto& q : m->parts_) {
      if (q.ctx != p.ctx) continue;
      on_device.weights += q.plan.weights;
      on_device.state_per_sequence += q.plan.state_per_sequence;
      on_device.scratch += q.plan.scratch;
    }
    const std::string what =
        devices.size() == 1 ? name : fmt::format("{} layers [{}, {})", name, p.first, p.end);
    check_memory_plan(*p.ctx, on_device, options.sequences, what);
    check_device_features(*p.ctx, m->file_, what);
    m->parts_.push_back(p);
  }
  m->fingerprint_ = model_fingerprint(m->file_, c);
  if (m->file_.get_string("tokenizer.ggml.model")) {
    m->tokenizer_.emplace(vocab_from_gguf(m->file_));
  }
  m->layers_.resize(c.n_layer);
  for (size_t i = 0; i < m->parts_.size(); ++i) {
    const auto& p = m->parts_[i];
    const std::string label =
        m->parts_.size() == 1
            ? "loading " + name
            : fmt::format("loading {} layers {}-{} on device {} ({})", name, p.first, p.end - 1,
                          p.ctx->device_index(), p.ctx->caps().device_name);
    auto keep = [&](const std::string& t) { return tensor_in_part(t, c, p.first, p.end); };
    m->weights_.push_back(std::make_unique<WeightStore>(
        *p.ctx, m->file_, options.progress ? terminal_progress(label) : nullptr, keep));
    m->bind_weights(i);
  }
  return m;
}

const ModelPart& Model::part_of_layer(uint32_t l) const {
  for (const auto& p : parts_) {
    if (l >= p.first && l < p.end) return p;
  }
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("layer {} outside the model's {} layers", l, config_.n_layer));
}

void Model::bind_weights(size_t part) {
  const auto& c = config_;
  const ModelPart& p = parts_[part];
  Context& ctx = *p.ctx;
  auto& w = *weights_[part];
  auto get = [&](const std::string& n) { return w.at(n).view; };
  auto opt = [&](const std::string& n) { return w.find(n) ? w.at(n).view : Tensor{}; };
  auto host = [&](const std::string& n) {
    const auto* info = file_.tensor(n);
    require(info != nullptr, ErrorCode::BadModelFile, "{}: missing tensor '{}'",
            file_.path().string(), n);
    return dequantize_tensor(file_, *info);
  };
  if (p.embed) {
    token_embd_ = get("token_embd.weight");
    embd_norm_w_ = opt("token_embd_norm.weight");
    embd_norm_b_ = opt("token_embd_norm.bias");
  }
  if (p.head) {
    output_ = get("output.weight");
    output_norm_w_ = get("output_norm.weight");
    output_norm_b_ = opt("output_norm.bias");
  }
  const Shape vec{c.C};
  for (uint32_t i = p.first; i < p.end; ++i) {
    LayerWeights L;
    L.attn_norm_w = get(blk(i, "attn_norm.weight"));
    L.attn_norm_b = opt(blk(i, "attn_norm.bias"));
    L.lerp_x = reshaped(get(blk(i, "time_mix_lerp_x.weight")), vec, "time_mix_lerp_x");
    if (c.has_lerp_fused) {
      L.lambda = reshaped(get(blk(i, "time_mix_lerp_fused.weight")), Shape{5, c.C}, "lerp_fused");
    } else {  // legacy per-gate vectors, stacked once here in the fused order w,k,v,r,g
      std::vector<float> stacked;
      for (const char* g : {"w", "k", "v", "r", "g"}) {
        auto gate = host(blk(i, fmt::format("time_mix_lerp_{}.weight", g)));
        stacked.insert(stacked.end(), gate.begin(), gate.end());
      }
      const std::string n = blk(i, "time_mix_lerp_fused.derived");
      w.add_derived(ctx, n, stacked, Shape{5, c.C});
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
      w.add_derived(ctx, n, mu, Shape{2, c.C});
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
    layers_[i] = L;
  }
}

}  // namespace vkr
