// token_shift.cpp: shape checks, variant choice and recording for token_shift.comp (+ lora_down).
#include "kernels/token_shift.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "kernels/lora_down.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr KernelDesc kDesc{ShaderId::token_shift_f32, 6, sizeof(TokenShiftPush)};
constexpr KernelDesc kDescX8{ShaderId::token_shift_f32x8, 6, sizeof(TokenShiftPush)};

Grid shift_grid(const Context& ctx, uint64_t C, uint64_t rows, const LoraUpConfig& cfg,
                std::string_view name) {
  const Grid grid{static_cast<uint32_t>(ceil_div(C, uint64_t{cfg.workgroup} * cfg.nr)),
                  static_cast<uint32_t>(ceil_div(rows, cfg.mr))};
  require(grid.y <= ctx.caps().max_workgroup_count[1], ErrorCode::ShapeMismatch,
          "{}: {} rows need {} workgroups in y (max {})", name, rows, grid.y,
          ctx.caps().max_workgroup_count[1]);
  return grid;
}

// x (B*T, C) and state (B, C) checks shared by both modes; returns T.
uint64_t check_x_state(std::string_view name, const Tensor& x, const Tensor& state, uint64_t B) {
  require_rank2(name, "x", x);
  const uint64_t rows = x.shape[0], C = x.shape[1];
  require(B > 0 && rows % B == 0, ErrorCode::ShapeMismatch,
          "{}: x has {} rows, not a multiple of sequences = {}", name, rows, B);
  check_tensor(name, "x", x, x.shape, DType::F32);
  check_tensor(name, "state", state, Shape{B, C}, DType::F32);
  return rows / B;
}
}  // namespace

void token_shift_ddlerp(Context& ctx, Recorder& rec, const TokenShiftDdlerpArgs& args) {
  constexpr std::string_view name = "token_shift_ddlerp";
  const uint64_t B = args.sequences;
  const uint64_t T = check_x_state(name, args.x, args.state, B);
  const uint64_t rows = args.x.shape[0], C = args.x.shape[1];
  require_rank2(name, "a (time_mix_w1)", args.a);
  const uint64_t D5 = args.a.shape[0], Dm = D5 / 5;
  require(D5 % 5 == 0 && Dm % 4 == 0 && Dm <= 128, ErrorCode::ShapeMismatch,
          "{}: a has {} rows; expected 5 * Dm with Dm a multiple of 4, <= 128", name, D5);
  check_tensor(name, "a (time_mix_w1)", args.a, Shape{D5, C}, DType::F32);
  check_tensor(name, "bm (time_mix_w2)", args.bm, Shape{5, C, Dm}, DType::F32);
  check_tensor(name, "mu_x", args.mu_x, Shape{C}, DType::F32);
  check_tensor(name, "lambda", args.lambda, Shape{5, C}, DType::F32);
  check_tensor(name, "out", args.out, Shape{5, rows, C}, DType::F32);
  check_tensor(name, "scratch", args.scratch, lora_scratch_shape(rows, C, D5), DType::F32);
  u32_dim(5 * rows * C, name, "5 * rows * C");
  u32_dim(5 * C * Dm, name, "5 * C * Dm");
  const LoraScratchParts part = lora_scratch_parts(args.scratch, rows, C, D5);
  const LoraUpConfig cfg = lora_up_config(ctx.caps(), rows);
  const Grid grid = shift_grid(ctx, C, rows, cfg, name);
  const TokenShiftPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(T),
                            static_cast<uint32_t>(C), 1u};

  const bool x8 = lora_wide_loads(ctx.caps(), Dm, {&args.bm, &part.h});
  const KernelDesc& up = x8 ? kDescX8 : kDesc;
  TokenShiftPush push5 = push;
  push5.groups = 5;
  // Decode (T = 1): x_prev is the state row itself, so lora_down mixes xi on the fly and the up
  // pass reads and then overwrites the state: two dispatches instead of three.
  const auto aligned16 = [](const Tensor& t) { return t.offset % 16 == 0; };
  if (T == 1 && C % 4 == 0 && aligned16(args.x) && aligned16(args.state) && aligned16(args.mu_x) &&
      aligned16(args.a)) {
    lora_down(ctx, rec, {args.x, args.a, part.h, {}, args.state, args.mu_x});
    rec.barrier();
    const Kernel& mix =
        ctx.pipelines().get(up, {cfg.workgroup, 3u, static_cast<uint32_t>(Dm), cfg.mr, cfg.nr});
    rec.dispatch(mix,
                 {args.x.range(), args.state.range(), args.lambda.range(), args.bm.range(),
                  part.h.range(), args.out.range()},
                 push5, grid);
    return;
  }
  // 1. xi and x_prev to scratch, new state (bm / h are not read in this mode: x placeholders).
  const uint32_t unit = chunk_unit(ctx.caps(), C, {&args.x, &args.state, &args.mu_x, &part.xp});
  const Kernel& shift = ctx.pipelines().get(
      unit == 8 ? kDescX8 : kDesc, {cfg.workgroup, 2u, 4u, cfg.mr, cfg.nr, unit > 1 ? 1u : 0u});
  rec.dispatch(shift,
               {args.x.range(), args.state.range(), args.mu_x.range(), args.x.range(),
                args.x.range(), part.xp.range()},
               push, shift_grid(ctx, C / unit, rows, cfg, name));
  rec.barrier();
  // 2. h = tanh(A·xi).
  lora_down(ctx, rec, {part.xi, args.a, part.h});
  rec.barrier();
  // 3. The five "up" GEMMs with the lerp epilogue.
  const Kernel& mix =
      ctx.pipelines().get(up, {cfg.workgroup, 0u, static_cast<uint32_t>(Dm), cfg.mr, cfg.nr});
  rec.dispatch(mix,
               {args.x.range(), part.xp.range(), args.lambda.range(), args.bm.range(),
                part.h.range(), args.out.range()},
               push5, grid);
}

