# state_roundtrip.cmake: `generate --state-out` then `--state-in` continues exactly where the first
# run stopped: the continued text equals one run over the whole prompt (greedy, bundled model).
#   -DVKRWKV=path
function(gen out)
  execute_process(COMMAND ${VKRWKV} generate --temp 0 ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE text ERROR_VARIABLE err TIMEOUT 120)
  if(err MATCHES "no Vulkan (device found|driver could be loaded|loader found)")
    message(STATUS "VKR_TEST_SKIPPED: no Vulkan device")
    set(skip ON PARENT_SCOPE)
    return()
  endif()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate ${ARGN}: exit ${rc}\n${err}")
  endif()
  string(REGEX REPLACE "\n$" "" text "${text}")
  message(STATUS "generate ${ARGN}\n  -> '${text}'")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

set(S1 ${WORK}/prompt.state)
set(S2 ${WORK}/generated.state)
file(REMOVE ${S1} ${S2})

# 1. A prompt cached in a state file, continued by the rest of the prompt.
gen(whole -p "In the beginning God created the heaven" -n 12)
if(skip)
  return()
endif()
gen(first -p "In the beginning" -n 0 --state-out ${S1})
gen(rest --state-in ${S1} -p " God created the heaven" -n 12)
if(NOT first STREQUAL "In the beginning" OR NOT "${first}${rest}" STREQUAL "${whole}")
  message(FATAL_ERROR "prompt state: '${first}' + '${rest}' != '${whole}'")
endif()

# 2. The saved state holds the generated text too (its last token included), so continuing it
#    equals one run over the first run's whole output.
gen(out -p "In the beginning God" -n 5 --state-out ${S2})
gen(more --state-in ${S2} -p " and" -n 10)
gen(again -p "${out} and" -n 10)
if(NOT "${out}${more}" STREQUAL "${again}")
  message(FATAL_ERROR "generated state: '${out}' + '${more}' != '${again}'")
endif()

# 3. Chat: two turns in one run == turn one saved with --state-out, turn two after --state-in.
function(chat out input)
  file(WRITE ${WORK}/chat_input.txt "${input}")
  execute_process(COMMAND ${VKRWKV} generate --chat --temp 0 -n 8 ${ARGN}
                  INPUT_FILE ${WORK}/chat_input.txt RESULT_VARIABLE rc OUTPUT_VARIABLE text
                  ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate --chat ${ARGN}: exit ${rc}\n${err}")
  endif()
  message(STATUS "chat ${ARGN} <<< '${input}'\n  -> '${text}'")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
set(S3 ${WORK}/chat.state)
file(REMOVE ${S3})
chat(both "Who made the heaven?\nAnd the earth?\n")
chat(one "Who made the heaven?\n" --state-out ${S3})
chat(two "And the earth?\n" --state-in ${S3})
if(NOT EXISTS ${S3} OR NOT "${one}${two}" STREQUAL "${both}")
  message(FATAL_ERROR "chat state: '${one}' + '${two}' != '${both}'")
endif()
