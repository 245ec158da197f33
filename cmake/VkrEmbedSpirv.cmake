# cmake -DIN=x.spv -DOUT=x.inc -P VkrEmbedSpirv.cmake: SPIR-V binary (or any file of little-endian
# 32-bit words: runtime/data/iq_grids.bin) -> comma-separated uint32 words.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(NOT rem EQUAL 0 OR n EQUAL 0)
  message(FATAL_ERROR "${IN}: not a whole number of 32-bit words")
endif()
# Little-endian bytes b0 b1 b2 b3 -> word 0xb3b2b1b0, 8 words per line.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+,){8})" "\\1\n" words "${words}")
file(WRITE "${OUT}.tmp" "${words}\n")
file(RENAME "${OUT}.tmp" "${OUT}")
