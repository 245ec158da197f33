#version 450
// sampling: on-GPU helpers so generation reads back one id (or one probability row) instead of
// the whole vocabulary.
//   MODE 0 (argmax):  ids[r] = argmax_v logits[r][v]; ties -> lowest index; NaN ignored
//                     (a row of only NaN gives 0)
//   MODE 1 (softmax): probs[r][v] = exp((l - m) / temp) / sum_v exp((l - m) / temp), m = max_v l
//                     (f32, max subtracted; probs may alias logits)
//   MODE 2 (nll):     nll[r] = log(sum_v exp(l_v - m)) + m - l[targets[r]]: the negative
//                     log-likelihood of the next token, so perplexity reads back one float per
//                     position instead of V (NaN logits propagate: a broken model is not hidden)
// grid: rows workgroups over (x, y) (grid_1d); one workgroup per row, invocations stride over V,
//   then a subgroup + shared-memory reduction (common/reduce.glsl). CPU devices and many rows;
//   GPUs given few rows use sampling_split.comp (a row over many workgroups) instead.
// spec: 0 = WG, 1 = MODE, 2 = VEC (MODE 0: vec4 loads, for V % 4 == 0 and logits on 16 bytes:
//   16-byte loads on GPUs, a quarter of the per-lane load loops on CPU drivers).
// push: rows, V, inv_temp (1 / temperature, MODE 1).
// variants: f32 (every mode); f32tex (MODE 0 with VEC only: the logits through a uniform texel
//   buffer, one vector load per lane on llvmpipe instead of a per-lane scalar loop: CPU devices).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint VEC = 0;

#include "common/index.glsl"
#include "common/reduce.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint V;
  float inv_temp;
} p;

#if defined(VKR_DTYPE_F32TEX)
layout(set = 0, binding = 0) uniform utextureBuffer logits_t;  // logits: (rows, V) as vec4 texels
#define LD_L4(i) uintBitsToFloat(texelFetch(logits_t, int(i)))
#else
layout(std430, set = 0, binding = 0) buffer LBuf { float logits[]; };              // logits: (rows, V)
layout(std430, set = 0, binding = 0) readonly buffer LBuf4 { vec4 logits4[]; };
#define LD_L4(i) logits4[i]
#endif
layout(std430, set = 0, binding = 1) writeonly buffer IdBuf { uint ids[]; };       // ids: (rows), MODE 0
layout(std430, set = 0, binding = 1) writeonly buffer PBuf { float probs[]; };     // probs: (rows, V), MODE 1
// MODE 2: in: the target id of each row; out: its nll (f32 bits), in place, so every mode has the
// same two bindings (a third one would be statically used by the other modes' pipelines too).
layout(std430, set = 0, binding = 1) buffer TBuf { uint target_nll[]; };           // (rows), MODE 2

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint base = row * p.V;
  const uint tid = gl_LocalInvocationID.x;
  if (MODE == 0u) {
    float best = uintBitsToFloat(0xFF800000u);  // -inf: any non-NaN value (even -inf) wins
    uint idx = 0xFFFFFFFFu;
    if (VEC != 0u) {
      // Same rule per element (ties -> lowest index whatever the visiting order).
      for (uint v4 = tid; v4 < p.V / 4u; v4 += gl_WorkGroupSize.x) {
        const vec4 l4 = LD_L4(base / 4u + v4);
        for (uint e = 0u; e < 4u; ++e) {
          const float l = l4[e];
          const uint v = 4u * v4 + e;
          if (l > best || (l == best && v < idx)) {  // NaN compares false: ignored
            best = l;
            idx = v;
          }
        }
      }
    } else {
#if !defined(VKR_DTYPE_F32TEX)
      for (uint v = tid; v < p.V; v += gl_WorkGroupSize.x) {
        const float l = logits[base + v];
        if (l > best || (l == best && v < idx)) {  // NaN compares false: ignored
          best = l;
          idx = v;
        }
      }
#endif
    }
    wg_argmax(best, idx);
    if (tid == 0u) ids[row] = idx == 0xFFFFFFFFu ? 0u : idx;
    return;
  }
#if !defined(VKR_DTYPE_F32TEX)
  float m = uintBitsToFloat(0xFF800000u);
  for (uint v = tid; v < p.V; v += gl_WorkGroupSize.x) m = max(m, logits[base + v]);
  m = wg_max(m);
  float s = 0.0;
  for (uint v = tid; v < p.V; v += gl_WorkGroupSize.x) s += exp((logits[base + v] - m) * p.inv_temp);
  if (MODE == 2u) {
    s = wg_sum(s);
    if (tid == 0u) {
      const float l = logits[base + min(target_nll[row], p.V - 1u)];  // ids are checked on the host
      target_nll[row] = floatBitsToUint(log(s) + m - l);
    }
    return;
  }
  const float inv_sum = 1.0 / wg_sum(s);
  for (uint v = tid; v < p.V; v += gl_WorkGroupSize.x) {
    probs[base + v] = exp((logits[base + v] - m) * p.inv_temp) * inv_sum;
  }
#endif
}
