// bench_ops.cpp: the "ops" bench family: one row per block-op kernel (norm, group_norm,
// token_shift ddlerp / lerp, decay, elementwise, embed, argmax, softmax, topk) at QRWKV6-32B widths
// (C = 5120, T in {1, 512}; quick: {1, 64}). Each row is verified once against the CPU reference
// (on a prefix of rows where the reference would be slow), then timed; these kernels are
// bandwidth-bound, so rows report GB/s against the copy peak, except the LoRA ops (ddlerp, decay)
// at T >= 8: small GEMMs, reported against the f32 FMA peak. Every row carries the time of the
// single-threaded CPU reference at the same shape (Row::cpu_ref_us: the LoRA ops' measured on the
// verified rows and scaled to T, the others' on the whole call).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "kernels/col_sumsq.hpp"
#include "kernels/decay.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embed.hpp"
#include "kernels/group_norm.hpp"
#include "kernels/lora_down.hpp"
#include "kernels/norm.hpp"
#include "kernels/sampling.hpp"
#include "kernels/token_shift.hpp"
#include "reference/ops.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr::bench {

namespace {

constexpr uint64_t kC = 5120, kS = 128, kHkv = 8, kDm = 64, kDd = 128, kF = 27648, kV = 152064;
constexpr size_t kVerifyRows = 8;  // rows checked against the (slow, double) CPU reference

using Vec = std::vector<float>;

struct Env {
  Harness& h;
  Context& ctx;
  test::Rng rng{4242};

