// wkv_decode.cpp: tiling, grid and recording for wkv_decode.comp.
#include "kernels/wkv_decode.hpp"

#include <algorithm>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
ShaderId decode_shader(DType t) {
  return t == DType::F16 ? ShaderId::wkv_decode_f16 : ShaderId::wkv_decode_f32;
}
}  // namespace

WkvDecodeConfig wkv_decode_config(const Capabilities& caps, uint32_t S) {
  WkvDecodeConfig c;
  // One subgroup per workgroup (the shader has no barriers, so this only sets the grid): on
  // lavapipe 8 invocations = one SIMD row, S / 32 workgroups per head; on GPUs a head's S / 4
  // column quads in one or a few workgroups. wg is a power of two dividing S / 4 (a multiple of 8).
  const uint32_t quads = S / 4;
  c.wg = 1;
  while (c.wg * 2 <= std::min(quads, std::max<uint32_t>(8, caps.subgroup_size)) &&
         quads % (c.wg * 2) == 0)
    c.wg *= 2;
  return c;
}

void wkv_decode(Context& ctx, Recorder& rec, const WkvArgs& args) {
  const WkvDims d = check_wkv_args(ctx, "wkv_decode", args);
  if (d.T == 0) return;
  const WkvDecodeConfig c = wkv_decode_config(ctx.caps(), d.S);
  const KernelDesc desc{decode_shader(args.r.dtype), 7, sizeof(WkvPush)};
  const Kernel& k = ctx.pipelines().get(desc, {c.wg, d.S, static_cast<uint32_t>(args.mode)});
  // Dynamic loop iterations per token: the token loop only (the row loops are unrolled).
  const uint32_t window = wkv_window_tokens(ctx.caps(), 1);
  record_wkv_windows(rec, k, args, d, window, Grid{d.S / (4 * c.wg), d.H, d.B});
}

}  // namespace vkr::kernels
