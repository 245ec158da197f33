// Float-array comparison for tests: NMSE, max |diff|, and all_close() naming the first bad index.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <string_view>

namespace vkr::test {

// sum((ref - got)^2) / sum(ref^2), accumulated in double. If ref is all zeros the denominator is
// taken as 1 (so the result is the plain squared error). Sizes must match (else +inf). Any NaN or
// inf in `got` where `ref` is finite gives +inf, so a NaN can never hide inside a small NMSE.
double nmse(std::span<const float> ref, std::span<const float> got);

// max_i |ref[i] - got[i]| (+inf on size mismatch or non-finite difference).
double max_abs_diff(std::span<const float> ref, std::span<const float> got);

// Element-wise |got - ref| <= atol + rtol * |ref| (numpy.allclose rule). On failure the message
// names `what`, the sizes, NMSE, max |diff| with its index, the number of bad elements, and the
// FIRST bad index with both values, which is usually the most telling for indexing bugs.
::testing::AssertionResult all_close(std::span<const float> ref, std::span<const float> got,
                                     double atol, double rtol, std::string_view what);

}  // namespace vkr::test
