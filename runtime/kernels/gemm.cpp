// gemm.cpp: path choice, tile configuration, windows and recording for shaders/gemm.comp and
// shaders/gemm_coopmat.comp.
#include "kernels/gemm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <optional>

#include "kernels/gemm_selfcheck.hpp"
#include "kernels/linear_q.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {

// gemm.comp's Direct path (CPU devices): 8 x 8 register blocks straight from memory. Each
// invocation loads 8 + 4 words per 8 halves of K for 512 FMAs (llvmpipe pays per loaded
// component, shared memory included). 8 invocations along the outputs; along the tokens only as
// many as T needs (short prompts: little padding work). SwiGLU too (2 x 64 accumulators: 8 x 4
// blocks measured 1.13x slower on llvmpipe, T=128 1024x5120).
GemmTileConfig direct_tiles(uint64_t tokens) {
  const auto gm = static_cast<uint32_t>(std::min<uint64_t>(8, std::bit_ceil((tokens + 7) / 8)));
  return {gm * 8, 64, 16, 8, 8};
}

// Tiled-path tilings, largest first. 8 x 8 blocks read 4 vec4s of shared memory per 64 FMAs; 4 x 4
// blocks 2 per 16 (the smaller tiles are for short prompts and narrow outputs, where the big ones
// would leave most of a GPU idle). 32 x 32 with 64 invocations and < 5 KiB of shared memory fits
// Vulkan's minimum limits.
constexpr GemmTileConfig kTiledLadder[] = {
    {128, 128, 16, 8, 8},  // 256 invocations, 64 accumulators each (SwiGLU: 128, not offered)
    {128, 64, 16, 8, 4},   // 256
    {64, 64, 16, 4, 4},    // 256
    {32, 64, 16, 4, 4},    // 128
    {32, 32, 16, 4, 4},    // 64
};

// A workgroup of `invocations` using `shared` bytes against the device's limits (empty: fits).
std::string workgroup_limit_error(const Capabilities& caps, uint32_t invocations,
                                  uint32_t shared) {
  if (invocations > caps.max_workgroup_invocations || invocations > caps.max_workgroup_size[0]) {
    return fmt::format("{} invocations exceed the workgroup limit", invocations);
  }
  if (shared > caps.max_shared_memory) {
    return fmt::format("{} bytes of shared memory exceed the device's {}", shared,
                       caps.max_shared_memory);
  }
  return {};
}

bool is_f16_f32_shape(const CoopMatShape& s, uint32_t n) {
  return s.m == 16 && s.k == 16 && s.n == n && s.a == VK_COMPONENT_TYPE_FLOAT16_NV &&
         s.b == VK_COMPONENT_TYPE_FLOAT16_NV && s.c == VK_COMPONENT_TYPE_FLOAT32_NV &&
         s.result == VK_COMPONENT_TYPE_FLOAT32_NV;
}

// Workgroups a GPU needs in flight before a bigger tile pays: about one per SM / CU (measured on
// the H100, 132 SMs: below it, narrower tiles with more L2 re-reads won). Devices that do not
// report their count get 128, a big GPU's order (an MI300X has 304 CUs and reports them).
uint64_t target_groups(const Capabilities& caps) {
  return caps.compute_units ? caps.compute_units : 128;
}

// gemm_coopmat tilings, largest first (cn = 16 widths; fn doubles for cn = 8). bk is the widest
// step; pick_coopmat_config halves it until the tiles fit.
constexpr CoopMatConfig kCoopLadder[] = {
    // wm wn ks fm fn cn  bk
    {2, 4, 1, 4, 2, 16, 64},   // 128 x 128, 8 subgroups of 64 x 32: long prompts
    {2, 4, 1, 2, 2, 16, 64},   //  64 x 128, 8 subgroups of 32 x 32
    {2, 2, 1, 2, 2, 16, 64},   //  64 x  64, 4 subgroups of 32 x 32
    {1, 2, 4, 1, 2, 16, 256},  //  16 x  64, K split 4 ways: short prompts
    {1, 1, 8, 1, 2, 16, 256},  //  16 x  32, K split 8 ways
    {1, 1, 8, 1, 1, 16, 256},  //  16 x  16, K split 8 ways
};

// The coopmat availability reason (empty: available) independent of the problem size.
std::string coop_unavailable(const Capabilities& caps, DType w) {
  if (w != DType::F16) return fmt::format("weights are {}, not f16", dtype_name(w));
  if (!caps.nv_cooperative_matrix) {
    return "VK_NV_cooperative_matrix (with vulkanMemoryModel) is not available";
  }
  if (!caps.fp16_arith) return "shaderFloat16 is not available";
  if (coopmat_nv_f16_n(caps) == 0) {
    return "no 16x16x16 or 16x8x16 f16 -> f32 cooperative-matrix shape";
  }
  return {};
}

