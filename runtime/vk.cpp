// vk.cpp: per-instance function loading (InstanceFns) and per-device tables.
#include "vkr/vk.hpp"

extern "C" void vkr_volk_load_device_table(VolkDeviceTable* table, VkDevice device,
                                           PFN_vkGetDeviceProcAddr gdpa);

namespace vkr {

template <typename T>
static void load_fn(T& fn, VkInstance instance, PFN_vkGetInstanceProcAddr gipa, const char* name) {
  fn = reinterpret_cast<T>(gipa(instance, name));
}

void InstanceFns::load(VkInstance instance, PFN_vkGetInstanceProcAddr gipa) {
  get_instance_proc_addr = gipa;
  load_fn(destroy_instance, instance, gipa, "vkDestroyInstance");
  load_fn(enumerate_physical_devices, instance, gipa, "vkEnumeratePhysicalDevices");
  load_fn(get_physical_device_properties, instance, gipa, "vkGetPhysicalDeviceProperties");
  load_fn(get_physical_device_properties2, instance, gipa, "vkGetPhysicalDeviceProperties2");
  load_fn(get_physical_device_features2, instance, gipa, "vkGetPhysicalDeviceFeatures2");
  load_fn(get_physical_device_memory_properties, instance, gipa,
          "vkGetPhysicalDeviceMemoryProperties");
  load_fn(get_physical_device_memory_properties2, instance, gipa,
          "vkGetPhysicalDeviceMemoryProperties2");
  load_fn(get_physical_device_queue_family_properties, instance, gipa,
          "vkGetPhysicalDeviceQueueFamilyProperties");
  load_fn(enumerate_device_extension_properties, instance, gipa,
          "vkEnumerateDeviceExtensionProperties");
  load_fn(create_device, instance, gipa, "vkCreateDevice");
  load_fn(get_device_proc_addr, instance, gipa, "vkGetDeviceProcAddr");
  load_fn(create_debug_utils_messenger, instance, gipa, "vkCreateDebugUtilsMessengerEXT");
  load_fn(destroy_debug_utils_messenger, instance, gipa, "vkDestroyDebugUtilsMessengerEXT");
  load_fn(get_cooperative_matrix_properties_nv, instance, gipa,
          "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
}

void load_device_table(VolkDeviceTable& table, VkDevice device, PFN_vkGetDeviceProcAddr gdpa) {
  vkr_volk_load_device_table(&table, device, gdpa);
}

}  // namespace vkr
