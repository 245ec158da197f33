// device_requirements.hpp: what vkrwkv wants enabled on a VkDevice, queryable before a host app
// creates its device, and the reverse: narrowing Capabilities to what a host actually enabled.
#pragma once

#include <string>
#include <vector>

#include "vkr/capabilities.hpp"

namespace vkr {

// Hard requirements are Vulkan 1.2, timelineSemaphore and 128 push-constant bytes; everything
// else is optional: enabling it picks faster kernels (fp16 arithmetic, subgroup size control,
// push descriptors, cooperative matrices) or is needed only for some models (16-bit storage for
// F16/BF16 weights). Only features and extensions this device supports are listed.
struct DeviceRequirements {
  uint32_t api_version = 0;           // effective: min(device, instance) version
  std::vector<std::string> missing;   // hard requirements the device lacks (empty = usable)
  std::vector<const char*> extensions;  // device extensions to enable (static strings)
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkPhysicalDeviceVulkan11Features vulkan11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features vulkan12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  // Chained only on Vulkan 1.3 devices (the struct is invalid on 1.2 ones).
  VkPhysicalDeviceVulkan13Features vulkan13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  // Chained only when `extensions` holds VK_NV_cooperative_matrix.
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  // Chained only when `extensions` holds VK_KHR_pipeline_executable_properties (never asked of a
  // host: vkrwkv's own devices enable it for ContextOptions::pipeline_statistics).
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pipeline_exec{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};

  // Links the structs above through pNext and returns the head, ready for
  // VkDeviceCreateInfo::pNext. The pointers are into this object: call again after a copy.
  const VkPhysicalDeviceFeatures2* chain();
};

// For a host app, before it creates its device: what to enable on `physical_device` (`gipa` = the
// host's vkGetInstanceProcAddr). `instance_api_version` = the apiVersion the host created its
// instance with (0 = the device's): the effective version decides whether Vulkan 1.3 features may
// be chained at all.
DeviceRequirements required_device_features(VkInstance instance, VkPhysicalDevice physical_device,
                                            PFN_vkGetInstanceProcAddr gipa,
                                            uint32_t instance_api_version = 0);
DeviceRequirements required_device_features(const Capabilities& caps,
                                            uint32_t instance_api_version = 0);

// Narrows `caps` (what the device supports) to what the host enabled: `enabled` is the host's
// VkDeviceCreateInfo feature chain (VkPhysicalDeviceFeatures2 head; the Vulkan11/12/13 structs
// and the individual promoted structs are understood; null = nothing beyond core 1.2) and
// `extensions` its enabled device extensions. Throws DeviceUnsupported naming a missing hard
// requirement (timelineSemaphore).
void restrict_to_enabled(Capabilities& caps, const VkPhysicalDeviceFeatures2* enabled,
                         const std::vector<std::string>& extensions);

}  // namespace vkr
