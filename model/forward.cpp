// forward.cpp: records the forward pass (spec §3.2 RWKV-6, §3.3 QRWKV6) from the kernel twins.
#include "forward.hpp"

#include <fmt/format.h>

#include "activation_stats.hpp"
#include "kernels/decay.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embed.hpp"
#include "kernels/group_norm.hpp"
#include "kernels/linear.hpp"
#include "kernels/lora_down.hpp"
#include "kernels/norm.hpp"
#include "kernels/token_shift.hpp"
#include "kernels/wkv.hpp"
#include "kernels/wkv_chunkpar.hpp"
#include "model.hpp"
#include "state.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using namespace kernels;

// The logits buffer is capped so it stays one binding even for a 152064-token vocabulary.
constexpr uint64_t kMaxLogitsBytes = 64ull << 20;

uint64_t lora_floats(const ModelConfig& c, uint32_t rows) {
  return std::max(lora_scratch_shape(rows, c.C, 5ull * c.Dm).elements(),
                  lora_scratch_shape(rows, c.C, c.Dd).elements());
}

uint32_t logits_rows_for(const ModelConfig& c, uint32_t rows) {
  const uint64_t fit = std::max<uint64_t>(1, kMaxLogitsBytes / (uint64_t{c.V} * 4));
  return static_cast<uint32_t>(std::min<uint64_t>(rows, fit));
}

// Workspace of the chunk-parallel WKV kernel (GPUs, or any device told to use it; CPU devices
// otherwise run the sequential one): the chunks of one call of `rows` tokens (L = 32, or 16 below
// 64 tokens) plus one (B sequences round up), capped at 64 MiB, the largest token window
// wkv_chunkpar uses (longer calls run as windows).
uint64_t wkv_scratch_bytes(const ModelConfig& c, uint32_t rows) {
  const uint64_t per_chunk = wkv_chunkpar_chunk_bytes(1, c.H, c.S);
  const uint64_t cap = std::max<uint64_t>(per_chunk, (64ull << 20) / per_chunk * per_chunk);
  const uint64_t chunks = std::max<uint64_t>(rows / 32, std::min<uint32_t>(rows, 63) / 16) + 1;
  return std::min<uint64_t>(cap, per_chunk * chunks);
}

Tensor f32(const Buffer& b, Shape shape) { return Tensor::of(b, shape, DType::F32); }

// Group g of a (G, n, C) tensor as (n, C).
Tensor group(const Buffer& b, uint32_t g, uint64_t n, uint64_t C) {
  return Tensor::of(b, Shape{n, C}, DType::F32, uint64_t{g} * n * C * sizeof(float));
}

}  // namespace

uint64_t scratch_bytes(const ModelConfig& c, uint32_t rows, bool embed, bool head) {
  const uint64_t n = rows, C = c.C;
  uint64_t floats = n * C * (2 + 5 + 4 + 2 + 3) + 2 * n * c.KV() + lora_floats(c, rows) +
                    2 * n * c.F + (head ? uint64_t{logits_rows_for(c, rows)} * c.V : n * C) +
                    (embed ? n : n * C);  // ids (u32) or the hand-off input
  // + the WKV workspace (allocated on GPUs only) + per-buffer alignment slack
  return floats * sizeof(float) + wkv_scratch_bytes(c, rows) + 64 * 1024;
}

Scratch make_scratch(Context& ctx, const ModelConfig& c, uint32_t rows, const ModelPart* part) {
  const bool embed = !part || part->embed, head = !part || part->head;
  Scratch s;
  s.rows = rows;
  s.logits_rows = logits_rows_for(c, rows);
  const uint64_t n = rows, C = c.C;
  auto buf = [&](uint64_t floats, const char* name) {
    return Buffer::create(ctx, Lifetime::Activations, floats * 4, MemoryUsage::Device, name);
  };
  if (embed) {
    s.ids = Buffer::create(ctx, Lifetime::Activations, n * 4, MemoryUsage::Upload, "ids");
  } else {
    s.hidden_in = Buffer::create(ctx, Lifetime::Activations, n * C * 4, MemoryUsage::Upload,
                                 "hidden in");
  }
  s.x = buf(n * C, "x");
  s.a = buf(n * C, "a");
  s.xx = buf(5 * n * C, "xx");
  s.r = buf(n * C, "r");
  s.g = buf(n * C, "g");
  s.logw = buf(n * C, "logw");
  s.y = buf(n * C, "y");
  s.k = buf(n * c.KV(), "k");
  s.v = buf(n * c.KV(), "v");
  s.kr = buf(n * C, "kr");
  s.vr = buf(n * C, "vr");
  s.lora = buf(lora_floats(c, rows), "lora");
  s.f1 = buf(n * c.F, "f1");
  s.f2 = buf(n * c.F, "f2");
  s.c1 = buf(2 * n * C, "c1");
  s.c2 = buf(n * C, "c2");
  if (head) {
    s.logits = buf(uint64_t{s.logits_rows} * c.V, "logits");
  } else {
    s.hidden_out = Buffer::create(ctx, Lifetime::Activations, n * C * 4, MemoryUsage::Readback,
                                  "hidden out");
  }
  if (ctx.caps().device_type != VK_PHYSICAL_DEVICE_TYPE_CPU ||
      ctx.options().wkv_kernel == ContextOptions::WkvKernelChoice::ChunkParallel)
    s.wkv = buf(wkv_scratch_bytes(c, rows) / 4, "wkv_scratch");
  return s;
}

