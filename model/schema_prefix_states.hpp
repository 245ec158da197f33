// schema_prefix_states.hpp: what schema_prefix.cpp and schema_prefix_number.cpp share (inside
// the library only): byte classes and the states of SchemaPrefix's frames.
#pragma once

#include <cstdint>

#include "hex_digit.hpp"

namespace vkr::schema_states {

using vkr::hex_value;

inline bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_hex(unsigned char c) { return hex_value(static_cast<char>(c)) >= 0; }

// Frame states.
enum : uint8_t { kOOpen, kONeedKey, kOKey, kOColon, kOValWait, kOValue, kOAfter };
enum : uint8_t { kAOpen, kANeed, kAItem, kAAfter };
enum : uint8_t { kSStart, kSIn, kSEsc, kSHex, kSUtf8, kSLowEsc, kSLowU };
enum : uint8_t { kNStart, kNMinus, kNZero, kNInt, kNDot, kNFrac, kNExpMark, kNExpSign, kNExp };

}  // namespace vkr::schema_states
