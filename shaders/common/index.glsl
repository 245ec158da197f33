// index.glsl: grid/index helpers shared by all kernels.
// Include it AFTER the `layout(local_size_x_id = ...) in;` line: glslang fixes gl_WorkGroupSize at
// its first use, so a helper compiled before the layout sees the default size (1, 1, 1).
#ifndef VKR_INDEX_GLSL
#define VKR_INDEX_GLSL

uint ceil_div(uint a, uint b) { return (a + b - 1u) / b; }

// Linear invocation index over a 2-D grid: the host splits large 1-D problems over y because
// maxComputeWorkGroupCount[0] can be as low as 65535.
uint linear_invocation_id() {
  return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * (gl_NumWorkGroups.x * gl_WorkGroupSize.x);
}

#endif
