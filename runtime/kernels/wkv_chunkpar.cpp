// wkv_chunkpar.cpp: tiling, scratch windows and recording for the chunk-parallel WKV passes
// (wkv_chunkpar_states / _scan / _output.comp).
#include "kernels/wkv_chunkpar.hpp"

#include <algorithm>
#include <bit>

#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {
ShaderId states_shader(DType t) {
  return t == DType::F16 ? ShaderId::wkv_chunkpar_states_f16 : ShaderId::wkv_chunkpar_states_f32;
}
ShaderId output_shader(DType t) {
  return t == DType::F16 ? ShaderId::wkv_chunkpar_output_f16 : ShaderId::wkv_chunkpar_output_f32;
}

// Shared bytes of the passes (f32 arrays as declared in the shaders).
uint32_t states_shared_bytes(uint32_t S, uint32_t vt, uint32_t ts) {
  return 4 * (2 * ts * S + ts * vt);
}
uint32_t output_shared_bytes(uint32_t S, uint32_t l, uint32_t ks, uint32_t seg) {
  const uint32_t kp = ks + 1;
  return 4 * (3 * l * kp + (l + 1) * kp + seg * ks + ks * S + l * l + S);
}

// Largest power of two <= x (1 for 0).
uint32_t largest_pow2_at_most(uint32_t x) { return std::bit_floor(std::max(x, 1u)); }

// Scratch one token window may use (bytes). On the H100 the per-token cost stayed flat while a
// window's scratch was <= 85 MB (B=1 S=128 T=1024, B=1 S=64 T=4096) and rose 3-8x at 170-267 MB
// (B=8 S=64 T=1024 in one window, B=1 S=128 T=4096), cause not identified (bench/README.md); so
// longer calls run as windows of at most this much, 3 more dispatches per window.
constexpr uint64_t kScratchCap = uint64_t{64} << 20;
}  // namespace

WkvChunkParConfig wkv_chunkpar_config(const Capabilities& caps, uint32_t S, uint32_t l) {
  WkvChunkParConfig c;
  const uint32_t smem = caps.max_shared_memory;
  // L = 32 by default: per token the output pass spends ~L/2 * S on A (direct exponentials) and
  // the state traffic (scratch written, scanned, read) costs ~4 * S * S / L floats; 32 balances
  // the two at S = 64..128. Measured on the H100 (B 1/8, S 64/128, T 64..4096): 32 beat 16 and
  // 64 at T >= 64 nearly everywhere; 16 wins below (wkv_chunkpar_default_length).
  c.l = l ? l : 32;
  require(c.l >= 16 && c.l <= 64 && (c.l & (c.l - 1)) == 0, ErrorCode::InvalidArgument,
          "wkv_chunkpar: chunk length {} unsupported (16, 32 or 64)", c.l);

  // States pass: D tile S x VT per workgroup, at most 64 accumulators per invocation.
  c.vt = S;
  while (S * c.vt > 16384 || S % c.vt != 0 || c.vt % 4 != 0) --c.vt;
  const uint32_t cg1 = c.vt / 4;
  c.rg1 = largest_pow2_at_most(std::max<uint32_t>(1, 256 / cg1));
  while (S % c.rg1 != 0) c.rg1 /= 2;
  while (c.rg1 * cg1 < S && S % (c.rg1 * 2) == 0) c.rg1 *= 2;  // S invocations run the suffix sums
  c.wg1 = c.rg1 * cg1;
  c.ts = 16;
  while (c.ts > 4 && states_shared_bytes(S, c.vt, c.ts) > smem) c.ts /= 2;

  // Output pass: all S columns per workgroup (A once per chunk), ~256 invocations.
  const uint32_t cg3 = S / 4;
  c.rg3 = std::min(c.l, largest_pow2_at_most(std::max<uint32_t>(1, 256 / cg3)));
  c.wg3 = c.rg3 * cg3;
  c.ks = std::min<uint32_t>(32, c.l);
  auto seg_for = [&](uint32_t ks) { return std::min(c.l, largest_pow2_at_most(c.wg3 / ks)); };
  while (c.ks > 8 && output_shared_bytes(S, c.l, c.ks, seg_for(c.ks)) > smem) c.ks /= 2;
  c.seg = seg_for(c.ks);
  c.wg2 = 64;

  require(
      c.wg1 >= S && c.wg1 <= caps.max_workgroup_invocations &&
          c.wg3 <= caps.max_workgroup_invocations && states_shared_bytes(S, c.vt, c.ts) <= smem &&
          output_shared_bytes(S, c.l, c.ks, c.seg) <= smem,
      ErrorCode::DeviceUnsupported,
      "wkv_chunkpar: S={} L={} does not fit the device (shared memory {} bytes, {} invocations)", S,
      c.l, smem, caps.max_workgroup_invocations);
  return c;
}

uint64_t wkv_chunkpar_chunk_bytes(uint32_t B, uint32_t H, uint32_t S) {
  return uint64_t{B} * H * (uint64_t{S} * S + S) * 4;
}

