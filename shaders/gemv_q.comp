#version 450
// gemv_q: gemv.comp for block-quantized weights (the legacy, K- and i-quant types: one build
// variant each), decoding the blocks in place from the weight buffer (common/quant.glsl):
// one pass over the quantized bytes for all NT <= 8 tokens, f32 accumulation.
//   acc[t][o] = sum_k x[t][k] * W[o][k]  (and acc_up with W_up for SwiGLU)
//   y[t][o]   = acc (+ bias[o]) | res[t][o] + acc (+ bias[o]) | silu(acc) * acc_up   (MODE 0/1/2)
// grid: ceil(nw / ROWS) workgroups over (x, y) (grid_1d); workgroup g owns rows [g*ROWS, +ROWS).
//   Invocations stride over the row's 32-weight units (a legacy block, or a K-quant sub-block),
//   neighbours on neighbouring units (contiguous bytes per subgroup); each unit of x (8 vec4 per
//   token) is reused by all ROWS rows. Partial sums are reduced with subgroupAdd, then across
//   subgroups through shared memory (gl_NumSubgroups at run time: any subgroup size); with
//   MAX_SG == 1 there is no shared memory and no barrier.
// LAYOUT (host: linear_q.cpp) picks the decoding: 0 = the general path above (quant.glsl, any row
//   alignment); 1 = GPUs: each subgroup owns ROWS rows and its lanes stride over them (quant_lane
//   .glsl: whole 32-weight units per lane at T = 1, 4-weight quads at T >= 2; x as vec4 shared by
//   the ROWS rows), reduced by subgroupAdd (Q4_K / Q5_K need 16-byte aligned windows; see
//   main_subgroups); 2 = CPU devices: GROUPS of
//   blocks fetched with uvec4 loads (quant_group.glsl, branch-free constant-offset decoding;
//   16-byte aligned rows, Q6_K any even byte), ROWS rows per invocation (row
//   (g * ROWS + r) * WG + lane: no reduction, every lane busy however few groups a row has), x
//   read once per block for all of them. llvmpipe pays per loaded component
//   and lane, so per-lane x loads cost several times the weights' loads: many rows per lane
//   amortize them; with XSHARE the lanes of the (one-subgroup) workgroup also split each x block
//   and share it by subgroupBroadcast (measured about as costly as a load on Mesa 22.3). The
//   LAYOUT 2 code lives in common/gemv_q_rows.glsl; gemv_q_tex.comp runs it with x, w and wu
//   through texel buffers (CPU devices' default: 1.7-4x faster on lavapipe, bench/README.md).
// spec: 0 = WG, 1 = ROWS, 2 = NT, 3 = MODE, 4 = HAS_BIAS, 5 = XVEC (1: x offset a multiple of 4
//       floats, x read as vec4), 6 = MAX_SG (>= gl_NumSubgroups), 7 = LAYOUT, 8 = XSHARE (LAYOUT 2:
//       the subgroup size, 4 or 8 = WG; 0 = every lane loads x itself), 9 = SETS (LAYOUT 1: row
//       sets of ROWS rows per workgroup, one per subgroup the host expects), 10 = CH (LAYOUT 1:
//       128-weight chunks per lane and step).
// push: common/linear_io.glsl, except w_off / u_off are BYTE offsets (even) of the window's first
//   row in the w / wu bindings; rows are q_row_bytes(K) bytes apart.
// bindings: x (T, K) f32; w, wu (nw rows of quantized blocks) words; bias (nw) f32; res, y (T, N);
//   6 = the i-quant codebooks (IQ1_S .. IQ3_S variants only, quant.glsl; layouts 0 and 1).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 2u;
layout(constant_id = 2) const uint NT = 1u;
layout(constant_id = 3) const uint MODE = 0u;
layout(constant_id = 4) const uint HAS_BIAS = 0u;
layout(constant_id = 5) const uint XVEC = 0u;
layout(constant_id = 6) const uint MAX_SG = 32u;
layout(constant_id = 7) const uint LAYOUT = 0u;
layout(constant_id = 8) const uint XSHARE = 0u;
layout(constant_id = 9) const uint SETS = 1u;
layout(constant_id = 10) const uint CH = 2u;

