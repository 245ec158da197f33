// c_api.cpp: vkrwkv.h contexts, device requirements, models, tokens and the last-error slot.
#include <cstring>
#include <string>

#include "c_api_impl.hpp"
#include "vkr/device_requirements.hpp"

namespace vkr::capi {

namespace {
// One message per thread so concurrent callers (different contexts) never see each other's.
thread_local std::string t_last_error;
}  // namespace

int set_error(int code, std::string message) {
  t_last_error = std::move(message);
  return code;
}

void clear_error() { t_last_error.clear(); }

int code_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::NoVulkan: return VKRWKV_ERROR_NO_VULKAN;
    case ErrorCode::DeviceUnsupported: return VKRWKV_ERROR_DEVICE_UNSUPPORTED;
    case ErrorCode::OutOfDeviceMemory:
    case ErrorCode::OutOfHostMemory: return VKRWKV_ERROR_OUT_OF_MEMORY;
    case ErrorCode::DeviceLost: return VKRWKV_ERROR_DEVICE_LOST;
    case ErrorCode::Timeout:
    case ErrorCode::VulkanFailure: return VKRWKV_ERROR_VULKAN;
    case ErrorCode::ShapeMismatch:
    case ErrorCode::InvalidArgument: return VKRWKV_ERROR_INVALID_ARGUMENT;
    case ErrorCode::BadModelFile: return VKRWKV_ERROR_BAD_MODEL;
    case ErrorCode::Io: return VKRWKV_ERROR_IO;
  }
  return VKRWKV_ERROR_INTERNAL;
}

namespace {

ExternalDevice to_external(const vkrwkv_external_device& d) {
  ExternalDevice e;
  e.instance = d.instance;
  e.physical_device = d.physical_device;
  e.device = d.device;
  e.queue_family = d.queue_family;
  e.queue = d.queue;
  e.get_instance_proc_addr = d.get_instance_proc_addr;
  require(d.enabled_extension_count == 0 || d.enabled_extensions, ErrorCode::InvalidArgument,
          "enabled_extensions is NULL but enabled_extension_count is {}",
          d.enabled_extension_count);
  for (uint32_t i = 0; i < d.enabled_extension_count; ++i) {
    require(d.enabled_extensions[i] != nullptr, ErrorCode::InvalidArgument,
            "enabled_extensions[{}] is NULL", i);
    e.enabled_extensions.emplace_back(d.enabled_extensions[i]);
  }
  e.enabled_features = d.enabled_features;
  require(!d.lock_queue == !d.unlock_queue, ErrorCode::InvalidArgument,
          "lock_queue and unlock_queue must be set together");
  e.queue_lock = {d.lock_queue, d.unlock_queue, d.queue_lock_user};
  return e;
}

}  // namespace

// 16-bit weights are read through 16-bit storage buffers; a borrowed device may lack the feature
// (it is optional for quantized/F32 models), so say so here instead of failing in validation.

}  // namespace vkr::capi

using namespace vkr;
using capi::guard;
using capi::need;

extern "C" {

const char* vkrwkv_last_error(void) { return capi::t_last_error.c_str(); }

int vkrwkv_context_create(int device_index, vkrwkv_context** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    require(device_index >= -1, ErrorCode::InvalidArgument,
            "device_index {} (use -1 for the default device)", device_index);
    ContextOptions opt;
    if (device_index >= 0) opt.device = std::to_string(device_index);
    auto h = std::make_unique<vkrwkv_context>();
    h->ctx = Context::create(opt);
    *out = h.release();
    return 0;
  });
}

int vkrwkv_context_create_external(const vkrwkv_external_device* dev, vkrwkv_context** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    need(dev, fn, "dev");
    auto h = std::make_unique<vkrwkv_context>();
    h->ctx = Context::borrow(capi::to_external(*dev));
    *out = h.release();
    return 0;
  });
}

void vkrwkv_context_destroy(vkrwkv_context* ctx) {
  guard(__func__, [&, fn = __func__] {
    delete ctx;
    return 0;
  });
}

int vkrwkv_device_requirements_query(VkInstance instance, VkPhysicalDevice physical_device,
                                     PFN_vkGetInstanceProcAddr gipa,
                                     uint32_t instance_api_version,
                                     vkrwkv_device_requirements* out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    std::memset(out, 0, sizeof(*out));
    DeviceRequirements r =
        required_device_features(instance, physical_device, gipa, instance_api_version);
    out->usable = r.missing.empty() ? 1 : 0;
    std::string missing;
    for (const auto& m : r.missing) missing += (missing.empty() ? "" : ", ") + m;
    std::snprintf(out->missing, sizeof(out->missing), "%s", missing.c_str());
    require(r.extensions.size() <= 8, ErrorCode::InvalidArgument, "too many extensions");
    for (const char* e : r.extensions) out->extensions[out->extension_count++] = e;
    out->features = r.features;
    out->vulkan11 = r.vulkan11;
    out->vulkan12 = r.vulkan12;
    out->vulkan13 = r.vulkan13;
    out->cooperative_matrix_nv = r.coopmat_nv;
    // Same links as DeviceRequirements::chain(), into *out.
    out->features.pNext = &out->vulkan11;
    out->vulkan11.pNext = &out->vulkan12;
    out->vulkan12.pNext = nullptr;
    out->vulkan13.pNext = out->cooperative_matrix_nv.pNext = nullptr;
    void** tail = &out->vulkan12.pNext;
    if (r.api_version >= VK_API_VERSION_1_3) {
      *tail = &out->vulkan13;
      tail = &out->vulkan13.pNext;
    }
    if (r.coopmat_nv.cooperativeMatrix) *tail = &out->cooperative_matrix_nv;
    return 0;
  });
}

