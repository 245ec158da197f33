// bench_wkv.cpp: the "wkv" bench family: sequential (wkv_decode), chunked (wkv_prefill, one
// workgroup walking each head's chunks) and chunked_par (wkv_chunkpar, chunk-parallel three-pass)
// rows over T, B and S at H = 40 (S = 64: RWKV-6 mode as Finch 3B; S = 128: Gla mode as
// QRWKV6-32B), each chunked row's speed-up over the sequential one in its note. chunked_par_l64 is
// chunked_par with 64-token chunks instead of the default (to settle the default on GPUs). Each row
// is verified once: two heads of the GPU result (first and last (b, h)) against the CPU sequential
// reference.
//
// bytes: r, k, v, logw, y (B*T*H*S*4 each, f32) + the state read and written (2*B*H*S*S*4); the
//   chunk-parallel kernel's scratch traffic (~4*S*S*4 per chunk and head) is not counted.
// flops: 5*S^2 per token and head for every variant, the sequential algorithm's work (update
//   M = w*M + k*v: 3 flops per entry; output sum_i r_i M_ij: 2), so GFLOP/s compare directly.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kernels/wkv.hpp"
#include "kernels/wkv_chunkpar.hpp"
#include "kernels/wkv_decode.hpp"
#include "kernels/wkv_prefill.hpp"
#include "reference/wkv6.hpp"
#include "vkr/buffer.hpp"
#include "vkr/error.hpp"
#include "vkr/staging.hpp"