#include "common/index.glsl"
#include "common/linear_io.glsl"

uint qw(uint m, uint i) { return m == 0u ? w[i] : wu[i]; }
#define Q_GRID_BINDING 6
#include "common/quant.glsl"

const uint NW = MODE == MODE_SWIGLU ? 2u : 1u;
const uint NACC = NW * ROWS * NT;
// The codebook i-quants (Q_HAS_GRID) have no LAYOUT 2 (grouped) decoder here: CPU devices group
// them through texels only (gemv_q_tex.comp). (Built here, spirv-opt 2023.2 crashes in its
// simplify-instructions pass on this shader.)
#if !defined(Q_HAS_GRID)
#include "common/quant_group.glsl"
#endif
#include "common/quant_lane.glsl"

// Private globals, not parameters: glslang mis-sizes spec-constant-sized array arguments.
float acc[NACC];  // acc[(mat * ROWS + r) * NT + t]
uint wrow[ROWS];  // byte offsets of the rows from the window's first row

shared float red[MAX_SG == 1u ? 1u : MAX_SG * NACC];  // red[(acc index) * MAX_SG + subgroup]

// x[t][32u, +32) as 8 vec4s.
void load_x_unit(uint t, uint u, out vec4 v[8]) {
  const uint base = p.x_off + t * p.K + u * Q_UNIT;
  if (XVEC != 0u) {
    [[unroll]] for (uint h = 0u; h < 8u; ++h) v[h] = x4[base / 4u + h];
  } else {
    [[unroll]] for (uint h = 0u; h < 8u; ++h) {
      v[h] = vec4(x[base + 4u * h], x[base + 4u * h + 1u], x[base + 4u * h + 2u], x[base + 4u * h + 3u]);
    }
  }
}

// LAYOUT 0: invocations stride over the rows' 32-weight units (any alignment).
void accumulate_units(uint tid) {
  const uint units = p.K / Q_UNIT;
  for (uint u = tid; u < units; u += gl_WorkGroupSize.x) {
    vec4 xv[NT * 8u];
    [[unroll]] for (uint t = 0u; t < NT; ++t) {
      vec4 v[8];
      load_x_unit(t, u, v);
      [[unroll]] for (uint h = 0u; h < 8u; ++h) xv[t * 8u + h] = v[h];
    }
    [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
      const uint off = mat == 0u ? p.w_off : p.u_off;
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        vec4 wv[8];
        dequant_unit(mat, off + wrow[r], u, wv);
        [[unroll]] for (uint t = 0u; t < NT; ++t) {
          float s = 0.0;
          [[unroll]] for (uint h = 0u; h < 8u; ++h) s += dot(wv[h], xv[t * 8u + h]);
          acc[(mat * ROWS + r) * NT + t] += s;
        }
      }
    }
  }
}

#include "common/gemv_q_rows.glsl"