ShaderId tiled_shader(DType w, bool texel) {
  if (texel) {
    return w == DType::F16    ? ShaderId::gemm_f16tex
           : w == DType::BF16 ? ShaderId::gemm_bf16tex
                              : ShaderId::gemm_f32tex;
  }
  return w == DType::F16    ? ShaderId::gemm_f16
         : w == DType::BF16 ? ShaderId::gemm_bf16
                            : ShaderId::gemm_f32;
}

}  // namespace

uint32_t coopmat_nv_f16_n(const Capabilities& caps) {
  if (!caps.nv_cooperative_matrix || !caps.fp16_arith) return 0;
  for (uint32_t n : {16u, 8u}) {
    for (const auto& s : caps.nv_coopmat_shapes) {
      if (is_f16_f32_shape(s, n)) return n;
    }
  }
  return 0;
}

std::string coopmat_config_error(const Capabilities& caps, const CoopMatConfig& c,
                                 Epilogue epilogue) {
  const uint32_t nw = epilogue == Epilogue::SwiGlu ? 2 : 1;
  if (c.cn != coopmat_nv_f16_n(caps)) {
    return fmt::format("fragment 16x{}x16 is not the device's f16 shape (16x{}x16)", c.cn,
                       coopmat_nv_f16_n(caps));
  }
  if (c.sg != caps.subgroup_size) {
    return fmt::format("subgroup size {} != the device's {}", c.sg, caps.subgroup_size);
  }
  if (c.wm == 0 || c.wn == 0 || c.ks == 0 || c.fm == 0 || c.fn == 0 || c.bk == 0 ||
      c.bk % (16 * c.ks) != 0) {
    return fmt::format("bk = {} is not a positive multiple of 16 * ks = {}", c.bk, 16 * c.ks);
  }
  return workgroup_limit_error(caps, c.invocations(), c.shared_bytes(nw));
}

std::vector<CoopMatConfig> coopmat_ladder(const Capabilities& caps, Epilogue epilogue) {
  std::vector<CoopMatConfig> out;
  const uint32_t cn = coopmat_nv_f16_n(caps);
  if (cn == 0) return out;
  for (CoopMatConfig c : kCoopLadder) {
    c.cn = cn;
    c.fn = c.fn * 16 / cn;  // same bn with 16 x 8 fragments
    c.sg = caps.subgroup_size;
    while (c.bk > 16 * c.ks && !coopmat_config_error(caps, c, epilogue).empty()) c.bk /= 2;
    if (coopmat_config_error(caps, c, epilogue).empty()) out.push_back(c);
  }
  return out;
}

std::optional<CoopMatConfig> pick_coopmat_config(const Capabilities& caps, uint64_t T, uint64_t N,
                                                 Epilogue epilogue) {
  // Tiles taller than the prompt (rounded up to a power of two >= 16) only add padding.
  const uint64_t tall = std::max<uint64_t>(16, std::bit_ceil(std::min<uint64_t>(T, 256)));
  // Measured on the H100 (2026-11-23, `--filter gemm/cm_sweep`, calls back to back; median us):
  //   T=512 N=K=5120: 128x128 1160, 64x128 996, 64x64 1042 | 16x64/ks4 445, 16x32/ks8 586
  //   T=128 N=K=5120: 128x128 554, 64x128 331, 64x64 356   | 16x64/ks4 130, 16x32/ks8 175
  //   T=64 N=1024 K=5120: 64x128 283, 64x64 197            | 16x64/ks4 36, 16x32/ks8 25, 16x16 26
  // The tiles without a K split lost 2.5-8x everywhere (cause not found: occupancy or
  // accumulator registers are the suspects), so they are taken only when nothing else fits; among
  // the K-split tiles the widest with target_groups() workgroups wins (also measured above).
  auto ladder = coopmat_ladder(caps, epilogue);
  std::stable_partition(ladder.begin(), ladder.end(),
                        [](const CoopMatConfig& c) { return c.ks > 1; });
  std::optional<CoopMatConfig> best;
  for (const CoopMatConfig& c : ladder) {
    if (c.bm() > tall) continue;
    if (best && best->ks > 1 && c.ks == 1) break;  // a K-split tile fits: never a ks = 1 one
    best = c;
    const uint64_t groups = (N + c.bn() - 1) / c.bn() * ((T + c.bm() - 1) / c.bm());
    if (groups >= target_groups(caps)) break;
  }
  if (!best && !ladder.empty()) best = ladder.back();  // only tall tiles fit: pad
  return best;
}

