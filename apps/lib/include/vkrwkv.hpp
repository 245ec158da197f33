// vkrwkv.hpp: header-only C++17 wrapper over vkrwkv.h: RAII handles, exceptions (vkrwkv::Error)
// instead of codes, std::vector/std::string in and out. The library's ABI stays the C one, so this
// works with the static and the shared library alike and never exposes vkrwkv's internals (nor
// volk) to the including program, which may use Vulkan prototypes freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "vkrwkv.h"

namespace vkrwkv {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Throws Error with the thread's last message when rc < 0; returns rc otherwise.
inline long long check(long long rc) {
  if (rc < 0) throw Error(static_cast<int>(rc), vkrwkv_last_error());
  return rc;
}

// What to enable on a device before creating it (see vkrwkv_device_requirements). Not copyable:
// the feature chain points into it.
class DeviceRequirements {
 public:
  DeviceRequirements(VkInstance instance, VkPhysicalDevice pd, PFN_vkGetInstanceProcAddr gipa,
                     uint32_t instance_api_version) {
    check(vkrwkv_device_requirements_query(instance, pd, gipa, instance_api_version, &r_));
  }
  DeviceRequirements(const DeviceRequirements&) = delete;
  DeviceRequirements& operator=(const DeviceRequirements&) = delete;

  bool usable() const { return r_.usable != 0; }
  std::string missing() const { return r_.missing; }
  std::vector<const char*> extensions() const {
    return {r_.extensions, r_.extensions + r_.extension_count};
  }
  // For VkDeviceCreateInfo::pNext (chain through the structs in raw()).
  const VkPhysicalDeviceFeatures2* features() const { return &r_.features; }
  const vkrwkv_device_requirements& raw() const { return r_; }

