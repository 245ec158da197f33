// dequant_iq.cpp: block decoders of the codebook i-quants. Each 256-element block holds 8
// sub-blocks of 32; their values are entries of ggml's grids (vkr/iq_grids.hpp) with per-value
// signs and a per-sub-block (or per-half) scale. Layouts are ggml's block structs.
#include "dequant_iq.hpp"

#include <vkr/iq_grids.hpp>

#include "dequant.hpp"
#include "gguf_types.hpp"

namespace vkr::detail {
namespace {

using gguf::GgmlType;

uint32_t u8(const std::byte* p, size_t i) { return std::to_integer<uint32_t>(p[i]); }
uint32_t u16(const std::byte* p) { return u8(p, 0) | (u8(p, 1) << 8); }
uint32_t u32(const std::byte* p) { return u16(p) | (u16(p + 2) << 16); }
float f16(const std::byte* p) { return half_to_float(static_cast<uint16_t>(u16(p))); }

// Byte j of grid entry e of a grid of `bytes`-byte entries starting at word `off`.
uint32_t grid_byte(uint32_t off, uint32_t bytes, uint32_t e, uint32_t j) {
  const uint32_t b = e * bytes + j;
  return (iq::grid_words()[off + b / 4] >> (8 * (b % 4))) & 0xFFu;
}

// 8 values of an 8-value grid entry, times db, negated where `signs` has the value's bit.
void put8(uint32_t grid, uint32_t e, uint32_t signs, float db, float* y) {
  for (uint32_t j = 0; j < 8; ++j) {
    y[j] = db * static_cast<float>(grid_byte(grid, 8, e, j)) * ((signs >> j) & 1 ? -1.f : 1.f);
  }
}
// 4 values of a 4-value grid entry with sign bits 0..3 of `signs`.
void put4(uint32_t grid, uint32_t e, uint32_t signs, float db, float* y) {
  for (uint32_t j = 0; j < 4; ++j) {
    y[j] = db * static_cast<float>(grid_byte(grid, 4, e, j)) * ((signs >> j) & 1 ? -1.f : 1.f);
  }
}

// IQ2_XXS {f16 d; u16 qs[32]}: sub-block ib = 8 bytes: 4 grid indices, then a u32 with the
// scale in its top 4 bits and the 7-bit sign index of group l at bit 7l.
void block_iq2_xxs(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const std::byte* q = b + 2 + 8 * ib;
    const uint32_t aux = u32(q + 4);
    const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.25f;
    for (uint32_t l = 0; l < 4; ++l) {
      put8(iq::kIq2xxsGrid, u8(q, l), iq::signs_of((aux >> (7 * l)) & 127), db, y + 8 * l);
    }
  }
}

// IQ2_XS {f16 d; u16 qs[32]; u8 scales[8]}: qs[4 ib + l] = grid index (9 bits) | sign index << 9;
// scale nibble l / 2 of scales[ib].
void block_iq2_xs(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t sc = u8(b, 66 + ib);
    for (uint32_t l = 0; l < 4; ++l) {
      const uint32_t q = u16(b + 2 + 2 * (4 * ib + l));
      const float db = d * (0.5f + static_cast<float>((sc >> (4 * (l / 2))) & 0xF)) * 0.25f;
      put8(iq::kIq2xsGrid, q & 511, iq::signs_of(q >> 9), db, y + 8 * l);
    }
  }
}

// IQ2_S {f16 d; u8 qs[32]; u8 signs[32]; u8 qh[8]; u8 scales[8]}: group l of sub-block ib: grid
// index qs[4 ib + l] | bits 2l, 2l+1 of qh[ib] << 8, sign byte signs[4 ib + l].
void block_iq2_s(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t sc = u8(b, 74 + ib), qh = u8(b, 66 + ib);
    for (uint32_t l = 0; l < 4; ++l) {
      const float db = d * (0.5f + static_cast<float>((sc >> (4 * (l / 2))) & 0xF)) * 0.25f;
      const uint32_t e = u8(b, 2 + 4 * ib + l) | (((qh >> (2 * l)) & 3) << 8);
      put8(iq::kIq2sGrid, e, u8(b, 34 + 4 * ib + l), db, y + 8 * l);
    }
  }
}

// IQ3_XXS {f16 d; u8 qs[64]; u32 scales_signs[8]}: 4-value entries qs[8 ib + k]; the u32 of
// sub-block ib: scale in its top 4 bits, sign index of group l (8 values) at bit 7l.
void block_iq3_xxs(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t aux = u32(b + 66 + 4 * ib);
    const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
    for (uint32_t l = 0; l < 4; ++l) {
      const uint32_t s = iq::signs_of((aux >> (7 * l)) & 127);
      put4(iq::kIq3xxsGrid, u8(b, 2 + 8 * ib + 2 * l), s, db, y + 8 * l);
      put4(iq::kIq3xxsGrid, u8(b, 2 + 8 * ib + 2 * l + 1), s >> 4, db, y + 8 * l + 4);
    }
  }
}

