// Block decoders for F32/F16/BF16 and the ggml quant types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS (layouts: spec §6.3, ggml's block structs); the codebook
// i-quants are in dequant_iq.cpp.
#include "dequant.hpp"

#include <bit>
#include <cstring>
#include <limits>
#include <vkr/error.hpp>

#include "dequant_iq.hpp"
#include "gguf_types.hpp"

namespace vkr {
namespace {

using gguf::GgmlType;

// Little-endian loads from unaligned block bytes (the blocks have no alignment guarantee).
uint16_t load_u16(const std::byte* p) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(p[0]) |
                               (std::to_integer<uint16_t>(p[1]) << 8));
}
uint32_t load_u32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<uint32_t>(p[i]);
  return v;
}
float load_half(const std::byte* p) { return half_to_float(load_u16(p)); }
uint8_t u8(const std::byte* p, size_t i) { return std::to_integer<uint8_t>(p[i]); }

void decode_f32(const std::byte* src, float* dst, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(load_u32(src + 4 * i));
}
void decode_f16(const std::byte* src, float* dst, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) dst[i] = load_half(src + 2 * i);
}
void decode_bf16(const std::byte* src, float* dst, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    dst[i] = std::bit_cast<float>(static_cast<uint32_t>(load_u16(src + 2 * i)) << 16);
  }
}

// Q8_0 {f16 d; i8 qs[32]}: x = d * q.
void block_q8_0(const std::byte* b, float* y) {
  const float d = load_half(b);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(u8(b + 2, j)));
}

// Q4_0 {f16 d; u8 qs[16]}: low nibbles are elements 0..15, high nibbles 16..31, offset 8.
void block_q4_0(const std::byte* b, float* y) {
  const float d = load_half(b);
  const std::byte* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((u8(qs, j) & 0xF) - 8) * d;
    y[j + 16] = static_cast<float>((u8(qs, j) >> 4) - 8) * d;
  }
}

// Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: the 5th bit of element j is bit j of qh (as a LE u32).
void block_q5_0(const std::byte* b, float* y) {
  const float d = load_half(b);
  const uint32_t qh = load_u32(b + 2);
  const std::byte* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int lo = (u8(qs, j) & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (u8(qs, j) >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + 16] = static_cast<float>(hi - 16) * d;
  }
}

// Q5_1 {f16 d; f16 m; u8 qh[4]; u8 qs[16]}: unsigned 5-bit values, x = d * q + m.
void block_q5_1(const std::byte* b, float* y) {
  const float d = load_half(b);
  const float m = load_half(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const std::byte* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int lo = (u8(qs, j) & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (u8(qs, j) >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo) * d + m;
    y[j + 16] = static_cast<float>(hi) * d + m;
  }
}

// 6-bit (scale, min) of sub-block j of a Q4_K / Q5_K block: j < 4 in the low 6 bits of bytes
// j and j+4; j >= 4 split into a low nibble in byte j+4 and 2 high bits on top of bytes j-4 / j.
void scale_min_k4(int j, const std::byte* q, uint8_t& sc, uint8_t& mn) {
  if (j < 4) {
    sc = u8(q, j) & 63;
    mn = u8(q, j + 4) & 63;
  } else {
    sc = static_cast<uint8_t>((u8(q, j + 4) & 0xF) | ((u8(q, j - 4) >> 6) << 4));
    mn = static_cast<uint8_t>((u8(q, j + 4) >> 4) | ((u8(q, j) >> 6) << 4));
  }
}

// Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: 4 groups of 64 = two 32-element sub-blocks
// sharing 32 bytes (low nibbles, then high nibbles). Q5_K adds qh[32] (bits 2q, 2q+1 of qh[l]).
void block_q45_k(const std::byte* b, float* y, bool five_bit) {
  const float d = load_half(b);
  const float dmin = load_half(b + 2);
  const std::byte* scales = b + 4;
  const std::byte* qh = b + 16;
  const std::byte* qs = five_bit ? b + 48 : b + 16;
  for (int q = 0; q < 4; ++q) {
    uint8_t sc1, m1, sc2, m2;
    scale_min_k4(2 * q, scales, sc1, m1);
    scale_min_k4(2 * q + 1, scales, sc2, m2);
    const float d1 = d * sc1, dm1 = dmin * m1;
    const float d2 = d * sc2, dm2 = dmin * m2;
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = u8(qs, static_cast<size_t>(32 * q + l));
      int lo = byte & 0xF, hi = byte >> 4;
      if (five_bit) {
        lo += ((u8(qh, l) >> (2 * q)) & 1) << 4;
        hi += ((u8(qh, l) >> (2 * q + 1)) & 1) << 4;
      }
      y[64 * q + l] = d1 * static_cast<float>(lo) - dm1;
      y[64 * q + 32 + l] = d2 * static_cast<float>(hi) - dm2;
    }
  }
}

// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: two halves of 128 elements; in each, four
// runs of 32 take 4 bits from ql and 2 bits from qh, offset 32, one i8 scale per 16 elements.
void block_q6_k(const std::byte* b, float* y) {
  const float d = load_half(b + 208);
  for (int n = 0; n < 2; ++n) {
    const std::byte* ql = b + 64 * n;
    const std::byte* qh = b + 128 + 32 * n;
    const std::byte* sc = b + 192 + 8 * n;
    float* out = y + 128 * n;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int h = u8(qh, l);
      const int q1 = ((u8(ql, l) & 0xF) | (((h >> 0) & 3) << 4)) - 32;
      const int q2 = ((u8(ql, l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
      const int q3 = ((u8(ql, l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const int q4 = ((u8(ql, l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
      auto scale = [&](int i) { return static_cast<float>(static_cast<int8_t>(u8(sc, i))); };
      out[l] = d * scale(is + 0) * static_cast<float>(q1);
      out[l + 32] = d * scale(is + 2) * static_cast<float>(q2);
      out[l + 64] = d * scale(is + 4) * static_cast<float>(q3);
      out[l + 96] = d * scale(is + 6) * static_cast<float>(q4);
    }
  }
}

// Q4_1 {f16 d; f16 m; u8 qs[16]}: Q4_0's nibble order, unsigned, x = d * q + m.
void block_q4_1(const std::byte* b, float* y) {
  const float d = load_half(b);
  const float m = load_half(b + 2);
  const std::byte* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(u8(qs, j) & 0xF) * d + m;
    y[j + 16] = static_cast<float>(u8(qs, j) >> 4) * d + m;
  }
}

// Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: two halves n of 128; in each, 2-bit field j
// (bits 2j, 2j+1) of qs[32n + l] is element 128n + 32j + l. Each 16 elements have a byte of
// scales: low nibble scale, high nibble min; x = d * sc * q - dmin * mn.
void block_q2_k(const std::byte* b, float* y) {
  const float d = load_half(b + 80);
  const float dmin = load_half(b + 82);
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < 2; ++h) {
        const uint8_t sc = u8(b, static_cast<size_t>(8 * n + 2 * j + h));
        const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 16 * h; l < 16 * h + 16; ++l) {
          const int q = (u8(b + 16, static_cast<size_t>(32 * n + l)) >> (2 * j)) & 3;
          y[128 * n + 32 * j + l] = dl * static_cast<float>(q) - ml;
        }
      }
    }
  }
}

// 6-bit scale i (0..15) of a Q3_K block, biased by 32: low 4 bits in the low (i < 8) or high
// nibble of scales[i % 8], high 2 bits at bit 2 (i / 4) of scales[8 + i % 4].
int q3_k_scale(const std::byte* scales, int i) {
  const int lo = i < 8 ? u8(scales, i) & 0xF : u8(scales, i - 8) >> 4;
  const int hi = (u8(scales, 8 + i % 4) >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: Q2_K's 2-bit order, plus a third bit:
// bit 4n + j of hmask[l] for element 128n + 32j + l (set: q in 0..3, clear: q - 4); one signed
// 6-bit scale per 16 elements, x = d * sc * q.
void block_q3_k(const std::byte* b, float* y) {
  const float d = load_half(b + 108);
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < 2; ++h) {
        const float dl = d * static_cast<float>(q3_k_scale(b + 96, 8 * n + 2 * j + h));
        for (int l = 16 * h; l < 16 * h + 16; ++l) {
          const int lo = (u8(b + 32, static_cast<size_t>(32 * n + l)) >> (2 * j)) & 3;
          const int hi = (u8(b, static_cast<size_t>(l)) >> (4 * n + j)) & 1;
          y[128 * n + 32 * j + l] = dl * static_cast<float>(lo - (hi ? 0 : 4));
        }
      }
    }
  }
}

// The 16 values of IQ4_NL / IQ4_XS's non-linear 4-bit code (ggml's kvalues_iq4nl).
constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

// 32 elements from 16 bytes of codes (low nibbles 0..15, high 16..31) with scale d.
void iq4_run(const std::byte* qs, float d, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(kIq4Values[u8(qs, j) & 0xF]);
    y[j + 16] = d * static_cast<float>(kIq4Values[u8(qs, j) >> 4]);
  }
}

// IQ4_NL {f16 d; u8 qs[16]}.
void block_iq4_nl(const std::byte* b, float* y) { iq4_run(b + 2, load_half(b), y); }

// IQ4_XS {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: 8 runs of 32 elements as IQ4_NL, run
// i scaled by d * (ls - 32), ls = nibble i % 2 of scales_l[i / 2] | bits 2i, 2i+1 of scales_h << 4.
void block_iq4_xs(const std::byte* b, float* y) {
  const float d = load_half(b);
  const uint32_t sh = load_u16(b + 2);
  for (int i = 0; i < 8; ++i) {
    const int ls = ((u8(b + 4, static_cast<size_t>(i / 2)) >> (4 * (i % 2))) & 0xF) |
                   static_cast<int>(((sh >> (2 * i)) & 3u) << 4);
    iq4_run(b + 8 + 16 * i, d * static_cast<float>(ls - 32), y + 32 * i);
  }
}

using BlockFn = void (*)(const std::byte*, float*);
void block_q4_k(const std::byte* b, float* y) { block_q45_k(b, y, false); }
void block_q5_k(const std::byte* b, float* y) { block_q45_k(b, y, true); }

BlockFn block_decoder(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::Q8_0:
      return block_q8_0;
    case GgmlType::Q4_0:
      return block_q4_0;
    case GgmlType::Q5_0:
      return block_q5_0;
    case GgmlType::Q5_1:
      return block_q5_1;
    case GgmlType::Q4_K:
      return block_q4_k;
    case GgmlType::Q5_K:
      return block_q5_k;
    case GgmlType::Q6_K:
      return block_q6_k;
    case GgmlType::Q4_1:
      return block_q4_1;
    case GgmlType::Q2_K:
      return block_q2_k;
    case GgmlType::Q3_K:
      return block_q3_k;
    case GgmlType::IQ4_NL:
      return block_iq4_nl;
    case GgmlType::IQ4_XS:
      return block_iq4_xs;
    default:
      return detail::iq_block_decoder(type);  // the codebook i-quants, or null
  }
}

