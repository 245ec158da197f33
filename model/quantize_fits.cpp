// quantize_fits.cpp: the scale searches of ggml's K-quant code (make_qkx2_quants /
// make_qkx3_quants, make_qx_quants, make_q3_quants, make_qp_quants) that the reference and the
// importance-weighted block encoders share: one group of values -> integer codes and a scale
// (and minimum), chosen by weighted least squares. Step by step as ggml (see quantize.cpp).
#include <algorithm>
#include <array>
#include <cmath>

#include "quantize_blocks.hpp"

namespace vkr::qblocks {

// Scale and minimum of one group of `n` values with codes 0..nmax, fitted by weighted least
// squares over a grid of trial scales (ggml's make_qkx2_quants; make_qkx3_quants, the imatrix
// path's, is the same search with other grid arguments): first the plain min / max fit,
// then for each trial inverse scale (rmin + rdelta * is + nmax) / (max - min) the codes are
// rounded and the best (scale, min) for those codes solved in closed form; the trial with the
// smallest weighted squared (use_mad: absolute) error wins. Returns the scale; *neg_min gets -min
// (>= 0).
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  // The error of one value: squared, or absolute (Q2_K, whose 2-bit codes a few outliers would
  // otherwise dominate).
  const auto err = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest(iscale * (x[i] - min)), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    const float diff = err(scale * static_cast<float>(l) + min - x[i]);
    best_error += w[i] * diff;
  }
  std::array<uint8_t, 32> trial{};
  for (int is = 0; is <= nstep; ++is) {
    // `min` may by now be a fitted one at or near max: v can be huge, inf or NaN, so it is clamped
    // before rounding (make_qkx3_quants' form; the same codes as clamping after for finite v).
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const float v = iscale * (x[i] - min);
      const int l = v > 0 ? nearest(std::min(v, static_cast<float>(nmax))) : 0;
      trial[static_cast<size_t>(i)] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff =
            err(this_scale * static_cast<float>(trial[static_cast<size_t>(i)]) + this_min - x[i]);
        cur_error += w[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(trial.begin(), trial.begin() + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric scale of one group with codes -nmax..nmax-1 stored as 0..2 nmax - 1, weights qw or
// x^2 (ggml's make_qx_quants, rmse_type 1): the scale from the extreme value, then 18 trial
// scales around it, keeping the one with the best weighted least-squares fit. Returns the scale
// (negative when the extreme value is positive: code 0 is the extreme; 0 when every weight is).
float fit_symmetric(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto codes = [&](float iscale, float& sumlx, float& suml2, bool store) {
    sumlx = 0;
    suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = qw != nullptr ? qw[i] : x[i] * x[i];
      const float fl = static_cast<float>(l);
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
  };
  float sumlx = 0;
  float suml2 = 0;
  codes(static_cast<float>(-nmax) / max, sumlx, suml2, true);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    codes(iscale, sumlx, suml2, false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      codes(iscale, sumlx, suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Symmetric 3-bit fit of one group of 16 (ggml's make_q3_quants with do_rmse): codes from the
// extreme value, then up to 5 passes that move single codes while the weighted (x^2) least-squares
// fit improves. Returns the scale; L gets codes 0..7 (value + 4).
float fit_q3(const float* x, int8_t* L) {
  constexpr int n = 16;
  constexpr int nmax = 4;
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0) {
        float sl2 = suml2 - w * li * li;
        const int nl = std::clamp(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          const float fl = static_cast<float>(nl);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Codes 0..nmax for non-negative values with one scale: the scale from the largest value, 8 trial
// scales around it judged by weighted squared error, then up to 5 passes moving single codes while
// the weighted least-squares fit improves. Returns the least-squares scale of the final codes
// (0 for an all-zero group, or when every weight is 0).
float fit_positive(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    std::fill(L, L + n, uint8_t{0});
    return 0.f;
  }
  const auto fnmax = static_cast<float>(nmax);
  float iscale = fnmax / max;
  float best_mse = 0;
  {
    // ggml's first codes are not clamped to nmax (the largest value maps to nmax anyway)
    const float scale = 1 / iscale;
    for (int i = 0; i < n; ++i) {
      L[i] = static_cast<uint8_t>(nearest(iscale * x[i]));
      const float diff = x[i] - scale * static_cast<float>(L[i]);
      best_mse += w[i] * diff * diff;
    }
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * static_cast<float>(is) + fnmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest(iscale_is * x[i]));
      const float diff = x[i] - scale_is * static_cast<float>(l);
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    const auto fl = static_cast<float>(l);
    sumlx += w[i] * x[i] * fl;
    suml2 += w[i] * fl * fl;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const auto li = static_cast<float>(L[i]);
      float slx = sumlx - w[i] * x[i] * li;
      float sl2 = suml2 - w[i] * li * li;
      if (slx > 0 && sl2 > 0) {
        const int nl = std::min(nmax, nearest(x[i] * sl2 / slx));
        if (nl != static_cast<int>(L[i])) {
          const auto fl = static_cast<float>(nl);
          slx += w[i] * x[i] * fl;
          sl2 += w[i] * fl * fl;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

}  // namespace vkr::qblocks
