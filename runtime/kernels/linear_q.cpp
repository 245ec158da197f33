// linear_q.cpp: configuration, windows and recording for shaders/gemv_q.comp and gemm_q.comp.
#include "kernels/linear_q.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <vector>

#include "kernels/gemv.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr::kernels {

namespace {

// Variants are declared in the same order in shaders/CMakeLists.txt for every family.
constexpr DType kQuantOrder[] = {DType::Q8_0,    DType::Q4_0,   DType::Q5_0,   DType::Q5_1,
                                 DType::Q4_K,    DType::Q5_K,   DType::Q6_K,   DType::Q4_1,
                                 DType::Q2_K,    DType::Q3_K,   DType::IQ4_NL, DType::IQ4_XS,
                                 DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S,  DType::IQ3_XXS,
                                 DType::IQ3_S,   DType::IQ1_S,  DType::IQ1_M};

uint32_t shared_bytes_gemv(const GemvConfig& c, uint32_t tokens, uint32_t nw) {
  return c.max_subgroups == 1 ? 4 : c.max_subgroups * c.rows * tokens * nw * 4;
}

// gemm_q's DIRECT tiles (CPU devices): 8 tokens x 8 rows per invocation, so each decoded unit
// (the ALU-heavy part) serves 8 tokens and each unit of x 8 rows (8 x 4 blocks were 1.25-1.45x
// slower on llvmpipe, 1024x1024 T=128, every type); SwiGLU keeps 8 x 4 (64 accumulators for its
// two matrices). 8 invocations along the outputs, along the tokens only as many as T needs.
GemmTileConfig direct_q_tiles(uint64_t tokens, uint32_t nw) {
  const auto gm = static_cast<uint32_t>(std::min<uint64_t>(8, std::bit_ceil((tokens + 7) / 8)));
  const uint32_t tn = nw == 2 ? 4 : 8;
  return {gm * 8, 8 * tn, 32, 8, tn};
}

// gemv_q's LAYOUT spec constant (shaders/gemv_q.comp).
enum class GemvLayout : uint32_t { Units = 0, SubgroupRows = 1, RowPerLane = 2 };

// Weights and bytes of one quant_group.glsl group (keep in sync with QG_BLOCKS / QG_BYTES);
// bytes = 0 for the super-blocks that no whole number of 16-byte vectors holds (Q6_K, Q2_K, Q3_K,
// IQ4_XS): their groups are realigned in registers and need only even addresses.
struct QGroup {
  uint32_t weights, bytes;
};
QGroup quant_group(DType dt) {
  switch (dt) {
    case DType::Q8_0: return {256, 272};
    case DType::Q4_0: return {256, 144};
    case DType::Q5_0: return {256, 176};
    case DType::Q5_1: return {64, 48};
    case DType::Q4_K: return {256, 144};
    case DType::Q5_K: return {256, 176};
    case DType::Q4_1: return {128, 80};
    case DType::IQ4_NL: return {256, 144};
    default:
      return {256, 0};  // Q6_K, Q2_K, Q3_K, IQ4_XS, the codebook i-quants
  }
}

// Grouped decoding needs whole groups per row and (except the realigned types) every group
// 16-byte aligned.
bool groups_fit(DType dt, uint64_t K, uint32_t w_off, uint32_t u_off) {
  const QGroup g = quant_group(dt);
  if (K % g.weights != 0) return false;
  if (g.bytes == 0) return true;
  return dtype_row_bytes(dt, K) % 16 == 0 && w_off % 16 == 0 && u_off % 16 == 0;
}

// The GPU layout's lane units (quant_lane.glsl) read Q4_K / Q5_K super-blocks with uvec4 loads:
// 16-byte aligned windows (their rows are multiples of 16 bytes); the other types need only the
// even byte offsets every window has.
bool lane_units_fit(DType dt, uint32_t w_off, uint32_t u_off) {
  if (dt != DType::Q4_K && dt != DType::Q5_K) return true;
  return w_off % 16 == 0 && u_off % 16 == 0;
}

// The window's 6 bindings, plus the context's i-quant codebooks (binding 6) for those types.
std::vector<BufferRange> with_grid(Context& ctx, const std::array<BufferRange, 6>& ranges,
                                   bool grid) {
  std::vector<BufferRange> out(ranges.begin(), ranges.end());
  if (grid) out.push_back(ctx.iq_grids().range());
  return out;
}

}  // namespace

