// bench_quant.cpp: the "quant" bench family: the linear layer over block-quantized weights
// (gemv_q / gemm_q), one row per type. GEMV (decode, T = 1; T = 8 for three types) at 5120 x 5120
// (the QRWKV6-32B r / o projections; --quick: 1024 x 1024) with GB/s counted in QUANTIZED weight
// bytes vs the copy-bandwidth peak; GEMM (prefill) at T = 128 with GFLOP/s vs the FMA peak. Every
// row is verified once on sampled outputs against a double-precision product with
// model/dequant.cpp's decoding.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "dequant.hpp"
#include "harness.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "kernels/linear_case.hpp"
#include "kernels/quant_case.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr::bench {

namespace {

using kernels::Epilogue;

// splitmix64 -> [0, 1): tens of MiB of blocks in well under a second, deterministic.
double hash01(uint64_t i) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1p-53;
}

struct QData {
  std::vector<float> x;
  std::vector<std::byte> w;
  Buffer bx, bw, by;
};

// Random bytes with every block's f16 scale (and min) set to typical values: valid blocks of the
// type whose weights are O(1 / sqrt(K)).
QData make_qdata(Context& ctx, DType dt, uint64_t T, uint64_t N, uint64_t K) {
  QData d;
  d.x.resize(T * K);
  for (uint64_t i = 0; i < d.x.size(); ++i) d.x[i] = static_cast<float>(hash01(i ^ 0x5555) * 2 - 1);
  const BlockLayout bl = dtype_block(dt);
  const uint64_t blocks = N * K / bl.elems;
  d.w.resize(blocks * bl.bytes);
  for (uint64_t i = 0; i < d.w.size(); i += 8) {
    uint64_t z = static_cast<uint64_t>(hash01(i) * 0x1p53);
    for (uint64_t j = 0; j < 8 && i + j < d.w.size(); ++j) {
      d.w[i + j] = static_cast<std::byte>((z >> (8 * j)) & 0xFF);
    }
  }
  const test::HalfFields hf = test::half_fields(dt);
  const float base = test::typical_scale(dt, 2.0f / std::sqrt(static_cast<float>(K)));
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint16_t s = test::f32_to_f16_bits(base * static_cast<float>(0.5 + hash01(b * 3)));
    std::memcpy(&d.w[b * bl.bytes + hf.d], &s, 2);
    if (hf.m != UINT32_MAX) {
      const uint16_t m = test::f32_to_f16_bits(base * static_cast<float>(hash01(b * 3 + 1)));
      std::memcpy(&d.w[b * bl.bytes + hf.m], &m, 2);
    }
  }
  d.bx = test::upload_floats(ctx, d.x);
  d.bw = test::upload_bytes(ctx, d.w, Lifetime::Weights);
  d.by = Buffer::create(ctx, Lifetime::Activations, T * N * 4);
  return d;
}

// NMSE over sampled outputs (first / last rows and a stride; tokens 0, T/2, T-1).
std::string verify(Context& ctx, DType dt, uint64_t T, uint64_t N, uint64_t K, const QData& d) {
  std::vector<float> y(T * N);
  ctx.staging().download(d.by, std::span<float>(y));
  const uint64_t stride = std::max<uint64_t>(1, N / 128), rb = dtype_row_bytes(dt, K);
  std::vector<float> row(K);
  double num = 0, den = 0;
  for (uint64_t o = 0; o < N; o += (o < 8 || o + 8 > N) ? 1 : stride) {
    dequantize_row(static_cast<uint32_t>(test::ggml_of(dt)), d.w.data() + o * rb, row.data(), K);
    for (uint64_t t : {uint64_t{0}, T / 2, T - 1}) {
      double acc = 0;
      for (uint64_t k = 0; k < K; ++k) acc += double{d.x[t * K + k]} * row[k];
      const double diff = acc - y[t * N + o];
      num += diff * diff;
      den += acc * acc;
    }
  }
  const double nmse = den > 0 ? num / den : num;
  if (!(nmse <= 1e-9)) return fmt::format("VERIFY FAILED nmse={:.2e} (limit 1e-9)", nmse);
  return fmt::format("verified nmse={:.1e}", nmse);
}

