#version 450
// gemm_coopmat: the prefill linear layer on tensor cores (VK_NV_cooperative_matrix): f16 weights,
// x rounded to f16 on the way into shared memory, f16 x f16 products accumulated in f32.
//   acc[t][o] = sum_k f16(x[t][k]) * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = epilogue as in gemm.comp (MODE 0 plain, 1 residual, 2 SwiGLU; optional bias)
// grid: (ceil(nw / BN), ceil(T / BM), 1), BM = 16*FM tokens, BN = NSG*FN*CN outputs per workgroup.
//   All invocations stage BK = 32 columns of K (x tile and weight tiles, f16, row stride SA = 40
//   halves: every fragment start stays 16-byte aligned). Subgroup s owns outputs
//   [s*FN*CN, +FN*CN) of the tile: FM x FN accumulator fragments of 16 x CN (per weight matrix).
//   The epilogue stores one fragment at a time to a per-subgroup f32 slot, then that subgroup's
//   invocations apply the shared store_output() with edge masks.
// Requires (the twin checks; the pipeline is never created otherwise): VK_NV_cooperative_matrix
//   with a 16 x CN x 16 f16 -> f32 subgroup shape, shaderFloat16, and vulkanMemoryModel (glslang
//   emits the Vulkan memory model for cooperative-matrix shaders).
// spec: 0 = WG (= NSG * subgroup size), 1 = NSG, 2 = FM, 3 = FN, 4 = CN (16 or 8), 5 = MODE,
//       6 = HAS_BIAS.
// push: see common/linear_io.glsl (T, N, K, nw, element offsets of each binding's window).
// bindings: x (T, K) f32; w, wu (nw, K) f16 words; bias (nw) f32; res (T, N) f32; y (T, N) f32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NSG = 4u;
layout(constant_id = 2) const uint FM = 2u;
layout(constant_id = 3) const uint FN = 2u;
layout(constant_id = 4) const uint CN = 16u;
layout(constant_id = 5) const uint MODE = 0u;
layout(constant_id = 6) const uint HAS_BIAS = 0u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint BK = 32u;
const uint SA = BK + 8u;
const uint BM = 16u * FM;
const uint BN = NSG * FN * CN;
const uint FRAG = 16u * CN;  // floats in one output fragment

shared float16_t sa[BM * SA];       // sa[m * SA + k]: x tile, row-major (A = M x K)
shared float16_t sb[NW * BN * SA];  // sb[(mat * BN + n) * SA + k]: W rows = B column-major
shared float sc[NSG * NW * FRAG];   // per-subgroup output fragment staging

void load_tiles(uint m0, uint n0, uint k0) {
  for (uint i = gl_LocalInvocationID.x; i < BM * BK; i += gl_WorkGroupSize.x) {
    const uint m = i / BK, k = i % BK;
    const uint t = m0 + m, kk = k0 + k;
    sa[m * SA + k] = float16_t((t < p.T && kk < p.K) ? x[p.x_off + t * p.K + kk] : 0.0);
  }
  for (uint i = gl_LocalInvocationID.x; i < BN * BK; i += gl_WorkGroupSize.x) {
    const uint n = i / BK, k = i % BK;
    const uint o = n0 + n, kk = k0 + k;
    const bool inside = o < p.nw && kk < p.K;
    const uint e = o * p.K + kk;
    sb[n * SA + k] = float16_t(inside ? W_ELEM(w, p.w_off + e) : 0.0);
    if (NW == 2u) sb[(BN + n) * SA + k] = float16_t(inside ? W_ELEM(wu, p.u_off + e) : 0.0);
  }
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
  const uint sg = gl_SubgroupID;
  fcoopmatNV<32, gl_ScopeSubgroup, 16, CN> acc[NW * FM * FN];  // [(mat * FM + fm) * FN + fn]
  for (uint i = 0u; i < NW * FM * FN; ++i) acc[i] = fcoopmatNV<32, gl_ScopeSubgroup, 16, CN>(0.0);

  for (uint k0 = 0u; k0 < p.K; k0 += BK) {
    load_tiles(m0, n0, k0);
    barrier();
    for (uint kk = 0u; kk < BK; kk += 16u) {
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[FM];
      for (uint fm = 0u; fm < FM; ++fm) coopMatLoadNV(a[fm], sa, fm * 16u * SA + kk, SA, false);
      for (uint mat = 0u; mat < NW; ++mat) {
        for (uint fn = 0u; fn < FN; ++fn) {
          fcoopmatNV<16, gl_ScopeSubgroup, 16, CN> b;
          coopMatLoadNV(b, sb, (mat * BN + (sg * FN + fn) * CN) * SA + kk, SA, true);
          for (uint fm = 0u; fm < FM; ++fm) {
            const uint i = (mat * FM + fm) * FN + fn;
            acc[i] = coopMatMulAddNV(a[fm], b, acc[i]);
          }
        }
      }
    }
    barrier();  // the tiles are overwritten by the next step
  }

  const uint slot = sg * NW * FRAG;
  for (uint fm = 0u; fm < FM; ++fm) {
    for (uint fn = 0u; fn < FN; ++fn) {
      for (uint mat = 0u; mat < NW; ++mat) {
        coopMatStoreNV(acc[(mat * FM + fm) * FN + fn], sc, slot + mat * FRAG, CN, false);
      }
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = gl_SubgroupInvocationID; e < FRAG; e += gl_SubgroupSize) {
        const uint t = m0 + fm * 16u + e / CN, o = n0 + (sg * FN + fn) * CN + e % CN;
        if (t < p.T && o < p.nw) store_output(t, o, sc[slot + e], sc[slot + (NW - 1u) * FRAG + e]);
      }
      subgroupBarrier();  // the slot is overwritten by the next fragment
    }
  }
}
