// sampling.cpp: shape checks, path choice and recording for sampling.comp / sampling_split.comp
// (argmax, softmax, nll) and topk.comp.
#include "kernels/sampling.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr KernelDesc kDesc{ShaderId::sampling_f32, 2, sizeof(SamplingPush)};
// Argmax with the logits through a texel buffer (binding 0): CPU devices, see sampling.comp.
constexpr KernelDesc kDescTex{ShaderId::sampling_f32tex, 2, sizeof(SamplingPush), 0b1u};


struct TopkPush {
  uint32_t rows, V, K;
};
static_assert(sizeof(TopkPush) == 12);
constexpr KernelDesc kTopkDesc{ShaderId::topk, 3, sizeof(TopkPush)};

struct TopkSplitPush {
  uint32_t rows, V, K, block, G, radix;
};
static_assert(sizeof(TopkSplitPush) == 24);
constexpr KernelDesc kTopkSplitDesc{ShaderId::topk_split, 4, sizeof(TopkSplitPush)};

// A vocabulary row (~150k) is long: 256 invocations keep many loads in flight per row.
uint32_t workgroup(const Context& ctx) {
  return std::min<uint32_t>(256, ctx.caps().max_workgroup_invocations);
}
}  // namespace

namespace {
// sampling.comp's modes share one interface: logits (rows, V) f32 and a second binding whose
// shape and dtype depend on the mode (`out_shape` of `out_dtype`).
enum Mode : uint32_t { kArgmax = 0, kSoftmax = 1, kNll = 2 };

// sampling_split.comp's push constants.
struct SplitPush {
  uint32_t rows, V;
  float inv_temp;
  uint32_t block, G;
};
static_assert(sizeof(SplitPush) == 20);
constexpr KernelDesc kSplitDesc{ShaderId::sampling_split, 3, sizeof(SplitPush)};

// Split blocks: 4096 logits = 16 KB, 4 vec4 loads per invocation of a 256-wide workgroup, all in
// flight at once; V = 152064 gives 38 workgroups per row instead of one.
constexpr uint32_t kSplitBlock = 4096;
// At this many rows the one-workgroup path already has a workgroup for every slot of a large GPU
// (132 SMs x ~4 resident 256-wide workgroups on an H100), so splitting buys nothing more.
constexpr uint64_t kSplitMaxRows = 512;

bool is_cpu(const Context& ctx) { return ctx.caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU; }

// Logits per block of the automatic split, 0 = no split. CPU devices (lavapipe: every workgroup
// is a thread, every dispatch ~0.1 ms) measured best with one workgroup per row.
uint32_t auto_block(const Context& ctx, uint64_t rows, uint64_t V) {
  if (is_cpu(ctx) || rows >= kSplitMaxRows || V <= kSplitBlock) return 0;
  return kSplitBlock;
}

void record_mode(Context& ctx, Recorder& rec, std::string_view name, Mode mode,
                 const Tensor& logits, std::string_view out_name, const Tensor& out,
                 bool out_is_row, DType out_dtype, float inv_temp, const SamplingSplit& split,
                 uint32_t reads = 0) {
  require_subgroup_arith(ctx, name);
  require_rank2(name, "logits", logits);
  const uint64_t rows = logits.shape[0], V = logits.shape[1];
  check_tensor(name, "logits", logits, logits.shape, DType::F32);
  check_tensor(name, out_name, out, out_is_row ? logits.shape : Shape{rows}, out_dtype);
  u32_dim(rows * V, name, "rows * V");
  const uint32_t wg = workgroup(ctx);
  uint32_t block = 0;
  if (split.force_block > 0) {
    require(present(split.scratch), ErrorCode::InvalidArgument,
            "{}: force_block = {} needs a split scratch", name, split.force_block);
    block = static_cast<uint32_t>(std::min<uint64_t>(split.force_block, std::max<uint64_t>(V, 1)));
  } else if (present(split.scratch)) {
    block = auto_block(ctx, rows, V);
  }
  if (block == 0 || rows == 0 || V == 0) {
    const bool vec = mode == kArgmax && V % 4 == 0 && logits.offset % 16 == 0;
    // Texel reads: measured faster on lavapipe (bench `argmax/row` vs `row_storage`).
    const bool texel_ok = vec && texel_bindable(ctx, logits.range());
    require(reads != 2 || texel_ok, ErrorCode::InvalidArgument,
            "{}: texel reads need V % 4 == 0 and a texel-bindable logits range (V = {})", name,
            V);
    const bool tex = reads == 2 || (reads == 0 && texel_ok && is_cpu(ctx));
    const Kernel& k =
        ctx.pipelines().get(tex ? kDescTex : kDesc, {wg, uint32_t{mode}, vec ? 1u : 0u});
    const SamplingPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V), inv_temp};
    rec.dispatch(k, {logits.range(), out.range()}, push, grid_1d(rows, ctx.caps()));
    return;
  }
  const uint64_t G = ceil_div(V, block);
  const uint64_t need = rows * G * 8;
  require(split.scratch.dtype == DType::U32 && split.scratch.bytes() >= need,
          ErrorCode::ShapeMismatch,
          "{}: split scratch must be u32 with at least {} bytes (rows={} V={} block={}), got {} "
          "of dtype {}",
          name, need, rows, V, block, split.scratch.bytes(), dtype_name(split.scratch.dtype));
  u32_dim(rows * G * 2, name, "split partials");
  // 16-byte loads need every block start and both bound windows on a 4-float boundary.
  const bool vec4 = V % 4 == 0 && block % 4 == 0 && logits.offset % 16 == 0 &&
                    (mode != kSoftmax || out.offset % 16 == 0);
  const SplitPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V), inv_temp, block,
                       static_cast<uint32_t>(G)};
  const BufferRange part{split.scratch.buffer, split.scratch.offset, need};
  const Kernel& k0 = ctx.pipelines().get(kSplitDesc, {wg, uint32_t{mode}, 0u, uint32_t{vec4}});
  rec.dispatch(k0, {logits.range(), out.range(), part}, push, grid_1d(rows * G, ctx.caps()));
  rec.barrier();
  const Kernel& k1 = ctx.pipelines().get(kSplitDesc, {wg, uint32_t{mode}, 1u, uint32_t{vec4}});
  rec.dispatch(k1, {logits.range(), out.range(), part}, push,
               grid_1d(mode == kSoftmax ? rows * G : rows, ctx.caps()));
}