ShaderId quant_shader(QuantFamily family, DType dtype, std::string_view kernel) {
  static constexpr ShaderId kGemv[] = {
      ShaderId::gemv_q_q8_0,    ShaderId::gemv_q_q4_0,   ShaderId::gemv_q_q5_0,
      ShaderId::gemv_q_q5_1,    ShaderId::gemv_q_q4_k,   ShaderId::gemv_q_q5_k,
      ShaderId::gemv_q_q6_k,    ShaderId::gemv_q_q4_1,   ShaderId::gemv_q_q2_k,
      ShaderId::gemv_q_q3_k,    ShaderId::gemv_q_iq4_nl, ShaderId::gemv_q_iq4_xs,
      ShaderId::gemv_q_iq2_xxs, ShaderId::gemv_q_iq2_xs, ShaderId::gemv_q_iq2_s,
      ShaderId::gemv_q_iq3_xxs, ShaderId::gemv_q_iq3_s,  ShaderId::gemv_q_iq1_s,
      ShaderId::gemv_q_iq1_m};
  static constexpr ShaderId kGemvTex[] = {
      ShaderId::gemv_q_tex_q8_0,    ShaderId::gemv_q_tex_q4_0,   ShaderId::gemv_q_tex_q5_0,
      ShaderId::gemv_q_tex_q5_1,    ShaderId::gemv_q_tex_q4_k,   ShaderId::gemv_q_tex_q5_k,
      ShaderId::gemv_q_tex_q6_k,    ShaderId::gemv_q_tex_q4_1,   ShaderId::gemv_q_tex_q2_k,
      ShaderId::gemv_q_tex_q3_k,    ShaderId::gemv_q_tex_iq4_nl, ShaderId::gemv_q_tex_iq4_xs,
      ShaderId::gemv_q_tex_iq2_xxs, ShaderId::gemv_q_tex_iq2_xs, ShaderId::gemv_q_tex_iq2_s,
      ShaderId::gemv_q_tex_iq3_xxs, ShaderId::gemv_q_tex_iq3_s,  ShaderId::gemv_q_tex_iq1_s,
      ShaderId::gemv_q_tex_iq1_m};
  static constexpr ShaderId kGemm[] = {
      ShaderId::gemm_q_q8_0,    ShaderId::gemm_q_q4_0,   ShaderId::gemm_q_q5_0,
      ShaderId::gemm_q_q5_1,    ShaderId::gemm_q_q4_k,   ShaderId::gemm_q_q5_k,
      ShaderId::gemm_q_q6_k,    ShaderId::gemm_q_q4_1,   ShaderId::gemm_q_q2_k,
      ShaderId::gemm_q_q3_k,    ShaderId::gemm_q_iq4_nl, ShaderId::gemm_q_iq4_xs,
      ShaderId::gemm_q_iq2_xxs, ShaderId::gemm_q_iq2_xs, ShaderId::gemm_q_iq2_s,
      ShaderId::gemm_q_iq3_xxs, ShaderId::gemm_q_iq3_s,  ShaderId::gemm_q_iq1_s,
      ShaderId::gemm_q_iq1_m};
  static constexpr ShaderId kEmbed[] = {
      ShaderId::embed_q_q8_0,    ShaderId::embed_q_q4_0,   ShaderId::embed_q_q5_0,
      ShaderId::embed_q_q5_1,    ShaderId::embed_q_q4_k,   ShaderId::embed_q_q5_k,
      ShaderId::embed_q_q6_k,    ShaderId::embed_q_q4_1,   ShaderId::embed_q_q2_k,
      ShaderId::embed_q_q3_k,    ShaderId::embed_q_iq4_nl, ShaderId::embed_q_iq4_xs,
      ShaderId::embed_q_iq2_xxs, ShaderId::embed_q_iq2_xs, ShaderId::embed_q_iq2_s,
      ShaderId::embed_q_iq3_xxs, ShaderId::embed_q_iq3_s,  ShaderId::embed_q_iq1_s,
      ShaderId::embed_q_iq1_m};
  static_assert(
      std::size(kGemv) == std::size(kQuantOrder) && std::size(kGemm) == std::size(kQuantOrder) &&
      std::size(kGemvTex) == std::size(kQuantOrder) && std::size(kEmbed) == std::size(kQuantOrder));
  for (size_t i = 0; i < std::size(kQuantOrder); ++i) {
    if (kQuantOrder[i] != dtype) continue;
    switch (family) {
      case QuantFamily::Gemv: return kGemv[i];
      case QuantFamily::GemvTex:
        return kGemvTex[i];
      case QuantFamily::Gemm: return kGemm[i];
      case QuantFamily::Embed: return kEmbed[i];
    }
  }
  throw Error(ErrorCode::ShapeMismatch,
              fmt::format("{}: dtype {} is not a quantized weight type", kernel, dtype_name(dtype)));
}

