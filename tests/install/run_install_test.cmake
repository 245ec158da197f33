# run_install_test.cmake: cmake --install into WORK_DIR/prefix, symbol check, consumer project
# configure + build + run (find_package), and a pkg-config build of the C consumer.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "ok: ${ARGN}\n${out}")
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# What a package must hold (lib dir name comes from GNUInstallDirs: lib or lib64 or lib/<triple>).
file(GLOB_RECURSE libs ${prefix}/*/libvkrwkv.a ${prefix}/*/libvkrwkv.so)
file(GLOB_RECURSE configs ${prefix}/*/vkrwkvConfig.cmake ${prefix}/*/vkrwkvConfigVersion.cmake)
file(GLOB_RECURSE pcs ${prefix}/*/vkrwkv.pc)
foreach(f ${prefix}/include/vkrwkv.h ${prefix}/include/vkrwkv.hpp ${prefix}/bin/vkrwkv)
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
list(LENGTH configs n_configs)
if(NOT libs OR NOT n_configs EQUAL 2 OR NOT pcs)
  message(FATAL_ERROR "missing library/config/pkg-config file: ${libs} ${configs} ${pcs}")
endif()

# No global vk*/volk* definitions: they would shadow a host's libvulkan/volk symbols.
list(GET libs 0 lib)
run(${NM} -g --defined-only ${lib})
string(REGEX MATCHALL "[^\n]* [TDBRC] (vk|volk)[A-Za-z0-9_]*" leaked "${run_output}")
list(FILTER leaked EXCLUDE REGEX " (vkrwkv_|vkr_)")
if(leaked)
  list(SUBLIST leaked 0 5 first)
  message(FATAL_ERROR "libvkrwkv defines Vulkan/volk symbols: ${first}")
endif()

set(build ${WORK_DIR}/consumer-build)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${build} -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix} -DVKR_HOST_EXAMPLE_DIR=${HOST_EXAMPLE_DIR}
  -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${build})
run(${build}/consumer_c ${MODEL})
run(${build}/consumer_cpp ${MODEL} "Hello" 4)

# pkg-config: the same C program, compiled and linked with the flags vkrwkv.pc gives.
list(GET pcs 0 pc)
get_filename_component(pc_dir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run(pkg-config --cflags --libs --static vkrwkv)
string(STRIP "${run_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CC} -std=c99 ${CONSUMER_DIR}/consumer.c -o ${WORK_DIR}/consumer_pc ${flags})
run(${WORK_DIR}/consumer_pc ${MODEL})
