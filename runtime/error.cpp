// Error formatting and VkResult names (vulkan_core.h of Debian 12 has no string helper).
#include "vkr/error.hpp"

namespace vkr {

std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::NoVulkan: return "NoVulkan";
    case ErrorCode::DeviceUnsupported: return "DeviceUnsupported";
    case ErrorCode::OutOfDeviceMemory: return "OutOfDeviceMemory";
    case ErrorCode::OutOfHostMemory: return "OutOfHostMemory";
    case ErrorCode::DeviceLost: return "DeviceLost";
    case ErrorCode::Timeout: return "Timeout";
    case ErrorCode::ShapeMismatch: return "ShapeMismatch";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::BadModelFile: return "BadModelFile";
    case ErrorCode::Io: return "Io";
    case ErrorCode::VulkanFailure: return "VulkanFailure";
  }
  return "Unknown";
}

std::string_view vk_result_name(VkResult result) noexcept {
  switch (result) {
#define VKR_CASE(x) \
  case x: return #x;
    VKR_CASE(VK_SUCCESS)
    VKR_CASE(VK_NOT_READY)
    VKR_CASE(VK_TIMEOUT)
    VKR_CASE(VK_EVENT_SET)
    VKR_CASE(VK_EVENT_RESET)
    VKR_CASE(VK_INCOMPLETE)
    VKR_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    VKR_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    VKR_CASE(VK_ERROR_INITIALIZATION_FAILED)
    VKR_CASE(VK_ERROR_DEVICE_LOST)
    VKR_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    VKR_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    VKR_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    VKR_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    VKR_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    VKR_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    VKR_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    VKR_CASE(VK_ERROR_FRAGMENTED_POOL)
    VKR_CASE(VK_ERROR_UNKNOWN)
    VKR_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    VKR_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    VKR_CASE(VK_ERROR_FRAGMENTATION)
    VKR_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    VKR_CASE(VK_PIPELINE_COMPILE_REQUIRED)
    VKR_CASE(VK_ERROR_VALIDATION_FAILED_EXT)
#undef VKR_CASE
    default: return "VK_RESULT_UNKNOWN";
  }
}

ErrorCode error_code_for(VkResult result) noexcept {
  switch (result) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return ErrorCode::OutOfDeviceMemory;
    case VK_ERROR_OUT_OF_HOST_MEMORY: return ErrorCode::OutOfHostMemory;
    case VK_ERROR_DEVICE_LOST: return ErrorCode::DeviceLost;
    case VK_TIMEOUT: return ErrorCode::Timeout;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_INITIALIZATION_FAILED: return ErrorCode::NoVulkan;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT: return ErrorCode::DeviceUnsupported;
    default: return ErrorCode::VulkanFailure;
  }
}

static std::string compose(ErrorCode code, const std::string& message, VkResult result,
                           const std::source_location& where) {
  std::string_view file = where.file_name();
  if (auto slash = file.rfind('/'); slash != std::string_view::npos) file = file.substr(slash + 1);
  if (result != VK_SUCCESS) {
    return fmt::format("{} ({}, {}) [{}:{}]", message, vk_result_name(result),
                       error_code_name(code), file, where.line());
  }
  return fmt::format("{} [{}:{}]", message, file, where.line());
}

Error::Error(ErrorCode code, const std::string& message, VkResult result,
             std::source_location where)
    : std::runtime_error(compose(code, message, result, where)),
      code_(code),
      message_(message),
      result_(result),
      where_(where) {}

}  // namespace vkr
