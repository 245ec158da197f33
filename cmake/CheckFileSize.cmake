# CheckFileSize.cmake: run as the ctest "lint.file_size" test; fails when a source file exceeds the
# line budget (DESIGN.md: aim for <= 600 lines, hard limit 800).
set(limit 800)
file(GLOB_RECURSE files RELATIVE ${SRC}
  ${SRC}/runtime/*.cpp ${SRC}/runtime/*.hpp ${SRC}/runtime/*.c ${SRC}/model/*.cpp ${SRC}/model/*.hpp
  ${SRC}/apps/*.cpp ${SRC}/apps/*.hpp ${SRC}/tests/*.cpp ${SRC}/tests/*.hpp ${SRC}/bench/*.cpp
  ${SRC}/bench/*.hpp ${SRC}/shaders/*.comp ${SRC}/shaders/*.glsl)
set(bad "")
foreach(f IN LISTS files)
  file(STRINGS ${SRC}/${f} lines)
  list(LENGTH lines n)
  if(n GREATER limit)
    string(APPEND bad "\n  ${f}: ${n} lines")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "files over ${limit} lines (split them by concern):${bad}")
endif()
list(LENGTH files count)
message(STATUS "${count} source files within ${limit} lines")
