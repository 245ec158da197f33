// gemm_block.glsl: the register-block layout gemm.comp and gemm_q.comp share (see gemm.comp's
// header). Include after the spec constants DIRECT and the block grid GM (invocations along the
// tokens) and GN (along the outputs) are defined.
#ifndef VKR_GEMM_BLOCK_GLSL
#define VKR_GEMM_BLOCK_GLSL

// Block coordinates (tx < GN, ty < GM) of invocation `id`. Tiled path: every 32 consecutive
// invocations (a subgroup on NVIDIA) form an 8 x 4 patch of blocks, so one vec4 read of a weight
// row touches 8 consecutive vec4s (128 bytes, one pass of the banks) and one read of the x row 4
// (broadcast to the 8 invocations of each): 4 shared-memory passes per 64 FMAs of a subgroup
// instead of 6 with a 16 x 2 arrangement.
uvec2 block_coords(uint id) {
  if (DIRECT == 0u && GN % 8u == 0u && GM % 4u == 0u) {
    const uint pt = id / 32u, l = id % 32u;
    return uvec2((pt % (GN / 8u)) * 8u + l % 8u, (pt / (GN / 8u)) * 4u + l / 8u);
  }
  return uvec2(id % GN, id / GN);
}

// Tile-relative token of block row i of invocation row ty, and output of block column j of
// invocation column tx. Direct: strided (ty + i*GM); tiled: 4-wide groups (the vec4 reads).
uint block_token(uint ty, uint i) {
  return DIRECT != 0u ? ty + i * GM : (i / 4u) * 4u * GM + ty * 4u + i % 4u;
}
uint block_output(uint tx, uint j) {
  return DIRECT != 0u ? tx + j * GN : (j / 4u) * 4u * GN + tx * 4u + j % 4u;
}

#endif
