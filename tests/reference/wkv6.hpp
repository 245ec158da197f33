// CPU references for the WKV6 / GLA recurrences: token by token (spec §3.4) and chunked (§5).
#pragma once

#include <span>

namespace vkr::ref {

// Rwkv6: y_t = r_t^T (M_{t-1} + diag(u) k_t v_t^T),  then M_t = diag(w_t) M_{t-1} + k_t v_t^T.
// Gla:   M_t = diag(w_t) M_{t-1} + k_t v_t^T,         then y_t = r_t^T M_t  (reads the UPDATED
// state). Both multiply y by `scale` (Gla uses S^-1/2, Rwkv6 uses 1).
enum class WkvMode { Rwkv6, Gla };

// B sequences, T tokens per call, H heads, S head size.
struct WkvShape {
  int B, T, H, S;
};

// Common contract of both functions (all float, row-major):
//   r, k, v, logw: (B, T, H, S); logw = log-decay <= 0, i.e. w = exp(logw), passed as a log so
//                  the chunked form never has to take log(w) (spec §5.1).
//   u:             (H, S) bonus; required for Rwkv6, ignored for Gla (may be empty).
//                  For Gla, k is used as given: the caller has already multiplied it by (1 - w).
//   state:         (B, H, S, S) in/out, [b][h][i][j], i = key row, j = value column (spec §3.4).
//   y:             (B, T, H, S) out.
// Each sequence b starts from its own state slice and leaves M_{T-1} there. Internally everything
// is accumulated in double. Throws vkr::Error(ShapeMismatch) on a span size that does not match
// the shape, and vkr::Error(InvalidArgument) on non-positive B/H/S or negative T.
void wkv_sequential(WkvMode mode, WkvShape shape, float scale, std::span<const float> r,
                    std::span<const float> k, std::span<const float> v, std::span<const float> logw,
                    std::span<const float> u, std::span<float> state, std::span<float> y);

// Same contract and result (up to rounding), computed with the chunked-parallel algorithm of
// spec §5 exactly as the GPU kernel wkv6_prefill implements it: chunks of L tokens (the last may
// be partial), sub-chunks of Lsub tokens (L % Lsub == 0) with a reference point per query
// sub-chunk, direct exponentials on diagonal sub-blocks, and every exponent <= 0. Throws
// vkr::Error(InvalidArgument) on bad L / Lsub. See wkv6.cpp for the phases and index math.
void wkv_chunked(WkvMode mode, WkvShape shape, float scale, int L, int Lsub,
                 std::span<const float> r, std::span<const float> k, std::span<const float> v,
                 std::span<const float> logw, std::span<const float> u, std::span<float> state,
                 std::span<float> y);

}  // namespace vkr::ref
