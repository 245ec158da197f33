# vkr_target_warnings(tgt): one warning policy for every target of ours.
function(vkr_target_warnings tgt)
  target_compile_options(${tgt} PRIVATE -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
    -Wno-missing-field-initializers)  # `VkFoo x{VK_STRUCTURE_TYPE_FOO}` is the Vulkan idiom
  if(VKR_WERROR)
    target_compile_options(${tgt} PRIVATE -Werror)
  endif()
endfunction()
