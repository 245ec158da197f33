#version 450
// topk: the K largest logits of each row, so a top-k sampler reads back 2K values instead of the
// whole vocabulary (608 KB per token for QRWKV6's 152064 ids).
//   out_ids[r][0..K) / out_vals[r][0..K) = the K entries of logits[r] that come first in the
//   order (value descending, id ascending), listed in ascending id order. NaN ranks below -inf
//   (it is only returned when a row has fewer than K other entries; the sampler skips it).
// Method: exact radix select on an order-preserving 32-bit key, 8 bits per pass (4 passes over
//   the row, a 256-bin shared histogram each), which finds the key T of the K-th entry and how
//   many entries equal to T are needed. Then a deterministic compaction: each invocation owns a
//   contiguous slice of ids, counts its entries > T and == T, a scan over invocations gives each
//   its output offset, and ties are taken lowest id first, exactly like the CPU order.
// grid: rows workgroups over (x, y) (grid_1d); one workgroup per row. Barriers: a few per pass,
//   none per element, so the cost is ~5 reads of the row. GPUs given few rows use
//   topk_split.comp (the same select over many workgroups) instead.
// spec: 0 = WG (<= 1024).   push: rows, V, K (1 <= K <= V).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

#include "common/index.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint V;
  uint K;
} p;

layout(std430, set = 0, binding = 0) readonly buffer LBuf { float logits[]; };      // logits: (rows, V)
layout(std430, set = 0, binding = 1) writeonly buffer IdBuf { uint out_ids[]; };    // out_ids: (rows, K)
layout(std430, set = 0, binding = 2) writeonly buffer VBuf { float out_vals[]; };   // out_vals: (rows, K)

shared uint hist[256];
shared uint s_prefix, s_mask, s_need;
shared uint s_gt[1024], s_eq[1024];  // per-invocation counts, then their exclusive prefix sums

#include "common/float_key.glsl"

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint base = row * p.V;
  const uint tid = gl_LocalInvocationID.x;
  const uint WG = gl_WorkGroupSize.x;
  if (tid == 0u) {
    s_prefix = 0u;
    s_mask = 0u;
    s_need = p.K;
  }
  // Radix select, most significant byte first: after pass i the top 8(i+1) bits of T are known.
  for (uint pass = 0u; pass < 4u; ++pass) {
    const uint shift = 24u - 8u * pass;
    for (uint i = tid; i < 256u; i += WG) hist[i] = 0u;
    barrier();
    const uint prefix = s_prefix, mask = s_mask;
    for (uint v = tid; v < p.V; v += WG) {
      const uint key = key_of(logits[base + v]);
      if ((key & mask) == prefix) atomicAdd(hist[(key >> shift) & 255u], 1u);
    }
    barrier();
    if (tid == 0u) {  // walk bins from the top until the K-th entry is inside one
      uint need = s_need, b = 255u;
      while (b > 0u && hist[b] < need) {
        need -= hist[b];
        --b;
      }
      s_prefix = prefix | (b << shift);
      s_mask = mask | (255u << shift);
      s_need = need;  // entries equal to T still to take
    }
    barrier();
  }
  const uint T = s_prefix, need_eq = s_need;

  // Deterministic compaction over contiguous id slices.
  const uint chunk = ceil_div(p.V, WG);
  const uint lo = min(tid * chunk, p.V), hi = min(lo + chunk, p.V);
  uint gt = 0u, eq = 0u;
  for (uint v = lo; v < hi; ++v) {
    const uint key = key_of(logits[base + v]);
    gt += key > T ? 1u : 0u;
    eq += key == T ? 1u : 0u;
  }
  s_gt[tid] = gt;
  s_eq[tid] = eq;
  barrier();
  if (tid == 0u) {  // exclusive scans; WG <= 1024 steps once per row
    uint a = 0u, e = 0u;
    for (uint i = 0u; i < WG; ++i) {
      const uint g = s_gt[i], q = s_eq[i];
      s_gt[i] = a;
      s_eq[i] = e;
      a += g;
      e += q;
    }
  }
  barrier();
  uint at_gt = s_gt[tid], at_eq = s_eq[tid];
  // Output slot = rank in id order among the kept entries: (# kept > T before v) + (# kept ties
  // before v). Walk the slice once, in id order.
  const uint dst = row * p.K;
  for (uint v = lo; v < hi; ++v) {
    const float l = logits[base + v];
    const uint key = key_of(l);
    const bool take_gt = key > T;
    const bool take_eq = key == T && at_eq < need_eq;
    if (take_gt || take_eq) {
      // kept ties before v = min(at_eq, need_eq); kept gts before v = at_gt
      const uint slot = at_gt + min(at_eq, need_eq);
      out_ids[dst + slot] = v;
      out_vals[dst + slot] = l;
    }
    at_gt += take_gt ? 1u : 0u;
    at_eq += key == T ? 1u : 0u;
  }
}
