// embed.cpp: shape checks, dtype variant, table windows and recording for embed.comp.
#include "kernels/embed.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "embed";
constexpr uint32_t kWg = 128;

ShaderId variant(const Context& ctx, DType t) {
  switch (t) {
    case DType::F32:
      return ShaderId::embed_f32;
    case DType::F16:
    case DType::BF16:
      require(ctx.caps().fp16_storage, ErrorCode::DeviceUnsupported,
              "embed: a {} table needs storageBuffer16BitAccess", dtype_name(t));
      return t == DType::F16 ? ShaderId::embed_f16 : ShaderId::embed_bf16;
    default:
      throw Error(ErrorCode::ShapeMismatch,
                  fmt::format("embed: table dtype {} (expected f32, f16 or bf16)", dtype_name(t)));
  }
}
}  // namespace

void embed(Context& ctx, Recorder& rec, const EmbedArgs& args, uint64_t window_rows) {
  require(present(args.ids) && args.ids.shape.rank() == 1 && args.ids.shape[0] > 0 &&
              (args.ids.dtype == DType::U32 || args.ids.dtype == DType::I32),
          ErrorCode::ShapeMismatch, "embed: ids must be a non-empty (T) u32/i32 tensor, got {} {}",
          args.ids.shape.str(), dtype_name(args.ids.dtype));
  require_rank2(kName, "table", args.table);
  const uint64_t T = args.ids.shape[0], V = args.table.shape[0], C = args.table.shape[1];
  const ShaderId shader = variant(ctx, args.table.dtype);
  check_tensor(kName, "out", args.out, Shape{T, C}, DType::F32);
  u32_dim(T * C, kName, "T * C");
  u32_dim(V, kName, "V");

  // Largest window of whole rows that fits the binding limit, with an offset that keeps the
  // storage-buffer alignment (rows are bound at multiples of `step` rows).
  const uint64_t row_bytes = C * dtype_bytes(args.table.dtype);
  const uint64_t align = std::max<uint64_t>(ctx.caps().min_storage_buffer_offset_alignment, 1);
  uint64_t step = 1;
  while ((step * row_bytes) % align != 0) ++step;  // terminates by step = align
  uint64_t fit = ctx.caps().max_storage_buffer_range / row_bytes;
  if (window_rows > 0) fit = std::min(fit, window_rows);
  fit = fit / step * step;
  require(fit > 0, ErrorCode::DeviceUnsupported,
          "embed: {} aligned rows of {} bytes exceed maxStorageBufferRange", step, row_bytes);
  require(args.table.offset % align == 0 || V <= fit, ErrorCode::ShapeMismatch,
          "embed: a windowed table must start at an aligned offset");

  const Kernel& k = ctx.pipelines().get({shader, 3, sizeof(EmbedPush)}, {kWg});
  const Grid grid = grid_1d(T * ceil_div(C, kWg), ctx.caps());
  // The window at first == 0 also zeroes out-of-range ids, so it always runs.
  for (uint64_t first = 0; first < V; first += fit) {
    const uint64_t count = std::min(fit, V - first);
    const EmbedPush push{static_cast<uint32_t>(T), static_cast<uint32_t>(C),
                         static_cast<uint32_t>(V), static_cast<uint32_t>(first),
                         static_cast<uint32_t>(count)};
    rec.dispatch(k, {args.ids.range(), args.table.rows(first, count).range(), args.out.range()},
                 push, grid);
  }
}

}  // namespace vkr::kernels
