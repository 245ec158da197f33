// host_vulkan.hpp: the host example's own Vulkan objects (instance, device, queue, a compute
// pipeline, host-visible buffers), written the way an app would, with the loader's prototypes.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace host {

void vk_check(VkResult r, const char* what);

struct HostBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;
  VkDeviceSize size = 0;
};

// One device with one queue, plus the example's compute job. Destroys everything it made.
class HostVulkan {
 public:
  // validation: Khronos layer + messenger when installed (messages are counted, not fatal).
  explicit HostVulkan(bool validation);
  ~HostVulkan();
  HostVulkan(const HostVulkan&) = delete;
  HostVulkan& operator=(const HostVulkan&) = delete;

  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  std::vector<const char*> enabled_extensions;
  std::mutex queue_mutex;  // shared with vkrwkv through the external device's lock callbacks
  uint32_t validation_messages = 0;
  std::string device_name;

  // The feature chain the device was created with (owned by the requirements object in the .cpp).
  const VkPhysicalDeviceFeatures2* enabled_features() const { return features_; }

  HostBuffer make_buffer(VkDeviceSize size);
  void free_buffer(HostBuffer& b);
  // Records v[i] = (i * mul + add) % modulus, i < n, into `target` (a storage buffer range).
  void record_job(VkCommandBuffer cb, VkBuffer target, VkDeviceSize offset, VkDeviceSize size,
                  uint32_t n, uint32_t mul, uint32_t add, uint32_t modulus);
  VkCommandBuffer begin_commands();
  // Ends, submits under queue_mutex and waits (fence); then frees the command buffer.
  void submit_and_wait(VkCommandBuffer cb);

 private:
  void create_instance(bool validation);
  void create_device();
  void create_pipeline();

  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  const VkPhysicalDeviceFeatures2* features_ = nullptr;
  void* requirements_ = nullptr;  // vkrwkv::DeviceRequirements*, kept alive with the device
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptors_ = VK_NULL_HANDLE;
};

}  // namespace host