void token_shift_lerp(Context& ctx, Recorder& rec, const TokenShiftLerpArgs& args) {
  constexpr std::string_view name = "token_shift_lerp";
  const uint64_t B = args.sequences;
  const uint64_t T = check_x_state(name, args.x, args.state, B);
  const uint64_t rows = args.x.shape[0], C = args.x.shape[1];
  require_rank2(name, "mu", args.mu);
  const uint64_t G = args.mu.shape[0];
  require(G == 1 || G == 2, ErrorCode::ShapeMismatch, "{}: mu has {} groups, expected 1 or 2", name,
          G);
  check_tensor(name, "mu", args.mu, Shape{G, C}, DType::F32);
  check_tensor(name, "out", args.out, Shape{G, rows, C}, DType::F32);
  u32_dim(G * rows * C, name, "G * rows * C");

  // No LoRA in this mode: DM = 4 is a placeholder; the up-kernel tile is reused for the lerp.
  // Units of 8 or 4 channels where C and every binding allow (chunk_unit).
  const LoraUpConfig cfg = lora_up_config(ctx.caps(), rows);
  const uint32_t unit = chunk_unit(ctx.caps(), C, {&args.x, &args.state, &args.mu, &args.out});
  const Kernel& k = ctx.pipelines().get(
      unit == 8 ? kDescX8 : kDesc, {cfg.workgroup, 1u, 4u, cfg.mr, cfg.nr, unit > 1 ? 1u : 0u});
  const TokenShiftPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(T),
                            static_cast<uint32_t>(C), static_cast<uint32_t>(G)};
  // bm / part are not read in this mode: bind x as a valid placeholder.
  rec.dispatch(k,
               {args.x.range(), args.state.range(), args.mu.range(), args.x.range(), args.x.range(),
                args.out.range()},
               push, shift_grid(ctx, C / unit, rows, cfg, name));
}

}  // namespace vkr::kernels