void gemv_q(Context& ctx, Recorder& rec, const LinearArgs& args, const detail::LinearDims& d) {
  const auto& caps = ctx.caps();
  const uint32_t tokens = static_cast<uint32_t>(d.T);
  const uint32_t nw = args.epilogue == Epilogue::SwiGlu ? 2 : 1;
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  // The float gemv's launch rule (workgroup, rows per workgroup, subgroup bound) fits the
  // workgroup-per-rows layouts: one invocation per unit / group plays the part of a vector chunk.
  GemvConfig cfg = gemv_config(caps, tokens, args.epilogue);
  if (cpu) {
    // Decoding is ALU work that many rows cannot share (unlike the float gemv's x loads): fewer
    // rows keep the unrolled shader small (lavapipe compiles each pipeline with LLVM).
    cfg.rows = std::clamp(4u / (tokens * nw), 1u, 4u);
  }
  require(shared_bytes_gemv(cfg, tokens, nw) <= caps.max_shared_memory,
          ErrorCode::DeviceUnsupported, "gemv_q: {} bytes of shared memory needed, device has {}",
          shared_bytes_gemv(cfg, tokens, nw), caps.max_shared_memory);
  // CPU devices: rows per lane, a workgroup = one subgroup sharing x by broadcasts (4 or 8 lanes
  // with ballot support; otherwise each lane loads x itself). llvmpipe loads x per lane and
  // component, which costs several times the quantized weights' loads: measured on 1024 x 1024
  // (T = 1), 1 / 4 / 8 / 16 rows per lane ran 1.38 / 0.60 / 0.47 / 0.36 ms, while the unrolled
  // body (and LLVM compile time) grows with rows x tokens. With several tokens x dominates even
  // more (each row's unit needs T x 32 floats of x): 1 row per lane at T = 8 ran 10.8-19 ms on
  // 1024 x 1024, 4 rows 2.0-3.6 ms (same test_quant time, ~25 s), so up to 32 partial sums.
  const uint32_t sg = caps.subgroup_size;
  const bool bcast = (caps.subgroup_ops & VK_SUBGROUP_FEATURE_BALLOT_BIT) != 0;
  const uint32_t lane_wg = std::clamp(sg, 1u, std::min(64u, caps.max_workgroup_invocations));
  const uint32_t xshare = bcast && (sg == 4 || sg == 8) && lane_wg == sg ? sg : 0;
  const uint32_t lane_rows = std::clamp(32u / (tokens * nw), 1u, 8u);
  const auto plan = detail::plan_windows("gemv_q", caps, args, d, kGemvMaxTokens, UINT32_MAX);
  const bool grid = dtype_has_grid(args.w.dtype);
  const KernelDesc desc{quant_shader(QuantFamily::Gemv, args.w.dtype, "gemv_q"), grid ? 7u : 6u,
                        sizeof(LinearPush)};
  detail::for_each_window(d, plan, [&](const detail::Window& win) {
    const auto b = detail::bind_window(caps, args, d, win);
    const uint32_t xvec = b.push.x_off % 4 == 0 ? 1 : 0;
    // CPU devices' layout through texel fetches (gemv_q_tex.comp): x on a texel, bindings texel-
    // bindable, and the weight windows whole texels (Q6_K's may end mid-texel: the view would cut
    // its last words). Each lane then fetches x itself: a broadcast costs llvmpipe a loop per
    // component, a texel fetch one vector load.
    const bool texel_ok = xvec != 0 && detail::texel_reads_wanted(args, cpu) &&
                          detail::texel_window_ok(ctx, b) && b.ranges[1].size % kTexelBytes == 0 &&
                          b.ranges[2].size % kTexelBytes == 0;
    // The codebook types are grouped only through texels (gemv_q.comp has no LAYOUT 2 for them).
    const bool grouped =
        groups_fit(args.w.dtype, d.K, b.push.w_off, b.push.u_off) && (!grid || texel_ok);
    const bool lanes = lane_units_fit(args.w.dtype, b.push.w_off, b.push.u_off);
    GemvLayout layout = cpu ? (grouped ? GemvLayout::RowPerLane : GemvLayout::Units)
                            : (lanes ? GemvLayout::SubgroupRows : GemvLayout::Units);
    if (args.gemv_q_layout == 1 && lanes) layout = GemvLayout::SubgroupRows;
    if (args.gemv_q_layout == 2 && grouped) layout = GemvLayout::RowPerLane;
    const bool per_lane = layout == GemvLayout::RowPerLane;
    const bool sub_rows = layout == GemvLayout::SubgroupRows;
    // GPUs: 128-lane workgroups whose subgroups own 2 rows each (640 workgroups for 5120 rows),
    // 2 chunks per step at T >= 2. Measured on an H100 (5120 x 5120; the other choices within
    // 10%, or slower): at T = 1, 1 / 4 rows per subgroup were 1.1-1.9x slower; at T = 8, 1 row
    // was 1.2-1.3x slower than 2; 64- and 256-lane workgroups were no faster.
    const uint32_t sub_wg = std::min(128u, caps.max_workgroup_invocations);
    const uint32_t sets = std::max(1u, sub_wg / std::max(sg, 1u));
    const uint32_t sub_row_count = tokens == 1 ? 2 / nw : 2;  // <= 4 slots (S_MAX) with SwiGLU
    const uint32_t chunks_per_step = 2;
    const uint32_t wg = per_lane ? lane_wg : sub_rows ? sub_wg : cfg.workgroup;
    const uint32_t rows = per_lane ? lane_rows : sub_rows ? sub_row_count : cfg.rows;
    const uint32_t max_sg = per_lane || sub_rows ? 1 : cfg.max_subgroups;  // 1: no shared memory
    const uint32_t rows_per_wg = per_lane ? lane_wg * lane_rows : sub_rows ? sets * rows : rows;
    const bool texel = per_lane && texel_ok;
    const Kernel& k = ctx.pipelines().get(
        texel ? KernelDesc{quant_shader(QuantFamily::GemvTex, args.w.dtype, "gemv_q"),
                           grid ? 7u : 6u, sizeof(LinearPush), grid ? 0b1000111u : 0b111u}
              // x, w, wu (and the grids) as texels
              : desc,
        {wg, rows, static_cast<uint32_t>(win.tn), static_cast<uint32_t>(args.epilogue),
         d.bias ? 1u : 0u, xvec, max_sg, static_cast<uint32_t>(layout),
         per_lane && !texel ? xshare : 0u, sub_rows ? sets : 1u, chunks_per_step});
    rec.dispatch(k, with_grid(ctx, b.ranges, grid),
                 std::as_bytes(std::span<const LinearPush>(&b.push, 1)),
                 grid_1d((win.nn + rows_per_wg - 1) / rows_per_wg, caps));
  });
}

