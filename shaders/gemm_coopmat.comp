#version 450
// gemm_coopmat: the prefill linear layer on tensor cores (VK_NV_cooperative_matrix): f16 weights,
// x rounded to f16 on the way into shared memory, f16 x f16 products accumulated in f32.
//   acc[t][o] = sum_k f16(x[t][k]) * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = epilogue as in gemm.comp (MODE 0 plain, 1 residual, 2 SwiGLU; optional bias)
// grid: (ceil(nw / BN), ceil(T / BM), 1). The workgroup is NSG = WM * WN * KS subgroups of SG
//   invocations; it owns the BM x BN tile of y at tokens [by*BM, +BM), outputs [bx*BN, +BN), with
//   BM = WM * FM * 16 and BN = WN * FN * CN.
// K loop (BK columns per step, one shared tile of x and W per step, 16-byte granules):
//   - every invocation fetches its share of the NEXT step's tiles into registers (uvec4 = 8 f16
//     weights; two vec4 of x packed to 8 f16) right after the barrier that publishes the current
//     tile, so the global loads are in flight while the subgroups run the current step's MMAs;
//   - tile rows are padded by one granule (row stride SA = BK/8 + 1 uvec4): the 8 rows read by one
//     16-byte-per-lane fragment load start in 8 different bank groups;
//   - subgroup s = (ks, wm, wn) multiplies its FM x FN fragments (FM of A: 16 tokens x 16 k, FN of
//     B: 16 k x CN outputs) over k columns [ks * BK/KS, +BK/KS) of the tile: KS > 1 splits K
//     inside the workgroup (short prompts: few output tiles, so each workgroup gets more warps).
// Epilogue: one fragment position (fm, fn) at a time every subgroup stores its accumulator(s) to
//   its own f32 slot; after a barrier the ks == 0 subgroups sum the KS slots of their (wm, wn)
//   and apply the shared store_output() with edge masks.
// Every loop with a spec-constant trip count is [[unroll]]: the accumulator and fragment arrays
// must stay in registers (a dynamically indexed array of cooperative matrices may be put in local
// memory, one load and store of every accumulator per MMA).
// Fragment loads/stores address the uvec4 arrays in uvec4 units (offset and stride), the matrix
// elements being the f16 (or f32) values the granules hold, as SPV_NV_cooperative_matrix defines
// for a pointer to a type other than the component type.
// Requires (the twin checks; the pipeline is never created otherwise): VK_NV_cooperative_matrix
//   with a 16 x CN x 16 f16 -> f32 subgroup shape, shaderFloat16, and vulkanMemoryModel (glslang
//   emits the Vulkan memory model for cooperative-matrix shaders); subgroups of exactly SG.
// spec: 0 = WG (= NSG * SG), 1 = WM, 2 = WN, 3 = KS, 4 = FM, 5 = FN, 6 = CN (16 or 8), 7 = BK
//       (multiple of 16 * KS), 8 = MODE, 9 = HAS_BIAS, 10 = SG, 11 = VEC (1: K % 8 == 0, w/u
//       offsets % 8 == 0 and x offset % 4 == 0, so every 8-element granule is whole and aligned).
// push: see common/linear_io.glsl (T, N, K, nw, element offsets of each binding's window).
// bindings: x (T, K) f32; w, wu (nw, K) f16 words; bias (nw) f32; res (T, N) f32; y (T, N) f32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint WM = 2u;
layout(constant_id = 2) const uint WN = 4u;
layout(constant_id = 3) const uint KS = 1u;
layout(constant_id = 4) const uint FM = 4u;
layout(constant_id = 5) const uint FN = 2u;
layout(constant_id = 6) const uint CN = 16u;
layout(constant_id = 7) const uint BK = 64u;
layout(constant_id = 8) const uint MODE = 0u;
layout(constant_id = 9) const uint HAS_BIAS = 0u;
layout(constant_id = 10) const uint SG = 32u;
layout(constant_id = 11) const uint VEC = 1u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint NSG = WM * WN * KS;
const uint WGS = NSG * SG;  // invocations (= spec 0)
const uint BM = 16u * FM * WM;
const uint BN = CN * FN * WN;
const uint KV = BK / 8u;      // 16-byte granules per tile row
const uint SA = KV + 1u;      // padded row stride, in granules
const uint KSL = BK / KS;     // k columns per subgroup per step
const uint FRAG = 16u * CN;   // floats in one output fragment
const uint A_G = BM * KV;     // granules per x tile
const uint B_G = BN * KV;     // granules per weight tile
const uint RA = (A_G + WGS - 1u) / WGS;  // granules each invocation fetches per step
const uint RB = (B_G + WGS - 1u) / WGS;

shared uvec4 sa[BM * SA];       // sa[m * SA + g]: x tile (A, M x K row-major), 8 f16 per granule
shared uvec4 sb[NW * BN * SA];  // sb[(mat * BN + n) * SA + g]: W rows (B column-major)
shared float sc[NSG * NW * FRAG];  // per-subgroup output fragment staging

// Next step's granules (globals: glslang cannot pass spec-constant-sized arrays to functions).
uvec4 ra[RA];
uvec4 rb[NW * RB];