namespace {

struct Dims {
  uint32_t B, T, n;
};

// Ends a stage: one global barrier, then (when profiling) a timestamp labelled with the stage.
struct Stages {
  Recorder& rec;
  StageProfile* profile;
  ActivationStats* stats;  // null unless collecting an importance matrix
  // Accumulates the statistics of `x`, the input of layer l's `which` projection(s).
  void collect(Context& ctx, uint32_t l, StatsInput which, const Tensor& x) {
    if (stats) stats->record(ctx, rec, l, which, x);
  }
  void end(const char* label) {
    rec.barrier();
    if (!profile || !profile->timer || profile->used >= profile->timer->count()) return;
    rec.timestamp(*profile->timer, profile->used++);
    profile->labels.emplace_back(label);
  }
};

// Time mix of one layer: x += Wo·(...) (spec §3.2.2 / §3.3). `a` holds the normalized input.
void time_mix(Context& ctx, Recorder& rec, Stages& stages, const Model& m, StateStore& st,
              Scratch& s, uint32_t l, uint32_t slot, Dims d) {
  const auto& c = m.config();
  const auto& L = m.layer(l);
  const bool q = c.arch == Arch::QRwkv6;
  const uint64_t n = d.n, C = c.C;
  Tensor a = f32(s.a, Shape{n, C});
  token_shift_ddlerp(ctx, rec,
                     {a, st.att_shift(l, slot, d.B), L.lerp_x, L.lambda, L.w1, L.w2,
                      f32(s.lora, lora_scratch_shape(n, C, 5ull * c.Dm)),
                      f32(s.xx, Shape{5, n, C}), d.B});
  stages.end("ddlerp");
  Tensor xw = group(s.xx, 0, n, C), xk = group(s.xx, 1, n, C), xv = group(s.xx, 2, n, C),
         xr = group(s.xx, 3, n, C), xg = group(s.xx, 4, n, C);
  Tensor r = f32(s.r, Shape{n, C}), g = f32(s.g, Shape{n, C});
  Tensor k = f32(q ? s.k : s.kr, Shape{n, q ? c.KV() : C});
  Tensor v = f32(q ? s.v : s.vr, Shape{n, q ? c.KV() : C});
  stages.collect(ctx, l, StatsInput::Receptance, xr);
  stages.collect(ctx, l, StatsInput::Key, xk);
  stages.collect(ctx, l, StatsInput::Value, xv);
  stages.collect(ctx, l, StatsInput::Gate, xg);
  linear(ctx, rec, {xr, L.wr, r, L.br});
  linear(ctx, rec, {xk, L.wk, k, L.bk});
  linear(ctx, rec, {xv, L.wv, v, L.bv});
  linear(ctx, rec, {xg, L.wg, g});
  stages.end("linear r k v g");
  Tensor logw = f32(s.logw, Shape{n, C});
  Tensor kr = f32(s.kr, Shape{n, C}), vr = f32(s.vr, Shape{n, C});
  DecayArgs da{xw, L.decay, L.decay_w1, L.decay_w2,
               f32(s.lora, lora_scratch_shape(n, C, c.Dd)), logw};
  if (q) {  // fused: k * (1 - w) and GQA repetition to H heads
    da.k = k;
    da.v = v;
    da.k_out = kr;
    da.v_out = vr;
    da.head_size = c.S;
  }
  decay(ctx, rec, da);
  stages.end("decay");
  const Shape heads{d.B, d.T, c.H, c.S};
  Tensor y = f32(s.y, Shape{n, C});
  WkvArgs wa{q ? WkvMode::Gla : WkvMode::Rwkv6,
             reshaped(r, heads, "r"), reshaped(kr, heads, "k"), reshaped(vr, heads, "v"),
             reshaped(logw, heads, "logw"), L.first, st.wkv(l, slot, d.B),
             reshaped(y, heads, "y")};
  wa.scale = wkv_default_scale(wa.mode, c.S);
  if (s.wkv) wa.scratch = f32(s.wkv, Shape{s.wkv.size() / 4});
  wkv(ctx, rec, wa);
  stages.end("wkv");
  // The gate's activation is fused into its consumer (one dispatch less per layer): QRWKV6
  // y * sigmoid(g), RWKV-6 GN(y) * silu(g).
  if (q) {
    elementwise(ctx, rec, {EwOp::SigmoidMul, g, y, y});
  } else {
    GroupNormArgs gn{y, L.ln_x_w, L.ln_x_b, g, y, c.H};
    gn.gate_silu = true;
    group_norm(ctx, rec, gn);
  }
  stages.end("gate");
  stages.collect(ctx, l, StatsInput::Output, y);
  LinearArgs out{y, L.wo, f32(s.x, Shape{n, C})};
  out.epilogue = Epilogue::Residual;
  linear(ctx, rec, out);
  stages.end("linear out");
}

// FFN of one layer: QRWKV6 SwiGLU or RWKV-6 channel mix; `a` holds the normalized input.
void ffn(Context& ctx, Recorder& rec, Stages& stages, const Model& m, StateStore& st, Scratch& s,
         uint32_t l, uint32_t slot, Dims d) {
  const auto& c = m.config();
  const auto& L = m.layer(l);
  const uint64_t n = d.n, C = c.C;
  Tensor a = f32(s.a, Shape{n, C}), x = f32(s.x, Shape{n, C});
  Tensor h = f32(s.f1, Shape{n, c.F});
  if (c.arch == Arch::QRwkv6) {
    stages.collect(ctx, l, StatsInput::FfnGateUp, a);
    LinearArgs up{a, L.ffn_gate, h};
    up.w_up = L.ffn_up;
    up.epilogue = Epilogue::SwiGlu;
    linear(ctx, rec, up);
    stages.end("linear swiglu");
    stages.collect(ctx, l, StatsInput::FfnDown, h);
    LinearArgs down{h, L.ffn_down, x};
    down.epilogue = Epilogue::Residual;
    linear(ctx, rec, down);
    stages.end("linear down");
    return;
  }
  token_shift_lerp(ctx, rec, {a, st.ffn_shift(l, slot, d.B), L.cm_mu, f32(s.c1, Shape{2, n, C}), d.B});
  stages.end("lerp");
  Tensor rr = f32(s.c2, Shape{n, C});
  stages.collect(ctx, l, StatsInput::CmKey, group(s.c1, 0, n, C));
  stages.collect(ctx, l, StatsInput::CmRecept, group(s.c1, 1, n, C));
  linear(ctx, rec, {group(s.c1, 0, n, C), L.cm_key, h});
  linear(ctx, rec, {group(s.c1, 1, n, C), L.cm_recept, rr});
  stages.end("linear key recept");
  elementwise(ctx, rec, {EwOp::ReluSq, h, {}, h});
  stages.end("relu2");
  Tensor vv = f32(s.y, Shape{n, C});
  stages.collect(ctx, l, StatsInput::CmValue, h);
  linear(ctx, rec, {h, L.cm_value, vv});
  stages.end("linear value");
  elementwise(ctx, rec, {EwOp::ResidSigmoidMul, rr, vv, x});
  stages.end("channel-mix out");
  if (c.rescale_every && (l + 1) % c.rescale_every == 0) {
    elementwise(ctx, rec, {EwOp::Scale, x, {}, x, 0.5f});
    stages.end("rescale");
  }
}

}  // namespace

