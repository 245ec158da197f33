// instance.cpp: loader start-up, instance creation (validation + debug messenger), device
// enumeration with a usable/rejected verdict per device, and device selection.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "instance.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

extern "C" PFN_vkGetInstanceProcAddr vkr_volk_open_loader(void);

namespace vkr {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void* user) {
  std::string msg = fmt::format("[validation {}] {}",
                                severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT
                                    ? "error"
                                    : "warning",
                                data && data->pMessage ? data->pMessage : "");
  std::cerr << msg << "\n";
  static_cast<Context*>(user)->record_validation_message(std::move(msg));
  return VK_FALSE;
}

}  // namespace

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

PFN_vkGetInstanceProcAddr load_vulkan_loader() {
  PFN_vkGetInstanceProcAddr gipa = vkr_volk_open_loader();
  if (!gipa) {
    throw Error(ErrorCode::NoVulkan,
                "no Vulkan loader found (libvulkan.so.1); install libvulkan1 and a driver, e.g. "
                "mesa-vulkan-drivers");
  }
  return gipa;
}

VkInstance create_vk_instance(bool validation, Context* messenger_user,
                              VkDebugUtilsMessengerEXT* messenger, InstanceFns& fns) {
  // Global-level commands come from the loader's vkGetInstanceProcAddr, never from volk's globals
  // (renamed and private, see volk_impl.c).
  const PFN_vkGetInstanceProcAddr gipa = load_vulkan_loader();
  auto global = [gipa](const char* name) { return gipa(VK_NULL_HANDLE, name); };
  const auto enumerate_layers = reinterpret_cast<PFN_vkEnumerateInstanceLayerProperties>(
      global("vkEnumerateInstanceLayerProperties"));
  const auto create_instance = reinterpret_cast<PFN_vkCreateInstance>(global("vkCreateInstance"));
  const auto instance_version =
      reinterpret_cast<PFN_vkEnumerateInstanceVersion>(global("vkEnumerateInstanceVersion"));
  require(enumerate_layers && create_instance, ErrorCode::NoVulkan,
          "the Vulkan loader lacks vkCreateInstance / vkEnumerateInstanceLayerProperties");
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (instance_version) instance_version(&loader_version);
  validation = validation || env_true("VKR_VALIDATION");
  std::vector<const char*> layers, exts;
  if (validation) {
    uint32_t n = 0;
    enumerate_layers(&n, nullptr);
    std::vector<VkLayerProperties> props(n);
    enumerate_layers(&n, props.data());
    bool found = std::any_of(props.begin(), props.end(), [](const VkLayerProperties& p) {
      return std::strcmp(p.layerName, kValidationLayer) == 0;
    });
    require(found, ErrorCode::DeviceUnsupported,
            "validation requested but {} is not installed (apt-get install "
            "vulkan-validationlayers)",
            kValidationLayer);
    layers.push_back(kValidationLayer);
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkrwkv";
  app.pEngineName = "vkrwkv";
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  VkInstance instance = VK_NULL_HANDLE;
  VkResult r = create_instance(&ci, nullptr, &instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED) {
    const char* icd = std::getenv("VK_ICD_FILENAMES");
    throw Error(ErrorCode::NoVulkan,
                fmt::format("no Vulkan driver could be loaded{}; install one, e.g. "
                            "mesa-vulkan-drivers",
                            icd ? fmt::format(" (VK_ICD_FILENAMES={})", icd) : ""),
                r);
  }
  check_vk(r, "vkCreateInstance");
  fns.load(instance, gipa);
  if (validation && messenger && fns.create_debug_utils_messenger) {
    VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
    mi.pfnUserCallback = debug_callback;
    mi.pUserData = messenger_user;
    check_vk(fns.create_debug_utils_messenger(instance, &mi, nullptr, messenger),
             "vkCreateDebugUtilsMessengerEXT");
  }
  return instance;
}

std::optional<uint32_t> pick_queue_family(const InstanceFns& fns, VkPhysicalDevice pd) {
  uint32_t n = 0;
  fns.get_physical_device_queue_family_properties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> qf(n);
  fns.get_physical_device_queue_family_properties(pd, &n, qf.data());
  std::optional<uint32_t> any;
  for (uint32_t i = 0; i < n; ++i) {
    if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || qf[i].queueCount == 0) continue;
    // A compute-only family with timestamps is the dedicated compute engine on most GPUs.
    if (!(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) && qf[i].timestampValidBits > 0) return i;
    if (!any) any = i;
  }
  return any;
}

