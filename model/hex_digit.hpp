// hex_digit.hpp: the value of one hex digit, for the readers of escapes (GBNF grammars, schema
// patterns, JSON strings).
#pragma once

namespace vkr {

// 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for any other byte.
constexpr int hex_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

}  // namespace vkr