uint32_t profile_queries(const ModelConfig& config) { return 8 + 20 * config.n_layer; }

void record_forward(Recorder& rec, const Model& m, StateStore& st, Scratch& s,
                    const ForwardCall& call) {
  require(call.part < m.parts().size(), ErrorCode::InvalidArgument,
          "forward: part {} of a model in {} parts", call.part, m.parts().size());
  const ModelPart& part = m.parts()[call.part];
  Context& ctx = *part.ctx;
  const auto& c = m.config();
  const Dims d{call.B, call.T, call.B * call.T};
  require(d.n > 0 && d.n <= s.rows, ErrorCode::InvalidArgument,
          "forward: {} x {} tokens exceed the {} rows of the scratch", call.B, call.T, s.rows);
  require(call.first_slot + call.B <= st.slots(), ErrorCode::InvalidArgument,
          "forward: slots [{}, {}) outside the {} state slots", call.first_slot,
          call.first_slot + call.B, st.slots());
  require(!part.head || !call.all_logits || d.n <= s.logits_rows, ErrorCode::InvalidArgument,
          "forward: {} rows of logits requested, the buffer holds {}", d.n, s.logits_rows);
  require(call.all_logits || call.B == 1 || call.T == 1, ErrorCode::InvalidArgument,
          "forward: last-token logits of several multi-token sequences need all_logits");
  require(call.last_rows == 0 || (call.B == 1 && call.last_rows <= d.n &&
                                  (!part.head || call.last_rows <= s.logits_rows)),
          ErrorCode::InvalidArgument,
          "forward: logits of the last {} rows of {} x {} tokens (one sequence, at most {} rows)",
          call.last_rows, call.B, call.T, s.logits_rows);
  require(part.embed ? bool(s.ids) : bool(s.hidden_in), ErrorCode::InvalidArgument,
          "forward: the scratch was not made for part {} (layers [{}, {}))", call.part, part.first,
          part.end);
  const bool q = c.arch == Arch::QRwkv6;
  const NormMode mode = q ? NormMode::Rms : NormMode::Layer;
  const uint64_t n = d.n, C = c.C;
  Tensor x = f32(s.x, Shape{n, C}), a = f32(s.a, Shape{n, C});
  Stages stages{rec, call.profile, call.stats};
  if (call.profile && call.profile->timer) {
    call.profile->used = 0;
    call.profile->labels.clear();
    rec.reset_timer(*call.profile->timer);
    rec.timestamp(*call.profile->timer, call.profile->used++);
  }
  if (part.embed) {
    embed(ctx, rec, {Tensor::of(s.ids, Shape{n}, DType::U32), m.token_embd(), x});
    stages.end("embed");
    if (!q) {  // ln0
      norm(ctx, rec, {mode, x, {}, m.embd_norm_w(), m.embd_norm_b(), x, c.norm_eps});
      stages.end("ln0");
    }
  } else {  // the previous part's residual stream
    rec.copy(s.hidden_in.range(0, n * C * 4), s.x.range(0, n * C * 4));
    stages.end("hidden in");
  }
  for (uint32_t l = part.first; l < part.end; ++l) {
    const auto& L = m.layer(l);
    norm(ctx, rec, {mode, x, {}, L.attn_norm_w, L.attn_norm_b, a, c.norm_eps});
    stages.end("norm");
    time_mix(ctx, rec, stages, m, st, s, l, call.first_slot, d);
    norm(ctx, rec, {mode, x, {}, L.ffn_norm_w, L.ffn_norm_b, a, c.norm_eps});
    stages.end("norm");
    ffn(ctx, rec, stages, m, st, s, l, call.first_slot, d);
  }
  if (!part.head) {  // every row goes on to the next part
    rec.copy(s.x.range(0, n * C * 4), s.hidden_out.range(0, n * C * 4));
    rec.host_barrier();
    return;
  }
  // Head: only the rows whose logits are wanted.
  const uint64_t first = call.last_rows                   ? n - call.last_rows
                         : call.all_logits || call.T == 1 ? 0
                                                          : n - 1;
  const uint64_t rows = n - first;
  Tensor xh = x.rows(first, rows), ah = a.rows(first, rows);
  if (call.hidden) {  // the normalized rows are the output; no head
    require(rows * C <= uint64_t{s.logits_rows} * c.V, ErrorCode::InvalidArgument,
            "forward: {} hidden rows do not fit the logits buffer", rows);
    norm(ctx, rec,
         {mode,
          xh,
          {},
          m.output_norm_w(),
          m.output_norm_b(),
          f32(s.logits, Shape{rows, C}),
          c.norm_eps});
    stages.end("head norm");
    return;
  }
  norm(ctx, rec, {mode, xh, {}, m.output_norm_w(), m.output_norm_b(), ah, c.norm_eps});
  stages.end("head norm");
  if (call.stats) call.stats->record_head(ctx, rec, ah);
  linear(ctx, rec, {ah, m.output(), f32(s.logits, Shape{rows, c.V})});
  stages.end("linear head");
}

}  // namespace vkr