// Scratch for the automatic split of up to max_rows rows (0 when those calls do not split):
// `forced` sizes it for the block auto_block() picks.
uint64_t auto_scratch_bytes(const Context& ctx, uint64_t max_rows, uint64_t V,
                            uint64_t (*forced)(uint64_t, uint64_t, uint32_t)) {
  const uint64_t rows = std::min(max_rows, kSplitMaxRows - 1);
  const uint32_t block = auto_block(ctx, rows, V);
  return block ? forced(rows, V, block) : 0;
}
}  // namespace

uint64_t sampling_scratch_bytes(const Context& ctx, uint64_t max_rows, uint64_t V) {
  return auto_scratch_bytes(ctx, max_rows, V, sampling_scratch_bytes_forced);
}

uint64_t sampling_scratch_bytes_forced(uint64_t rows, uint64_t V, uint32_t block) {
  require(block > 0, ErrorCode::InvalidArgument, "sampling scratch: block must be > 0");
  const uint64_t v = std::max<uint64_t>(V, 1);
  return rows * ceil_div(v, std::min<uint64_t>(block, v)) * 8;  // (max, index / sum) per block
}

uint64_t topk_scratch_bytes(const Context& ctx, uint64_t max_rows, uint64_t V) {
  return auto_scratch_bytes(ctx, max_rows, V, topk_scratch_bytes_forced);
}

uint64_t topk_scratch_bytes_forced(uint64_t rows, uint64_t V, uint32_t block) {
  require(block > 0, ErrorCode::InvalidArgument, "topk scratch: block must be > 0");
  const uint64_t v = std::max<uint64_t>(V, 1);
  // (prefix, mask, need, -) per row + a 256-bin histogram and (> T, == T) counts per block.
  return (rows * 4 + rows * ceil_div(v, std::min<uint64_t>(block, v)) * 258) * 4;
}

