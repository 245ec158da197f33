# host_example.cmake: vkr_add_host_example(<target>) builds the host example from this directory,
# for the in-tree build and for the installed-package consumer (tests/install/consumer) alike.
# Needs the targets vkrwkv::vkrwkv and Vulkan::Vulkan and the program glslc.
set(VKR_HOST_EXAMPLE_DIR ${CMAKE_CURRENT_LIST_DIR})
function(vkr_add_host_example target)
  find_program(VKR_HOST_GLSLC glslc REQUIRED)
  set(spv ${CMAKE_CURRENT_BINARY_DIR}/${target}_gen/host_job.spv.inc)
  add_custom_command(OUTPUT ${spv}
    COMMAND ${VKR_HOST_GLSLC} --target-env=vulkan1.2 -O -mfmt=c -o ${spv}
            ${VKR_HOST_EXAMPLE_DIR}/host_job.comp
    DEPENDS ${VKR_HOST_EXAMPLE_DIR}/host_job.comp VERBATIM)
  add_executable(${target} ${VKR_HOST_EXAMPLE_DIR}/host_example.cpp
    ${VKR_HOST_EXAMPLE_DIR}/host_vulkan.cpp ${spv})
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/${target}_gen
    ${VKR_HOST_EXAMPLE_DIR})
  target_compile_features(${target} PRIVATE cxx_std_17)
  # The host calls Vulkan through the loader's prototypes, as most apps do.
  target_link_libraries(${target} PRIVATE vkrwkv::vkrwkv Vulkan::Vulkan)
endfunction()
