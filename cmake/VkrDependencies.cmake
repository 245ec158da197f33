# Finds every dependency (all from Debian packages) and fails with the package name to install.

function(vkr_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "vkrwkv: ${what} not found. Install it with: apt-get install ${package}")
  endif()
endfunction()

# Vulkan headers only: the loader is opened at run time by volk, so nothing links libvulkan.
find_path(VKR_VULKAN_INCLUDE vulkan/vulkan_core.h)
vkr_require(VKR_VULKAN_INCLUDE "Vulkan headers (vulkan/vulkan_core.h)" libvulkan-dev)

# FindVulkan's Vulkan::Headers is what the installed package's public headers need.
find_package(Vulkan QUIET)
vkr_require(Vulkan_FOUND "Vulkan (headers and loader library)" libvulkan-dev)

# volk ships as source (volk.h + volk.c) without a CMake config; we compile it ourselves.
find_path(VKR_VOLK_INCLUDE volk.h)
find_file(VKR_VOLK_SOURCE volk.c PATHS /usr/include /usr/src/volk)
vkr_require(VKR_VOLK_INCLUDE "volk.h" libvulkan-volk-dev)
vkr_require(VKR_VOLK_SOURCE "volk.c" libvulkan-volk-dev)

find_program(VKR_GLSLC glslc)
vkr_require(VKR_GLSLC "glslc (GLSL to SPIR-V compiler)" glslc)
find_program(VKR_SPIRV_VAL spirv-val)
vkr_require(VKR_SPIRV_VAL "spirv-val" spirv-tools)

find_package(fmt QUIET)
vkr_require(fmt_FOUND "fmt" libfmt-dev)
find_package(Threads REQUIRED)
find_package(PkgConfig QUIET)
vkr_require(PkgConfig_FOUND "pkg-config" pkg-config)
# GLOBAL: the tokenizer library and the installable libvkrwkv (apps/lib/) both link it.
pkg_check_modules(PCRE2 QUIET IMPORTED_TARGET GLOBAL libpcre2-8)
vkr_require(PCRE2_FOUND "PCRE2 (libpcre2-8)" libpcre2-dev)

# The JSON-schema constraint of the sampler (model/json_schema.cpp) parses schemas with it.
find_package(nlohmann_json QUIET CONFIG)
vkr_require(nlohmann_json_FOUND "nlohmann-json" nlohmann-json3-dev)
if(VKR_BUILD_APPS OR VKR_BUILD_BENCH)
  find_package(CLI11 QUIET CONFIG)
  vkr_require(CLI11_FOUND "CLI11" libcli11-dev)
endif()
if(VKR_BUILD_APPS)
  # `vkrwkv serve` (apps/server.cpp).
  pkg_check_modules(HTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
  vkr_require(HTTPLIB_FOUND "cpp-httplib" libcpp-httplib-dev)
endif()

if(VKR_BUILD_TESTS)
  find_package(GTest QUIET)
  vkr_require(GTest_FOUND "GoogleTest" libgtest-dev)
  include(GoogleTest)
endif()

if(VKR_BUILD_BENCH)
  find_package(benchmark QUIET CONFIG)
  vkr_require(benchmark_FOUND "Google Benchmark" libbenchmark-dev)
endif()
