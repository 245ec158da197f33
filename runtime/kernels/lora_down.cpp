// lora_down.cpp: tile choice, shape checks and recording for lora_down.comp.
#include "kernels/lora_down.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "lora_down";
constexpr KernelDesc kDesc{ShaderId::lora_down_f32, 5, sizeof(LoraDownPush)};
constexpr KernelDesc kDescX8{ShaderId::lora_down_f32x8, 5, sizeof(LoraDownPush)};
constexpr KernelDesc kDescTex{ShaderId::lora_down_f32tex, 5, sizeof(LoraDownPush), 0b11011u};
constexpr uint64_t kAlign = 64;  // floats: 256 bytes
uint64_t aligned(uint64_t n) { return ceil_div(n, kAlign) * kAlign; }
}  // namespace

Shape lora_scratch_shape(uint64_t rows, uint64_t C, uint64_t D) {
  return Shape{aligned(rows * D) + 2 * rows * C};
}

LoraScratchParts lora_scratch_parts(const Tensor& scratch, uint64_t rows, uint64_t C, uint64_t D) {
  const VkDeviceSize h_bytes = aligned(rows * D) * 4;
  auto view = [&](VkDeviceSize at, Shape s) {
    Tensor t = scratch;
    t.offset += at;
    t.shape = s;
    return t;
  };
  return {view(0, Shape{rows, D}), view(h_bytes, Shape{2, rows, C}), view(h_bytes, Shape{rows, C})};
}

LoraDownConfig lora_down_config(const Capabilities& caps, uint64_t rows) {
  const uint32_t sg = std::max(1u, caps.subgroup_size);
  const uint32_t min_sg = std::max(1u, caps.min_subgroup_size ? caps.min_subgroup_size : sg);
  LoraDownConfig c;
  // CPU implementations run a workgroup's subgroups as coroutines (a barrier is a context switch):
  // one subgroup per workgroup there. GPUs: a few subgroups stride over K together so each
  // workgroup has enough loads in flight; the cross-subgroup pass is one barrier at the end.
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  c.workgroup = cpu ? sg : std::clamp(4 * sg, 64u, 256u);
  c.workgroup = std::min(c.workgroup, caps.max_workgroup_invocations);
  c.workgroup = std::max(c.workgroup / sg, 1u) * sg;
  c.max_subgroups = (c.workgroup + min_sg - 1) / min_sg;
  // Register tile: MR rows x NR outputs costs MR + NR vec4 loads per MR * NR dot products (8 x 8
  // measured best on lavapipe at T = 64; 16 x 8 was within noise). Decode (one row) is
  // bandwidth-bound on W: MR = 1, and NR = 8 still leaves D / 8 workgroups.
  c.mr = rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1;
  c.nr = cpu ? 8 : (rows >= 8 ? 8 : 4);
  while (c.max_subgroups * c.mr * c.nr * 4 > caps.max_shared_memory && c.nr > 1) c.nr /= 2;
  return c;
}

bool lora_wide_loads(const Capabilities& caps, uint64_t width,
                     std::initializer_list<const Tensor*> tensors) {
  return chunk_unit(caps, width, tensors) == 8;
}

LoraUpConfig lora_up_config(const Capabilities& caps, uint64_t rows) {
  const uint32_t sg = std::max(1u, caps.subgroup_size);
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  LoraUpConfig c;
  // No barriers in the up kernels, so the workgroup size only matters for scheduling: one
  // subgroup on CPU implementations, 64+ invocations (whole subgroups) on GPUs.
  c.workgroup = cpu ? sg : std::max(64u / sg, 1u) * sg;
  c.workgroup = std::min(c.workgroup, caps.max_workgroup_invocations);
  c.mr = rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1;
  // CPU: loads are per-lane loops, so a wider tile (more reuse per load) wins: 8 rows x 16
  // channels measured ~2x faster than 8 x 8 on lavapipe at T = 64. GPUs: one or two channels per
  // invocation keep enough workgroups for decode (C / 64 of them).
  c.nr = cpu ? (rows >= 8 ? 16 : 8) : rows >= 8 ? 2 : 1;
  return c;
}

