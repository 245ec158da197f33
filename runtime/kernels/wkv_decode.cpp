// wkv_decode.cpp: tiling, grid and recording for wkv_decode.comp.
#include "kernels/wkv_decode.hpp"

#include <algorithm>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
ShaderId decode_shader(DType t, bool texel) {
  if (texel) return t == DType::F16 ? ShaderId::wkv_decode_f16tex : ShaderId::wkv_decode_f32tex;
  return t == DType::F16 ? ShaderId::wkv_decode_f16 : ShaderId::wkv_decode_f32;
}

// Whether r, k, v, logw, u and the state can all be texel bindings (whole texels: S is a multiple
// of 32).
bool texel_bindable_args(const Context& ctx, const WkvArgs& a) {
  const Tensor* ts[] = {&a.r,    &a.k, &a.v, &a.logw, a.mode == WkvMode::Rwkv6 ? &a.u : &a.logw,
                        &a.state};
  for (const Tensor* t : ts) {
    if (!texel_bindable(ctx, t->range())) return false;
  }
  return true;
}
}  // namespace

WkvDecodeConfig wkv_decode_config(const Capabilities& caps, uint32_t S) {
  WkvDecodeConfig c;
  // CPU devices (llvmpipe): 8 columns per invocation (two vec4s per state row; the state lives in
  // spilled memory anyway there), 4 for S < 64 so that a workgroup still fills 8 SIMD lanes and
  // for S > 128 (unmeasured there; the unrolled body, and llvmpipe's compile time, double). Each
  // row's r / k / logw fetch and exp then feeds 8 columns: llvmpipe runs every texel fetch as a
  // ~40-instruction routine, and those routines were among the hottest addresses in perf.
  // B=1 H=40 S=128 T=1024 Gla f32 on lavapipe (bench_wkv --quick, median ms, alternating runs):
  // 4 columns 108-110, 8 columns 86.5-88.6, 16 columns 86.8 (twice the state per invocation);
  // T=1 the same within noise (1.0-1.2). Cost: pipelines compile ~2x longer on lavapipe (cold
  // test_wkv 2m10s -> 3m40s). GPUs: one column, S registers per invocation.
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  c.cols = cpu ? (S >= 64 && S <= 128 ? 8 : 4) : 1;
  // llvmpipe: the per-token r / k / logw / u loads (every invocation the same address) were the
  // bulk of the time as storage loads; texel fetches made B=1 H=40 S=128 T=1024 2.3x faster
  // (322 -> 141 ms, Gla f32, bench_wkv --quick).
  c.texel = cpu;
  // The shader has no barriers, so wg only sets the grid: one SIMD row (8 on lavapipe) or a
  // subgroup (32/64) of columns per workgroup; a power of two dividing S / cols.
  const uint32_t units = S / c.cols;
  const uint32_t target = std::max<uint32_t>(8, caps.subgroup_size);
  c.wg = 1;
  while (c.wg * 2 <= std::min(units, target) && units % (c.wg * 2) == 0) c.wg *= 2;
  return c;
}

void wkv_decode(Context& ctx, Recorder& rec, const WkvArgs& args,
                const std::optional<WkvDecodeConfig>& config) {
  const WkvDims d = check_wkv_args(ctx, "wkv_decode", args);
  if (d.T == 0) return;
  const WkvDecodeConfig c = config ? *config : wkv_decode_config(ctx.caps(), d.S);
  const bool cols_ok = c.cols == 1 || c.cols == 4 || c.cols == 8 || c.cols == 16;
  require(cols_ok && c.wg > 0 && d.S % (c.cols * c.wg) == 0, ErrorCode::InvalidArgument,
          "wkv_decode: config cols={} (1, 4, 8 or 16) wg={} does not tile head size {}", c.cols,
          c.wg, d.S);
  const bool texel = c.texel && texel_bindable_args(ctx, args);
  // Texel builds bind the state's range again as binding 8 (texels) and, for short calls, read the
  // initial state through it (one vector load per lane on llvmpipe), writing it through binding 5:
  // lavapipe B=1 H=40 S=128, alternating builds three times: T=1 0.97-1.49 -> 0.70-0.84 ms, T=16
  // the same, T=1024 85-112 -> 99-120 ms (slower: not used there).
  const KernelDesc desc{decode_shader(args.r.dtype, texel), texel ? 8u : 7u, sizeof(WkvPush),
                        texel ? 0b10011111u : 0u};
  const uint32_t state_tex = texel && d.T <= 8 ? 1u : 0u;
  const Kernel& k = ctx.pipelines().get(
      desc, {c.wg, d.S, static_cast<uint32_t>(args.mode), c.cols, state_tex});
  // Dynamic loop iterations per token: the token loop only (the row loops are unrolled).
  const uint32_t window = wkv_window_tokens(ctx.caps(), 1);
  record_wkv_windows(ctx.caps(), rec, k, args, d, window, Grid{d.S / (c.cols * c.wg), d.H, d.B});
}

}  // namespace vkr::kernels