namespace vkr::bench {

namespace {

using kernels::WkvMode;

struct Shape4 {
  int B, T, H, S;
};

// Inputs on host and device. Deterministic values (no Rng dependency on tests/support).
struct Data {
  std::vector<float> r, k, v, logw, u, state0;
  Buffer br, bk, bv, bw, bu, bstate, by;
  Buffer scratch;  // chunk-parallel workspace (wkv_chunkpar_scratch_bytes)
  uint64_t scratch_bytes = 0;
};

float unit(uint64_t i) {  // splitmix64 -> [-1, 1)
  uint64_t z = i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

Buffer upload(Context& ctx, const std::vector<float>& x) {
  Buffer b = Buffer::create(ctx, Lifetime::Activations, x.size() * 4, MemoryUsage::Device, "wkv");
  ctx.staging().upload(b, std::span<const float>(x));
  return b;
}

Data make_data(Context& ctx, const Shape4& s) {
  const size_t act = static_cast<size_t>(s.B) * s.T * s.H * s.S;
  const size_t st = static_cast<size_t>(s.B) * s.H * s.S * s.S;
  Data d;
  d.r.resize(act), d.k.resize(act), d.v.resize(act), d.logw.resize(act);
  for (size_t e = 0; e < act; ++e) {
    d.r[e] = unit(4 * e), d.k[e] = unit(4 * e + 1), d.v[e] = unit(4 * e + 2);
    d.logw[e] = -std::exp(3.5f * unit(4 * e + 3) - 2.5f);  // typical checkpoint log-decays
  }
  d.u.resize(static_cast<size_t>(s.H) * s.S);
  for (size_t e = 0; e < d.u.size(); ++e) d.u[e] = unit(e ^ 0xABCDEF);
  d.state0.resize(st);
  for (size_t e = 0; e < st; ++e) d.state0[e] = 0.1f * unit(e ^ 0x13579);
  d.br = upload(ctx, d.r), d.bk = upload(ctx, d.k), d.bv = upload(ctx, d.v);
  d.bw = upload(ctx, d.logw), d.bu = upload(ctx, d.u), d.bstate = upload(ctx, d.state0);
  d.by = Buffer::create(ctx, Lifetime::Activations, act * 4, MemoryUsage::Device, "wkv_y");
  d.scratch_bytes = kernels::wkv_chunkpar_scratch_bytes(ctx.caps(), s.B, s.T, s.H, s.S);
  d.scratch = Buffer::create(ctx, Lifetime::Activations, d.scratch_bytes, MemoryUsage::Device,
                             "wkv_scratch");
  return d;
}

kernels::WkvArgs make_args(const Data& d, const Shape4& s, WkvMode mode) {
  const uint64_t B = s.B, T = s.T, H = s.H, S = s.S;
  const Shape act{B, T, H, S};
  kernels::WkvArgs a;
  a.mode = mode;
  a.r = Tensor::of(d.br, act, DType::F32);
  a.k = Tensor::of(d.bk, act, DType::F32);
  a.v = Tensor::of(d.bv, act, DType::F32);
  a.logw = Tensor::of(d.bw, act, DType::F32);
  a.u = Tensor::of(d.bu, Shape{H, S}, DType::F32);
  a.state = Tensor::of(d.bstate, Shape{B, H, S, S}, DType::F32);
  a.y = Tensor::of(d.by, act, DType::F32);
  a.scale = kernels::wkv_default_scale(mode, static_cast<uint32_t>(S));
  a.scratch = Tensor::of(d.scratch, Shape{d.scratch_bytes / 4}, DType::F32);
  return a;
}

// Heads (0, 0) and (B-1, H-1) of the GPU y/state vs the CPU reference on just that head;
// `ref_us` gets the reference's time for all B x H heads (the two timed, scaled).
std::string verify(Context& ctx, const Data& d, const Shape4& s, WkvMode mode, double& ref_us) {
  std::vector<float> y(d.r.size()), state(d.state0.size());
  ctx.staging().download(d.by, std::span<float>(y));
  ctx.staging().download(d.bstate, std::span<float>(state));
  double num = 0, den = 0;
  ref_us = 0;
  const size_t S = static_cast<size_t>(s.S), row = static_cast<size_t>(s.H) * S;
  for (auto [b, h] : {std::pair{0, 0}, std::pair{s.B - 1, s.H - 1}}) {
    std::vector<float> r, k, v, w, yr(static_cast<size_t>(s.T) * S), yg;
    for (int t = 0; t < s.T; ++t) {
      const size_t at = (static_cast<size_t>(b) * s.T + t) * row + static_cast<size_t>(h) * S;
      r.insert(r.end(), d.r.begin() + at, d.r.begin() + at + S);
      k.insert(k.end(), d.k.begin() + at, d.k.begin() + at + S);
      v.insert(v.end(), d.v.begin() + at, d.v.begin() + at + S);
      w.insert(w.end(), d.logw.begin() + at, d.logw.begin() + at + S);
      yg.insert(yg.end(), y.begin() + at, y.begin() + at + S);
    }
    const size_t st = (static_cast<size_t>(b) * s.H + h) * S * S;
    std::vector<float> u(d.u.begin() + h * S, d.u.begin() + (h + 1) * S);
    std::vector<float> m(d.state0.begin() + st, d.state0.begin() + st + S * S);
    const ref::WkvMode rm = mode == WkvMode::Gla ? ref::WkvMode::Gla : ref::WkvMode::Rwkv6;
    ref_us += wall_us([&] {
      ref::wkv_sequential(rm, {1, s.T, 1, s.S}, kernels::wkv_default_scale(mode, s.S), r, k, v, w,
                          u, m, yr);
    });
    for (size_t e = 0; e < yr.size(); ++e) num += std::pow(yr[e] - yg[e], 2), den += yr[e] * yr[e];
    for (size_t e = 0; e < m.size(); ++e)
      num += std::pow(m[e] - state[st + e], 2), den += static_cast<double>(m[e]) * m[e];
  }
  ref_us *= static_cast<double>(s.B) * s.H / 2.0;
  const double nmse = den > 0 ? num / den : num;
  if (!(nmse < 1e-9)) return fmt::format("VERIFY FAILED nmse={:.2e}", nmse);
  return fmt::format("verified nmse={:.0e}", nmse);
}

using kernels::WkvKernel;

// Bench variants: the three kernels, plus chunked_par at L = 16 and 64 (the default is 32).
struct Variant {
  const char* name;
  WkvKernel kernel;
  uint32_t l = 0;  // chunk length of chunked_par (0: the device's default)
};
constexpr Variant kVariants[] = {{"sequential", WkvKernel::Decode},
                                 {"chunked", WkvKernel::Prefill},
                                 {"chunked_par", WkvKernel::ChunkPar},
                                 {"chunked_par_l16", WkvKernel::ChunkPar, 16},
                                 {"chunked_par_l64", WkvKernel::ChunkPar, 64}};

// Runs one variant: verify once, then time. Returns the row (empty when not selected).
std::optional<Row> run_variant(Harness& h, const Shape4& s, WkvMode mode, const Variant& var,
                               Data& d) {
  const char* variant = var.name;
  const WkvKernel kernel = var.kernel;
  if (!h.selected("wkv", variant)) return std::nullopt;
  Context& ctx = h.ctx();
  const kernels::WkvArgs args = make_args(d, s, mode);
  const std::optional<kernels::WkvChunkParConfig> config =
      var.l ? std::optional(kernels::wkv_chunkpar_config(ctx.caps(), s.S, var.l)) : std::nullopt;
  auto record = [&](Recorder& rec) {
    if (kernel == WkvKernel::Prefill) {
      kernels::wkv_prefill(ctx, rec, args);
    } else if (kernel == WkvKernel::ChunkPar) {
      kernels::wkv_chunkpar(ctx, rec, args, config);
    } else {
      kernels::wkv_decode(ctx, rec, args);
    }
  };
  ctx.staging().upload(d.bstate, std::span<const float>(d.state0));
  {
    Recorder rec(ctx);
    record(rec);
    ctx.queue().submit(rec).wait();
  }
  Row row;
  row.kernel = "wkv";
  row.variant = variant;
  row.dtype = "f32";
  row.shape = {{"B", s.B}, {"T", s.T}, {"H", s.H}, {"S", s.S}};
  row.note = verify(ctx, d, s, mode, row.cpu_ref_us);
  row.time = h.time(record);  // the state keeps evolving across reps: same work, finite values
  const double act = static_cast<double>(s.B) * s.T * s.H * s.S * 4;
  row.bytes = 5 * act + 2.0 * s.B * s.H * s.S * s.S * 4;
  row.flops = 5.0 * s.B * s.T * s.H * s.S * s.S;
  row.peak = PeakKind::F32;
  return row;
}

// Each chunk-parallel pass timed alone (default tiling; timing only, the scratch and state are
// not what a full call leaves), only when --filter names "cp_pass" (finding the costly pass).
void run_passes(Harness& h, const Shape4& s, WkvMode mode, Data& d) {
  if (h.options().filter.find("cp_pass") == std::string::npos) return;
  Context& ctx = h.ctx();
  const kernels::WkvArgs args = make_args(d, s, mode);
  constexpr const char* kNames[] = {"cp_pass_states", "cp_pass_scan", "cp_pass_output"};
  for (uint32_t bit = 0; bit < 3; ++bit) {
    const uint32_t l = kernels::wkv_chunkpar_default_length(ctx.caps(), static_cast<uint32_t>(s.T));
    kernels::WkvChunkParConfig config = kernels::wkv_chunkpar_config(ctx.caps(), s.S, l);
    config.passes = 1u << bit;
    Row row;
    row.kernel = "wkv";
    row.variant = kNames[bit];
    row.dtype = "f32";
    row.shape = {{"B", s.B}, {"T", s.T}, {"H", s.H}, {"S", s.S}};
    row.note = fmt::format("timing only, L={}", config.l);
    row.time = h.time([&](Recorder& rec) { kernels::wkv_chunkpar(ctx, rec, args, config); });
    row.flops = 5.0 * s.B * s.T * s.H * s.S * s.S;
    row.peak = PeakKind::F32;
    h.add(std::move(row));
  }
}

void run_case(Harness& h, const Shape4& s) {
  const WkvMode mode = s.S == 64 ? WkvMode::Rwkv6 : WkvMode::Gla;
  Data d = make_data(h.ctx(), s);
  const WkvKernel policy = kernels::choose_wkv_kernel(h.ctx().caps(), s.B, s.H, s.T, s.S);
  double seq_us = 0;  // the sequential row's median, for the ratios
  for (const Variant& var : kVariants) {
    std::optional<Row> row;
    try {
      row = run_variant(h, s, mode, var, d);
    } catch (const Error& e) {  // a device limit at this shape: report it, time the other rows
      fmt::print(stderr, "wkv {} B={} T={} H={} S={}: skipped: {}\n", var.name, s.B, s.T, s.H,
                 s.S, e.what());
      continue;
    }
    if (!row) continue;
    const WkvKernel k = var.kernel;
    if (k == WkvKernel::Decode) seq_us = row->time.median_us;
    if (k != WkvKernel::Decode && seq_us > 0 && row->time.median_us > 0)
      row->note += fmt::format("; {:.2f}x sequential", seq_us / row->time.median_us);
    if (k == policy && var.l == 0) {
      row->note += "; policy";
    } else {
      row->alternative = true;
    }
    h.add(std::move(*row));
  }
  run_passes(h, s, mode, d);
}

}  // namespace

void bench_wkv(Harness& h) {
  const bool quick = h.options().quick;
  const std::vector<int> ts =
      quick ? std::vector<int>{1, 16, 64, 1024} : std::vector<int>{1, 16, 64, 256, 1024, 4096};
  const std::vector<int> bs = quick ? std::vector<int>{1} : std::vector<int>{1, 8};
  const std::vector<int> ss = quick ? std::vector<int>{128} : std::vector<int>{64, 128};
  for (int S : ss)
    for (int B : bs)
      for (int T : ts) run_case(h, {B, T, 40, S});  // B=1, T=1024, S=128 is in both lists
}

}  // namespace vkr::bench
