// instance.hpp (internal): instance creation and device enumeration/selection helpers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vkr/context.hpp"

namespace vkr {

// An environment variable set to anything but "" or "0".
bool env_true(const char* name);

// Opens the Vulkan loader and returns its vkGetInstanceProcAddr; throws NoVulkan without one.
PFN_vkGetInstanceProcAddr load_vulkan_loader();
// Creates an instance (validation layer + messenger when asked or VKR_VALIDATION=1).
VkInstance create_vk_instance(bool validation, Context* messenger_user,
                              VkDebugUtilsMessengerEXT* messenger, InstanceFns& fns);
std::optional<uint32_t> pick_queue_family(const InstanceFns& fns, VkPhysicalDevice pd);
std::string rejection_reason(const InstanceFns& fns, VkPhysicalDevice pd);
std::vector<DeviceReport> enumerate_devices(const InstanceFns& fns, VkInstance instance,
                                            std::vector<VkPhysicalDevice>* handles);
std::string describe_devices(const std::vector<DeviceReport>& devices);
// Index of the device matching `want` (index or name substring; empty = $VKR_DEVICE or best).
uint32_t select_device(const std::vector<DeviceReport>& devices, std::string want);

}  // namespace vkr