std::string tiled_config_error(const Capabilities& caps, const GemmTileConfig& c,
                               Epilogue epilogue) {
  const uint32_t nw = epilogue == Epilogue::SwiGlu ? 2 : 1;
  if (c.tm == 0 || c.tn == 0 || c.tm % 4 != 0 || c.tn % 4 != 0 || c.bm % c.tm != 0 ||
      c.bn % c.tn != 0 || c.bk == 0 || c.bk % 8 != 0) {
    return fmt::format("tile {}x{}x{} with {}x{} blocks: blocks must be multiples of 4 dividing "
                       "the tile, bk a multiple of 8",
                       c.bm, c.bn, c.bk, c.tm, c.tn);
  }
  if (nw * c.tm * c.tn > 64) {
    return fmt::format("{} accumulators per invocation (at most 64)", nw * c.tm * c.tn);
  }
  return workgroup_limit_error(caps, c.invocations(), c.shared_bytes(nw));
}

std::vector<GemmTileConfig> tiled_ladder(const Capabilities& caps, Epilogue epilogue,
                                         bool quant) {
  std::vector<GemmTileConfig> out;
  for (GemmTileConfig c : kTiledLadder) {
    if (quant) c.bk = 32;
    if (tiled_config_error(caps, c, epilogue).empty()) out.push_back(c);
  }
  return out;
}

GemmTileConfig pick_tiled_config(const Capabilities& caps, uint64_t T, uint64_t N,
                                 Epilogue epilogue, bool quant) {
  const auto ladder = tiled_ladder(caps, epilogue, quant);
  require(!ladder.empty(), ErrorCode::DeviceUnsupported,
          "gemm: no tiling fits the device's workgroup and shared-memory limits");
  // Tiles taller than the prompt (rounded up to a power of two >= 32) only add padding.
  const uint64_t tall = std::max<uint64_t>(32, std::bit_ceil(std::min<uint64_t>(T, 128)));
  const GemmTileConfig* best = nullptr;
  uint64_t best_groups = 0;
  for (const GemmTileConfig& c : ladder) {
    if (c.bm > tall) continue;
    const uint64_t groups = (N + c.bn - 1) / c.bn * ((T + c.bm - 1) / c.bm);
    if (groups >= target_groups(caps)) return c;
    if (!best || groups > best_groups) best = &c, best_groups = groups;
  }
  return best ? *best : ladder.back();
}

GemmPath choose_gemm_path(const Capabilities& caps, DType w_dtype, Epilogue epilogue) {
  if (coopmat_unavailable_reason(caps, w_dtype, epilogue).empty()) return GemmPath::CoopMatNV;
  return caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU ? GemmPath::Direct : GemmPath::Tiled;
}

std::string coopmat_unavailable_reason(const Capabilities& caps, DType w_dtype, Epilogue epilogue) {
  std::string why = coop_unavailable(caps, w_dtype);
  if (why.empty() && coopmat_ladder(caps, epilogue).empty()) {
    why = "no cooperative-matrix tiling fits the workgroup and shared-memory limits";
  }
  return why;
}

