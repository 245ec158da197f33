#version 450
// sampling_split: sampling.comp's argmax / softmax / nll with each row split over G blocks, for
// GPUs given few rows: one workgroup per row leaves all but a few compute units idle and is bound
// by one workgroup's load latency (148 us for argmax over 152064 logits on an H100). Same results
// and semantics as sampling.comp (argmax ties -> lowest index, NaN ignored, all-NaN -> 0).
//   PASS 0, grid rows * G (one workgroup per (row, block)): the block's partial into part[],
//     argmax: (max, its lowest index; -inf / 0xFFFFFFFF when the block has no non-NaN value),
//     softmax / nll: (m_b = max, s_b = sum exp((l - m_b) * inv_temp)).
//   PASS 1, argmax / nll, grid rows: one workgroup combines a row's G partials in a fixed order.
//   PASS 1, softmax, grid rows * G: every workgroup re-reduces its row's (small) partial array
//     itself, identically, so the combine needs no third dispatch, then writes its block's
//     probabilities (probs may alias logits: each element is read and written by one invocation).
// VEC4: 16-byte loads (the host sets it when V, block and the bound offsets are multiples of 4
//   floats); otherwise scalar loads.
// spec: 0 = WG, 1 = MODE (0 argmax, 1 softmax, 2 nll), 2 = PASS, 3 = VEC4.
// push: rows, V, inv_temp, block (elements per block), G = ceil(V / block).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint PASS = 0;
layout(constant_id = 3) const bool VEC4 = false;

#include "common/index.glsl"
#include "common/reduce.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint V;
  float inv_temp;
  uint block;
  uint G;
} p;

layout(std430, set = 0, binding = 0) buffer LBuf { float logits[]; };               // (rows, V)
layout(std430, set = 0, binding = 0) buffer L4Buf { vec4 logits4[]; };              // same, VEC4
layout(std430, set = 0, binding = 1) writeonly buffer IdBuf { uint ids[]; };        // (rows), MODE 0
layout(std430, set = 0, binding = 1) writeonly buffer PBuf { float probs[]; };      // (rows, V), MODE 1
layout(std430, set = 0, binding = 1) writeonly buffer P4Buf { vec4 probs4[]; };     // same, VEC4
layout(std430, set = 0, binding = 1) buffer TBuf { uint target_nll[]; };            // (rows), MODE 2
layout(std430, set = 0, binding = 2) buffer PartBuf { uint part[]; };               // (rows, G, 2)

#define kNegInf uintBitsToFloat(0xFF800000u)

void take_max(float l, uint v, inout float best, inout uint idx) {
  if (l > best || (l == best && v < idx)) {  // NaN compares false: ignored
    best = l;
    idx = v;
  }
}

// exp term of one logit; -inf contributes 0 even when the block max is -inf too (exp(NaN) there
// would poison a row whose other blocks are finite). NaN still propagates.
float term(float l, float m) { return l == kNegInf ? 0.0 : exp((l - m) * p.inv_temp); }

// Row max and sum of exp((l - M) * inv_temp) from a row's partials; identical in every workgroup
// that calls it (same data, same order).
void combine(uint row, out float M, out float S) {
  const uint tid = gl_LocalInvocationID.x;
  float m = kNegInf;
  for (uint g = tid; g < p.G; g += gl_WorkGroupSize.x) {
    m = max(m, uintBitsToFloat(part[2u * (row * p.G + g)]));
  }
  M = wg_max(m);
  float s = 0.0;
  for (uint g = tid; g < p.G; g += gl_WorkGroupSize.x) {
    const float mb = uintBitsToFloat(part[2u * (row * p.G + g)]);
    const float sb = uintBitsToFloat(part[2u * (row * p.G + g) + 1u]);
    s += sb > 0.0 ? sb * exp((mb - M) * p.inv_temp) : sb;  // 0 stays 0, NaN stays NaN
  }
  S = wg_sum(s);
}

void main() {
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint WG = gl_WorkGroupSize.x;
  const bool per_block = PASS == 0u || MODE == 1u;
  const uint row = per_block ? wg / p.G : wg;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint base = row * p.V;
  const uint b = per_block ? wg - row * p.G : 0u;
  const uint lo = b * p.block;
  const uint hi = min(p.V, lo + p.block);

  if (PASS == 0u) {
    if (MODE == 0u) {
      float best = kNegInf;  // any non-NaN value (even -inf) wins
      uint idx = 0xFFFFFFFFu;
      if (VEC4) {
        for (uint i = lo / 4u + tid; i < hi / 4u; i += WG) {
          const vec4 x = logits4[base / 4u + i];
          take_max(x.x, 4u * i, best, idx);
          take_max(x.y, 4u * i + 1u, best, idx);
          take_max(x.z, 4u * i + 2u, best, idx);
          take_max(x.w, 4u * i + 3u, best, idx);
        }
      } else {
        for (uint v = lo + tid; v < hi; v += WG) take_max(logits[base + v], v, best, idx);
      }
      wg_argmax(best, idx);
      if (tid == 0u) {
        part[2u * wg] = floatBitsToUint(best);
        part[2u * wg + 1u] = idx;
      }
      return;
    }
    float m = kNegInf;
    if (VEC4) {
      for (uint i = lo / 4u + tid; i < hi / 4u; i += WG) {
        const vec4 x = logits4[base / 4u + i];
        m = max(m, max(max(x.x, x.y), max(x.z, x.w)));
      }
    } else {
      for (uint v = lo + tid; v < hi; v += WG) m = max(m, logits[base + v]);
    }
    m = wg_max(m);
    float s = 0.0;
    if (VEC4) {
      for (uint i = lo / 4u + tid; i < hi / 4u; i += WG) {
        const vec4 x = logits4[base / 4u + i];
        s += (term(x.x, m) + term(x.y, m)) + (term(x.z, m) + term(x.w, m));
      }
    } else {
      for (uint v = lo + tid; v < hi; v += WG) s += term(logits[base + v], m);
    }
    s = wg_sum(s);
    if (tid == 0u) {
      part[2u * wg] = floatBitsToUint(m);
      part[2u * wg + 1u] = floatBitsToUint(s);
    }
    return;
  }

  // PASS 1
  if (MODE == 0u) {
    float best = kNegInf;
    uint idx = 0xFFFFFFFFu;
    for (uint g = tid; g < p.G; g += WG) {
      take_max(uintBitsToFloat(part[2u * (row * p.G + g)]), part[2u * (row * p.G + g) + 1u], best,
               idx);
    }
    wg_argmax(best, idx);
    if (tid == 0u) ids[row] = idx == 0xFFFFFFFFu ? 0u : idx;
    return;
  }
  float M, S;
  combine(row, M, S);
  if (MODE == 2u) {
    if (tid == 0u) {
      const float l = logits[base + min(target_nll[row], p.V - 1u)];  // ids are checked on the host
      target_nll[row] = floatBitsToUint(log(S) + M - l);
    }
    return;
  }
  const float inv_sum = 1.0 / S;
  if (VEC4) {
    for (uint i = lo / 4u + tid; i < hi / 4u; i += WG) {
      const vec4 x = logits4[base / 4u + i];
      probs4[base / 4u + i] = exp((x - M) * p.inv_temp) * inv_sum;
    }
  } else {
    for (uint v = lo + tid; v < hi; v += WG) {
      probs[base + v] = exp((logits[base + v] - M) * p.inv_temp) * inv_sum;
    }
  }
}
