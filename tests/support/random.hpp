// Seeded, platform-independent random test data (std::mt19937 + our own float mapping).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace vkr::test {

// Wraps std::mt19937 with a fixed seed. The engine's raw output is specified by the standard, but
// std::uniform_real_distribution / std::normal_distribution are not (libstdc++ and libc++ differ),
// so the float mappings below are our own: the same seed gives the same data on every platform.
//
// Usage in a test:  Rng rng(1234); SCOPED_TRACE(rng.trace());  // the seed shows up on failure
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : seed_(seed), engine_(seed) {}

  std::uint32_t seed() const { return seed_; }
  // A SCOPED_TRACE-friendly description, e.g. "rng seed 1234".
  std::string trace() const { return "rng seed " + std::to_string(seed_); }
  std::mt19937& engine() { return engine_; }

  // Uniform in [0, 1) with 24 random bits: exactly representable as float.
  double unit() { return static_cast<double>(engine_() >> 8) * (1.0 / 16777216.0); }

  float uniform(float lo, float hi) {
    return static_cast<float>(lo + (static_cast<double>(hi) - lo) * unit());
  }

  // Box-Muller; uses 1 - unit() so the logarithm never sees 0.
  float normal(float mean, float stddev) {
    const double u1 = 1.0 - unit();
    const double u2 = unit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    return static_cast<float>(mean + stddev * z);
  }

  int uniform_int(int lo, int hi_inclusive) {
    const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi_inclusive) - lo) + 1;
    return static_cast<int>(lo + static_cast<std::int64_t>(engine_() % span));
  }

  void fill_uniform(std::span<float> out, float lo, float hi) {
    for (float& x : out) x = uniform(lo, hi);
  }
  void fill_normal(std::span<float> out, float mean, float stddev) {
    for (float& x : out) x = normal(mean, stddev);
  }

  std::vector<float> uniform_vec(std::size_t n, float lo, float hi) {
    std::vector<float> v(n);
    fill_uniform(v, lo, hi);
    return v;
  }
  std::vector<float> normal_vec(std::size_t n, float mean = 0.0f, float stddev = 1.0f) {
    std::vector<float> v(n);
    fill_normal(v, mean, stddev);
    return v;
  }

 private:
  std::uint32_t seed_;
  std::mt19937 engine_;
};

}  // namespace vkr::test
