// gemm.cpp: path choice, tile configuration, windows and recording for shaders/gemm.comp and
// shaders/gemm_coopmat.comp.
#include "kernels/gemm.hpp"

#include <fmt/format.h>

#include <optional>

#include "kernels/linear_q.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {

// gemm.comp tiles (spec constants 1..5, 9); WG = (BM/TM)*(BN/TN).
struct TileConfig {
  uint32_t bm, bn, bk, tm, tn;
  bool direct = false;  // gemm.comp DIRECT: no shared memory (GemmPath::Direct)
  uint32_t workgroup() const { return (bm / tm) * (bn / tn); }
  uint32_t shared_bytes(uint32_t nw) const { return direct ? 8 : (bk * bm + nw * bk * bn) * 4; }
};

uint32_t pow2_ceil(uint64_t v) {
  uint32_t p = 1;
  while (p < v) p *= 2;
  return p;
}

TileConfig pick_tiles(const Capabilities& caps, uint64_t tokens, uint32_t nw, bool direct) {
  if (direct) {
    // 8 x 8 register blocks: each invocation loads 8 + 4 words per 8 halves of K for 512 FMAs
    // (llvmpipe pays per loaded component, shared memory included). 8 invocations along the
    // outputs; along the tokens only as many as T needs (short prompts: little padding work).
    const uint32_t gm = std::min<uint32_t>(8, pow2_ceil((tokens + 7) / 8));
    return {gm * 8, 64, 16, 8, 8, true};
  }
  // GPUs: 128 x 64 tiles with 8 x 4 register blocks (256 invocations, 32 FMAs per 12 shared
  // loads) for long prompts, 64 x 64 with 4 x 4 for shorter ones (less padding), when the device
  // allows them; BK = 16 (12-16 KiB of shared memory).
  const TileConfig big = tokens > 64 ? TileConfig{128, 64, 16, 8, 4}
                                     : TileConfig{tokens <= 32 ? 32u : 64u, 64, 16, 4, 4};
  if (big.workgroup() <= caps.max_workgroup_invocations &&
      big.shared_bytes(nw) <= caps.max_shared_memory) {
    return big;
  }
  return {32, 32, 16, 4, 4};  // 64 invocations, <= 6 KiB: within Vulkan's minimum limits
}

// gemm_coopmat.comp configuration (spec constants 1..4).
struct CoopConfig {
  uint32_t nsg = 4, fm = 2, fn = 2, cn = 16;
  static constexpr uint32_t kBk = 32, kSa = kBk + 8;
  uint32_t bn() const { return nsg * fn * cn; }
  uint32_t shared_bytes(uint32_t nw) const {
    return (16 * fm * kSa + nw * bn() * kSa) * 2 + nsg * nw * 16 * cn * 4;
  }
};

bool is_f16_f32_shape(const CoopMatShape& s, uint32_t n) {
  return s.m == 16 && s.k == 16 && s.n == n && s.a == VK_COMPONENT_TYPE_FLOAT16_NV &&
         s.b == VK_COMPONENT_TYPE_FLOAT16_NV && s.c == VK_COMPONENT_TYPE_FLOAT32_NV &&
         s.result == VK_COMPONENT_TYPE_FLOAT32_NV;
}

// The coopmat configuration for this device, or the reason there is none.
std::optional<CoopConfig> coop_config(const Capabilities& caps, DType w, Epilogue e,
                                      std::string* why) {
  auto fail = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return std::optional<CoopConfig>{};
  };
  if (w != DType::F16) return fail(fmt::format("weights are {}, not f16", dtype_name(w)));
  if (!caps.nv_cooperative_matrix) {
    return fail("VK_NV_cooperative_matrix (with vulkanMemoryModel) is not available");
  }
  if (!caps.fp16_arith) return fail("shaderFloat16 is not available");
  CoopConfig c;
  bool found = false;
  for (uint32_t n : {16u, 8u}) {
    for (const auto& s : caps.nv_coopmat_shapes) {
      if (!found && is_f16_f32_shape(s, n)) {
        c.cn = n;
        found = true;
      }
    }
  }
  if (!found) return fail("no 16x16x16 or 16x8x16 f16 -> f32 cooperative-matrix shape");
  const uint32_t nw = e == Epilogue::SwiGlu ? 2 : 1;
  if (c.shared_bytes(nw) > caps.max_shared_memory) c.fn = 1;
  if (c.shared_bytes(nw) > caps.max_shared_memory) return fail("not enough shared memory");
  if (c.nsg * caps.subgroup_size > caps.max_workgroup_invocations) c.nsg = 2;
  if (c.nsg * caps.subgroup_size > caps.max_workgroup_invocations) return fail("workgroup too big");
  return c;
}