  Buffer up(const Vec& v) {
    Buffer b =
        Buffer::create(ctx, Lifetime::Activations, v.size() * 4, MemoryUsage::Device, "bench_ops");
    ctx.staging().upload(b, std::span<const float>(v));
    return b;
  }
  Buffer zeros(size_t n) { return up(Vec(n, 0.0f)); }
  Vec down(const Buffer& b, size_t n, size_t first = 0) {
    Vec v(n);
    ctx.staging().download(b, std::span<float>(v), first * 4);
    return v;
  }
  Vec normal(size_t n, float sd = 1.0f) { return rng.normal_vec(n, 0.0f, sd); }
  void run(const std::function<void(Recorder&)>& record) {
    Recorder rec(ctx);
    record(rec);
    ctx.queue().submit(rec).wait();
  }
};

double dbl(uint64_t v) { return static_cast<double>(v); }

Tensor f32(const Buffer& b, Shape s) { return Tensor::of(b, s, DType::F32); }

// "verified nmse=..." or a loud failure; tol is the largest NMSE we accept for the dtype.
std::string verdict(double nmse, double tol) {
  return nmse <= tol ? fmt::format("verified nmse={:.2g}", nmse)
                     : fmt::format("VERIFICATION FAILED nmse={:.3g} (tol {:.1g})", nmse, tol);
}

void add(Env& e, const std::string& kernel, const std::string& variant, std::string dtype,
         std::map<std::string, int64_t> shape, const std::function<void(Recorder&)>& record,
         double bytes, double flops, std::string note, double cpu_ref_us,
         PeakKind peak = PeakKind::Bandwidth, bool alternative = false) {
  Row row;
  row.kernel = kernel;
  row.variant = variant;
  row.dtype = std::move(dtype);
  row.shape = std::move(shape);
  row.time = e.h.time(record);
  row.bytes = bytes;
  row.flops = flops;
  row.peak = peak;
  row.note = std::move(note);
  row.cpu_ref_us = cpu_ref_us;
  row.alternative = alternative;
  e.h.add(std::move(row));
}

void bench_norm(Env& e, uint64_t T) {
  if (!e.h.selected("norm", "rms_fused_add")) return;
  const size_t n = T * kC;
  Vec x = e.normal(n), d = e.normal(n), g = e.normal(kC);
  Buffer bx = e.up(x), bd = e.up(d), bg = e.up(g), by = e.zeros(n);
  kernels::NormArgs a{kernels::NormMode::Rms,
                      f32(bx, {T, kC}),
                      f32(bd, {T, kC}),
                      f32(bg, {kC}),
                      {},
                      f32(by, {T, kC}),
                      1e-6f};
  e.run([&](Recorder& r) { kernels::norm(e.ctx, r, a); });
  Vec xin(n), want(n);
  const double cpu_us = wall_us([&] {
    for (size_t i = 0; i < n; ++i) xin[i] = x[i] + d[i];
    ref::rms_norm(static_cast<int>(T), kC, 1e-6f, xin, g, want);
  });
  const std::string note = verdict(test::nmse(want, e.down(by, n)), 1e-10);
  // x read + delta read + x write + y write.
  add(
      e, "norm", "rms_fused_add", "f32", {{"T", T}, {"C", kC}},
      [&](Recorder& r) { kernels::norm(e.ctx, r, a); }, 16.0 * dbl(n), 0, note, cpu_us);
}

void bench_group_norm(Env& e, uint64_t T) {
  if (!e.h.selected("group_norm", "gate")) return;
  const uint64_t S = 64, H = kC / S;  // RWKV-6 layout (QRWKV6 has no ln_x)
  const size_t n = T * kC;
  Vec y = e.normal(n), g = e.normal(n), ga = e.normal(kC), be = e.normal(kC);
  Buffer by = e.up(y), bg = e.up(g), bga = e.up(ga), bbe = e.up(be), bo = e.zeros(n);
  kernels::GroupNormArgs a{f32(by, {T, kC}),  f32(bga, {kC}),   f32(bbe, {kC}),
                           f32(bg, {T, kC}),  f32(bo, {T, kC}), static_cast<uint32_t>(H),
                           ref::kGroupNormEps};
  e.run([&](Recorder& r) { kernels::group_norm(e.ctx, r, a); });
  Vec want(n);
  const double cpu_us = wall_us([&] {
    ref::group_norm(static_cast<int>(T), H, S, ref::kGroupNormEps, y, ga, be, want);
    for (size_t i = 0; i < n; ++i) want[i] *= g[i];
  });
  const std::string note = verdict(test::nmse(want, e.down(bo, n)), 1e-10);
  add(
      e, "group_norm", "gate", "f32", {{"T", T}, {"H", H}, {"S", S}},
      [&](Recorder& r) { kernels::group_norm(e.ctx, r, a); }, 12.0 * dbl(n), 0, note, cpu_us);
}

void bench_ddlerp(Env& e, uint64_t T) {
  if (!e.h.selected("token_shift", "ddlerp")) return;
  const size_t n = T * kC, D5 = 5 * kDm;
  Vec x = e.normal(n), st = e.normal(kC), mu = e.rng.uniform_vec(kC, 0, 1),
      lam = e.rng.uniform_vec(5 * kC, 0, 1), A = e.normal(D5 * kC, 1.0f / std::sqrt(float(kC))),
      Bm = e.normal(5 * kC * kDm, 0.1f);
  const Shape scr = kernels::lora_scratch_shape(T, kC, D5);
  Buffer bx = e.up(x), bs = e.up(st), bmu = e.up(mu), bl = e.up(lam), ba = e.up(A), bb = e.up(Bm),
         bscr = e.zeros(scr.elements()), bo = e.zeros(5 * n);
  kernels::TokenShiftDdlerpArgs a{f32(bx, {T, kC}), f32(bs, {1, kC}),    f32(bmu, {kC}),
                                  f32(bl, {5, kC}), f32(ba, {D5, kC}),   f32(bb, {5, kC, kDm}),
                                  f32(bscr, scr),   f32(bo, {5, T, kC}), 1};
  e.run([&](Recorder& r) { kernels::token_shift_ddlerp(e.ctx, r, a); });
  // Reference on the first rows only (each output row depends on its prefix alone); its time,
  // scaled to T rows (the reference is linear in T), goes in the note.
  const size_t vr = std::min<size_t>(T, kVerifyRows);
  Vec want(5 * vr * kC), shift = st, got;
  const double ref_us =
      wall_us([&] {
        ref::token_shift_ddlerp({static_cast<int>(vr), kC, kDm}, std::span(x).subspan(0, vr * kC),
                                shift, mu, lam, A, Bm, want);
      }) *
      dbl(T) / dbl(vr);
  for (size_t g = 0; g < 5; ++g) {
    Vec part = e.down(bo, vr * kC, g * n);
    got.insert(got.end(), part.begin(), part.end());
  }
  const std::string note = verdict(test::nmse(want, got), 1e-10);
  // x + 5 outputs + both LoRA matrices + the scratch round trips (xi, x_prev, h); flops: the two
  // LoRA GEMMs. Decode is bandwidth-bound, longer calls are small GEMMs (FMA peak).
  const double bytes = 4.0 * dbl(6 * n + 2 * D5 * kC + 4 * n + 2 * T * D5);
  add(
      e, "token_shift", "ddlerp", "f32", {{"T", T}, {"C", kC}, {"Dm", kDm}},
      [&](Recorder& r) { kernels::token_shift_ddlerp(e.ctx, r, a); }, bytes, 4.0 * dbl(T * kC * D5),
      note, ref_us, T >= 8 ? PeakKind::F32 : PeakKind::Bandwidth);
}

void bench_lerp(Env& e, uint64_t T) {
  if (!e.h.selected("token_shift", "lerp")) return;
  const size_t n = T * kC;
  Vec x = e.normal(n), st = e.normal(kC), mu = e.rng.uniform_vec(2 * kC, 0, 1);
  Buffer bx = e.up(x), bs = e.up(st), bmu = e.up(mu), bo = e.zeros(2 * n);
  kernels::TokenShiftLerpArgs a{f32(bx, {T, kC}), f32(bs, {1, kC}), f32(bmu, {2, kC}),
                                f32(bo, {2, T, kC}), 1};
  e.run([&](Recorder& r) { kernels::token_shift_lerp(e.ctx, r, a); });
  Vec want(n), shift = st;
  // The reference mixes one group; the kernel writes both (G = 2): the second costs the same.
  const double cpu_us = 2.0 * wall_us([&] {
    ref::token_shift_lerp(static_cast<int>(T), kC, x, shift, std::span(mu).subspan(0, kC), want);
  });
  const std::string note = verdict(test::nmse(want, e.down(bo, n)), 1e-12);
  add(
      e, "token_shift", "lerp", "f32", {{"T", T}, {"C", kC}, {"G", 2}},
      [&](Recorder& r) { kernels::token_shift_lerp(e.ctx, r, a); }, 12.0 * dbl(n), 0, note,
      cpu_us);
}

void bench_decay(Env& e, uint64_t T) {
  if (!e.h.selected("decay", "kscale_gqa")) return;
  const size_t n = T * kC, ckv = kHkv * kS, nkv = T * ckv;
  Vec xw = e.normal(n), d0 = e.rng.uniform_vec(kC, -6, 1),
      P = e.normal(kDd * kC, 1.0f / std::sqrt(float(kC))), Q = e.normal(kC * kDd, 0.1f),
      k = e.normal(nkv), v = e.normal(nkv);
  const Shape scr = kernels::lora_scratch_shape(T, kC, kDd);
  Buffer bx = e.up(xw), bd = e.up(d0), bp = e.up(P), bq = e.up(Q), bscr = e.zeros(scr.elements()),
         bl = e.zeros(n), bk = e.up(k), bv = e.up(v), bko = e.zeros(n), bvo = e.zeros(n);
  kernels::DecayArgs a{
      f32(bx, {T, kC}),  f32(bd, {kC}),     f32(bp, {kDd, kC}),       f32(bq, {kC, kDd}),
      f32(bscr, scr),    f32(bl, {T, kC}),  f32(bk, {T, ckv}),        f32(bv, {T, ckv}),
      f32(bko, {T, kC}), f32(bvo, {T, kC}), static_cast<uint32_t>(kS)};
  e.run([&](Recorder& r) { kernels::decay(e.ctx, r, a); });
  const size_t vr = std::min<size_t>(T, kVerifyRows);
  Vec want(vr * kC), krep(vr * kC), kwant(vr * kC);
  const double ref_us = wall_us([&] {
                          ref::decay(static_cast<int>(vr), kC, kDd,
                                     std::span(xw).subspan(0, vr * kC), d0, P, Q, want);
                          ref::repeat_kv(static_cast<int>(vr), kHkv, kC / kS / kHkv, kS,
                                         std::span(k).subspan(0, vr * ckv), krep);
                          ref::scale_keys_one_minus_w(krep, want, kwant);
                        }) *
                        dbl(T) / dbl(vr);
  const double err =
      std::max(test::nmse(want, e.down(bl, vr * kC)), test::nmse(kwant, e.down(bko, vr * kC)));
  const std::string note = verdict(err, 1e-10);
  // xw + logw + P + Q + k, v (Hkv heads) + k_out, v_out (H heads) + h round trip.
  const double bytes = 4.0 * dbl(4 * n + 2 * kDd * kC + 2 * nkv + 2 * T * kDd);
  add(
      e, "decay", "kscale_gqa", "f32", {{"T", T}, {"C", kC}, {"Dd", kDd}},
      [&](Recorder& r) { kernels::decay(e.ctx, r, a); }, bytes, 4.0 * dbl(T * kC * kDd), note,
      ref_us, T >= 8 ? PeakKind::F32 : PeakKind::Bandwidth);
}

void bench_elementwise(Env& e, uint64_t T) {
  if (!e.h.selected("elementwise", "silu_mul")) return;
  const size_t n = T * kF;  // the SwiGLU product at the FFN width
  Vec g = e.normal(n), u = e.normal(n);
  Buffer bg = e.up(g), bu = e.up(u), bo = e.zeros(n);
  kernels::ElementwiseArgs a{kernels::EwOp::SiluMul, f32(bg, {T, kF}), f32(bu, {T, kF}),
                             f32(bo, {T, kF})};
  e.run([&](Recorder& r) { kernels::elementwise(e.ctx, r, a); });
  Vec want(n);
  const double cpu_us = wall_us([&] { ref::swiglu(g, u, want); });
  const std::string note = verdict(test::nmse(want, e.down(bo, n)), 1e-10);
  add(
      e, "elementwise", "silu_mul", "f32", {{"T", T}, {"F", kF}},
      [&](Recorder& r) { kernels::elementwise(e.ctx, r, a); }, 12.0 * dbl(n), 0, note, cpu_us);
}

// The imatrix statistics of one matrix input (`vkrwkv imatrix` runs one per projection).
void bench_col_sumsq(Env& e, uint64_t T) {
  if (!e.h.selected("col_sumsq", "f32")) return;
  const size_t n = T * kC;
  Vec x = e.normal(n);
  Buffer bx = e.up(x), bacc = e.zeros(kC);
  kernels::ColSumsqArgs a{f32(bx, {T, kC}), f32(bacc, {kC})};
  e.run([&](Recorder& r) { kernels::col_sumsq(e.ctx, r, a); });
  Vec want(kC, 0.0f);
  const double cpu_us = wall_us([&] { ref::col_sumsq(int(T), int(kC), x, want); });
  const std::string note = verdict(test::nmse(want, e.down(bacc, kC)), 1e-10);
  // x read + acc read and written.
  add(
      e, "col_sumsq", "f32", "f32", {{"T", T}, {"K", kC}},
      [&](Recorder& r) { kernels::col_sumsq(e.ctx, r, a); }, 4.0 * dbl(n) + 8.0 * kC, 2.0 * dbl(n),
      note, cpu_us);
}

void bench_embed(Env& e, uint64_t T) {
  if (!e.h.selected("embed", "bf16")) return;
  if (!e.ctx.caps().fp16_storage) return;
  // The full 152064-row table is 1.5 GiB; a 16384-row slice keeps the bench light, and the kernel's
  // cost per window does not depend on V beyond the window loop (documented in the note).
  const uint64_t V = 16384;
  std::vector<uint16_t> table(V * kC);
  Vec table_f(V * kC);
  for (size_t i = 0; i < table.size(); ++i) {
    table[i] = static_cast<uint16_t>(0x3C00u +
                                     (i * 2654435761u >> 20) % 0x400u);  // bf16 in [0.0078, 0.0156)
    const uint32_t bits = static_cast<uint32_t>(table[i]) << 16;
    std::memcpy(&table_f[i], &bits, 4);
  }
  std::vector<int32_t> ids(T);
  for (auto& id : ids) id = e.rng.uniform_int(0, static_cast<int>(V) - 1);
  Buffer bt =
      Buffer::create(e.ctx, Lifetime::Weights, table.size() * 2, MemoryUsage::Device, "embed");
  e.ctx.staging().upload(bt, std::span<const uint16_t>(table));
  Buffer bi = Buffer::create(e.ctx, Lifetime::Activations, T * 4, MemoryUsage::Device, "ids");
  e.ctx.staging().upload(bi, std::span<const int32_t>(ids));
  Buffer bo = e.zeros(T * kC);
  kernels::EmbedArgs a{Tensor::of(bi, {T}, DType::I32), Tensor::of(bt, {V, kC}, DType::BF16),
                       f32(bo, {T, kC})};
  e.run([&](Recorder& r) { kernels::embed(e.ctx, r, a); });
  Vec want(T * kC);
  const double cpu_us =
      wall_us([&] { ref::embedding(static_cast<int>(V), kC, ids, table_f, want); });
  const std::string note =
      verdict(test::nmse(want, e.down(bo, T * kC)), 0.0) + fmt::format(" V={} of {}", V, kV);
  add(
      e, "embed", "bf16", "bf16", {{"T", T}, {"C", kC}},
      [&](Recorder& r) { kernels::embed(e.ctx, r, a); }, dbl(T * kC * 6 + T * 4), 0, note,
      cpu_us);
}

void bench_sampling(Env& e, uint64_t rows) {
  const size_t n = rows * kV;
  Vec l = e.normal(n, 3.0f);
  Buffer bl = e.up(l), bp = e.zeros(n);
  Buffer bi = Buffer::create(e.ctx, Lifetime::Activations, rows * 4, MemoryUsage::Device, "ids");
  // "row": one workgroup per row (sampling.comp, CPU devices' path); "split": each row over
  // V / 4096 workgroups (sampling_split.comp, GPUs' path for few rows), forced so both are timed
  // on every device.
  const uint32_t block = 4096;
  Buffer bs = Buffer::create(e.ctx, Lifetime::Activations,
                             kernels::sampling_scratch_bytes_forced(rows, kV, block),
                             MemoryUsage::Device, "partials");
  // One argmax row: run, verify against the reference (timed as the CPU baseline), time.
  auto bench_argmax = [&](const char* variant, const kernels::ArgmaxArgs& a, bool alt) {
    e.ctx.staging().upload(bi, std::span<const uint32_t>(std::vector<uint32_t>(rows, ~0u)));
    e.run([&](Recorder& r) { kernels::argmax(e.ctx, r, a); });
    std::vector<uint32_t> got(rows);
    e.ctx.staging().download(bi, std::span<uint32_t>(got));
    bool ok = true;
    const double cpu_us = wall_us([&] {
      for (size_t r = 0; r < rows; ++r) {
        ok &= got[r] == static_cast<uint32_t>(ref::argmax(std::span(l).subspan(r * kV, kV)));
      }
    });
    add(
        e, "argmax", variant, "f32", {{"rows", rows}, {"V", kV}},
        [&](Recorder& r) { kernels::argmax(e.ctx, r, a); }, 4.0 * dbl(n), 0,
        ok ? "verified exact" : "VERIFICATION FAILED: wrong index", cpu_us, PeakKind::Bandwidth,
        alt);
  };
  for (const char* variant : {"row", "split"}) {
    const bool split = std::string_view(variant) == "split";
    // The session splits rows where sampling_scratch_bytes() asks for a scratch (GPUs).
    const bool alt = split == (kernels::sampling_scratch_bytes(e.ctx, rows, kV) == 0);
    const kernels::SamplingSplit sp =
        split ? kernels::SamplingSplit{Tensor::of(bs, {bs.size() / 4}, DType::U32), block}
              : kernels::SamplingSplit{};
    if (e.h.selected("argmax", variant)) {
      bench_argmax(variant, {f32(bl, {rows, kV}), Tensor::of(bi, {rows}, DType::U32), sp}, alt);
    }
    if (e.h.selected("softmax", variant)) {
      kernels::SoftmaxArgs a{f32(bl, {rows, kV}), f32(bp, {rows, kV}), 0.8f, sp};
      e.ctx.staging().upload(bp, std::span<const float>(Vec(n, 0.0f)));
      e.run([&](Recorder& r) { kernels::softmax(e.ctx, r, a); });
      Vec want(n), scaled(kV);
      const double cpu_us = wall_us([&] {
        for (size_t r = 0; r < rows; ++r) {
          for (size_t i = 0; i < kV; ++i) scaled[i] = l[r * kV + i] / 0.8f;
          ref::softmax(scaled, std::span(want).subspan(r * kV, kV));
        }
      });
      const std::string note = verdict(test::nmse(want, e.down(bp, n)), 1e-10);
      // Three passes read the row (max, sum, write), one writes it ("split": two reads, a write).
      add(
          e, "softmax", variant, "f32", {{"rows", rows}, {"V", kV}},
          [&](Recorder& r) { kernels::softmax(e.ctx, r, a); }, (split ? 12.0 : 16.0) * dbl(n), 0,
          note, cpu_us, PeakKind::Bandwidth, alt);
    }
  }
  // The one-workgroup argmax with each read path forced ("row" above is the automatic choice:
  // texel reads on CPU devices, storage reads on GPUs).
  const bool cpu = e.ctx.caps().device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  for (uint32_t reads : {1u, 2u}) {
    const char* variant = reads == 1 ? "row_storage" : "row_texel";
    if (!e.h.selected("argmax", variant)) continue;
    bench_argmax(variant, {f32(bl, {rows, kV}), Tensor::of(bi, {rows}, DType::U32), {}, reads},
                 cpu == (reads == 1));
  }
  // topk likewise: "split" = topk_split.comp (per-block histograms, ~10 dispatches).
  Buffer bts = Buffer::create(e.ctx, Lifetime::Activations,
                              kernels::topk_scratch_bytes_forced(rows, kV, block),
                              MemoryUsage::Device, "topk partials");
  for (const char* variant : {"row", "split"}) {
    if (!e.h.selected("topk", variant)) continue;
    constexpr uint32_t kK = 104;  // the sampler's default: top_k 40 + 64 penalized ids
    Buffer bv = e.zeros(rows * kK);
    Buffer bk = Buffer::create(e.ctx, Lifetime::Activations, rows * kK * 4, MemoryUsage::Device,
                               "topk ids");
    const bool split = std::string_view(variant) == "split";
    kernels::TopkArgs a{f32(bl, {rows, kV}), Tensor::of(bk, {rows, kK}, DType::U32),
                        f32(bv, {rows, kK}),
                        split ? kernels::SamplingSplit{
                                    Tensor::of(bts, {bts.size() / 4}, DType::U32), block}
                              : kernels::SamplingSplit{}};
    e.ctx.staging().upload(bk, std::span<const uint32_t>(std::vector<uint32_t>(rows * kK, ~0u)));
    e.run([&](Recorder& r) { kernels::topk(e.ctx, r, a); });
    std::vector<uint32_t> got(rows * kK);
    e.ctx.staging().download(bk, std::span<uint32_t>(got));
    bool ok = true;  // every returned logit is >= the row's K-th largest (values are distinct)
    double cpu_us = 0;  // the reference's selection (copy + nth_element), not the check
    for (size_t r = 0; r < rows; ++r) {
      Vec row;
      cpu_us += wall_us([&] {
        row.assign(l.begin() + static_cast<ptrdiff_t>(r * kV),
                   l.begin() + static_cast<ptrdiff_t>((r + 1) * kV));
        std::nth_element(row.begin(), row.begin() + (kK - 1), row.end(), std::greater<>());
      });
      for (size_t i = 0; i < kK; ++i) {
        ok &= got[r * kK + i] < kV && l[r * kV + got[r * kK + i]] >= row[kK - 1];
      }
    }
    // Five passes read the row (4 radix passes + compaction's count and write walks ~ 6).
    add(
        e, "topk", variant, "f32", {{"rows", rows}, {"V", kV}, {"K", kK}},
        [&](Recorder& r) { kernels::topk(e.ctx, r, a); }, 24.0 * dbl(n), 0,
        ok ? "verified exact set" : "VERIFICATION FAILED: wrong ids", cpu_us, PeakKind::Bandwidth,
        true);  // sessions sample on the host (Session::gpu_topk_pays(): measured faster)
  }
}

}  // namespace

void bench_ops(Harness& h) {
  Env e{h, h.ctx()};
  const std::vector<uint64_t> tokens =
      h.options().quick ? std::vector<uint64_t>{1, 64} : std::vector<uint64_t>{1, 512};
  for (uint64_t T : tokens) {
    bench_norm(e, T);
    bench_group_norm(e, T);
    bench_ddlerp(e, T);
    bench_lerp(e, T);
    bench_decay(e, T);
    bench_elementwise(e, T);
    bench_col_sumsq(e, T);
    bench_embed(e, T);
  }
  bench_sampling(e, 1);
}

}  // namespace vkr::bench
