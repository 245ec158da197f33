// vkr::Error: the one exception type of vkrwkv (what failed, an ErrorCode, the VkResult, file:line).
#pragma once

#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan_core.h>

namespace vkr {

// Distinct codes so callers can react (e.g. fall back on OutOfDeviceMemory, give up on DeviceLost)
// without parsing messages.
enum class ErrorCode {
  NoVulkan,           // no Vulkan loader or no usable device at all
  DeviceUnsupported,  // a device exists but lacks something we need (message names it)
  OutOfDeviceMemory,
  OutOfHostMemory,
  DeviceLost,
  Timeout,
  ShapeMismatch,      // kernel argument shapes/dtypes/limits checked before recording
  InvalidArgument,    // bad user input that is not a shape (indices, names, options)
  BadModelFile,       // malformed or unsupported GGUF / state file
  Io,                 // file system errors
  VulkanFailure,      // any other VkResult error
};

std::string_view error_code_name(ErrorCode code) noexcept;
std::string_view vk_result_name(VkResult result) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, VkResult result = VK_SUCCESS,
        std::source_location where = std::source_location::current());

  ErrorCode code() const noexcept { return code_; }
  // The message without the VkResult/file:line decoration, for end-user output.
  const std::string& message() const noexcept { return message_; }
  VkResult vk_result() const noexcept { return result_; }
  const std::source_location& where() const noexcept { return where_; }

 private:
  ErrorCode code_;
  std::string message_;
  VkResult result_;
  std::source_location where_;
};

// `text` as it may be quoted in a message: text read from a file (a corrupt GGUF's key or tensor
// name, a token) can hold control bytes, invalid UTF-8 or megabytes. Printable ASCII and valid
// UTF-8 stay; \n, \t and other bytes become escapes (\xNN); past `max_bytes` of input the rest
// is cut and its length said ("... (N more bytes)").
std::string printable(std::string_view text, size_t max_bytes = 96);

// Maps a VkResult to the ErrorCode a caller can act on.
ErrorCode error_code_for(VkResult result) noexcept;

// Throws Error naming `what` and the VkResult when `result` is an error code.
inline void check_vk(VkResult result, std::string_view what,
                     std::source_location where = std::source_location::current()) {
  if (result < 0) throw Error(error_code_for(result), std::string(what), result, where);
}

// Throws ErrorCode::ShapeMismatch (or `code`) with a formatted message unless `cond` holds.
template <typename... Args>
void require(bool cond, ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace vkr