uvec4 fetch_x(uint t, uint k) {
  if (t >= p.T || k >= p.K) return uvec4(0u);
  const uint e = p.x_off + t * p.K + k;
  f16vec4 lo, hi;
  if (VEC != 0u) {
    lo = f16vec4(x4[e / 4u]);
    hi = f16vec4(x4[e / 4u + 1u]);
  } else {
    float v[8];
    for (uint i = 0u; i < 8u; ++i) v[i] = k + i < p.K ? x[e + i] : 0.0;
    lo = f16vec4(v[0], v[1], v[2], v[3]);
    hi = f16vec4(v[4], v[5], v[6], v[7]);
  }
  return uvec4(packFloat2x16(lo.xy), packFloat2x16(lo.zw), packFloat2x16(hi.xy),
               packFloat2x16(hi.zw));
}

// Row o (window-local), columns [k, k + 8) of W (mat 0) or W_up (mat 1), as 8 f16.
uvec4 fetch_w(uint mat, uint o, uint k) {
  if (o >= p.nw || k >= p.K) return uvec4(0u);
  const uint off = mat == 0u ? p.w_off : p.u_off;
  const uint e = off + o * p.K + k;
  if (VEC != 0u) return mat == 0u ? w4[e / 8u] : wu4[e / 8u];
  float v[8];
  for (uint i = 0u; i < 8u; ++i) {
    v[i] = k + i >= p.K ? 0.0 : mat == 0u ? W_ELEM(w, e + i) : W_ELEM(wu, e + i);
  }
  return uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])),
               packHalf2x16(vec2(v[4], v[5])), packHalf2x16(vec2(v[6], v[7])));  // exact: f16 in
}

void fetch(uint m0, uint n0, uint k0) {
  [[unroll]] for (uint r = 0u; r < RA; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    ra[r] = c < A_G ? fetch_x(m0 + c / KV, k0 + (c % KV) * 8u) : uvec4(0u);
  }
  [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
    [[unroll]] for (uint r = 0u; r < RB; ++r) {
      const uint c = gl_LocalInvocationID.x + r * WGS;
      rb[mat * RB + r] = c < B_G ? fetch_w(mat, n0 + c / KV, k0 + (c % KV) * 8u) : uvec4(0u);
    }
  }
}

void stash() {
  [[unroll]] for (uint r = 0u; r < RA; ++r) {
    const uint c = gl_LocalInvocationID.x + r * WGS;
    if (c < A_G) sa[(c / KV) * SA + c % KV] = ra[r];
  }
  [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
    [[unroll]] for (uint r = 0u; r < RB; ++r) {
      const uint c = gl_LocalInvocationID.x + r * WGS;
      if (c < B_G) sb[(mat * BN + c / KV) * SA + c % KV] = rb[mat * RB + r];
    }
  }
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
  const uint sg = gl_SubgroupID;
  const uint wk = sg / (WM * WN), wmn = sg % (WM * WN), wm = wmn % WM, wn = wmn / WM;
  fcoopmatNV<32, gl_ScopeSubgroup, 16, CN> acc[NW * FM * FN];  // [(mat * FM + fm) * FN + fn]
  [[unroll]] for (uint i = 0u; i < NW * FM * FN; ++i) {
    acc[i] = fcoopmatNV<32, gl_ScopeSubgroup, 16, CN>(0.0);
  }

  fetch(m0, n0, 0u);
  for (uint k0 = 0u; k0 < p.K; k0 += BK) {
    if (k0 != 0u) barrier();  // every subgroup is done reading the previous tile
    stash();
    barrier();
    if (k0 + BK < p.K) fetch(m0, n0, k0 + BK);  // in flight during the MMAs below
    [[unroll]] for (uint kk = 0u; kk < KSL; kk += 16u) {
      const uint g = (wk * KSL + kk) / 8u;
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[FM];
      [[unroll]] for (uint fm = 0u; fm < FM; ++fm) {
        coopMatLoadNV(a[fm], sa, (wm * FM + fm) * 16u * SA + g, SA, false);
      }
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        [[unroll]] for (uint fn = 0u; fn < FN; ++fn) {
          fcoopmatNV<16, gl_ScopeSubgroup, 16, CN> b;
          coopMatLoadNV(b, sb, (mat * BN + (wn * FN + fn) * CN) * SA + g, SA, true);
          [[unroll]] for (uint fm = 0u; fm < FM; ++fm) {
            const uint i = (mat * FM + fm) * FN + fn;
            acc[i] = coopMatMulAddNV(a[fm], b, acc[i]);
          }
        }
      }
    }
  }

  const uint slot = sg * NW * FRAG;
  [[unroll]] for (uint fm = 0u; fm < FM; ++fm) {
    [[unroll]] for (uint fn = 0u; fn < FN; ++fn) {
      [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
        coopMatStoreNV(acc[(mat * FM + fm) * FN + fn], sc, slot + mat * FRAG, CN, false);
      }
      barrier();  // the KS subgroups of one (wm, wn) meet here
      if (wk == 0u) {
        for (uint e = gl_SubgroupInvocationID; e < FRAG; e += SG) {
          float g = 0.0, u = 0.0;
          [[unroll]] for (uint s = 0u; s < KS; ++s) {
            const uint base = (s * WM * WN + wmn) * NW * FRAG + e;
            g += sc[base];
            u += sc[base + (NW - 1u) * FRAG];
          }
          const uint t = m0 + (wm * FM + fm) * 16u + e / CN, o = n0 + (wn * FN + fn) * CN + e % CN;
          if (t < p.T && o < p.nw) store_output(t, o, g, u);
        }
      }
      barrier();  // the slots are overwritten by the next fragment position
    }
  }
}
