// host_vulkan.cpp: the host example's Vulkan setup: instance (+ validation), a device created with
// what vkrwkv asks for (vkrwkv::DeviceRequirements), its compute job and buffers.
#include "host_vulkan.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "vkrwkv.hpp"

namespace host {

namespace {

// glslc -mfmt=c writes a braced initializer list.
const uint32_t kJobSpirv[] =
#include "host_job.spv.inc"
    ;

// A deliberately older API version than vkrwkv's own contexts use (1.3 where available): vkrwkv
// must only ask for what such an instance allows.
constexpr uint32_t kApiVersion = VK_API_VERSION_1_2;

struct JobPush {
  uint32_t n, mul, add, modulus;
};

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                             VkDebugUtilsMessageTypeFlagsEXT,
                                             const VkDebugUtilsMessengerCallbackDataEXT* data,
                                             void* user) {
  std::fprintf(stderr, "[host validation] %s\n", data && data->pMessage ? data->pMessage : "");
  ++static_cast<HostVulkan*>(user)->validation_messages;
  return VK_FALSE;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (const auto& l : layers) {
    if (std::strcmp(l.layerName, name) == 0) return true;
  }
  return false;
}

}  // namespace

void vk_check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) {
    throw std::runtime_error(std::string(what) + " failed: VkResult " + std::to_string(r));
  }
}

HostVulkan::HostVulkan(bool validation) {
  create_instance(validation);
  create_device();
  create_pipeline();
}

HostVulkan::~HostVulkan() {
  if (device) {
    vkDeviceWaitIdle(device);
    vkDestroyPipeline(device, pipeline_, nullptr);
    vkDestroyPipelineLayout(device, layout_, nullptr);
    vkDestroyDescriptorPool(device, descriptors_, nullptr);
    vkDestroyDescriptorSetLayout(device, set_layout_, nullptr);
    vkDestroyCommandPool(device, pool_, nullptr);
    vkDestroyDevice(device, nullptr);
  }
  delete static_cast<vkrwkv::DeviceRequirements*>(requirements_);
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    destroy(instance, messenger_, nullptr);
  }
  if (instance) vkDestroyInstance(instance, nullptr);
}

void HostVulkan::create_instance(bool validation) {
  const char* layer = "VK_LAYER_KHRONOS_validation";
  validation = validation && has_layer(layer);
  const char* ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkrwkv host example";
  app.apiVersion = kApiVersion;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = validation ? 1 : 0;
  ci.ppEnabledLayerNames = &layer;
  ci.enabledExtensionCount = validation ? 1 : 0;
  ci.ppEnabledExtensionNames = &ext;
  vk_check(vkCreateInstance(&ci, nullptr, &instance), "vkCreateInstance");
  if (!validation) return;
  VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
  mi.pfnUserCallback = on_validation;
  mi.pUserData = this;
  auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
  vk_check(create(instance, &mi, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
}

void HostVulkan::create_device() {
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance, &n, nullptr);
  std::vector<VkPhysicalDevice> pds(n);
  vkEnumeratePhysicalDevices(instance, &n, pds.data());
  for (VkPhysicalDevice pd : pds) {
    // Ask vkrwkv what it wants before creating the device, and keep that chain alive with it.
    auto* req = new vkrwkv::DeviceRequirements(instance, pd, vkGetInstanceProcAddr, kApiVersion);
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf.data());
    uint32_t family = nq;
    for (uint32_t i = 0; i < nq && family == nq; ++i) {
      if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = i;
    }
    if (!req->usable() || family == nq) {
      delete req;
      continue;
    }
    requirements_ = req;
    physical_device = pd;
    queue_family = family;
    enabled_extensions = req->extensions();
    features_ = req->features();
    break;
  }
  if (!physical_device) throw std::runtime_error("no device fits vkrwkv's requirements");
  VkPhysicalDeviceProperties props{};
  vkGetPhysicalDeviceProperties(physical_device, &props);
  device_name = props.deviceName;
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qi.queueFamilyIndex = queue_family;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  di.pNext = features_;
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.enabledExtensionCount = static_cast<uint32_t>(enabled_extensions.size());
  di.ppEnabledExtensionNames = enabled_extensions.data();
  vk_check(vkCreateDevice(physical_device, &di, nullptr, &device), "vkCreateDevice");
  vkGetDeviceQueue(device, queue_family, 0, &queue);
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.queueFamilyIndex = queue_family;
  vk_check(vkCreateCommandPool(device, &pi, nullptr, &pool_), "vkCreateCommandPool");
}

