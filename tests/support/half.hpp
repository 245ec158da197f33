// half.hpp: host f16 / bf16 conversions for tests and benches (round to nearest even, as the
// shaders' types.glsl), so inputs can be rounded exactly as the GPU sees them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vkr::test {

// IEEE binary16 round-to-nearest-even (overflow -> inf; our data stays far from it).
inline uint16_t f32_to_f16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const float a = std::fabs(f);
  if (!(a < 65520.0f)) return static_cast<uint16_t>(sign | (a != a ? 0x7E00u : 0x7C00u));
  if (a < 6.103515625e-05f) {  // subnormal: multiples of 2^-24, rint is round-half-even
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t m = u & 0x7FFFFFFFu;
  m += 0xFFFu + ((m >> 13) & 1u);  // round the 13 dropped bits to nearest even
  return static_cast<uint16_t>(sign | ((m - (112u << 23)) >> 13));
}
inline float f16_bits_to_f32(uint16_t h) {
  const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  float v = e == 0    ? std::ldexp(static_cast<float>(m), -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : std::ldexp(static_cast<float>(m | 0x400u), static_cast<int>(e) - 25);
  return (h & 0x8000u) ? -v : v;
}
inline uint16_t f32_to_bf16_bits(float f) {  // round to nearest even, as types.glsl
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16_bits_to_f32(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace vkr::test
