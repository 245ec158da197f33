// quantize_blocks.hpp: what the block encoders of model/quantize*.cpp share (byte stores, ggml's
// rounding, the signed extreme of a group, the scale fits, the importance weights) and the
// encoders quantize.cpp dispatches to. Internal to vkr_quantize.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dequant.hpp"
#include "gguf_writer.hpp"

namespace vkr::qblocks {

inline constexpr int kQK = 32;    // elements per block of the legacy types
inline constexpr int kQKK = 256;  // elements per K-quant super-block
// Below this a group counts as all zeros (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// ggml's nearest_int, bit for bit: adding 1.5 * 2^23 leaves v rounded to nearest (ties to even)
// in the low mantissa bits for |v| < 2^22, the range of every value in practice. Beyond it (a
// near-degenerate weighted fit can divide by almost nothing) ggml gets other, still deterministic,
// integers; computing them the same way keeps even those bytes equal to ggml's.
inline int nearest(float v) {
  const auto bits = std::bit_cast<uint32_t>(v + 12582912.f);
  return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

inline void store_u16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v & 0xFF);
  p[1] = static_cast<std::byte>(v >> 8);
}
inline void store_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}
inline void store_half(std::byte* p, float v) { store_u16(p, gguf::float_to_half(v)); }
inline uint16_t load_u16(const std::byte* p) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(p[0]) |
                               (std::to_integer<uint16_t>(p[1]) << 8));
}
// The value a scale has once stored as f16 (the later steps use the stored one, as decode does).
inline float as_stored_half(float v) { return half_to_float(gguf::float_to_half(v)); }
inline std::byte b8(int v) { return static_cast<std::byte>(static_cast<uint8_t>(v)); }

// The element of largest magnitude, with its sign (the first one on ties).
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Sum of x^2 in ggml's order (one float accumulator, first to last).
inline float sum_squares(const float* x, int64_t n) {
  float s = 0;
  for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
  return s;
}

// The weight ggml's imatrix quantizers give value j: its importance times sqrt(sigma2 + x^2), so
// a value counts by how much it matters to the activations (qw) and by its size relative to the
// typical one (sigma2, a mean of x^2 whose span and factor each quantizer picks).
inline void importance_weights(const float* x, const float* qw, float sigma2, int n, float* w) {
  for (int j = 0; j < n; ++j) w[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// 32 4-bit codes into 16 bytes: code j in the low nibble of byte j, code j + 16 in the high one.
inline void pack_nibbles(const uint8_t* L, std::byte* qs) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = b8(L[j] | (L[j + kQK / 2] << 4));
}
// 32 5-bit codes of Q5_0 / Q5_1: the low nibbles as pack_nibbles, the 5th bit of code j in bit j
// of the u32 at qh.
inline void pack_q5(const uint8_t* L, std::byte* qh, std::byte* qs) {
  uint32_t bits = 0;
  std::array<uint8_t, kQK> low{};
  for (size_t j = 0; j < kQK; ++j) {
    bits |= static_cast<uint32_t>((L[j] >> 4) & 1) << j;
    low[j] = static_cast<uint8_t>(L[j] & 0xF);
  }
  store_u32(qh, bits);
  pack_nibbles(low.data(), qs);
}

// ---- scale fits shared by the reference and the importance-weighted encoders (quantize_fits.cpp)

// Asymmetric fit (ggml's make_qkx2_quants / make_qkx3_quants): codes 0..nmax, x ~ scale * L - m
// with m = *neg_min >= 0, weighted least squares over a grid of nstep + 1 trial scales.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    float rmin, float rdelta, int nstep, bool use_mad = false);
// Symmetric fit (ggml's make_qx_quants, rmse_type 1): codes -nmax..nmax-1 stored as 0..2 nmax - 1,
// weights qw, or x^2 when qw is null.
float fit_symmetric(int n, int nmax, const float* x, int8_t* L, const float* qw = nullptr);
// Q3_K's reference group fit (ggml's make_q3_quants with do_rmse): 16 values, codes 0..7.
float fit_q3(const float* x, int8_t* L);
// Non-negative values to codes 0..nmax with one scale (ggml's make_qp_quants): how the K-quants
// quantize their group scales and mins to 4 / 6 bits when given an imatrix. Codes are stored as
// uint8_t even where ggml's int would be negative (it stores them the same way).
float fit_positive(int n, int nmax, const float* x, uint8_t* L, const float* w);

// ---- the K-quant layouts (quantize_kquants.cpp) and the importance-weighted scale selection
// (quantize_weighted.cpp)

// Q4_K / Q5_K's 12-byte field of eight 6-bit (scale, min) pairs.
void pack_scale_mins(const uint8_t* ls, const uint8_t* lm, uint8_t* s);
// Q2_K: per group of 16 the (scale, min) fit and its 4-bit codes; writes scales[16], d, dmin of
// the block at `out` and the group codes into L.
void q2_k_fit_weighted(const float* x, const float* qw, std::byte* out, uint8_t* L);
// Q3_K: the 16 group scales as 6-bit codes 0..63 (l6) and the block scale; group codes into L.
float q3_k_fit_weighted(const float* x, const float* qw, uint8_t* l6, int8_t* L);
// Q4_K (nmax 15) / Q5_K (nmax 31): the eight (scale, min) 6-bit codes and d, dmin; codes into L.
void k_fit_weighted(const float* x, const float* qw, int nmax, uint8_t* ls, uint8_t* lm, float& d,
                    float& dmin, uint8_t* L);

// Encodes `n` values (one whole row) with importance `qw` (one weight per value) as ggml's
// quantize_<type> does with an imatrix. False for a type whose ggml quantizer ignores the
// importance (the caller then runs the reference encoder).
bool quantize_row_weighted(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                           const float* qw);

// One block of `x` (32 or 256 values) into `out`, as ggml's reference quantizers write it, or with
// importance `qw` (the block's weights; null: the reference path) as its imatrix path does.
// quantize_kquants.cpp:
void block_q2_k(const float* x, std::byte* out, const float* qw = nullptr);
void block_q3_k(const float* x, std::byte* out, const float* qw = nullptr);
void block_q4_k(const float* x, std::byte* out, const float* qw = nullptr);
void block_q5_k(const float* x, std::byte* out, const float* qw = nullptr);
void block_q6_k(const float* x, std::byte* out, const float* qw = nullptr);
// quantize_iq4.cpp:
void block_iq4_nl(const float* x, std::byte* out, const float* qw = nullptr);
void block_iq4_xs(const float* x, std::byte* out, const float* qw = nullptr);
// quantize_iq_grid.cpp: the codebook i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (n a
// multiple of 256; qw: one weight per value, or null). False for other types; throws
// InvalidArgument for IQ2_XXS / IQ2_XS without weights (iq_grid_needs_importance).
bool quantize_row_iq_grid(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                          const float* qw);
bool iq_grid_needs_importance(uint32_t ggml_type);
// quantize_iq1.cpp: IQ1_S / IQ1_M, likewise (IQ1_S throws without weights).
bool quantize_row_iq1(uint32_t ggml_type, const float* x, std::byte* dst, uint64_t n,
                      const float* qw);

}  // namespace vkr::qblocks