 private:
  vkrwkv_device_requirements r_{};
};

class Context {
 public:
  explicit Context(int device_index = -1) { check(vkrwkv_context_create(device_index, &h_)); }
  explicit Context(const vkrwkv_external_device& host) {
    check(vkrwkv_context_create_external(&host, &h_));
  }
  ~Context() { vkrwkv_context_destroy(h_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  vkrwkv_context* get() const { return h_; }

 private:
  vkrwkv_context* h_ = nullptr;
};

class Model {
 public:
  Model(Context& ctx, const std::string& gguf_path) {
    check(vkrwkv_model_load(ctx.get(), gguf_path.c_str(), &h_));
  }
  // Split by layers over `devices` (vkrwkv_model_load_split); `layers`: one count per device, or
  // empty to split by free memory.
  Model(const std::vector<Context*>& devices, const std::string& gguf_path,
        const std::vector<int>& layers = {}) {
    if (!layers.empty() && layers.size() != devices.size()) {
      throw Error(VKRWKV_ERROR_INVALID_ARGUMENT,
                  "vkrwkv::Model: " + std::to_string(layers.size()) + " layer counts for " +
                      std::to_string(devices.size()) + " devices (one per device)");
    }
    std::vector<vkrwkv_context*> c;
    for (Context* d : devices) c.push_back(d ? d->get() : nullptr);
    check(vkrwkv_model_load_split(c.data(), static_cast<int>(c.size()), gguf_path.c_str(),
                                  layers.empty() ? nullptr : layers.data(), &h_));
  }
  ~Model() { vkrwkv_model_free(h_); }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int n_vocab() const { return static_cast<int>(check(vkrwkv_model_n_vocab(h_))); }
  int n_embd() const { return static_cast<int>(check(vkrwkv_model_n_embd(h_))); }
  int n_devices() const { return static_cast<int>(check(vkrwkv_model_n_devices(h_))); }
  std::vector<int32_t> tokenize(const std::string& text) const {
    const auto n = static_cast<int>(check(vkrwkv_tokenize(h_, text.c_str(), nullptr, 0)));
    std::vector<int32_t> ids(static_cast<size_t>(n));
    if (n > 0) check(vkrwkv_tokenize(h_, text.c_str(), ids.data(), n));
    return ids;
  }
  std::string piece(int32_t id) const {
    std::string s(64, '\0');
    long long n = vkrwkv_token_to_piece(h_, id, s.data(), static_cast<int>(s.size()));
    if (n == VKRWKV_ERROR_BUFFER_TOO_SMALL) {  // long special-token text
      s.assign(4096, '\0');
      n = vkrwkv_token_to_piece(h_, id, s.data(), static_cast<int>(s.size()));
    }
    s.resize(static_cast<size_t>(check(n)));
    return s;
  }
  vkrwkv_model* get() const { return h_; }

 private:
  vkrwkv_model* h_ = nullptr;
};

class Session {
 public:
  explicit Session(Model& model, int slots = 1) {
    check(vkrwkv_session_create(model.get(), slots, &h_));
    n_vocab_ = model.n_vocab();
    n_embd_ = model.n_embd();
  }
  ~Session() { vkrwkv_session_free(h_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Logits after the last id (n_vocab floats).
  std::vector<float> eval(int slot, const std::vector<int32_t>& ids) {
    std::vector<float> logits(static_cast<size_t>(n_vocab_));
    check(vkrwkv_session_eval(h_, slot, ids.data(), static_cast<int>(ids.size()), logits.data()));
    return logits;
  }
  // The final hidden state after the last id (n_embd floats).
  std::vector<float> eval_hidden(int slot, const std::vector<int32_t>& ids) {
    std::vector<float> hidden(static_cast<size_t>(n_embd_));
    check(vkrwkv_session_eval_hidden(h_, slot, ids.data(), static_cast<int>(ids.size()),
                                     hidden.data()));
    return hidden;
  }
  int32_t eval_greedy(int slot, const std::vector<int32_t>& ids) {
    return static_cast<int32_t>(
        check(vkrwkv_session_eval_greedy(h_, slot, ids.data(), static_cast<int>(ids.size()))));
  }
  void reset(int slot) { check(vkrwkv_session_reset(h_, slot)); }
  std::vector<std::byte> save_state(int slot) const {
    std::vector<std::byte> b(static_cast<size_t>(check(vkrwkv_state_size(h_))));
    check(vkrwkv_state_save(h_, slot, b.data(), static_cast<long long>(b.size())));
    return b;
  }
  void load_state(int slot, const std::vector<std::byte>& b) {
    check(vkrwkv_state_load(h_, slot, b.data(), static_cast<long long>(b.size())));
  }
  void copy_state(int from_slot, int to_slot) { check(vkrwkv_state_copy(h_, from_slot, to_slot)); }
  // State files (vkrwkv_state_save_file / vkrwkv_state_load_file): the state and the ids it read.
  void save_state_file(int slot, const std::string& path,
                       const std::vector<int32_t>& tokens = {}) const {
    check(vkrwkv_state_save_file(h_, slot, path.c_str(), tokens.data(),
                                 static_cast<long long>(tokens.size())));
  }
  std::vector<int32_t> load_state_file(int slot, const std::string& path) {
    const long long n = check(vkrwkv_state_load_file(h_, slot, path.c_str(), nullptr, 0));
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    if (n > 0) {
      check(vkrwkv_state_load_file(h_, slot, path.c_str(), tokens.data(), n));
    }
    return tokens;
  }
  // One decode step for each of the slots [first_slot, first_slot + ids.size()) in one call:
  // ids.size() x n_vocab logits.
  std::vector<float> decode_batch(int first_slot, const std::vector<int32_t>& ids) {
    std::vector<float> logits(ids.size() * static_cast<size_t>(n_vocab_));
    check(vkrwkv_session_decode_batch(h_, first_slot, ids.data(), static_cast<int>(ids.size()),
                                      logits.data()));
    return logits;
  }
  int max_batch() const { return static_cast<int>(check(vkrwkv_session_max_batch(h_))); }
  int max_tokens() const { return static_cast<int>(check(vkrwkv_session_max_tokens(h_))); }
  vkrwkv_forward_io forward_io(int n_tokens) const {
    vkrwkv_forward_io io{};
    check(vkrwkv_session_forward_io(h_, n_tokens, &io));
    return io;
  }
  // Records one forward pass into the host's `cb` (contract: vkrwkv_session_record_forward).
  vkrwkv_forward_io record_forward(int slot, int n_tokens, VkCommandBuffer cb) {
    vkrwkv_forward_io io{};
    check(vkrwkv_session_record_forward(h_, slot, n_tokens, cb, &io));
    return io;
  }
  vkrwkv_session* get() const { return h_; }

 private:
  vkrwkv_session* h_ = nullptr;
  int n_vocab_ = 0;
  int n_embd_ = 0;
};

// A host sampler for one sequence (vkrwkv_sampler_*). sample() does not record the id: accept()
// the ids the sequence really gets (prompt ids too) for the penalties.
class Sampler {
 public:
  static vkrwkv_sampler_params defaults() {
    vkrwkv_sampler_params p{};
    check(vkrwkv_sampler_default_params(&p));
    return p;
  }
  explicit Sampler(const vkrwkv_sampler_params& params = defaults()) {
    check(vkrwkv_sampler_create(&params, &h_));
  }
  ~Sampler() { vkrwkv_sampler_free(h_); }
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  int32_t sample(const float* logits, int n_vocab) {
    return static_cast<int32_t>(check(vkrwkv_sampler_sample(h_, logits, n_vocab)));
  }
  int32_t sample(const std::vector<float>& logits) {
    return sample(logits.data(), static_cast<int>(logits.size()));
  }
  void accept(int32_t id) { check(vkrwkv_sampler_accept(h_, id)); }
  void reset() { check(vkrwkv_sampler_reset(h_)); }
  // Draws constrained to one JSON object of `model`'s vocabulary (after the prompt is accepted).
  void set_json(const Model& model) { check(vkrwkv_sampler_set_json(h_, model.get(), 1)); }
  void clear_json() { check(vkrwkv_sampler_set_json(h_, nullptr, 0)); }
  // One value matching a JSON schema (its text).
  void set_json_schema(const Model& model, const std::string& schema) {
    check(vkrwkv_sampler_set_json_schema(h_, model.get(), schema.c_str()));
  }
  // Draws constrained to the texts of a GBNF grammar (from rule root); clear_json() removes it.
  void set_grammar(const Model& model, const std::string& gbnf) {
    check(vkrwkv_sampler_set_grammar(h_, model.get(), gbnf.c_str()));
  }
  // llama-server's sampling fields as JSON (DRY, mirostat, XTC, logit_bias ...); `model` for
  // token texts, ignore_eos and DRY's breakers (vkrwkv_sampler_configure).
  void configure(const std::string& json, const Model* model = nullptr) {
    check(vkrwkv_sampler_configure(h_, model ? model->get() : nullptr, json.c_str()));
  }
  vkrwkv_sampler* get() const { return h_; }

 private:
  vkrwkv_sampler* h_ = nullptr;
};

}  // namespace vkrwkv
