// capabilities.cpp: one-time query of device features, limits, memory and cooperative-matrix shapes.
#include "vkr/capabilities.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace vkr {

bool Capabilities::has_extension(const char* name) const {
  return std::find(extensions.begin(), extensions.end(), name) != extensions.end();
}

std::string_view device_type_name(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

std::string version_string(uint32_t v) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                     VK_API_VERSION_PATCH(v));
}

std::string subgroup_ops_string(VkSubgroupFeatureFlags ops) {
  static constexpr std::pair<VkSubgroupFeatureFlagBits, const char*> kNames[] = {
      {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},
      {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
      {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"},
      {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_relative"},
      {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"},
      {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"},
  };
  std::string out;
  for (auto [bit, name] : kNames) {
    if (ops & bit) out += out.empty() ? name : fmt::format(",{}", name);
  }
  return out;
}

static void query_features(const InstanceFns& fns, VkPhysicalDevice pd, Capabilities& c) {
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f11;
  f11.pNext = &f12;
  // Vulkan13Features is only valid to chain on 1.3 devices.
  void** tail = &f12.pNext;
  if (c.api_version >= VK_API_VERSION_1_3) {
    *tail = &f13;
    tail = &f13.pNext;
  }
  if (c.has_extension(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) {
    *tail = &coop;
    tail = &coop.pNext;
  }
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  if (c.has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) *tail = &exec;
  fns.get_physical_device_features2(pd, &f2);
  c.pipeline_executable_info = exec.pipelineExecutableInfo != 0;

  c.fp16_storage = f11.storageBuffer16BitAccess;
  c.fp16_arith = f12.shaderFloat16;
  c.int8_storage = f12.storageBuffer8BitAccess;
  c.int8_arith = f12.shaderInt8;
  c.int16_arith = f2.features.shaderInt16;
  c.int64_arith = f2.features.shaderInt64;
  c.timeline_semaphore = f12.timelineSemaphore;
  c.buffer_device_address = f12.bufferDeviceAddress;
  c.host_query_reset = f12.hostQueryReset;
  c.subgroup_size_control = f13.subgroupSizeControl;
  c.compute_full_subgroups = f13.computeFullSubgroups;
  // glslang emits the Vulkan memory model for every GL_NV_cooperative_matrix shader, so the path
  // is only usable where that feature exists too (context.cpp enables both together). Device scope
  // too: once vulkanMemoryModel is enabled, every shader's buffer atomics (Device scope, e.g.
  // topk.comp) need vulkanMemoryModelDeviceScope (VUID-RuntimeSpirv-vulkanMemoryModel-06265, seen
  // on NVIDIA).
  c.nv_cooperative_matrix =
      coop.cooperativeMatrix && f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope;
}

static void query_properties(const InstanceFns& fns, VkPhysicalDevice pd, Capabilities& c) {
  VkPhysicalDeviceSubgroupSizeControlProperties ssc{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceMaintenance4Properties m4{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES};
  VkPhysicalDeviceVulkan12Properties p12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  VkPhysicalDeviceVulkan11Properties p11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  // Compute-unit counts, where a vendor extension tells them (NVIDIA SMs; AMD CUs).
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv_sm{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
  VkPhysicalDeviceShaderCorePropertiesAMD amd{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
  p2.pNext = &p11;
  p11.pNext = &p12;
  void** tail = &p12.pNext;
  if (c.api_version >= VK_API_VERSION_1_3) {
    p12.pNext = &ssc;
    ssc.pNext = &m4;
    tail = &m4.pNext;
  }
  if (c.has_extension(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    *tail = &nv_sm;
    tail = &nv_sm.pNext;
  }
  if (c.has_extension(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) *tail = &amd;
  fns.get_physical_device_properties2(pd, &p2);
  c.compute_units = nv_sm.shaderSMCount ? nv_sm.shaderSMCount
                                        : amd.shaderEngineCount * amd.shaderArraysPerEngineCount *
                                              amd.computeUnitsPerShaderArray;
  const auto& l = p2.properties.limits;
  c.driver_name = p12.driverName;
  c.driver_info = p12.driverInfo;
  std::memcpy(c.pipeline_cache_uuid, p2.properties.pipelineCacheUUID, VK_UUID_SIZE);
  c.subgroup_size = p11.subgroupSize;
  c.subgroup_ops = p11.subgroupSupportedOperations;
  c.min_subgroup_size = ssc.minSubgroupSize ? ssc.minSubgroupSize : p11.subgroupSize;
  c.max_subgroup_size = ssc.maxSubgroupSize ? ssc.maxSubgroupSize : p11.subgroupSize;
  c.max_shared_memory = l.maxComputeSharedMemorySize;
  c.max_storage_buffer_range = l.maxStorageBufferRange;
  c.max_push_constants = l.maxPushConstantsSize;
  for (int i = 0; i < 3; ++i) {
    c.max_workgroup_size[i] = l.maxComputeWorkGroupSize[i];
    c.max_workgroup_count[i] = l.maxComputeWorkGroupCount[i];
  }
  c.max_workgroup_invocations = l.maxComputeWorkGroupInvocations;
  c.max_allocation_size = p11.maxMemoryAllocationSize;
  c.max_buffer_size = m4.maxBufferSize ? m4.maxBufferSize : p11.maxMemoryAllocationSize;
  c.min_storage_buffer_offset_alignment = l.minStorageBufferOffsetAlignment;
  c.non_coherent_atom_size = l.nonCoherentAtomSize;
  c.min_texel_buffer_offset_alignment = l.minTexelBufferOffsetAlignment;
  c.max_texel_buffer_elements = l.maxTexelBufferElements;
  c.timestamp_period_ns = l.timestampPeriod;
  c.timestamps = l.timestampComputeAndGraphics;
}

static void query_coopmat_shapes(const InstanceFns& fns, VkPhysicalDevice pd, Capabilities& c) {
  if (!c.nv_cooperative_matrix || !fns.get_cooperative_matrix_properties_nv) return;
  uint32_t n = 0;
  fns.get_cooperative_matrix_properties_nv(pd, &n, nullptr);
  std::vector<VkCooperativeMatrixPropertiesNV> props(
      n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  fns.get_cooperative_matrix_properties_nv(pd, &n, props.data());
  for (const auto& p : props) {
    if (p.scope != VK_SCOPE_SUBGROUP_NV) continue;
    c.nv_coopmat_shapes.push_back({p.MSize, p.NSize, p.KSize, p.AType, p.BType, p.CType, p.DType});
  }
}

Capabilities query_capabilities(const InstanceFns& fns, VkPhysicalDevice pd,
                                uint32_t queue_family) {
  Capabilities c;
  VkPhysicalDeviceProperties props{};
  fns.get_physical_device_properties(pd, &props);
  c.device_name = props.deviceName;
  c.vendor_id = props.vendorID;
  c.device_id = props.deviceID;
  c.api_version = props.apiVersion;
  c.driver_version = props.driverVersion;
  c.device_type = props.deviceType;

  uint32_t n_ext = 0;
  fns.enumerate_device_extension_properties(pd, nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> exts(n_ext);
  fns.enumerate_device_extension_properties(pd, nullptr, &n_ext, exts.data());
  for (const auto& e : exts) c.extensions.emplace_back(e.extensionName);
  std::sort(c.extensions.begin(), c.extensions.end());
  c.push_descriptors = c.has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  c.memory_budget = c.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  // The KHR cooperative-matrix and bfloat16 structs postdate Debian 12's headers: we can only see
  // that the driver advertises them.
  c.khr_cooperative_matrix = c.has_extension("VK_KHR_cooperative_matrix");
  c.bf16_ext = c.has_extension("VK_KHR_shader_bfloat16");

  if (c.api_version >= VK_API_VERSION_1_2) {
    query_features(fns, pd, c);
    query_properties(fns, pd, c);
    query_coopmat_shapes(fns, pd, c);
  }

  uint32_t n_qf = 0;
  fns.get_physical_device_queue_family_properties(pd, &n_qf, nullptr);
  std::vector<VkQueueFamilyProperties> qf(n_qf);
  fns.get_physical_device_queue_family_properties(pd, &n_qf, qf.data());
  if (queue_family < n_qf) {
    c.timestamp_valid_bits = qf[queue_family].timestampValidBits;
    c.timestamps = c.timestamp_valid_bits > 0;
  }

  VkPhysicalDeviceMemoryProperties mp{};
  fns.get_physical_device_memory_properties(pd, &mp);
  for (uint32_t i = 0; i < mp.memoryHeapCount; ++i) {
    c.heaps.push_back({mp.memoryHeaps[i].size,
                       (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  }
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    c.memory_types.push_back({mp.memoryTypes[i].heapIndex, mp.memoryTypes[i].propertyFlags});
  }
  return c;
}

}  // namespace vkr