// LAYOUT 1 (GPUs): subgroup s of workgroup g owns row set g * SETS + s (ROWS rows; a workgroup
// with more subgroups than SETS leaves the extra ones idle, one with fewer loops: correct for any
// subgroup size); partial sums are reduced by subgroupAdd (no shared memory, no barrier). Weights
// are decoded by quant_lane.glsl: at T = 1 a lane takes whole 32-weight units (ql_unit: fewest,
// widest loads), at T >= 2 lane l takes weights 128c + 4l of chunk c (ql_quad: every vec4 load
// of x covers 128 consecutive floats), CH chunks per step so that each lane has CH x ROWS
// independent decodes in flight. x is read as vec4 once per unit / chunk for all ROWS rows.
// Loops here run to LITERAL bounds (S_MAX slots = matrices x rows, CH_MAX chunks, 8 tokens) with
// the spec-constant counts as guards: glslc then unrolls them and keeps every array in registers,
// where loops to spec-constant bounds are left to the driver (measured slow on an H100).
#define S_MAX 4u
#define CH_MAX 4u
void main_subgroups(uint group) {
  const uint rb = q_row_bytes(p.K), chunks = (p.K + 127u) / 128u;
  // subgroups of 8 / 16 lanes (lavapipe, some GPUs) split a chunk; 32 / 64 take one / two
  // (powers of 2: shifts and masks, no integer division in the loop)
  const uint lanes = min(gl_SubgroupSize, 32u), per = max(gl_SubgroupSize >> 5u, 1u);
  const uint lb = uint(findLSB(lanes)), qb = 5u - lb;  // log2(lanes), log2(quads)
  const uint l = gl_SubgroupInvocationID & (lanes - 1u), sub = gl_SubgroupInvocationID >> lb;
  const uint quads = 1u << qb;  // quads per lane and chunk (1 for subgroups >= 32)
  const uint slots = NW * ROWS;    // <= S_MAX (host-guaranteed)
  for (uint set = gl_SubgroupID; set < SETS; set += gl_NumSubgroups) {
    const uint row0 = (group * SETS + set) * ROWS;
    if (row0 >= p.nw) break;  // uniform across the subgroup
    float sum[S_MAX * 8u];    // sum[s * 8 + t], slot s = mat * ROWS + r
    uint wr[S_MAX];           // byte offset of slot s's row in its binding
    [[unroll]] for (uint i = 0u; i < S_MAX * 8u; ++i) sum[i] = 0.0;
    [[unroll]] for (uint s = 0u; s < S_MAX; ++s) {
      // rows past the end re-read the last row and are never stored
      const uint mat = s / ROWS, r = s % ROWS;
      wr[s] = (mat == 0u ? p.w_off : p.u_off) + min(row0 + r, p.nw - 1u) * rb;
    }
    if (NT == 1u) {
      // one token: whole blocks per lane (ql_unit), fewer and wider loads per weight
      for (uint u = gl_SubgroupInvocationID; u < p.K / 32u; u += gl_SubgroupSize) {
        vec4 q[S_MAX][8], sc[S_MAX];
        [[unroll]] for (uint s = 0u; s < S_MAX; ++s) {
          if (s < slots) ql_unit(s / ROWS, wr[s], u, q[s], sc[s]);
        }
        const uvec2 runs = ql_runs(u);
        vec4 xv[8];
        [[unroll]] for (uint h = 0u; h < 4u; ++h) {
          xv[h] = x_vec4(p.x_off + runs.x, h);
          xv[h + 4u] = x_vec4(p.x_off + runs.y, h);
        }
        const float xs0 = dot(xv[0] + xv[1] + xv[2] + xv[3], vec4(1.0));
        const float xs1 = dot(xv[4] + xv[5] + xv[6] + xv[7], vec4(1.0));
        [[unroll]] for (uint s = 0u; s < S_MAX; ++s) {
          if (s >= slots) continue;
          const float lo = dot(q[s][0], xv[0]) + dot(q[s][1], xv[1]) + dot(q[s][2], xv[2]) +
                           dot(q[s][3], xv[3]);
          const float hi = dot(q[s][4], xv[4]) + dot(q[s][5], xv[5]) + dot(q[s][6], xv[6]) +
                           dot(q[s][7], xv[7]);
          sum[s * 8u] += sc[s].x * lo + sc[s].y * hi + sc[s].z * xs0 + sc[s].w * xs1;
        }
      }
    }
    for (uint c0 = sub; NT > 1u && c0 < chunks * quads; c0 += per * CH) {
      vec4 q[CH_MAX][S_MAX];
      vec2 sc[CH_MAX][S_MAX];
      uint pos[CH_MAX];
      [[unroll]] for (uint h = 0u; h < CH_MAX; ++h) {
        // step c0 + h * per: chunk (c0 + h * per) / quads, quad lane l + lanes * (step % quads)
        const uint step = c0 + h * per, c = step >> qb, lq = l + ((step & (quads - 1u)) << lb);
        pos[h] = 128u * c + 4u * lq;
        [[unroll]] for (uint s = 0u; s < S_MAX; ++s) {
          ql_quad(s / ROWS, wr[s], p.K, c, lq, q[h][s], sc[h][s]);
        }
        // masked: past the row (a partial last chunk) or past the last step (loads clamped)
        if (h >= CH || pos[h] >= p.K || step >= chunks * quads) {
          [[unroll]] for (uint s = 0u; s < S_MAX; ++s) sc[h][s] = vec2(0.0);
          pos[h] = p.K - 4u;
        }
      }
      [[unroll]] for (uint t = 0u; t < 8u; ++t) {
        const uint base = p.x_off + min(t, NT - 1u) * p.K;
        [[unroll]] for (uint h = 0u; h < CH_MAX; ++h) {
          if (t < NT && h < CH) {  // spec constants: folded by the driver
            const vec4 xv = x_vec4(base + pos[h], 0u);
            const float xs = dot(xv, vec4(1.0));
            [[unroll]] for (uint s = 0u; s < S_MAX; ++s) {
              sum[s * 8u + t] += sc[h][s].x * dot(q[h][s], xv) + sc[h][s].y * xs;
            }
          }
        }
      }
    }
    [[unroll]] for (uint i = 0u; i < S_MAX * 8u; ++i) {
      if (i / 8u < slots && i % 8u < NT) sum[i] = subgroupAdd(sum[i]);  // uniform condition
    }
    // lane j stores output j (constant sum indices: no dynamically indexed register array)
    [[unroll]] for (uint j = 0u; j < S_MAX * 8u; ++j) {
      const uint r = j / 8u, t = j % 8u;
      if (r < ROWS && t < NT && (r * NT + t) % gl_SubgroupSize == gl_SubgroupInvocationID &&
          row0 + r < p.nw) {
        store_output(t, row0 + r, sum[r * 8u + t], sum[((NW - 1u) * ROWS + r) * 8u + t]);
      }
    }
  }
}

