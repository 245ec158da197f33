// Float-array comparison for tests (see compare.hpp for the contracts).
#include "support/compare.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <limits>

namespace vkr::test {

double nmse(std::span<const float> ref, std::span<const float> got) {
  if (ref.size() != got.size()) return std::numeric_limits<double>::infinity();
  double err = 0.0;
  double norm = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(got[i]) - ref[i];
    err += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  if (!std::isfinite(err)) return std::numeric_limits<double>::infinity();
  return norm > 0.0 ? err / norm : err;
}

double max_abs_diff(std::span<const float> ref, std::span<const float> got) {
  if (ref.size() != got.size()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    // `!(d <= worst)` also catches NaN, which must not compare as "small".
    if (!(d <= worst)) worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
  }
  return worst;
}

::testing::AssertionResult all_close(std::span<const float> ref, std::span<const float> got,
                                     double atol, double rtol, std::string_view what) {
  if (ref.size() != got.size()) {
    return ::testing::AssertionFailure() << what << ": size mismatch, ref has " << ref.size()
                                         << " elements, got has " << got.size();
  }
  std::size_t bad = 0;
  std::size_t first_bad = 0;
  std::size_t worst_index = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double tol = atol + rtol * std::fabs(static_cast<double>(ref[i]));
    if (!(d <= worst)) {  // NaN-aware: NaN always becomes the worst element
      worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
      worst_index = i;
    }
    if (!(d <= tol)) {
      if (bad == 0) first_bad = i;
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << fmt::format(
             "{}: {} of {} elements outside atol={:g} rtol={:g}; nmse={:.3e}, max|diff|={:.6g} "
             "at [{}]; first bad index [{}]: ref={:.9g} got={:.9g}",
             what, bad, ref.size(), atol, rtol, nmse(ref, got), worst, worst_index, first_bad,
             ref[first_bad], got[first_bad]);
}

}  // namespace vkr::test
