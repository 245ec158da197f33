// kernel.cpp: pipeline creation from embedded SPIR-V, the kernel map and VkPipelineCache persistence.
#include "vkr/kernel.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

size_t KernelKeyHash::operator()(const KernelKey& k) const noexcept {
  size_t h = static_cast<size_t>(k.shader) * 0x9E3779B97F4A7C15ull;
  for (uint32_t i = 0; i < k.n_spec; ++i) h = (h ^ k.spec[i]) * 0x100000001B3ull;
  return h ^ k.n_spec;
}

std::string_view Kernel::name() const { return shader_code(desc_.shader).name; }

std::string Kernel::statistics_summary() const {
  std::string out;
  for (const auto& s : statistics_) {
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", s.name, s.value);
  }
  return out;
}

// The driver's statistics of every executable of `pipeline` (a compute pipeline has one), created
// with VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR. A driver that reports nothing (or fails the
// query) yields an empty list: statistics are a tuning aid, never a reason to fail.
static std::vector<KernelStatistic> query_statistics(const VolkDeviceTable& vk, VkDevice dev,
                                                     VkPipeline pipeline) {
  std::vector<KernelStatistic> out;
  if (!vk.vkGetPipelineExecutablePropertiesKHR || !vk.vkGetPipelineExecutableStatisticsKHR) {
    return out;
  }
  VkPipelineInfoKHR pi{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pi.pipeline = pipeline;
  uint32_t n_exec = 0;
  if (vk.vkGetPipelineExecutablePropertiesKHR(dev, &pi, &n_exec, nullptr) != VK_SUCCESS) return out;
  for (uint32_t e = 0; e < n_exec; ++e) {
    VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t n = 0;
    if (vk.vkGetPipelineExecutableStatisticsKHR(dev, &ei, &n, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> stats(
        n, VkPipelineExecutableStatisticKHR{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    if (vk.vkGetPipelineExecutableStatisticsKHR(dev, &ei, &n, stats.data()) != VK_SUCCESS &&
        n == 0) {
      continue;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const auto& s = stats[i];
      std::string v;
      switch (s.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
          v = s.value.b32 ? "yes" : "no";
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
          v = fmt::format("{}", s.value.i64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
          v = fmt::format("{}", s.value.u64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
          v = fmt::format("{:g}", s.value.f64);
          break;
        default: continue;
      }
      out.push_back({n_exec > 1 ? fmt::format("{}:{}", e, s.name) : std::string(s.name), v});
    }
  }
  return out;
}

static std::filesystem::path default_cache_dir() {
  if (const char* d = std::getenv("VKR_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) {
    return std::filesystem::path(d) / "vkrwkv";
  }
  if (const char* d = std::getenv("HOME"); d && *d) {
    return std::filesystem::path(d) / ".cache" / "vkrwkv";
  }
  return {};
}

// The file name carries the device identity and pipelineCacheUUID: a driver update or another GPU
// gets its own file instead of a rejected blob.
static std::filesystem::path cache_file(const Context& ctx) {
  const auto& opt = ctx.options();
  if (!opt.persist_pipeline_cache) return {};
  auto dir = opt.cache_dir ? *opt.cache_dir : default_cache_dir();
  if (dir.empty()) return {};
  std::string uuid;
  for (uint8_t b : ctx.caps().pipeline_cache_uuid) uuid += fmt::format("{:02x}", b);
  return dir / fmt::format("pipelines-{:04x}-{:04x}-{}.bin", ctx.caps().vendor_id,
                           ctx.caps().device_id, uuid);
}

PipelineCache::PipelineCache(Context& ctx) : ctx_(ctx), file_(cache_file(ctx)) {
  std::vector<char> data;
  if (!file_.empty()) {
    std::ifstream in(file_, std::ios::binary);
    if (in) data.assign(std::istreambuf_iterator<char>(in), {});
  }
  VkPipelineCacheCreateInfo info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  info.initialDataSize = data.size();
  info.pInitialData = data.empty() ? nullptr : data.data();
  VkPipelineCache cache = VK_NULL_HANDLE;
  VkResult r = ctx.vk().vkCreatePipelineCache(ctx.device(), &info, nullptr, &cache);
  if (r != VK_SUCCESS && !data.empty()) {
    // A corrupt or foreign blob must not stop us: start cold.
    info.initialDataSize = 0;
    info.pInitialData = nullptr;
    data.clear();
    r = ctx.vk().vkCreatePipelineCache(ctx.device(), &info, nullptr, &cache);
  }
  check_vk(r, "vkCreatePipelineCache");
  cache_ = Unique<VkPipelineCache>(ctx.device(), cache, ctx.vk().vkDestroyPipelineCache);
  stats_.loaded_bytes = data.size();
}

PipelineCache::~PipelineCache() {
  try {
    save();
  } catch (...) {
    // Failing to persist the cache only costs start-up time next run.
  }
}

void PipelineCache::save() const {
  if (file_.empty()) return;
  std::lock_guard lock(mutex_);
  size_t size = 0;
  const auto& vk = ctx_.vk();
  if (vk.vkGetPipelineCacheData(ctx_.device(), cache_.get(), &size, nullptr) != VK_SUCCESS) return;
  if (size == 0 || stats_.misses == 0) return;  // nothing new to persist
  std::vector<char> data(size);
  if (vk.vkGetPipelineCacheData(ctx_.device(), cache_.get(), &size, data.data()) != VK_SUCCESS) {
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  auto tmp = file_;
  tmp += fmt::format(".tmp{}", static_cast<const void*>(this));
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out.write(data.data(), static_cast<std::streamsize>(size))) return;
  }
  std::filesystem::rename(tmp, file_, ec);  // atomic: concurrent runs never see a torn file
}

PipelineCache::Stats PipelineCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

const Kernel& PipelineCache::get(const KernelDesc& desc, std::initializer_list<uint32_t> spec) {
  require(spec.size() <= kMaxSpecConstants, ErrorCode::InvalidArgument,
          "kernel {}: {} specialization constants (max {})", shader_code(desc.shader).name,
          spec.size(), kMaxSpecConstants);
  require(desc.bindings <= kMaxBindings && desc.push_bytes <= kMaxPushBytes &&
              desc.push_bytes % 4 == 0,
          ErrorCode::InvalidArgument, "kernel {}: {} bindings / {} push bytes out of range",
          shader_code(desc.shader).name, desc.bindings, desc.push_bytes);
  require((desc.texel_mask >> desc.bindings) == 0, ErrorCode::InvalidArgument,
          "kernel {}: texel mask {:#x} names bindings past its {}", shader_code(desc.shader).name,
          desc.texel_mask, desc.bindings);
  KernelKey key{desc.shader, {}, static_cast<uint32_t>(spec.size())};
  std::copy(spec.begin(), spec.end(), key.spec.begin());

  std::lock_guard lock(mutex_);
  if (auto it = kernels_.find(key); it != kernels_.end()) {
    ++stats_.hits;
    return *it->second;
  }
  ++stats_.misses;
  const auto& vk = ctx_.vk();
  VkDevice dev = ctx_.device();
  auto k = std::make_unique<Kernel>();
  k->desc_ = desc;
  k->key_ = key;

  std::array<VkDescriptorSetLayoutBinding, kMaxBindings> bindings{};
  for (uint32_t i = 0; i < desc.bindings; ++i) {
    const bool texel = (desc.texel_mask >> i) & 1u;
    bindings[i] = {i,
                   texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                   1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo sl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  if (ctx_.caps().push_descriptors) {
    sl.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  }
  sl.bindingCount = desc.bindings;
  sl.pBindings = bindings.data();
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  check_vk(vk.vkCreateDescriptorSetLayout(dev, &sl, nullptr, &set_layout),
           "vkCreateDescriptorSetLayout");
  k->set_layout_ = Unique<VkDescriptorSetLayout>(dev, set_layout, vk.vkDestroyDescriptorSetLayout);

  VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_bytes};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout;
  pl.pushConstantRangeCount = desc.push_bytes ? 1 : 0;
  pl.pPushConstantRanges = &pc;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  check_vk(vk.vkCreatePipelineLayout(dev, &pl, nullptr, &layout), "vkCreatePipelineLayout");
  k->layout_ = Unique<VkPipelineLayout>(dev, layout, vk.vkDestroyPipelineLayout);

  const auto& code = shader_code(desc.shader);
  VkShaderModuleCreateInfo sm{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  sm.codeSize = code.words.size() * sizeof(uint32_t);
  sm.pCode = code.words.data();
  VkShaderModule module = VK_NULL_HANDLE;
  check_vk(vk.vkCreateShaderModule(dev, &sm, nullptr, &module),
           fmt::format("vkCreateShaderModule {}", code.name));
  Unique<VkShaderModule> module_owner(dev, module, vk.vkDestroyShaderModule);

  std::array<VkSpecializationMapEntry, kMaxSpecConstants> entries{};
  for (uint32_t i = 0; i < key.n_spec; ++i) {
    entries[i] = {i, i * 4u, 4u};
  }
  VkSpecializationInfo si{key.n_spec, entries.data(), key.n_spec * 4u, key.spec.data()};
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = key.n_spec ? &si : nullptr;
  ci.layout = layout;
  if (ctx_.pipeline_statistics()) ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkPipeline pipeline = VK_NULL_HANDLE;
  check_vk(vk.vkCreateComputePipelines(dev, cache_.get(), 1, &ci, nullptr, &pipeline),
           fmt::format("vkCreateComputePipelines {}", code.name));
  k->pipeline_ = Unique<VkPipeline>(dev, pipeline, vk.vkDestroyPipeline);
  if (ctx_.pipeline_statistics()) k->statistics_ = query_statistics(vk, dev, pipeline);
  return *kernels_.emplace(key, std::move(k)).first->second;
}

}  // namespace vkr
