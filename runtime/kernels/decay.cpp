// decay.cpp: shape checks, variant choice and recording for decay.comp (+ lora_down).
#include "kernels/decay.hpp"

#include <algorithm>

#include "kernels/block_ops_common.hpp"
#include "kernels/lora_down.hpp"
#include "vkr/context.hpp"

namespace vkr::kernels {

namespace {
constexpr std::string_view kName = "decay";
constexpr KernelDesc kDesc{ShaderId::decay_f32, 8, sizeof(DecayPush)};
constexpr KernelDesc kDescX8{ShaderId::decay_f32x8, 8, sizeof(DecayPush)};

struct Fusion {
  bool on = false;
  uint32_t S = 1, n_rep = 1, ckv = 0;
};

Fusion check_fusion(const DecayArgs& a, uint64_t rows, uint64_t C) {
  const int given = present(a.k) + present(a.v) + present(a.k_out) + present(a.v_out);
  require(given == 0 || given == 4, ErrorCode::ShapeMismatch,
          "decay: key scaling needs all of k, v, k_out, v_out ({} of 4 given)", given);
  if (given == 0) return {false, 1, 1, static_cast<uint32_t>(C)};
  const uint64_t S = a.head_size;
  require(S > 0 && C % S == 0, ErrorCode::ShapeMismatch,
          "decay: C = {} is not a multiple of head_size = {}", C, S);
  require_rank2(kName, "k", a.k);
  const uint64_t ckv = a.k.shape[1], H = C / S;
  require(ckv % S == 0 && ckv > 0 && H % (ckv / S) == 0, ErrorCode::ShapeMismatch,
          "decay: k has {} channels; expected Hkv * {} with Hkv dividing H = {}", ckv, S, H);
  check_tensor(kName, "k", a.k, Shape{rows, ckv}, DType::F32);
  check_tensor(kName, "v", a.v, Shape{rows, ckv}, DType::F32);
  check_tensor(kName, "k_out", a.k_out, Shape{rows, C}, DType::F32);
  check_tensor(kName, "v_out", a.v_out, Shape{rows, C}, DType::F32);
  return {true, static_cast<uint32_t>(S), static_cast<uint32_t>(H / (ckv / S)),
          static_cast<uint32_t>(ckv)};
}
}  // namespace

void decay(Context& ctx, Recorder& rec, const DecayArgs& args) {
  require_rank2(kName, "xw", args.xw);
  const uint64_t rows = args.xw.shape[0], C = args.xw.shape[1];
  require_rank2(kName, "p (decay_w1)", args.p);
  const uint64_t Dd = args.p.shape[0];
  require(Dd % 4 == 0 && Dd <= 256, ErrorCode::ShapeMismatch,
          "decay: Dd = {} must be a multiple of 4, <= 256", Dd);
  check_tensor(kName, "xw", args.xw, args.xw.shape, DType::F32);
  check_tensor(kName, "d0", args.d0, Shape{C}, DType::F32);
  check_tensor(kName, "p (decay_w1)", args.p, Shape{Dd, C}, DType::F32);
  check_tensor(kName, "q (decay_w2)", args.q, Shape{C, Dd}, DType::F32);
  check_tensor(kName, "logw", args.logw, args.xw.shape, DType::F32);
  check_tensor(kName, "scratch", args.scratch, lora_scratch_shape(rows, C, Dd), DType::F32);
  const Tensor h = lora_scratch_parts(args.scratch, rows, C, Dd).h;
  const Fusion f = check_fusion(args, rows, C);
  u32_dim(rows * C, kName, "rows * C");

  lora_down(ctx, rec, {args.xw, args.p, h});
  rec.barrier();
  const LoraUpConfig cfg = lora_up_config(ctx.caps(), rows);
  const bool x8 = lora_wide_loads(ctx.caps(), Dd, {&args.q, &h});
  const Kernel& k = ctx.pipelines().get(
      x8 ? kDescX8 : kDesc,
      {cfg.workgroup, static_cast<uint32_t>(Dd), cfg.mr, f.on ? 1u : 0u, cfg.nr});
  const DecayPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(C), f.S, f.n_rep, f.ckv};
  const Grid grid{static_cast<uint32_t>(ceil_div(C, uint64_t{cfg.workgroup} * cfg.nr)),
                  static_cast<uint32_t>(ceil_div(rows, cfg.mr))};
  require(grid.y <= ctx.caps().max_workgroup_count[1], ErrorCode::ShapeMismatch,
          "decay: {} rows need {} workgroups in y", rows, grid.y);
  // Without the fusion k / v / k_out / v_out are never touched: bind logw as a placeholder.
  const Tensor& kin = f.on ? args.k : args.logw;
  const Tensor& vin = f.on ? args.v : args.logw;
  const Tensor& kout = f.on ? args.k_out : args.logw;
  const Tensor& vout = f.on ? args.v_out : args.logw;
  rec.dispatch(k,
               {h.range(), args.d0.range(), args.q.range(), args.logw.range(), kin.range(),
                vin.range(), kout.range(), vout.range()},
               push, grid);
}

}  // namespace vkr::kernels
