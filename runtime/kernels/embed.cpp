// embed.cpp: shape checks, dtype variant, table windows and recording for embed.comp.
#include "kernels/embed.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "kernels/linear_q.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "embed";
constexpr uint32_t kWg = 128;
constexpr uint32_t kWgQ = 64;  // quantized tables: one invocation per 32 weights

// Mirrors `Params p` in shaders/embed_q.comp.
struct EmbedQPush {
  uint32_t T, C, V, first, count, byte_off;
};
static_assert(sizeof(EmbedQPush) == 24);

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
      if (dtype_is_quant(t)) return quant_shader(QuantFamily::Embed, t, kName);
      throw Error(ErrorCode::ShapeMismatch,
                  fmt::format("embed: table dtype {} (expected f32, f16, bf16 or a quantized type)",
                              dtype_name(t)));
  }
}
// embed_q.comp: each window's binding starts aligned down from its first row; the push says
// where (bytes). One invocation decodes one 32-weight unit.
void embed_quant(Context& ctx, Recorder& rec, const EmbedArgs& args, ShaderId shader,
                 uint64_t fit, uint64_t align) {
  const uint64_t T = args.ids.shape[0], V = args.table.shape[0], C = args.table.shape[1];
  const uint64_t row_bytes = args.table.row_bytes(), units = C / 32;
  const bool grid = dtype_has_grid(args.table.dtype);  // codebook types: binding 3
  const Kernel& k = ctx.pipelines().get({shader, grid ? 4u : 3u, sizeof(EmbedQPush)}, {kWgQ});
  const Grid groups = grid_1d(T * ceil_div(units, kWgQ), ctx.caps());
  for (uint64_t first = 0; first < V; first += fit) {
    const uint64_t count = std::min(fit, V - first);
    const uint64_t begin = args.table.offset + first * row_bytes, base = begin / align * align;
    const EmbedQPush push{static_cast<uint32_t>(T),     static_cast<uint32_t>(C),
                          static_cast<uint32_t>(V),     static_cast<uint32_t>(first),
                          static_cast<uint32_t>(count), static_cast<uint32_t>(begin - base)};
    const BufferRange table{args.table.buffer, base, (begin + count * row_bytes - base + 3) / 4 * 4};
    if (grid) {
      rec.dispatch(k, {args.ids.range(), table, args.out.range(), ctx.iq_grids().range()}, push,
                   groups);
    } else {
      rec.dispatch(k, {args.ids.range(), table, args.out.range()}, push, groups);
    }
  }
}

}  // namespace

void embed(Context& ctx, Recorder& rec, const EmbedArgs& args, uint64_t window_rows) {
  require(present(args.ids) && args.ids.shape.rank() == 1 && args.ids.shape[0] > 0 &&
              (args.ids.dtype == DType::U32 || args.ids.dtype == DType::I32),
          ErrorCode::ShapeMismatch, "embed: ids must be a non-empty (T) u32/i32 tensor, got {} {}",
          args.ids.shape, dtype_name(args.ids.dtype));
  require_rank2(kName, "table", args.table);
  const uint64_t T = args.ids.shape[0], V = args.table.shape[0], C = args.table.shape[1];
  const ShaderId shader = variant(ctx, args.table.dtype);
  check_tensor(kName, "out", args.out, Shape{T, C}, DType::F32);
  u32_dim(T * C, kName, "T * C");
  u32_dim(V, kName, "V");

  // Largest window of whole rows that fits the binding limit, with an offset that keeps the
  // storage-buffer alignment (rows are bound at multiples of `step` rows).
  const bool quant = dtype_is_quant(args.table.dtype);
  require(C % dtype_block(args.table.dtype).elems == 0, ErrorCode::ShapeMismatch,
          "embed: table {} {}: C = {} is not a multiple of the {}-element block",
          args.table.shape, dtype_name(args.table.dtype), C,
          dtype_block(args.table.dtype).elems);
  require(!quant || args.table.offset % 2 == 0, ErrorCode::ShapeMismatch,
          "embed: a quantized table must start at an even byte, got {}", args.table.offset);
  const uint64_t row_bytes = args.table.row_bytes();
  const uint64_t align = std::max<uint64_t>(ctx.caps().min_storage_buffer_offset_alignment, 1);
  uint64_t step = 1;
  while (!quant && (step * row_bytes) % align != 0) ++step;  // quantized: bound aligned down  // terminates by step = align
  // Quantized windows are bound from an aligned-down start: leave room for the slack.
  const uint64_t range = ctx.caps().max_storage_buffer_range - (quant ? align + 4 : 0);
  uint64_t fit = range / row_bytes;
  if (window_rows > 0) fit = std::min(fit, window_rows);
  fit = fit / step * step;
  require(fit > 0, ErrorCode::DeviceUnsupported,
          "embed: {} aligned rows of {} bytes exceed maxStorageBufferRange", step, row_bytes);
  require(quant || args.table.offset % align == 0 || V <= fit, ErrorCode::ShapeMismatch,
          "embed: a windowed table must start at an aligned offset");
  if (quant) return embed_quant(ctx, rec, args, shader, fit, align);

  // Vector path: one uvec4 of table words per invocation (8 halves or 4 floats), when every row
  // and both bindings start on 16 bytes (windows start at multiples of `align` >= 16 bytes, or at
  // the table's own offset).
  const uint64_t per = args.table.dtype == DType::F32 ? 4 : 8;
  const bool vec = row_bytes % 16 == 0 && args.table.offset % 16 == 0 &&
                   args.out.offset % 16 == 0 && (args.out.shape[1] * 4) % 16 == 0;
  const Kernel& k = ctx.pipelines().get({shader, 3, sizeof(EmbedPush)}, {kWg, vec ? 1u : 0u});
  const Grid grid = grid_1d(T * ceil_div(vec ? C / per : C, uint64_t{kWg}), ctx.caps());
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
