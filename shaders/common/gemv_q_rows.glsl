// gemv_q_rows.glsl: gemv_q's LAYOUT 2 (CPU devices: rows per lane, groups of blocks decoded by
// quant_group.glsl), shared by gemv_q.comp (storage-buffer reads) and gemv_q_tex.comp (x, w and
// wu through uniform texel buffers, VKR_LINEAR_TEX). See gemv_q.comp's header for the layout.
// The includer declares the spec constants, the bindings (linear_io.glsl), quant_group.glsl, and
// the globals acc[NACC] / wrow[ROWS].
#ifndef VKR_GEMV_Q_ROWS_GLSL
#define VKR_GEMV_Q_ROWS_GLSL

// x[t][k0, +32) as 8 vec4s and the sums of its halves (k0 a multiple of 32). With XSHARE lanes
// sharing (LAYOUT 2, all lanes active and on the same k0), lane l loads vec4s l, l + XSHARE, ...
vec4 x_vec4(uint base, uint h) {
#if defined(VKR_LINEAR_TEX)
  return uintBitsToFloat(texelFetch(xt, int(base / 4u + h)));  // XVEC (host-guaranteed)
#else
  if (XVEC != 0u) return x4[base / 4u + h];
  const uint i = base + 4u * h;
  return vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
#endif
}

// The codebook i-quants are grouped only through texels (gemv_q_tex.comp; gemv_q.comp's LAYOUT 1
// uses x_vec4 only).
#if !defined(Q_HAS_GRID) || defined(VKR_LINEAR_TEX)
void load_x_block(uint t, uint k0, out vec4 v[8], out vec2 xs) {
  const uint base = p.x_off + t * p.K + k0;
  if (XSHARE == 4u || XSHARE == 8u) {
    const uint xsh = XSHARE == 8u ? 8u : 4u;  // never 0: spec-constant expressions are folded
    vec4 mine[2];                             // even where unused (8 / 0 is invalid SPIR-V)
    [[unroll]] for (uint i = 0u; i < 8u / xsh; ++i) {
      mine[i] = x_vec4(base, i * xsh + gl_SubgroupInvocationID);
    }
    [[unroll]] for (uint h = 0u; h < 8u; ++h) v[h] = subgroupBroadcast(mine[h / xsh], h % xsh);
  } else {
    [[unroll]] for (uint h = 0u; h < 8u; ++h) v[h] = x_vec4(base, h);
  }
  const vec4 one = vec4(1.0);
  xs = vec2(dot(v[0] + v[1] + v[2] + v[3], one), dot(v[4] + v[5] + v[6] + v[7], one));
}

// The dot products of group g of rows wrow[] (byte offsets from the windows' first rows) with x,
// added to acc[(mat * ROWS + r) * NT + t].
void accumulate_group(uint g) {
  uint gq[NW * ROWS][QG_WORDS];  // the groups of every (matrix, row), as words
  [[unroll]] for (uint mat = 0u; mat < NW; ++mat) {
    const uint off = (mat == 0u ? p.w_off : p.u_off) + g * QG_BYTES;
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) qg_load(gq[mat * ROWS + r], mat, off + wrow[r]);
  }
  [[unroll]] for (uint b = 0u; b < QG_BLOCKS; ++b) {
    vec4 xv[NT * 8u];
    vec2 xs[NT];
    [[unroll]] for (uint t = 0u; t < NT; ++t) {
      vec4 v[8];
      load_x_block(t, g * QG_WEIGHTS + 32u * b, v, xs[t]);
      [[unroll]] for (uint h = 0u; h < 8u; ++h) xv[t * 8u + h] = v[h];
    }
    [[unroll]] for (uint s = 0u; s < NW * ROWS; ++s) {
      vec4 q[8], sc;
      qg_block(gq[s], b, q, sc);
      [[unroll]] for (uint t = 0u; t < NT; ++t) {
        const uint x0 = t * 8u;
        const float lo = dot(q[0], xv[x0]) + dot(q[1], xv[x0 + 1u]) + dot(q[2], xv[x0 + 2u]) +
                         dot(q[3], xv[x0 + 3u]);
        const float hi = dot(q[4], xv[x0 + 4u]) + dot(q[5], xv[x0 + 5u]) + dot(q[6], xv[x0 + 6u]) +
                         dot(q[7], xv[x0 + 7u]);
        float a = sc.x * lo + sc.y * hi;
#if QG_OFFSET
        a += sc.z * xs[t].x + sc.w * xs[t].y;
#endif
        acc[s * NT + t] += a;
      }
    }
  }
}

// LAYOUT 2: invocation l of workgroup g owns rows (g * ROWS + r) * WG + l, r < ROWS (rows past
// the end re-read the last row and are never stored; they keep every lane active for the
// broadcasts). The rows of a lane share each x block.
void main_rows(uint group) {
  const uint rb = q_row_bytes(p.K);
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const uint row = (group * ROWS + r) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    wrow[r] = min(row, p.nw - 1u) * rb;
  }
  [[unroll]] for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;
  const uint groups = p.K / QG_WEIGHTS;
  for (uint g = 0u; g < groups; ++g) accumulate_group(g);
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const uint row = (group * ROWS + r) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (row >= p.nw) continue;
    [[unroll]] for (uint t = 0u; t < NT; ++t) {
      store_output(t, row, acc[r * NT + t], acc[((NW - 1u) * ROWS + r) * NT + t]);
    }
  }
}

#endif  // !Q_HAS_GRID || VKR_LINEAR_TEX

#endif
