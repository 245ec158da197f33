# bench_sources.cmake: one line per bench family source.
# Append with: echo 'list(APPEND VKR_BENCH_SOURCES bench_<k>.cpp)' >> bench/bench_sources.cmake
set(VKR_BENCH_SOURCES "")
list(APPEND VKR_BENCH_SOURCES bench_gemm.cpp)
list(APPEND VKR_BENCH_SOURCES bench_ops.cpp)
list(APPEND VKR_BENCH_SOURCES bench_wkv.cpp)
list(APPEND VKR_BENCH_SOURCES bench_quant.cpp)
