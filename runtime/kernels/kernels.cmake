# kernels.cmake: host twins of the shaders (runtime/kernels/<name>.cpp), one line per kernel.
# Append with: echo 'list(APPEND VKR_KERNEL_SOURCES kernels/<name>.cpp)' >> runtime/kernels/kernels.cmake
set(VKR_KERNEL_SOURCES kernels/test_ops.cpp)