ShaderId tiled_shader(DType w) {
  return w == DType::F16    ? ShaderId::gemm_f16
         : w == DType::BF16 ? ShaderId::gemm_bf16
                            : ShaderId::gemm_f32;
}

}  // namespace

GemmPath choose_gemm_path(const Capabilities& caps, DType w_dtype, Epilogue epilogue) {
  if (coop_config(caps, w_dtype, epilogue, nullptr)) return GemmPath::CoopMatNV;
  return caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU ? GemmPath::Direct : GemmPath::Tiled;
}

std::string coopmat_unavailable_reason(const Capabilities& caps, DType w_dtype, Epilogue epilogue) {
  std::string why;
  coop_config(caps, w_dtype, epilogue, &why);
  return why;
}

void gemm(Context& ctx, Recorder& rec, const GemmArgs& args, GemmPath path) {
  const auto d = detail::check_linear("gemm", args);
  const auto& caps = ctx.caps();
  const uint32_t nw = args.epilogue == Epilogue::SwiGlu ? 2 : 1;
  const uint32_t mode = static_cast<uint32_t>(args.epilogue), has_bias = d.bias ? 1 : 0;
  if (path == GemmPath::Auto) path = choose_gemm_path(caps, args.w.dtype, args.epilogue);
  if (dtype_is_quant(args.w.dtype)) {
    require(path == GemmPath::Direct || path == GemmPath::Tiled, ErrorCode::DeviceUnsupported,
            "gemm: quantized weights ({}) have no cooperative-matrix path",
            dtype_name(args.w.dtype));
    return gemm_q(ctx, rec, args, d, path == GemmPath::Direct);
  }
  std::string why;
  const auto coop = path == GemmPath::CoopMatNV
                        ? coop_config(caps, args.w.dtype, args.epilogue, &why)
                        : std::nullopt;
  // Never build a CooperativeMatrixNV pipeline on a device without the extension.
  require(path != GemmPath::CoopMatNV || coop.has_value(), ErrorCode::DeviceUnsupported,
          "gemm: cooperative-matrix path unavailable: {}", why);
  const TileConfig tiles = pick_tiles(caps, d.T, nw, path == GemmPath::Direct);
  const uint32_t bm = coop ? 16 * coop->fm : tiles.bm, bn = coop ? coop->bn() : tiles.bn;
  const auto plan =
      detail::plan_windows("gemm", caps, args, d, uint64_t{caps.max_workgroup_count[1]} * bm,
                           uint64_t{caps.max_workgroup_count[0]} * bn);
  const uint32_t ev = args.w.dtype == DType::F32 ? 4 : 8;  // elements per uvec4 (W_PER_VEC)
  detail::for_each_window(d, plan, [&](const detail::Window& win) {
    const auto b = detail::bind_window(caps, args, d, win);
    // vec4 / uvec4 loads need every row start of x and W on a vector boundary.
    const bool vec =
        d.K % ev == 0 && b.push.w_off % ev == 0 && b.push.u_off % ev == 0 && b.push.x_off % 4 == 0;
    const Kernel& k = coop
                          ? ctx.pipelines().get({ShaderId::gemm_coopmat_f16, 6, sizeof(LinearPush)},
                                                {coop->nsg * caps.subgroup_size, coop->nsg,
                                                 coop->fm, coop->fn, coop->cn, mode, has_bias})
                          : ctx.pipelines().get(
                                {tiled_shader(args.w.dtype), 6, sizeof(LinearPush)},
                                {tiles.workgroup(), tiles.bm, tiles.bn, tiles.bk, tiles.tm,
                                 tiles.tn, mode, has_bias, vec ? 1u : 0u, tiles.direct ? 1u : 0u});
    const Grid grid{static_cast<uint32_t>((win.nn + bn - 1) / bn),
                    static_cast<uint32_t>((win.tn + bm - 1) / bm), 1};
    rec.dispatch(k, std::span<const BufferRange>(b.ranges),
                 std::as_bytes(std::span<const LinearPush>(&b.push, 1)), grid);
  });
}

}  // namespace vkr::kernels