void HostVulkan::create_pipeline() {
  VkDescriptorSetLayoutBinding b{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                 VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo sl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  sl.bindingCount = 1;
  sl.pBindings = &b;
  vk_check(vkCreateDescriptorSetLayout(device, &sl, nullptr, &set_layout_), "set layout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(JobPush)};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout_;
  pl.pushConstantRangeCount = 1;
  pl.pPushConstantRanges = &push;
  vk_check(vkCreatePipelineLayout(device, &pl, nullptr, &layout_), "pipeline layout");
  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = sizeof(kJobSpirv);
  mi.pCode = kJobSpirv;
  VkShaderModule module = VK_NULL_HANDLE;
  vk_check(vkCreateShaderModule(device, &mi, nullptr, &module), "shader module");
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.layout = layout_;
  VkResult r = vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &ci, nullptr, &pipeline_);
  vkDestroyShaderModule(device, module, nullptr);
  vk_check(r, "vkCreateComputePipelines");
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 16};
  VkDescriptorPoolCreateInfo dp{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dp.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  dp.maxSets = 16;
  dp.poolSizeCount = 1;
  dp.pPoolSizes = &size;
  vk_check(vkCreateDescriptorPool(device, &dp, nullptr, &descriptors_), "descriptor pool");
}

HostBuffer HostVulkan::make_buffer(VkDeviceSize size) {
  HostBuffer b;
  b.size = size;
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = size;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
             VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  vk_check(vkCreateBuffer(device, &bi, nullptr, &b.buffer), "vkCreateBuffer");
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(device, b.buffer, &req);
  VkPhysicalDeviceMemoryProperties mp{};
  vkGetPhysicalDeviceMemoryProperties(physical_device, &mp);
  const VkMemoryPropertyFlags want =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint32_t type = mp.memoryTypeCount;
  for (uint32_t i = 0; i < mp.memoryTypeCount && type == mp.memoryTypeCount; ++i) {
    if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) {
      type = i;
    }
  }
  if (type == mp.memoryTypeCount) throw std::runtime_error("no host-visible coherent memory");
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = type;
  vk_check(vkAllocateMemory(device, &ai, nullptr, &b.memory), "vkAllocateMemory");
  vk_check(vkBindBufferMemory(device, b.buffer, b.memory, 0), "vkBindBufferMemory");
  vk_check(vkMapMemory(device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped), "vkMapMemory");
  return b;
}

void HostVulkan::free_buffer(HostBuffer& b) {
  vkDestroyBuffer(device, b.buffer, nullptr);
  vkFreeMemory(device, b.memory, nullptr);
  b = {};
}

void HostVulkan::record_job(VkCommandBuffer cb, VkBuffer target, VkDeviceSize offset,
                            VkDeviceSize size, uint32_t n, uint32_t mul, uint32_t add,
                            uint32_t modulus) {
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = descriptors_;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &set_layout_;
  VkDescriptorSet set = VK_NULL_HANDLE;
  vk_check(vkAllocateDescriptorSets(device, &ai, &set), "vkAllocateDescriptorSets");
  VkDescriptorBufferInfo info{target, offset, size};
  VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
  w.dstSet = set;
  w.descriptorCount = 1;
  w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  w.pBufferInfo = &info;
  vkUpdateDescriptorSets(device, 1, &w, 0, nullptr);
  vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set, 0, nullptr);
  const JobPush push{n, mul, add, modulus};
  vkCmdPushConstants(cb, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
  vkCmdDispatch(cb, (n + 63) / 64, 1, 1);
}

VkCommandBuffer HostVulkan::begin_commands() {
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  vk_check(vkAllocateCommandBuffers(device, &ai, &cb), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk_check(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
  return cb;
}

void HostVulkan::submit_and_wait(VkCommandBuffer cb) {
  vk_check(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  vk_check(vkCreateFence(device, &fi, nullptr, &fence), "vkCreateFence");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  {
    std::lock_guard lock(queue_mutex);  // vkrwkv submits to the same queue
    vk_check(vkQueueSubmit(queue, 1, &si, fence), "vkQueueSubmit");
  }
  vk_check(vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  vkDestroyFence(device, fence, nullptr);
  vkFreeCommandBuffers(device, pool_, 1, &cb);
  vkResetDescriptorPool(device, descriptors_, 0);
}

}  // namespace host