bool is_plain_float(uint32_t type) {
  const auto t = static_cast<GgmlType>(type);
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16;
}

}  // namespace

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1Fu;
  const uint32_t mant = bits & 0x3FFu;
  if (exp == 0x1F) {  // inf (mant 0) or NaN; keep the payload in the top mantissa bits
    return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  }
  if (exp == 0) {  // zero or subnormal: mant * 2^-24 is exact in f32
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -mag : mag;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));  // rebias 15 -> 127
}

bool dequantize_supported(uint32_t ggml_type) {
  return is_plain_float(ggml_type) || block_decoder(ggml_type) != nullptr;
}

void dequantize_row(uint32_t ggml_type, const std::byte* src, float* dst, uint64_t n) {
  if (!dequantize_supported(ggml_type)) {
    throw Error(ErrorCode::BadModelFile,
                fmt::format("dequantize: unsupported tensor type {}", gguf::type_name(ggml_type)));
  }
  const auto traits = gguf::type_traits(ggml_type);  // known: every supported type has traits
  require(n % traits->block_elems == 0, ErrorCode::InvalidArgument,
          "dequantize: {} elements is not a whole number of {} blocks ({} elements each)", n,
          traits->name, traits->block_elems);
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::F32:
      return decode_f32(src, dst, n);
    case GgmlType::F16:
      return decode_f16(src, dst, n);
    case GgmlType::BF16:
      return decode_bf16(src, dst, n);
    default:
      break;
  }
  const BlockFn decode = block_decoder(ggml_type);
  for (uint64_t b = 0; b < n / traits->block_elems; ++b) {
    decode(src + b * traits->block_bytes, dst + b * traits->block_elems);
  }
}

std::vector<float> dequantize_tensor(const gguf::File& file, const gguf::TensorInfo& tensor) {
  if (!dequantize_supported(tensor.type)) {
    throw Error(
        ErrorCode::BadModelFile,
        fmt::format("{}: tensor '{}' has type {}, which cannot be dequantized (supported: "
                    "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, "
                    "IQ4_NL, IQ4_XS, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S)",
                    file.path().string(), tensor.name, gguf::type_name(tensor.type)));
  }
  const std::span<const std::byte> bytes = file.tensor_data(tensor);
  std::vector<float> out(tensor.n_elements);
  dequantize_row(tensor.type, bytes.data(), out.data(), tensor.n_elements);
  return out;
}

}  // namespace vkr
