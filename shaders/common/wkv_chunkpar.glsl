// wkv_chunkpar.glsl: the scratch interface shared by the three chunk-parallel WKV passes
// (wkv_chunkpar_states / _scan / _output, spec §5; host twin kernels/wkv_chunkpar.cpp).
// A dispatch window of tn tokens per sequence is cut into NC = ceil(tn / L) chunks; chunk c of
// (b, h) covers tokens t0 + c*L .. t0 + c*L + n - 1 (the last may be partial).
// Scratch (f32), for the window only:
//   mats:   (B, H, NC, S, S) [i][j]: the chunk's state contribution D_c (states pass), replaced by
//           the state entering the chunk M_in(c) (scan pass), read by the output pass.
//   decays: (B, H, NC, S) after mats: exp(b_last) of the chunk (states pass -> scan pass).
// Include after wkv_io.glsl (with WKV_IO_VEC4) and the spec constants S and L.
#ifndef VKR_WKV_CHUNKPAR_GLSL
#define VKR_WKV_CHUNKPAR_GLSL

layout(std430, set = 0, binding = 7) buffer ScratchBuf { vec4 scratch4[]; };

uint cp_chunks() { return (p.tn + L - 1u) / L; }

// Float offset of mats[b][h][c][0][0].
uint cp_mat_at(uint b, uint h, uint c) { return ((b * p.H + h) * cp_chunks() + c) * S * S; }

// Float offset of decays[b][h][c][0].
uint cp_decay_at(uint b, uint h, uint c) {
  return p.B * p.H * cp_chunks() * S * S + ((b * p.H + h) * cp_chunks() + c) * S;
}

#endif