// IQ3_S {f16 d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]}: entries qs[8 ib + k] | bit k
// of qh[ib] << 8, sign byte signs[4 ib + l]; scale 1 + 2 * nibble ib % 2 of scales[ib / 2].
void block_iq3_s(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t qh = u8(b, 66 + ib);
    const float db =
        d * static_cast<float>(1 + 2 * ((u8(b, 106 + ib / 2) >> (4 * (ib % 2))) & 0xF));
    for (uint32_t l = 0; l < 4; ++l) {
      const uint32_t s = u8(b, 74 + 4 * ib + l);
      for (uint32_t k = 0; k < 2; ++k) {
        const uint32_t e = u8(b, 2 + 8 * ib + 2 * l + k) | (((qh >> (2 * l + k)) & 1) << 8);
        put4(iq::kIq3sGrid, e, s >> (4 * k), db, y + 8 * l + 4 * k);
      }
    }
  }
}

// 8 signed grid values (-1, 0, 1) shifted by delta, times dl.
void put_iq1(uint32_t e, float dl, float delta, float* y) {
  for (uint32_t j = 0; j < 8; ++j) {
    const auto g = static_cast<int8_t>(grid_byte(iq::kIq1sGrid, 8, e, j));
    y[j] = dl * (static_cast<float>(g) + delta);
  }
}
constexpr float kIq1Delta = 0.125f;

// IQ1_S {f16 d; u8 qs[32]; u16 qh[8]}: group l of sub-block ib: entry qs[4 ib + l] | bits 3l..
// 3l+2 of qh[ib] << 8; scale d * (2 * (qh[ib] >> 12 & 7) + 1); shift -delta when qh bit 15.
void block_iq1_s(const std::byte* b, float* y) {
  const float d = f16(b);
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t qh = u16(b + 34 + 2 * ib);
    const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
    const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
    for (uint32_t l = 0; l < 4; ++l) {
      put_iq1(u8(b, 2 + 4 * ib + l) | (((qh >> (3 * l)) & 7) << 8), dl, delta, y + 8 * l);
    }
  }
}

// IQ1_M {u8 qs[32]; u8 qh[16]; u16 scales[4]}: d = the f16 made of the top nibbles of the four
// scales words (first word lowest). Group l of sub-block ib: entry qs[4 ib + l] | (nibble l of
// qh[2 ib], qh[2 ib + 1] & 7) << 8, shift sign bit 3 of that nibble; 3-bit scales at bit 6 (ib % 2)
// (groups 0, 1) and 6 (ib % 2) + 3 (groups 2, 3) of scales[ib / 2].
void block_iq1_m(const std::byte* b, float* y) {
  const std::byte* sc = b + 48;
  const uint32_t bits = (u16(sc) >> 12) | ((u16(sc + 2) >> 8) & 0xF0) |
                        ((u16(sc + 4) >> 4) & 0xF00) | (u16(sc + 6) & 0xF000);
  const float d = half_to_float(static_cast<uint16_t>(bits));
  for (uint32_t ib = 0; ib < 8; ++ib, y += 32) {
    const uint32_t s = u16(sc + 2 * (ib / 2)) >> (6 * (ib % 2));
    const uint32_t qh = u16(b + 32 + 2 * ib);
    for (uint32_t l = 0; l < 4; ++l) {
      const uint32_t nib = (qh >> (4 * l)) & 0xF;
      const float dl = d * static_cast<float>(2 * ((s >> (3 * (l / 2))) & 7) + 1);
      put_iq1(u8(b, 4 * ib + l) | ((nib & 7) << 8), dl, nib & 8 ? -kIq1Delta : kIq1Delta,
              y + 8 * l);
    }
  }
}

}  // namespace

IqBlockFn iq_block_decoder(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::IQ2_XXS:
      return block_iq2_xxs;
    case GgmlType::IQ2_XS:
      return block_iq2_xs;
    case GgmlType::IQ2_S:
      return block_iq2_s;
    case GgmlType::IQ3_XXS:
      return block_iq3_xxs;
    case GgmlType::IQ3_S:
      return block_iq3_s;
    case GgmlType::IQ1_S:
      return block_iq1_s;
    case GgmlType::IQ1_M:
      return block_iq1_m;
    default:
      return nullptr;
  }
}

}  // namespace vkr::detail
