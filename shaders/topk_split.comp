#version 450
// topk_split: topk.comp's exact radix select with each row split over G blocks, for GPUs given few
// rows (one workgroup per row took 2359 us at V = 152064 on an H100). Same result: the K entries
// first in the order (value descending, id ascending; NaN below -inf), in ascending id order.
// Scratch (u32): state (rows, 4) = (prefix, mask, need, -), hist (rows, G, 256), cnt (rows, G, 2).
//   PASS 0, grid rows * G, RADIX r (push): each block's 256-bin histogram of key byte 3 - r among
//     the keys matching the row's known prefix (none known for r = 0).
//   PASS 1, grid rows: sum the G histograms per bin (fixed order), walk bins from the top like
//     topk.comp, update the row's state. After r = 3, state holds T (the K-th key) and how many
//     entries equal to T to take.
//   PASS 2, grid rows * G: each block's count of keys > T and == T.
//   PASS 3, grid rows * G: the block's offsets = sums of the earlier blocks' counts, then
//     topk.comp's compaction over per-invocation slices of the block.
// spec: 0 = WG (<= 1024), 1 = PASS.   push: rows, V, K, block, G, radix.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint PASS = 0;

#include "common/index.glsl"
#include "common/float_key.glsl"

layout(push_constant) uniform Params {
  uint rows;
  uint V;
  uint K;
  uint block;
  uint G;
  uint radix;
} p;

layout(std430, set = 0, binding = 0) readonly buffer LBuf { float logits[]; };      // (rows, V)
layout(std430, set = 0, binding = 1) writeonly buffer IdBuf { uint out_ids[]; };    // (rows, K)
layout(std430, set = 0, binding = 2) writeonly buffer VBuf { float out_vals[]; };   // (rows, K)
layout(std430, set = 0, binding = 3) buffer SBuf { uint scratch[]; };

shared uint hist[256];
shared uint s_a, s_b;
shared uint s_gt[1024], s_eq[1024];

uint state_at(uint row) { return 4u * row; }
uint hist_at(uint row, uint g) { return 4u * p.rows + 256u * (row * p.G + g); }
uint cnt_at(uint row, uint g) { return 4u * p.rows + 256u * p.rows * p.G + 2u * (row * p.G + g); }

void main() {
  const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint WG = gl_WorkGroupSize.x;
  const bool per_block = PASS != 1u;
  const uint row = per_block ? wg / p.G : wg;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint b = per_block ? wg - row * p.G : 0u;
  const uint base = row * p.V;
  const uint lo = b * p.block;
  const uint hi = min(p.V, lo + p.block);

  if (PASS == 0u) {
    const uint shift = 24u - 8u * p.radix;
    const uint prefix = p.radix == 0u ? 0u : scratch[state_at(row)];
    const uint mask = p.radix == 0u ? 0u : scratch[state_at(row) + 1u];
    for (uint i = tid; i < 256u; i += WG) hist[i] = 0u;
    barrier();
    for (uint v = lo + tid; v < hi; v += WG) {
      const uint key = key_of(logits[base + v]);
      if ((key & mask) == prefix) atomicAdd(hist[(key >> shift) & 255u], 1u);
    }
    barrier();
    for (uint i = tid; i < 256u; i += WG) scratch[hist_at(row, b) + i] = hist[i];
    return;
  }

  if (PASS == 1u) {
    const uint shift = 24u - 8u * p.radix;
    for (uint i = tid; i < 256u; i += WG) {
      uint n = 0u;
      for (uint g = 0u; g < p.G; ++g) n += scratch[hist_at(row, g) + i];
      hist[i] = n;
    }
    barrier();
    if (tid == 0u) {  // walk bins from the top until the K-th entry is inside one
      const uint prefix = p.radix == 0u ? 0u : scratch[state_at(row)];
      const uint mask = p.radix == 0u ? 0u : scratch[state_at(row) + 1u];
      uint need = p.radix == 0u ? p.K : scratch[state_at(row) + 2u], bin = 255u;
      while (bin > 0u && hist[bin] < need) {
        need -= hist[bin];
        --bin;
      }
      scratch[state_at(row)] = prefix | (bin << shift);
      scratch[state_at(row) + 1u] = mask | (255u << shift);
      scratch[state_at(row) + 2u] = need;  // entries equal to T still to take
    }
    return;
  }

  const uint T = scratch[state_at(row)], need_eq = scratch[state_at(row) + 2u];
  // Contiguous slices of the block per invocation (PASS 3 walks them in id order).
  const uint chunk = ceil_div(hi - lo, WG);
  const uint slo = min(lo + tid * chunk, hi), shi = min(slo + chunk, hi);
  uint gt = 0u, eq = 0u;
  for (uint v = slo; v < shi; ++v) {
    const uint key = key_of(logits[base + v]);
    gt += key > T ? 1u : 0u;
    eq += key == T ? 1u : 0u;
  }
  s_gt[tid] = gt;
  s_eq[tid] = eq;
  if (PASS == 2u) {
    barrier();
    if (tid == 0u) {
      uint a = 0u, e = 0u;
      for (uint i = 0u; i < WG; ++i) {
        a += s_gt[i];
        e += s_eq[i];
      }
      scratch[cnt_at(row, b)] = a;
      scratch[cnt_at(row, b) + 1u] = e;
    }
    return;
  }
  // PASS 3
  if (tid == 0u) {  // the earlier blocks' counts: G is small (~V / 4096)
    uint a = 0u, e = 0u;
    for (uint g = 0u; g < b; ++g) {
      a += scratch[cnt_at(row, g)];
      e += scratch[cnt_at(row, g) + 1u];
    }
    s_a = a;
    s_b = e;
  }
  barrier();
  if (tid == 0u) {  // exclusive scans over the invocations' slices
    uint a = s_a, e = s_b;
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
  const uint dst = row * p.K;
  for (uint v = slo; v < shi; ++v) {
    const float l = logits[base + v];
    const uint key = key_of(l);
    const bool take_gt = key > T;
    const bool take_eq = key == T && at_eq < need_eq;
    if (take_gt || take_eq) {
      const uint slot = at_gt + min(at_eq, need_eq);  // kept entries before v, in id order
      out_ids[dst + slot] = v;
      out_vals[dst + slot] = l;
    }
    at_gt += take_gt ? 1u : 0u;
    at_eq += key == T ? 1u : 0u;
  }
}
