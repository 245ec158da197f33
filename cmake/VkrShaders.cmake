# Build-time shader pipeline: shaders/*.comp -> glslc (depfile) -> spirv-val -> embedded uint32 arrays.
# vkr_shader(<name> [VARIANTS v1 v2 ...]) registers one kernel (each variant compiled with
# -DVKR_DTYPE_<V>); vkr_finalize_shaders(<target>) generates the ShaderId enum and the registry.

set(VKR_SHADER_DIR ${PROJECT_SOURCE_DIR}/shaders)
set(VKR_SHADER_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/VkrEmbedSpirv.cmake)

function(vkr_shader name)
  cmake_parse_arguments(S "" "" "VARIANTS" ${ARGN})
  if(NOT S_VARIANTS)
    set(S_VARIANTS "")
    set(ids ${name})
  endif()
  set(src ${VKR_SHADER_DIR}/${name}.comp)
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/spv)
  if(S_VARIANTS)
    set(ids "")
    foreach(v IN LISTS S_VARIANTS)
      list(APPEND ids ${name}_${v})
    endforeach()
  endif()
  foreach(id IN LISTS ids)
    string(REPLACE "${name}" "" suffix "${id}")
    set(defs "")
    if(suffix)
      string(SUBSTRING "${suffix}" 1 -1 variant)
      string(TOUPPER "${variant}" up)
      set(defs -DVKR_DTYPE_${up}=1)
    endif()
    set(spv ${outdir}/${id}.spv)
    set(inc ${outdir}/${id}.inc)
    add_custom_command(
      OUTPUT ${inc}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}
      COMMAND ${VKR_GLSLC} --target-env=vulkan1.2 -O -I ${VKR_SHADER_DIR} ${defs}
              -MD -MF ${inc}.d -MT ${inc} -o ${spv} ${src}
      COMMAND ${VKR_SPIRV_VAL} --target-env vulkan1.2 ${spv}
      COMMAND ${CMAKE_COMMAND} -DIN=${spv} -DOUT=${inc} -P ${VKR_SHADER_EMBED_SCRIPT}
      DEPENDS ${src} ${VKR_SHADER_EMBED_SCRIPT}
      DEPFILE ${inc}.d
      COMMENT "glslc + spirv-val ${id}"
      VERBATIM)
    set_property(GLOBAL APPEND PROPERTY VKR_SHADER_IDS ${id})
    set_property(GLOBAL APPEND PROPERTY VKR_SHADER_INCS ${inc})
  endforeach()
endfunction()

function(vkr_finalize_shaders target)
  get_property(ids GLOBAL PROPERTY VKR_SHADER_IDS)
  get_property(incs GLOBAL PROPERTY VKR_SHADER_INCS)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/generated)
  set(enum_body "")
  set(arrays "")
  set(table "")
  foreach(id IN LISTS ids)
    string(APPEND enum_body "  ${id},\n")
    string(APPEND arrays "static const uint32_t k_${id}[] = {\n#include \"${CMAKE_CURRENT_BINARY_DIR}/spv/${id}.inc\"\n};\n")
    string(APPEND table "    {\"${id}\", {k_${id}, sizeof(k_${id}) / sizeof(uint32_t)}},\n")
  endforeach()
  configure_file(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/shader_id.hpp.in ${gen}/vkr/shader_id.hpp @ONLY)
  configure_file(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/shader_registry.cpp.in ${gen}/shader_registry.cpp @ONLY)
  add_library(${target} STATIC ${gen}/shader_registry.cpp ${incs})
  set_source_files_properties(${incs} PROPERTIES HEADER_FILE_ONLY TRUE)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${gen}>)
  target_compile_features(${target} PUBLIC cxx_std_20)
endfunction()