uint32_t wkv_chunkpar_default_length(const Capabilities& caps, uint32_t T) {
  return caps.device_type != VK_PHYSICAL_DEVICE_TYPE_CPU && T < 64 ? 16 : 32;
}

uint64_t wkv_chunkpar_scratch_bytes(const Capabilities& caps, uint32_t B, uint32_t T, uint32_t H,
                                    uint32_t S) {
  const uint32_t l = wkv_chunkpar_config(caps, S, wkv_chunkpar_default_length(caps, T)).l;
  const uint64_t per_chunk = wkv_chunkpar_chunk_bytes(B, H, S);
  const uint64_t cap = std::min<uint64_t>(kScratchCap, caps.max_storage_buffer_range);
  const uint64_t chunks = std::max<uint64_t>(1, (uint64_t{T} + l - 1) / l);
  return per_chunk * std::clamp<uint64_t>(cap / per_chunk, 1, chunks);
}

void wkv_chunkpar(Context& ctx, Recorder& rec, const WkvArgs& args,
                  const std::optional<WkvChunkParConfig>& config) {
  const WkvDims d = check_wkv_args(ctx, "wkv_chunkpar", args);
  const Capabilities& caps = ctx.caps();
  const WkvChunkParConfig c =
      config ? *config : wkv_chunkpar_config(caps, d.S, wkv_chunkpar_default_length(caps, d.T));
  require(c.passes != 0 && (c.passes & ~7u) == 0, ErrorCode::InvalidArgument,
          "wkv_chunkpar: passes mask {:#x} must be a non-empty subset of 0x7", c.passes);
  const uint64_t per_chunk = wkv_chunkpar_chunk_bytes(d.B, d.H, d.S);
  require(args.scratch.buffer != VK_NULL_HANDLE && args.scratch.dtype == DType::F32 &&
              args.scratch.bytes() >= per_chunk,
          ErrorCode::ShapeMismatch,
          "wkv_chunkpar: scratch must be f32 with at least {} bytes (one chunk of B={} H={} S={}), "
          "got {} bytes",
          per_chunk, d.B, d.H, d.S, args.scratch.buffer ? args.scratch.bytes() : 0);
  if (d.T == 0) return;

  // Window = as many chunks as the scratch (and one binding) holds.
  const uint64_t bindable =
      std::min<uint64_t>({args.scratch.bytes(), caps.max_storage_buffer_range, kScratchCap});
  // CPU drivers: the scan pass runs one dynamic loop iteration per chunk (loop limiter, see
  // common/wkv_io.glsl); the other passes' loops do not grow with the window.
  const uint64_t max_chunks =
      std::clamp<uint64_t>(bindable / per_chunk, 1, wkv_window_tokens(caps, 1));
  const uint64_t window64 = std::min<uint64_t>(d.T, max_chunks * c.l);
  const auto window = static_cast<uint32_t>(window64);

  const uint32_t mode = static_cast<uint32_t>(args.mode);
  const Kernel& states = ctx.pipelines().get({states_shader(args.r.dtype), 8, sizeof(WkvPush)},
                                             {c.wg1, d.S, c.l, c.vt, c.rg1, c.ts});
  const Kernel& scan =
      ctx.pipelines().get({ShaderId::wkv_chunkpar_scan, 8, sizeof(WkvPush)}, {c.wg2, d.S, c.l});
  const Kernel& output = ctx.pipelines().get({output_shader(args.r.dtype), 8, sizeof(WkvPush)},
                                             {c.wg3, d.S, c.l, mode, c.ks, c.rg3, c.seg});
  const Tensor& u = args.mode == WkvMode::Rwkv6 ? args.u : args.logw;  // Gla: any f32 buffer
  for (uint32_t t0 = 0; t0 < d.T; t0 += window) {
    if (t0 > 0) rec.barrier();  // the previous window's output pass still reads the scratch
    const uint32_t tn = std::min(window, d.T - t0);
    const uint32_t nc = (tn + c.l - 1) / c.l;
    const WkvPush push{d.B, d.T, d.H, args.scale, t0, tn};
    const BufferRange scratch{args.scratch.buffer, args.scratch.offset, per_chunk * nc};
    const BufferRange b[] = {args.r.range(), args.k.range(),     args.v.range(), args.logw.range(),
                             u.range(),      args.state.range(), args.y.range(), scratch};
    const auto pc = std::as_bytes(std::span(&push, 1));
    if (c.passes & 1u) rec.dispatch(states, b, pc, Grid{nc * (d.S / c.vt), d.H, d.B});
    rec.barrier();
    if (c.passes & 2u) rec.dispatch(scan, b, pc, Grid{d.S * d.S / (4 * c.wg2), d.H, d.B});
    rec.barrier();
    if (c.passes & 4u) rec.dispatch(output, b, pc, Grid{nc, d.H, d.B});
  }
}

}  // namespace vkr::kernels
