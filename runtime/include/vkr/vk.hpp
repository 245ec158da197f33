// vk.hpp: Vulkan declarations through volk (no prototypes) plus our own instance function table.
#pragma once

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>

namespace vkr {

// Instance-level functions we call, loaded per instance from a vkGetInstanceProcAddr (ours or the
// host app's). volk only offers global instance pointers, which would clobber a host app's volk.
struct InstanceFns {
  PFN_vkGetInstanceProcAddr get_instance_proc_addr = nullptr;
  PFN_vkDestroyInstance destroy_instance = nullptr;
  PFN_vkEnumeratePhysicalDevices enumerate_physical_devices = nullptr;
  PFN_vkGetPhysicalDeviceProperties get_physical_device_properties = nullptr;
  PFN_vkGetPhysicalDeviceProperties2 get_physical_device_properties2 = nullptr;
  PFN_vkGetPhysicalDeviceFeatures2 get_physical_device_features2 = nullptr;
  PFN_vkGetPhysicalDeviceMemoryProperties get_physical_device_memory_properties = nullptr;
  PFN_vkGetPhysicalDeviceMemoryProperties2 get_physical_device_memory_properties2 = nullptr;
  PFN_vkGetPhysicalDeviceQueueFamilyProperties get_physical_device_queue_family_properties = nullptr;
  PFN_vkEnumerateDeviceExtensionProperties enumerate_device_extension_properties = nullptr;
  PFN_vkCreateDevice create_device = nullptr;
  PFN_vkGetDeviceProcAddr get_device_proc_addr = nullptr;
  PFN_vkCreateDebugUtilsMessengerEXT create_debug_utils_messenger = nullptr;
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_debug_utils_messenger = nullptr;
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get_cooperative_matrix_properties_nv = nullptr;

  void load(VkInstance instance, PFN_vkGetInstanceProcAddr gipa);
};

// Fills `table` with device functions through `gdpa` only (never volk's global pointers).
void load_device_table(VolkDeviceTable& table, VkDevice device, PFN_vkGetDeviceProcAddr gdpa);

}  // namespace vkr