void argmax(Context& ctx, Recorder& rec, const ArgmaxArgs& args) {
  require(args.reads <= 2, ErrorCode::InvalidArgument,
          "argmax: reads must be 0 (automatic), 1 (storage) or 2 (texel), got {}", args.reads);
  record_mode(ctx, rec, "argmax", kArgmax, args.logits, "ids", args.ids, false, DType::U32, 1.0f,
              args.split, args.reads);
}

void softmax(Context& ctx, Recorder& rec, const SoftmaxArgs& args) {
  require(std::isfinite(args.temperature) && args.temperature > 0.0f, ErrorCode::InvalidArgument,
          "softmax: temperature must be finite and > 0, got {}", args.temperature);
  record_mode(ctx, rec, "softmax", kSoftmax, args.logits, "probs", args.probs, true, DType::F32,
              1.0f / args.temperature, args.split);
}

void nll(Context& ctx, Recorder& rec, const NllArgs& args) {
  record_mode(ctx, rec, "nll", kNll, args.logits, "target_nll", args.target_nll, false,
              DType::U32, 1.0f, args.split);
}

void topk(Context& ctx, Recorder& rec, const TopkArgs& args) {
  constexpr std::string_view name = "topk";
  require_rank2(name, "logits", args.logits);
  const uint64_t rows = args.logits.shape[0], V = args.logits.shape[1];
  require_rank2(name, "ids", args.ids);
  const uint64_t K = args.ids.shape[1];
  check_tensor(name, "logits", args.logits, args.logits.shape, DType::F32);
  check_tensor(name, "ids", args.ids, Shape{rows, K}, DType::U32);
  check_tensor(name, "values", args.values, Shape{rows, K}, DType::F32);
  require(K >= 1 && K <= V, ErrorCode::ShapeMismatch, "topk: K = {} must be in [1, V = {}]", K, V);
  u32_dim(rows * V, name, "rows * V");
  u32_dim(rows * K, name, "rows * K");
  // The shaders' per-invocation scan arrays hold 1024 entries.
  const uint32_t wg = std::min<uint32_t>(workgroup(ctx), 1024);
  uint32_t block = 0;
  if (args.split.force_block > 0) {
    require(present(args.split.scratch), ErrorCode::InvalidArgument,
            "topk: force_block = {} needs a split scratch", args.split.force_block);
    block = static_cast<uint32_t>(std::min<uint64_t>(args.split.force_block, V));
  } else if (present(args.split.scratch)) {
    block = auto_block(ctx, rows, V);
  }
  if (block == 0) {
    const Kernel& k = ctx.pipelines().get(kTopkDesc, {wg});
    const TopkPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V),
                        static_cast<uint32_t>(K)};
    rec.dispatch(k, {args.logits.range(), args.ids.range(), args.values.range()}, push,
                 grid_1d(rows, ctx.caps()));
    return;
  }
  const uint64_t G = ceil_div(V, block);
  const uint64_t need = topk_scratch_bytes_forced(rows, V, block);
  require(args.split.scratch.dtype == DType::U32 && args.split.scratch.bytes() >= need,
          ErrorCode::ShapeMismatch,
          "topk: split scratch must be u32 with at least {} bytes (rows={} V={} block={}), got {} "
          "of dtype {}",
          need, rows, V, block, args.split.scratch.bytes(), dtype_name(args.split.scratch.dtype));
  u32_dim(need / 4, name, "split scratch words");
  const BufferRange scratch{args.split.scratch.buffer, args.split.scratch.offset, need};
  TopkSplitPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(V),
                     static_cast<uint32_t>(K), block, static_cast<uint32_t>(G), 0};
  const auto pass = [&](uint32_t id, uint64_t groups) {
    const Kernel& k = ctx.pipelines().get(kTopkSplitDesc, {wg, id});
    rec.dispatch(k, {args.logits.range(), args.ids.range(), args.values.range(), scratch}, push,
                 grid_1d(groups, ctx.caps()));
  };
  for (push.radix = 0; push.radix < 4; ++push.radix) {  // histograms, then the select step
    if (push.radix > 0) rec.barrier();
    pass(0, rows * G);
    rec.barrier();
    pass(1, rows);
  }
  rec.barrier();
  pass(2, rows * G);  // per-block counts of the kept entries
  rec.barrier();
  pass(3, rows * G);  // compaction
}

}  // namespace vkr::kernels