int vkrwkv_model_load(vkrwkv_context* ctx, const char* gguf_path, vkrwkv_model** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    need(ctx, fn, "ctx");
    need(gguf_path, fn, "gguf_path");
    LoadOptions opt;
    opt.progress = false;
    auto h = std::make_unique<vkrwkv_model>();
    h->ctx = {ctx->ctx};
    h->model = Model::load(*ctx->ctx, gguf_path, opt);
    *out = h.release();
    return 0;
  });
}

int vkrwkv_model_load_split(vkrwkv_context* const* ctxs, int n_ctxs, const char* gguf_path,
                            const int* layers, vkrwkv_model** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    need(ctxs, fn, "ctxs");
    need(gguf_path, fn, "gguf_path");
    require(n_ctxs >= 1, ErrorCode::InvalidArgument, "{}: n_ctxs = {} (at least one device)", fn,
            n_ctxs);
    LoadOptions opt;
    opt.progress = false;
    auto h = std::make_unique<vkrwkv_model>();
    std::vector<Context*> devices;
    for (int i = 0; i < n_ctxs; ++i) {
      require(ctxs[i] != nullptr, ErrorCode::InvalidArgument, "{}: ctxs[{}] is NULL", fn, i);
      h->ctx.push_back(ctxs[i]->ctx);
      devices.push_back(ctxs[i]->ctx.get());
      if (layers) {
        require(layers[i] >= 1, ErrorCode::InvalidArgument,
                "{}: layers[{}] = {} (each device needs at least one layer)", fn, i, layers[i]);
        opt.layer_split.push_back(static_cast<uint32_t>(layers[i]));
      }
    }
    h->model = Model::load(devices, gguf_path, opt);
    *out = h.release();
    return 0;
  });
}

int vkrwkv_model_n_devices(const vkrwkv_model* model) {
  return guard(__func__, [&, fn = __func__] {
    need(model, fn, "model");
    return static_cast<int>(model->model->parts().size());
  });
}

void vkrwkv_model_free(vkrwkv_model* model) {
  guard(__func__, [&, fn = __func__] {
    delete model;
    return 0;
  });
}

int vkrwkv_model_n_vocab(const vkrwkv_model* model) {
  return guard(__func__, [&, fn = __func__] {
    need(model, fn, "model");
    return static_cast<int>(model->model->config().V);
  });
}

int vkrwkv_model_n_embd(const vkrwkv_model* model) {
  return guard(__func__, [&, fn = __func__] {
    need(model, fn, "model");
    return static_cast<int>(model->model->config().C);
  });
}

static const Tokenizer& tokenizer_of(const vkrwkv_model* model, const char* fn) {
  need(model, fn, "model");
  const Tokenizer* t = model->model->tokenizer();
  require(t != nullptr, ErrorCode::BadModelFile, "{}: the model file has no tokenizer", fn);
  return *t;
}

int vkrwkv_tokenize(const vkrwkv_model* model, const char* utf8, int32_t* ids, int max_ids) {
  return guard(__func__, [&, fn = __func__] {
    const Tokenizer& t = tokenizer_of(model, fn);
    need(utf8, fn, "utf8");
    require(max_ids >= 0, ErrorCode::InvalidArgument, "{}: max_ids {} < 0", fn, max_ids);
    require(ids || max_ids == 0, ErrorCode::InvalidArgument, "{}: ids is NULL but max_ids is {}",
            fn, max_ids);
    auto out = t.encode(utf8, true);
    const auto n = static_cast<int>(out.size());
    if (max_ids == 0 && !ids) return n;
    if (n > max_ids) {
      return capi::set_error(VKRWKV_ERROR_BUFFER_TOO_SMALL,
                             fmt::format("{}: {} ids do not fit in max_ids = {}", fn, n, max_ids));
    }
    std::memcpy(ids, out.data(), out.size() * sizeof(int32_t));
    return n;
  });
}

int vkrwkv_token_to_piece(const vkrwkv_model* model, int32_t id, char* buf, int buf_size) {
  return guard(__func__, [&, fn = __func__] {
    const Tokenizer& t = tokenizer_of(model, fn);
    need(buf, fn, "buf");
    const std::string& bytes = t.token_bytes(id);  // throws InvalidArgument on a bad id
    const auto n = static_cast<int>(bytes.size());
    if (buf_size < n) {
      return capi::set_error(
          VKRWKV_ERROR_BUFFER_TOO_SMALL,
          fmt::format("{}: token {} has {} bytes, buf_size is {}", fn, id, n, buf_size));
    }
    std::memcpy(buf, bytes.data(), bytes.size());
    if (n < buf_size) buf[n] = '\0';
    return n;
  });
}

}  // extern "C"