void main() {
  const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
#if !defined(Q_HAS_GRID)
  if (LAYOUT == 2u) {
    if (group * ROWS * gl_WorkGroupSize.x >= p.nw) return;  // grid_1d padding: uniform
    main_rows(group);
    return;
  }
#endif
  if (LAYOUT == 1u) {
    main_subgroups(group);
    return;
  }
  const uint row0 = group * ROWS;
  if (row0 >= p.nw) return;  // grid_1d padding: uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint rb = q_row_bytes(p.K);

  [[unroll]] for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;
  // rows past the end re-read the last row and are never stored
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) wrow[r] = min(row0 + r, p.nw - 1u) * rb;
  accumulate_units(tid);

  [[unroll]] for (uint i = 0u; i < NACC; ++i) acc[i] = subgroupAdd(acc[i]);
  if (MAX_SG == 1u) {
    // One subgroup per workgroup (host-guaranteed): the sums are final, no barrier.
    [[unroll]] for (uint j = 0u; j < ROWS * NT; ++j) {
      const uint r = j / NT, t = j % NT;
      if (j % gl_SubgroupSize == gl_SubgroupInvocationID && row0 + r < p.nw) {
        store_output(t, row0 + r, acc[j], acc[(NW - 1u) * ROWS * NT + j]);
      }
    }
    return;
  }
  if (subgroupElect()) {
    [[unroll]] for (uint i = 0u; i < NACC; ++i) red[i * MAX_SG + gl_SubgroupID] = acc[i];
  }
  barrier();
  for (uint j = tid; j < ROWS * NT; j += gl_WorkGroupSize.x) {
    const uint r = j / NT, t = j % NT;
    if (row0 + r >= p.nw) continue;
    float g = 0.0, up = 0.0;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {  // same order in every invocation
      g += red[j * MAX_SG + s];
      if (NW == 2u) up += red[(ROWS * NT + j) * MAX_SG + s];
    }
    store_output(t, row0 + r, g, up);
  }
}