// One row: `reads` as LinearArgs::reads (0: the device's choice). Returns the median (us), 0 when
// the row was filtered out.
double run_row(Harness& h, DType dt, uint64_t T, uint64_t N, uint64_t K, const char* variant,
               uint32_t reads, double base_us) {
  Context& ctx = h.ctx();
  const bool gemv = T <= kernels::kGemvMaxTokens;
  const char* kernel = gemv ? "gemv_q" : "gemm_q";
  if (!h.selected(kernel, variant)) return 0;
  QData d = make_qdata(ctx, dt, T, N, K);
  kernels::LinearArgs args;
  args.x = Tensor::of(d.bx, Shape{T, K}, DType::F32);
  args.w = Tensor::of(d.bw, Shape{N, K}, dt);
  args.y = Tensor::of(d.by, Shape{T, N}, DType::F32);
  args.reads = reads;
  auto record = [&](Recorder& rec) { kernels::linear(ctx, rec, args); };
  Recorder rec(ctx);
  record(rec);
  ctx.queue().submit(rec).wait();
  Row row;
  row.kernel = kernel;
  row.variant = variant;
  row.dtype = std::string(dtype_name(dt));
  row.shape = {{"T", static_cast<int64_t>(T)},
               {"N", static_cast<int64_t>(N)},
               {"K", static_cast<int64_t>(K)}};
  row.note = verify(ctx, dt, T, N, K, d);
  row.alternative = reads == 1;  // storage reads forced on a CPU device (texel is its default)
  const uint64_t rb = dtype_row_bytes(dt, K);
  row.cpu_ref_us = linear_cpu_ref_us(T, N, K, d.x, [&](uint64_t o, std::span<float> out) {
    dequantize_row(static_cast<uint32_t>(test::ggml_of(dt)), d.w.data() + o * rb, out.data(), K);
  });
  if (!gemv && kernels::choose_gemm_path(ctx.caps(), dt, Epilogue::None) ==
                   kernels::GemmPath::Tiled) {
    const auto t = kernels::pick_tiled_config(ctx.caps(), T, N, Epilogue::None, true);
    row.note += fmt::format(" tile={}x{} block={}x{}", t.bm, t.bn, t.tm, t.tn);
  }
  row.time = h.time(record);
  if (base_us > 0 && row.time.median_us > 0)
    row.note += fmt::format("; {:.2f}x {}", base_us / row.time.median_us,
                            dtype_has_grid(dt) ? "units" : "storage");
  // Quantized bytes: what the kernel must stream (x and y added, as in the float gemv rows).
  row.bytes = static_cast<double>(d.w.size()) + 4.0 * static_cast<double>(T * (K + N));
  row.flops = 2.0 * static_cast<double>(T * N * K);
  row.peak = gemv ? PeakKind::Bandwidth : PeakKind::F32;
  const double us = row.time.median_us;
  h.add(std::move(row));
  return us;
}

void run_case(Harness& h, DType dt, uint64_t T, uint64_t N, uint64_t K) {
  const auto& caps = h.ctx().caps();
  const bool gemv = T <= kernels::kGemvMaxTokens;
  if (!gemv) {
    const auto path = kernels::choose_gemm_path(caps, dt, Epilogue::None);
    run_row(h, dt, T, N, K, path == kernels::GemmPath::Direct ? "direct" : "tiled", 0, 0);
    return;
  }
  const bool cpu = caps.device_type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (cpu && dtype_has_grid(dt)) {
    // The codebook i-quants: per-unit decoding (storage reads keep it) vs the rows-per-lane groups
    // through texel fetches, with the ratio.
    const double units_us = run_row(h, dt, T, N, K, "units", 1, 0);
    run_row(h, dt, T, N, K, "rows_texel", 2, units_us);
    return;
  }
  if (!cpu) {
    run_row(h, dt, T, N, K, "subgroup", 0, 0);
    return;
  }
  // CPU devices: the rows-per-lane layout through storage loads, then through texel fetches (the
  // default there), with the ratio.
  const double storage_us = run_row(h, dt, T, N, K, "rows_storage", 1, 0);
  run_row(h, dt, T, N, K, "rows_texel", 2, storage_us);
}

}  // namespace

void bench_quant(Harness& h) {
  const bool quick = h.options().quick;
  const uint64_t C = quick ? 1024 : 5120;
  for (DType dt : test::kAllQuantTypes) run_case(h, dt, 1, C, C);
  // T = 8: gemv_q's largest token count (decoded weights reused across the tokens).
  for (DType dt : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) run_case(h, dt, 8, C, C);
  for (DType dt : test::kAllQuantTypes) run_case(h, dt, 128, C, C);
}

}  // namespace vkr::bench
