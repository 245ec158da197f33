#version 450
// test_ops: the runtime's self-test kernel (not a model op); exercises dispatch, spec constants,
// push constants, bound buffer windows and barriers.
//   OP 0 (saxpy): y[i] = a * x[i] + y[i]
//   OP 1 (iota):  y[i] = bits(first + i)        (x unused; checks windows of huge buffers)
//   OP 2 (scale): y[i] = a * x[i] + base        (consumer stage of the barrier test)
// grid: (min(ceil(n / WG), 65535), ceil(groups / 65535), 1); one element per invocation.
// spec: 0 = WG (local size x), 1 = OP.   push: n elements, first = global index of y[0], a, base.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;

#include "common/index.glsl"

layout(push_constant) uniform Params {
  uint n;
  uint first;
  float a;
  float base;
} p;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float x[]; };  // x: (n)
layout(std430, set = 0, binding = 1) buffer YBuf { float y[]; };           // y: (n)

void main() {
  uint i = linear_invocation_id();
  if (i >= p.n) return;
  if (OP == 0u) {
    y[i] = p.a * x[i] + y[i];
  } else if (OP == 1u) {
    y[i] = uintBitsToFloat(p.first + i);
  } else {
    y[i] = p.a * x[i] + p.base;
  }
}