// Why a device cannot run vkrwkv ("" when it can).
std::string rejection_reason(const InstanceFns& fns, VkPhysicalDevice pd) {
  VkPhysicalDeviceProperties p{};
  fns.get_physical_device_properties(pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_2) {
    return fmt::format("needs Vulkan 1.2, device has {}", version_string(p.apiVersion));
  }
  auto qf = pick_queue_family(fns, pd);
  if (!qf) return "no compute queue";
  Capabilities c = query_capabilities(fns, pd, *qf);
  if (!c.timeline_semaphore) return "no timelineSemaphore feature";
  if (c.max_push_constants < 128) return "maxPushConstantsSize < 128";
  return "";
}

std::vector<DeviceReport> enumerate_devices(const InstanceFns& fns, VkInstance instance,
                                            std::vector<VkPhysicalDevice>* handles) {
  uint32_t n = 0;
  VkResult r = fns.enumerate_physical_devices(instance, &n, nullptr);
  if (r == VK_ERROR_INITIALIZATION_FAILED || n == 0) {
    const char* icd = std::getenv("VK_ICD_FILENAMES");
    throw Error(ErrorCode::NoVulkan,
                fmt::format("no Vulkan device found{}; install a driver (e.g. mesa-vulkan-drivers)",
                            icd ? fmt::format(" (VK_ICD_FILENAMES={})", icd) : ""));
  }
  std::vector<VkPhysicalDevice> pds(n);
  check_vk(fns.enumerate_physical_devices(instance, &n, pds.data()), "vkEnumeratePhysicalDevices");
  std::vector<DeviceReport> out;
  for (uint32_t i = 0; i < n; ++i) {
    VkPhysicalDeviceProperties p{};
    fns.get_physical_device_properties(pds[i], &p);
    DeviceReport d{i, p.deviceName, p.deviceType, p.apiVersion, false,
                   rejection_reason(fns, pds[i])};
    d.usable = d.reason.empty();
    out.push_back(std::move(d));
  }
  if (handles) *handles = std::move(pds);
  return out;
}

std::string describe_devices(const std::vector<DeviceReport>& devices) {
  std::string s;
  for (const auto& d : devices) {
    s += fmt::format("\n  {}: {} [{}, Vulkan {}] {}", d.index, d.name, device_type_name(d.type),
                     version_string(d.api_version),
                     d.usable ? "usable" : fmt::format("rejected: {}", d.reason));
  }
  return s;
}

static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

uint32_t select_device(const std::vector<DeviceReport>& devices, std::string want) {
  if (want.empty()) {
    if (const char* env = std::getenv("VKR_DEVICE"); env && *env) want = env;
  }
  if (want.empty()) {
    const DeviceReport* best = nullptr;
    for (const auto& d : devices) {
      if (d.usable && (!best || type_rank(d.type) < type_rank(best->type))) best = &d;
    }
    require(best != nullptr, ErrorCode::DeviceUnsupported, "no usable Vulkan device:{}",
            describe_devices(devices));
    return best->index;
  }
  const bool numeric = std::all_of(want.begin(), want.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  const DeviceReport* hit = nullptr;
  if (numeric) {
    const unsigned long idx = std::strtoul(want.c_str(), nullptr, 10);
    if (idx < devices.size()) hit = &devices[idx];
  } else {
    auto lower = [](std::string s) {
      for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    for (const auto& d : devices) {
      if (lower(d.name).find(lower(want)) != std::string::npos) {
        hit = &d;
        break;
      }
    }
  }
  require(hit != nullptr, ErrorCode::InvalidArgument,
          "no Vulkan device matches '{}'; available devices:{}", want, describe_devices(devices));
  require(hit->usable, ErrorCode::DeviceUnsupported, "device {} ({}) cannot be used: {}", hit->index,
          hit->name, hit->reason);
  return hit->index;
}

}  // namespace vkr
