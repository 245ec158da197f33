// device_requirements.cpp: the feature chain vkrwkv asks a device for, and reading a host's chain.
#include "vkr/device_requirements.hpp"

#include <algorithm>

#include "instance.hpp"
#include "vkr/error.hpp"

namespace vkr {

const VkPhysicalDeviceFeatures2* DeviceRequirements::chain() {
  features.pNext = &vulkan11;
  vulkan11.pNext = &vulkan12;
  vulkan12.pNext = nullptr;
  void** tail = &vulkan12.pNext;
  if (api_version >= VK_API_VERSION_1_3) {
    vulkan13.pNext = nullptr;
    *tail = &vulkan13;
    tail = &vulkan13.pNext;
  }
  auto has = [&](std::string_view name) {
    return std::any_of(extensions.begin(), extensions.end(),
                       [&](const char* e) { return name == e; });
  };
  if (has(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) {
    coopmat_nv.pNext = nullptr;
    *tail = &coopmat_nv;
    tail = &coopmat_nv.pNext;
  }
  if (has(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    pipeline_exec.pNext = nullptr;
    *tail = &pipeline_exec;
  }
  return &features;
}

DeviceRequirements required_device_features(const Capabilities& c, uint32_t instance_api_version) {
  DeviceRequirements r;
  r.api_version = instance_api_version ? std::min(c.api_version, instance_api_version) : c.api_version;
  if (c.api_version < VK_API_VERSION_1_2) r.missing.push_back("Vulkan 1.2");
  if (!c.timeline_semaphore) r.missing.push_back("timelineSemaphore");
  if (c.max_push_constants < 128) r.missing.push_back("maxPushConstantsSize >= 128");
  auto b = [](bool v) { return v ? VK_TRUE : VK_FALSE; };
  r.features.features.shaderInt16 = b(c.int16_arith);
  r.features.features.shaderInt64 = b(c.int64_arith);
  r.vulkan11.storageBuffer16BitAccess = b(c.fp16_storage);
  r.vulkan12.shaderFloat16 = b(c.fp16_arith);
  r.vulkan12.shaderInt8 = b(c.int8_arith);
  r.vulkan12.storageBuffer8BitAccess = b(c.int8_storage);
  r.vulkan12.timelineSemaphore = b(c.timeline_semaphore);
  r.vulkan12.hostQueryReset = b(c.host_query_reset);
  if (r.api_version >= VK_API_VERSION_1_3) {
    r.vulkan13.subgroupSizeControl = b(c.subgroup_size_control);
    r.vulkan13.computeFullSubgroups = b(c.compute_full_subgroups);
  }
  if (c.push_descriptors) r.extensions.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (c.memory_budget) r.extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (c.nv_cooperative_matrix) {
    r.extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    r.coopmat_nv.cooperativeMatrix = VK_TRUE;
    r.vulkan12.vulkanMemoryModel = VK_TRUE;  // glslang's coopmat SPIR-V uses the memory model
    // ... and with it enabled, Device-scope atomics in any shader need this (capabilities.cpp).
    r.vulkan12.vulkanMemoryModelDeviceScope = VK_TRUE;
  }
  r.chain();
  return r;
}

DeviceRequirements required_device_features(VkInstance instance, VkPhysicalDevice pd,
                                            PFN_vkGetInstanceProcAddr gipa,
                                            uint32_t instance_api_version) {
  require(instance && pd && gipa, ErrorCode::InvalidArgument,
          "required_device_features: instance, physical device and vkGetInstanceProcAddr are "
          "all required");
  InstanceFns fns;
  fns.load(instance, gipa);
  require(fns.get_physical_device_properties && fns.get_physical_device_features2,
          ErrorCode::DeviceUnsupported,
          "required_device_features: the instance lacks vkGetPhysicalDeviceFeatures2 (Vulkan 1.1+)");
  auto qf = pick_queue_family(fns, pd);
  return required_device_features(query_capabilities(fns, pd, qf.value_or(0)),
                                  instance_api_version);
}

namespace {

// The features we use, as a host enabled them.
struct Enabled {
  bool int16 = false, int64 = false, fp16_storage = false, fp16 = false, int8 = false;
  bool int8_storage = false, timeline = false, host_query_reset = false, memory_model = false;
  bool memory_model_device_scope = false;
  bool subgroup_size_control = false, full_subgroups = false, coopmat_nv = false;
};

void read_struct(const VkBaseInStructure* s, Enabled& e) {
  switch (s->sType) {
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES: {
      auto f = reinterpret_cast<const VkPhysicalDeviceVulkan11Features*>(s);
      e.fp16_storage |= f->storageBuffer16BitAccess != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES: {
      auto f = reinterpret_cast<const VkPhysicalDeviceVulkan12Features*>(s);
      e.fp16 |= f->shaderFloat16 != 0;
      e.int8 |= f->shaderInt8 != 0;
      e.int8_storage |= f->storageBuffer8BitAccess != 0;
      e.timeline |= f->timelineSemaphore != 0;
      e.host_query_reset |= f->hostQueryReset != 0;
      e.memory_model |= f->vulkanMemoryModel != 0;
      e.memory_model_device_scope |= f->vulkanMemoryModelDeviceScope != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES: {
      auto f = reinterpret_cast<const VkPhysicalDeviceVulkan13Features*>(s);
      e.subgroup_size_control |= f->subgroupSizeControl != 0;
      e.full_subgroups |= f->computeFullSubgroups != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES:
      e.fp16_storage |= reinterpret_cast<const VkPhysicalDevice16BitStorageFeatures*>(s)
                            ->storageBuffer16BitAccess != 0;
      break;
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES:
      e.int8_storage |= reinterpret_cast<const VkPhysicalDevice8BitStorageFeatures*>(s)
                            ->storageBuffer8BitAccess != 0;
      break;
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES: {
      auto f = reinterpret_cast<const VkPhysicalDeviceShaderFloat16Int8Features*>(s);
      e.fp16 |= f->shaderFloat16 != 0;
      e.int8 |= f->shaderInt8 != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES:
      e.timeline |= reinterpret_cast<const VkPhysicalDeviceTimelineSemaphoreFeatures*>(s)
                        ->timelineSemaphore != 0;
      break;
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_HOST_QUERY_RESET_FEATURES:
      e.host_query_reset |=
          reinterpret_cast<const VkPhysicalDeviceHostQueryResetFeatures*>(s)->hostQueryReset != 0;
      break;
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES:
    {
      auto f = reinterpret_cast<const VkPhysicalDeviceVulkanMemoryModelFeatures*>(s);
      e.memory_model |= f->vulkanMemoryModel != 0;
      e.memory_model_device_scope |= f->vulkanMemoryModelDeviceScope != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES: {
      auto f = reinterpret_cast<const VkPhysicalDeviceSubgroupSizeControlFeatures*>(s);
      e.subgroup_size_control |= f->subgroupSizeControl != 0;
      e.full_subgroups |= f->computeFullSubgroups != 0;
      break;
    }
    case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV:
      e.coopmat_nv |= reinterpret_cast<const VkPhysicalDeviceCooperativeMatrixFeaturesNV*>(s)
                          ->cooperativeMatrix != 0;
      break;
    default: break;  // features we do not use
  }
}

}  // namespace

void restrict_to_enabled(Capabilities& c, const VkPhysicalDeviceFeatures2* enabled,
                         const std::vector<std::string>& extensions) {
  Enabled e;
  if (enabled) {
    require(enabled->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
            ErrorCode::InvalidArgument,
            "enabled_features must point at a VkPhysicalDeviceFeatures2 (sType {}, expected {})",
            static_cast<int>(enabled->sType),
            static_cast<int>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2));
    e.int16 = enabled->features.shaderInt16 != 0;
    e.int64 = enabled->features.shaderInt64 != 0;
    for (auto s = static_cast<const VkBaseInStructure*>(enabled->pNext); s; s = s->pNext) {
      read_struct(s, e);
    }
  }
  require(e.timeline, ErrorCode::DeviceUnsupported,
          "the host's device does not have timelineSemaphore enabled (VkPhysicalDeviceVulkan12"
          "Features or VkPhysicalDeviceTimelineSemaphoreFeatures in enabled_features); vkrwkv "
          "needs it: enable what required_device_features() lists");
  auto has = [&](const char* name) {
    return std::find(extensions.begin(), extensions.end(), name) != extensions.end();
  };
  // Everything else degrades: without a feature the kernels take their fallback path, and
  // F16/BF16 weights without 16-bit storage fail at load time naming storageBuffer16BitAccess.
  c.int16_arith = c.int16_arith && e.int16;
  c.int64_arith = c.int64_arith && e.int64;
  c.fp16_storage = c.fp16_storage && e.fp16_storage;
  c.fp16_arith = c.fp16_arith && e.fp16;
  c.int8_arith = c.int8_arith && e.int8;
  c.int8_storage = c.int8_storage && e.int8_storage;
  c.host_query_reset = c.host_query_reset && e.host_query_reset;
  c.subgroup_size_control = c.subgroup_size_control && e.subgroup_size_control;
  c.compute_full_subgroups = c.compute_full_subgroups && e.full_subgroups;
  c.push_descriptors = c.push_descriptors && has(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  c.memory_budget = c.memory_budget && has(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  c.pipeline_executable_info = false;  // statistics are for vkrwkv's own devices only
  c.nv_cooperative_matrix = c.nv_cooperative_matrix && e.coopmat_nv && e.memory_model &&
                            e.memory_model_device_scope &&
                            has(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (!c.nv_cooperative_matrix) c.nv_coopmat_shapes.clear();
}

}  // namespace vkr