void lora_down(Context& ctx, Recorder& rec, const LoraDownArgs& args) {
  require_rank2(kName, "x", args.x);
  const uint64_t rows = args.x.shape[0], C = args.x.shape[1];
  require_rank2(kName, "w", args.w);
  const uint64_t D = args.w.shape[0];
  check_tensor(kName, "x", args.x, args.x.shape, DType::F32);
  check_tensor(kName, "w", args.w, Shape{D, C}, DType::F32);
  check_tensor(kName, "h", args.h, Shape{rows, D}, DType::F32);
  u32_dim(std::max(rows * C, rows * D), kName, "elements");
  u32_dim(D * C, kName, "D * C");
  const LoraDownConfig cfg =
      args.config.workgroup ? args.config : lora_down_config(ctx.caps(), rows);
  require(cfg.workgroup <= ctx.caps().max_workgroup_invocations &&
              cfg.max_subgroups * cfg.mr * cfg.nr * 4 <= ctx.caps().max_shared_memory,
          ErrorCode::DeviceUnsupported, "lora_down: tile {}x{} with {} invocations does not fit",
          cfg.mr, cfg.nr, cfg.workgroup);
  // Chunk loads need every row (and both bound ranges) to start on a chunk boundary; otherwise
  // guarded scalar loads (any C).
  const bool lerp = present(args.s);
  if (lerp) {
    check_tensor(kName, "s", args.s, Shape{rows, C}, DType::F32);
    check_tensor(kName, "mu", args.mu, Shape{C}, DType::F32);
  }
  const Tensor& s = lerp ? args.s : args.x;
  const Tensor& mu = lerp ? args.mu : args.x;
  require(args.reads <= 2, ErrorCode::InvalidArgument,
          "lora_down: reads = {} (0 the device's choice, 1 storage, 2 texel)", args.reads);
  const uint32_t unit = chunk_unit(ctx.caps(), C, {&args.x, &args.w, &s, &mu});
  const bool x8 = unit == 8, vec4 = unit >= 4;
  require(!lerp || vec4, ErrorCode::ShapeMismatch,
          "lora_down: the x + (s - x) * mu input needs C % 4 == 0 and 16-byte aligned tensors "
          "(C = {})",
          C);
  // CPU devices read through texels where every read range can be a texel binding (llvmpipe:
  // one vector load per lane instead of a loop over lanes and components).
  const bool cpu = ctx.caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const bool tex = (args.reads == 2 || (args.reads == 0 && cpu)) && C % 4 == 0 &&
                   texel_bindable(ctx, args.x.range()) && texel_bindable(ctx, args.w.range()) &&
                   texel_bindable(ctx, s.range()) && texel_bindable(ctx, mu.range());
  const uint32_t vec = tex ? 4u : x8 ? 8u : vec4 ? 4u : 1u;
  const KernelDesc& desc = tex ? kDescTex : x8 ? kDescX8 : kDesc;
  const Kernel& k = ctx.pipelines().get(
      desc, {cfg.workgroup, cfg.mr, cfg.nr, vec, cfg.max_subgroups, lerp ? 1u : 0u});
  const LoraDownPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(C),
                          static_cast<uint32_t>(D)};
  const Grid grid{static_cast<uint32_t>(ceil_div(D, cfg.nr)),
                  static_cast<uint32_t>(ceil_div(rows, cfg.mr)), 1};
  require(grid.y <= ctx.caps().max_workgroup_count[1], ErrorCode::ShapeMismatch,
          "lora_down: {} rows need {} workgroups in y (max {})", rows, grid.y,
          ctx.caps().max_workgroup_count[1]);
  rec.dispatch(k, {args.x.range(), args.w.range(), args.h.range(), s.range(), mu.range()}, push,
               grid);
}

}  // namespace vkr::kernels
