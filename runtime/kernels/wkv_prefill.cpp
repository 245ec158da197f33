// wkv_prefill.cpp: chunk length / tiling choice, grid and recording for wkv_prefill.comp.
#include "kernels/wkv_prefill.hpp"

#include <algorithm>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
ShaderId prefill_shader(DType t) {
  return t == DType::F16 ? ShaderId::wkv_prefill_f16 : ShaderId::wkv_prefill_f32;
}

// Shared bytes of the shader: s_r, s_k (L, S), s_b (L + 1, S), s_a (L, L), s_d, s_u (S), f32.
uint32_t prefill_shared_bytes(uint32_t S, uint32_t l) { return 4 * (3 * l * S + l * l + 3 * S); }
}  // namespace

WkvPrefillConfig wkv_prefill_config(const Capabilities& caps, uint32_t S) {
  WkvPrefillConfig c;
  // L: the longest chunk whose r/k/cumsum rows fit in shared memory, capped at 32 because the
  // per-invocation register rows (v and y of the chunk) grow with L. 32 KiB (lavapipe): S <= 64
  // -> 32 (16 after the CPU cap below), S=128 -> 16, S=256 -> 8; 48 KiB: S=128 -> 16.
  c.l = 32;
  while (c.l > 8 && prefill_shared_bytes(S, c.l) > caps.max_shared_memory) c.l /= 2;
  require(prefill_shared_bytes(S, c.l) <= caps.max_shared_memory, ErrorCode::DeviceUnsupported,
          "wkv_prefill: S={} needs {} bytes of shared memory for L=8, device has {}", S,
          prefill_shared_bytes(S, c.l), caps.max_shared_memory);
  if (caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU) {
    // CPU driver (lavapipe): one workgroup per head (A computed once per head), 2 columns per
    // invocation (each shared load of r / k feeds 2 FMAs), 2 rows per row-loop step, L <= 16.
    // llvmpipe compiles the unrolled register loops slowly: with VPT=4, U=4, L=32 (S=64) one
    // pipeline took minutes to build; these sizes build in seconds.
    c.l = std::min<uint32_t>(c.l, 16);
    c.vpt = 2;
    c.wg = S / c.vpt;
    c.u = 2;
  } else {
    // GPU: 64-column tiles with one column (S state registers) per invocation, so a head spreads
    // over S/64 workgroups; A is recomputed per tile, which costs L/2 * S per token and tile.
    c.vpt = 1;
    c.wg = std::min<uint32_t>(S, 64);
    c.u = S;  // fully unrolled: the S state entries of a column stay in registers
  }
  return c;
}

void wkv_prefill(Context& ctx, Recorder& rec, const WkvArgs& args) {
  const WkvDims d = check_wkv_args(ctx, "wkv_prefill", args);
  if (d.T == 0) return;
  const WkvPrefillConfig c = wkv_prefill_config(ctx.caps(), d.S);
  const KernelDesc desc{prefill_shader(args.r.dtype), 7, sizeof(WkvPush)};
  const Kernel& k =
      ctx.pipelines().get(desc, {c.wg, d.S, c.l, static_cast<uint32_t>(args.mode), c.vpt, c.u});
  // Dynamic loop iterations per chunk and invocation (upper bound, loop by loop in the shader):
  // load (L*S/WG + L*L/WG), cumsum (S/WG * (L + 1)), transform (L*S/WG), 4 row loops of S/U
  // steps (bonus, min scan, scores, output), v load (L), A.V (L + L*L), y store (L), the chunk
  // loop itself. The per-call state load/store loops (2*S) fit in the budget's margin.
  const auto up = [](uint32_t a, uint32_t b) { return (a + b - 1) / b; };
  const uint32_t per_chunk = 2 * up(c.l * d.S, c.wg) + up(c.l * c.l, c.wg) +
                             up(d.S, c.wg) * (c.l + 1) + 4 * (d.S / c.u) + 3 * c.l + c.l * c.l + 4;
  const uint32_t chunks = wkv_window_tokens(ctx.caps(), per_chunk);
  const uint32_t window = chunks >= d.T ? d.T : chunks * c.l;
  record_wkv_windows(ctx.caps(), rec, k, args, d, window, Grid{d.S / (c.wg * c.vpt), d.H, d.B});
}

}  // namespace vkr::kernels
