// quantize_iq4.cpp: IQ4_NL / IQ4_XS block encoders, step by step as llama-quantize's (ggml's
// quantize_row_iq4_nl_impl with 7 trial pairs, with or without an importance matrix; see
// quantize.cpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "quantize_blocks.hpp"

namespace vkr::qblocks {
namespace {

// ---- IQ4_NL / IQ4_XS: the non-linear 4-bit code
// --------------------------------------------------

constexpr std::array<int8_t, 16> kIq4Values = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

// Index of the code value nearest to v (the lower one on ties), by bisection as ggml does.
int iq4_index(float v) {
  if (v <= kIq4Values[0]) return 0;
  if (v >= kIq4Values[15]) return 15;
  int lo = 0;
  int hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < kIq4Values[static_cast<size_t>(mid)]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  const float below = kIq4Values[static_cast<size_t>(hi - 1)];
  const float above = kIq4Values[static_cast<size_t>(hi)];
  return v - below < above - v ? hi - 1 : hi;
}

// The scale of one 32-value run (llama-quantize's search, ntry 7, weights w): from the extreme
// value, then 15 trial inverse scales (k - 127) / max, keeping the best weighted least-squares
// fit. 0 for an all-zero run, or when every weight is 0.
float iq4_run_scale(const float* x, const float* w) {
  const float max = signed_absmax(x, 32);
  if (std::fabs(max) < kGroupMaxEps) return 0.0f;
  const auto fit = [&](float id, float& sumqx, float& sumq2) {
    sumqx = 0;
    sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = kIq4Values[static_cast<size_t>(iq4_index(id * x[j]))];
      sumqx += w[j] * q * x[j];
      sumq2 += w[j] * q * q;
    }
  };
  constexpr int kTry = 7;
  float d = -max / kIq4Values[0];
  float sumqx = 0;
  float sumq2 = 0;
  fit(1 / d, sumqx, sumq2);
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kTry; itry <= kTry; ++itry) {
    fit(static_cast<float>(itry + kIq4Values[0]) / max, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// 32 codes of a run for inverse scale id into 16 bytes: value j in the low nibble of byte j,
// value j + 16 in the high one.
void iq4_pack(const float* x, float id, std::byte* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = b8(iq4_index(id * x[j]) | (iq4_index(id * x[j + 16]) << 4));
}

// With importance, ggml weighs by qw * sqrt(sigma2 + x^2) with sigma2 = 2 mean(x^2) over the
// super-block (32 values for IQ4_NL, 256 for IQ4_XS: not over the row as the legacy types do).
float iq4_sigma2(const float* x, int n, const float* qw) {
  return qw != nullptr ? sum_squares(x, n) * (2.f / static_cast<float>(n)) : 0.f;
}
// The fit weights of one run xb: x^2, or with importance (qwb: the run's) as above.
std::array<float, 32> iq4_weights(const float* xb, const float* qwb, float sigma2) {
  std::array<float, 32> w{};
  if (qwb == nullptr) {
    for (size_t j = 0; j < 32; ++j) w[j] = xb[j] * xb[j];
  } else {
    importance_weights(xb, qwb, sigma2, 32, w.data());
  }
  return w;
}

}  // namespace

// IQ4_NL {f16 d; u8 qs[16]}.
void block_iq4_nl(const float* x, std::byte* out, const float* qw) {
  const float d = iq4_run_scale(x, iq4_weights(x, qw, iq4_sigma2(x, 32, qw)).data());
  store_half(out, d);
  iq4_pack(x, d != 0.0f ? 1 / d : 0.0f, out + 2);
}

// IQ4_XS {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: 8 runs of 32 with IQ4_NL's fit, their
// scales quantized to signed 6 bits against the largest (d = -max / 32), codes recomputed with the
// quantized (not yet f16-rounded) run scale.
void block_iq4_xs(const float* x, std::byte* out, const float* qw) {
  std::array<float, 8> scales{};
  float max_scale = 0;
  float amax_scale = 0;
  const float sigma2 = iq4_sigma2(x, kQKK, qw);
  for (int ib = 0; ib < 8; ++ib) {
    const float* qwb = qw != nullptr ? qw + 32 * ib : nullptr;
    const float d = iq4_run_scale(x + 32 * ib, iq4_weights(x + 32 * ib, qwb, sigma2).data());
    scales[static_cast<size_t>(ib)] = d;
    if (std::fabs(d) > amax_scale) {
      amax_scale = std::fabs(d);
      max_scale = d;
    }
  }
  const float d = -max_scale / 32;
  store_half(out, d);
  const float id = d != 0.0f ? 1 / d : 0.0f;
  uint32_t scales_h = 0;
  std::array<uint8_t, 4> scales_l{};
  for (int ib = 0; ib < 8; ++ib) {
    int l = std::clamp(nearest(id * scales[static_cast<size_t>(ib)]), -32, 31);
    const float dl = d * static_cast<float>(l);
    iq4_pack(x + 32 * ib, dl != 0.0f ? 1 / dl : 0.0f, out + 8 + 16 * ib);
    l += 32;
    scales_l[static_cast<size_t>(ib / 2)] |= static_cast<uint8_t>((l & 0xF) << (4 * (ib % 2)));
    scales_h |= static_cast<uint32_t>(l >> 4) << (2 * ib);
  }
  store_u16(out + 2, static_cast<uint16_t>(scales_h));
  std::memcpy(out + 4, scales_l.data(), scales_l.size());
}

}  // namespace vkr::qblocks