void gemm(Context& ctx, Recorder& rec, const GemmArgs& args, GemmPath path,
          const CoopMatConfig* forced, const GemmTileConfig* forced_tiles) {
  const auto d = detail::check_linear("gemm", args);
  const auto& caps = ctx.caps();
  const uint32_t mode = static_cast<uint32_t>(args.epilogue), has_bias = d.bias ? 1 : 0;
  require(!forced_tiles || path == GemmPath::Tiled, ErrorCode::InvalidArgument,
          "gemm: a forced tiling (GemmTileConfig) needs GemmPath::Tiled");
  require(!forced || path == GemmPath::CoopMatNV, ErrorCode::InvalidArgument,
          "gemm: a forced cooperative-matrix tiling needs GemmPath::CoopMatNV");
  const bool automatic = path == GemmPath::Auto;
  if (automatic) path = choose_gemm_path(caps, args.w.dtype, args.epilogue);
  if (dtype_is_quant(args.w.dtype)) {
    require(path == GemmPath::Direct || path == GemmPath::Tiled, ErrorCode::DeviceUnsupported,
            "gemm: quantized weights ({}) have no cooperative-matrix path",
            dtype_name(args.w.dtype));
    return gemm_q(ctx, rec, args, d, path == GemmPath::Direct, forced_tiles);
  }
  std::optional<CoopMatConfig> coop;
  if (path == GemmPath::CoopMatNV) {
    // Never build a CooperativeMatrixNV pipeline on a device without the extension.
    const std::string why = coopmat_unavailable_reason(caps, args.w.dtype, args.epilogue);
    require(why.empty(), ErrorCode::DeviceUnsupported,
            "gemm: cooperative-matrix path unavailable: {}", why);
    coop = forced ? std::optional<CoopMatConfig>(*forced)
                  : pick_coopmat_config(caps, d.T, d.N, args.epilogue);
    const std::string bad = coop ? coopmat_config_error(caps, *coop, args.epilogue) : "none fits";
    require(bad.empty(), ErrorCode::DeviceUnsupported, "gemm: cooperative-matrix tiling: {}", bad);
  }
  const uint32_t ev = args.w.dtype == DType::F32 ? 4 : 8;  // elements per uvec4 (W_PER_VEC)
  // vec4 / uvec4 loads need every row start of x and W on a vector boundary.
  auto vector_loads = [&](const LinearPush& push) {
    return d.K % ev == 0 && push.w_off % ev == 0 && push.u_off % ev == 0 && push.x_off % 4 == 0;
  };
  auto window_plan = [&](uint32_t bm, uint32_t bn) {
    return detail::plan_windows("gemm", caps, args, d, uint64_t{caps.max_workgroup_count[1]} * bm,
                                uint64_t{caps.max_workgroup_count[0]} * bn);
  };
  if (coop && automatic) {
    // The tensor-core pipelines this call needs must have passed their first-use self-check
    // (gemm_selfcheck.hpp: no CI machine can run them); otherwise take the portable path.
    bool need[2] = {false, false};
    detail::for_each_window(d, window_plan(coop->bm(), coop->bn()), [&](const detail::Window& win) {
      need[vector_loads(detail::bind_window(caps, args, d, win).push)] = true;
    });
    for (int v = 0; v < 2; ++v) {
      if (coop && need[v] &&
          !coopmat_pipeline_verified(ctx, *coop, args.epilogue, d.bias, v == 1)) {
        coop.reset();
        path = GemmPath::Tiled;
      }
    }
  }
  const bool direct = path == GemmPath::Direct;
  GemmTileConfig tiles;
  if (direct) {
    tiles = direct_tiles(d.T);
  } else if (!coop && forced_tiles) {
    const std::string bad = tiled_config_error(caps, *forced_tiles, args.epilogue);
    require(bad.empty(), ErrorCode::DeviceUnsupported, "gemm: tiling: {}", bad);
    tiles = *forced_tiles;
  } else if (!coop) {
    tiles = pick_tiled_config(caps, d.T, d.N, args.epilogue);
  }
  // Direct path on CPU devices: x and the weights through texel buffers (vector fetches there).
  const bool texel_wanted =
      path == GemmPath::Direct &&
      detail::texel_reads_wanted(args, caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU);
  const uint32_t bm = coop ? coop->bm() : tiles.bm, bn = coop ? coop->bn() : tiles.bn;
  const auto plan = window_plan(bm, bn);
  detail::for_each_window(d, plan, [&](const detail::Window& win) {
    const auto b = detail::bind_window(caps, args, d, win);
    const bool vec = vector_loads(b.push);
    const bool texel = !coop && texel_wanted && vec && detail::texel_window_ok(ctx, b);
    const Kernel& k = coop
                          ? ctx.pipelines().get({ShaderId::gemm_coopmat_f16, 6, sizeof(LinearPush)},
                                                {coop->invocations(), coop->wm, coop->wn, coop->ks,
                                                 coop->fm, coop->fn, coop->cn, coop->bk, mode,
                                                 has_bias, coop->sg, vec ? 1u : 0u})
                          : ctx.pipelines().get(
                                {tiled_shader(args.w.dtype, texel), 6, sizeof(LinearPush),
                                 texel ? 0b111u : 0u},
                                {tiles.invocations(), tiles.bm, tiles.bn, tiles.bk, tiles.tm,
                                 tiles.tn, mode, has_bias, vec ? 1u : 0u, direct ? 1u : 0u});
    const Grid grid{static_cast<uint32_t>((win.nn + bn - 1) / bn),
                    static_cast<uint32_t>((win.tn + bm - 1) / bm), 1};
    rec.dispatch(k, std::span<const BufferRange>(b.ranges),
                 std::as_bytes(std::span<const LinearPush>(&b.push, 1)), grid);
  });
}

}  // namespace vkr::kernels
