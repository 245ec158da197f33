#version 450
// elementwise: fused element-wise ops of the block epilogues; OP is a spec constant.
//   OP 0 SIGMOID:      out = sigmoid(a)
//   OP 1 SILU:         out = a * sigmoid(a)
//   OP 2 RELU_SQ:      out = max(a, 0)^2
//   OP 3 ADD:          out = a + alpha * b        (residual add: bind out = a)
//   OP 4 MUL:          out = a * b
//   OP 5 SIGMOID_MUL:  out = sigmoid(a) * b       (RWKV-6 channel-mix sigmoid(r) * v; QRWKV gate)
//   OP 6 SILU_MUL:     out = silu(a) * b          (Qwen2 SwiGLU)
//   OP 7 RESID_SIGMOID_MUL: out = out + sigmoid(a) * b   (channel-mix epilogue fused with residual)
//   OP 8 SCALE:        out = alpha * a            (RWKV-6 rescale_every halving)
// Elements are processed 4 at a time through vec4 views when VEC4 = 1 (n % 4 == 0 and every
// binding offset 16-byte aligned; the twin checks), else one at a time.
// grid: ceil(n / (WG * (VEC4 ? 4 : 1))) workgroups over (x, y) (grid_1d).
// spec: 0 = WG, 1 = OP, 2 = VEC4 (0/1).   push: n (elements), alpha.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;
layout(constant_id = 2) const uint VEC4 = 0;

#include "common/index.glsl"

layout(push_constant) uniform Params {
  uint n;
  float alpha;
} p;

// Scalar and vec4 views of the same bindings (aliasing blocks); only one is used per pipeline.
layout(std430, set = 0, binding = 0) readonly buffer ABuf { float a[]; };    // a: (n)
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float b[]; };    // b: (n), unused by 0-2, 8
layout(std430, set = 0, binding = 2) buffer OBuf { float o[]; };             // out: (n)
layout(std430, set = 0, binding = 0) readonly buffer ABuf4 { vec4 a4[]; };
layout(std430, set = 0, binding = 1) readonly buffer BBuf4 { vec4 b4[]; };
layout(std430, set = 0, binding = 2) buffer OBuf4 { vec4 o4[]; };

vec4 sigmoid(vec4 v) { return 1.0 / (1.0 + exp(-v)); }

vec4 apply(vec4 av, vec4 bv, vec4 ov) {
  if (OP == 0u) return sigmoid(av);
  if (OP == 1u) return av * sigmoid(av);
  if (OP == 2u) {
    vec4 r = max(av, vec4(0.0));
    return r * r;
  }
  if (OP == 3u) return av + p.alpha * bv;
  if (OP == 4u) return av * bv;
  if (OP == 5u) return sigmoid(av) * bv;
  if (OP == 6u) return av * sigmoid(av) * bv;
  if (OP == 7u) return ov + sigmoid(av) * bv;
  return p.alpha * av;
}

const bool USES_B = OP >= 3u && OP <= 7u;
const bool READS_OUT = OP == 7u;

void main() {
  const uint i = linear_invocation_id();
  if (VEC4 != 0u) {
    if (i >= p.n / 4u) return;
    vec4 bv = USES_B ? b4[i] : vec4(0.0);
    vec4 ov = READS_OUT ? o4[i] : vec4(0.0);
    o4[i] = apply(a4[i], bv, ov);
  } else {
    if (i >= p.n) return;
    float bv = USES_B ? b[i] : 0.0;
    float ov = READS_OUT ? o[i] : 0.0;
    o[i] = apply(vec4(a[i]), vec4(bv), vec4(ov)).x;
  }
}
