// wkv_decode.cpp: tiling, grid and recording for wkv_decode.comp.
#include "kernels/wkv_decode.hpp"

#include <algorithm>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
constexpr uint32_t kMaxTokensPerBlock = 32;

ShaderId decode_shader(DType t) {
  return t == DType::F16 ? ShaderId::wkv_decode_f16 : ShaderId::wkv_decode_f32;
}

// Shared bytes of the shader: s_r, s_k, s_w (TB, S) and s_u (S), f32.
uint32_t decode_shared_bytes(uint32_t S, uint32_t tb) { return 4 * (3 * tb * S + S); }
}  // namespace

WkvDecodeConfig wkv_decode_config(const Capabilities& caps, uint32_t S) {
  WkvDecodeConfig c;
  // On a CPU driver (lavapipe) an invocation is a SIMD lane, so one workgroup per head costs
  // nothing in parallelism and stages the tokens once per head instead of once per tile. On GPUs,
  // tiles of one subgroup-ish width give B*H*S/VT workgroups to fill the machine at T = 1.
  c.vt = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU
             ? S
             : std::min(S, std::max<uint32_t>(32, caps.subgroup_size));
  if (S % c.vt != 0) c.vt = 32;  // S is a multiple of 32
  c.tb = kMaxTokensPerBlock;
  while (c.tb > 1 && decode_shared_bytes(S, c.tb) > caps.max_shared_memory) c.tb /= 2;
  return c;
}

void wkv_decode(Context& ctx, Recorder& rec, const WkvArgs& args) {
  const WkvDims d = check_wkv_args(ctx, "wkv_decode", args);
  if (d.T == 0) return;
  const WkvDecodeConfig c = wkv_decode_config(ctx.caps(), d.S);
  require(decode_shared_bytes(d.S, c.tb) <= ctx.caps().max_shared_memory,
          ErrorCode::DeviceUnsupported,
          "wkv_decode: S={} needs {} bytes of shared memory, device has {}", d.S,
          decode_shared_bytes(d.S, c.tb), ctx.caps().max_shared_memory);
  const KernelDesc desc{decode_shader(args.r.dtype), 7, sizeof(WkvPush)};
  const Kernel& k = ctx.pipelines().get(desc, {c.vt, d.S, c.tb, static_cast<uint32_t>(args.mode)});
  // Dynamic loop iterations per token: the token loop only (+ the block loop every TB tokens).
  const uint32_t window = wkv_window_tokens(ctx.caps(), 2);
  record_wkv_windows(rec, k, args, d, window, Grid{d.S / c.vt, d.H, d.B});
}

}  // namespace vkr::kernels
