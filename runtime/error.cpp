// Error formatting and VkResult names (vulkan_core.h of Debian 12 has no string helper).
#include "vkr/error.hpp"

#include <algorithm>
#include <cstdint>

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

namespace {

// Length of the valid UTF-8 sequence starting text[i] (a non-ASCII one: shortest form, no
// surrogates, <= U+10FFFF), 0 when it is not one.
size_t utf8_sequence(std::string_view text, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0fu;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3fu);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool bad = overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff;
  return bad ? 0 : n;
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  const size_t end = std::min(text.size(), max_bytes);
  while (i < end) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (const size_t n = c >= 0x80 ? utf8_sequence(text, i) : 0; n != 0) {
      out += text.substr(i, n);  // may run a few bytes past max_bytes: never cut a character
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  if (i < text.size()) out += fmt::format("... ({} more bytes)", text.size() - i);
  return out;
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
