// expect_error(): a call must throw vkr::Error with the given code and a message naming the
// problem (every needle found in it), the project's contract for bad input.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "vkr/error.hpp"

namespace vkr::test {

template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, std::initializer_list<std::string_view> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << *needles.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << msg;
    for (std::string_view n : needles) {
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' missing in: " << msg;
    }
  }
}

}  // namespace vkr::test