void gemm_q(Context& ctx, Recorder& rec, const LinearArgs& args, const detail::LinearDims& d,
            bool direct, const GemmTileConfig* forced) {
  const auto& caps = ctx.caps();
  GemmTileConfig tiles;
  if (direct) {
    tiles = direct_q_tiles(d.T, args.epilogue == Epilogue::SwiGlu ? 2 : 1);
  } else if (forced) {
    std::string bad = tiled_config_error(caps, *forced, args.epilogue);
    if (bad.empty() && forced->bk != 32) bad = fmt::format("bk = {}, must be 32", forced->bk);
    require(bad.empty(), ErrorCode::DeviceUnsupported, "gemm_q: tiling: {}", bad);
    tiles = *forced;
  } else {
    // GPUs: gemm.comp's tiles and block layout with bk = 32 (one decoded unit per row and step).
    tiles = pick_tiled_config(caps, d.T, d.N, args.epilogue, true);
  }
  const auto plan =
      detail::plan_windows("gemm_q", caps, args, d, uint64_t{caps.max_workgroup_count[1]} * tiles.bm,
                           uint64_t{caps.max_workgroup_count[0]} * tiles.bn);
  const bool has_grid = dtype_has_grid(args.w.dtype);
  const KernelDesc desc{quant_shader(QuantFamily::Gemm, args.w.dtype, "gemm_q"), has_grid ? 7u : 6u,
                        sizeof(LinearPush)};
  detail::for_each_window(d, plan, [&](const detail::Window& win) {
    const auto b = detail::bind_window(caps, args, d, win);
    const uint32_t xvec = b.push.x_off % 4 == 0 ? 1 : 0;
    const Kernel& k = ctx.pipelines().get(
        desc, {tiles.invocations(), tiles.bm, tiles.bn, tiles.tm, tiles.tn,
               static_cast<uint32_t>(args.epilogue), d.bias ? 1u : 0u, xvec, direct ? 1u : 0u});
    const Grid grid{static_cast<uint32_t>((win.nn + tiles.bn - 1) / tiles.bn),
                    static_cast<uint32_t>((win.tn + tiles.bm - 1) / tiles.bm), 1};
    rec.dispatch(k, with_grid(ctx, b.ranges, has_grid),
                 std::as_bytes(std::span<const LinearPush>(&b.push, 1)), grid);
  });
}

}  // namespace vkr::kernels
