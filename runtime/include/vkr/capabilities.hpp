// capabilities.hpp: what a physical device offers, queried once (features, limits, memory, coopmat).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkr/vk.hpp"

namespace vkr {

struct MemoryHeapInfo {
  uint64_t size = 0;
  bool device_local = false;
};

struct MemoryTypeInfo {
  uint32_t heap = 0;
  VkMemoryPropertyFlags flags = 0;
};

// One cooperative-matrix shape (M x N x K with A/B/C/result component types).
struct CoopMatShape {
  uint32_t m = 0, n = 0, k = 0;
  VkComponentTypeNV a = VK_COMPONENT_TYPE_FLOAT16_NV, b = a, c = a, result = a;
};

struct Capabilities {
  // identity
  std::string device_name, driver_name, driver_info;
  uint32_t vendor_id = 0, device_id = 0, api_version = 0, driver_version = 0;
  VkPhysicalDeviceType device_type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint8_t pipeline_cache_uuid[VK_UUID_SIZE] = {};

  // numeric storage / arithmetic
  bool fp16_storage = false, fp16_arith = false;
  bool int8_storage = false, int8_arith = false;
  bool int16_arith = false, int64_arith = false;
  bool bf16_ext = false;  // VK_KHR_shader_bfloat16 advertised (we store bf16 as u16 words anyway)

  // subgroups
  uint32_t subgroup_size = 0, min_subgroup_size = 0, max_subgroup_size = 0;
  VkSubgroupFeatureFlags subgroup_ops = 0;
  bool subgroup_size_control = false, compute_full_subgroups = false;

  // limits
  uint32_t max_shared_memory = 0, max_storage_buffer_range = 0, max_push_constants = 0;
  uint32_t max_workgroup_size[3] = {}, max_workgroup_count[3] = {}, max_workgroup_invocations = 0;
  uint64_t max_allocation_size = 0, max_buffer_size = 0;
  uint64_t min_storage_buffer_offset_alignment = 0, non_coherent_atom_size = 0;
  // Uniform texel buffers (read-only uvec4 words through the texture path; see KernelDesc).
  uint64_t min_texel_buffer_offset_alignment = 0;
  uint32_t max_texel_buffer_elements = 0;

  // features / extensions we use when present
  bool push_descriptors = false, memory_budget = false, buffer_device_address = false;
  bool timeline_semaphore = false, host_query_reset = false;
  bool nv_cooperative_matrix = false, khr_cooperative_matrix = false;
  // VK_KHR_pipeline_executable_properties with pipelineExecutableInfo: the driver reports
  // statistics (registers, code size, ...) per compiled pipeline. A Context keeps it true only
  // when it enabled the extension (ContextOptions::pipeline_statistics).
  bool pipeline_executable_info = false;
  // Streaming multiprocessors / compute units (VK_NV_shader_sm_builtins, VK_AMD_shader_core_
  // properties); 0 = the device does not say. Tile pickers aim for at least this many workgroups.
  uint32_t compute_units = 0;
  std::vector<CoopMatShape> nv_coopmat_shapes;

  // timestamps (of the compute queue family we pick)
  bool timestamps = false;
  float timestamp_period_ns = 0.0f;
  uint32_t timestamp_valid_bits = 0;

  std::vector<MemoryHeapInfo> heaps;
  std::vector<MemoryTypeInfo> memory_types;
  std::vector<std::string> extensions;  // every device extension, for `info`

  bool has_extension(const char* name) const;
};

std::string_view device_type_name(VkPhysicalDeviceType type);
std::string version_string(uint32_t api_version);
std::string subgroup_ops_string(VkSubgroupFeatureFlags ops);

// Queries everything above for `pd` (queue_family selects which family's timestamp bits count).
Capabilities query_capabilities(const InstanceFns& fns, VkPhysicalDevice pd, uint32_t queue_family);

}  // namespace vkr
