// Helpers shared by the GGUF reader tests: a scratch directory and "this file must be rejected".
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>
#include <vkr/error.hpp>

#include "gguf.hpp"
#include "support/gguf_builder.hpp"

namespace vkr::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vkr_gguf_test_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path file(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Expects gguf::File::open(path) to throw vkr::Error with `code` and a message naming the file
// and containing every needle; returns the message (empty when the expectation failed).
inline std::string expect_open_error(const std::filesystem::path& path, ErrorCode code,
                                     std::initializer_list<std::string_view> needles) {
  try {
    gguf::File file = gguf::File::open(path);
    ADD_FAILURE() << path << " opened but should have been rejected";
  } catch (const Error& e) {
    const std::string msg = e.message();
    EXPECT_EQ(e.code(), code) << msg;
    EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << "no file name in: " << msg;
    for (std::string_view needle : needles) {
      EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' missing in: " << msg;
    }
    return msg;
  }
  return {};
}

// Writes `bytes` as `name` in `dir` and expects the reader to reject it with BadModelFile.
inline std::string expect_bad_file(const TempDir& dir, std::string_view name,
                                   const std::vector<std::byte>& bytes,
                                   std::initializer_list<std::string_view> needles) {
  const auto path = dir.file(name);
  write_bytes(path, bytes);
  return expect_open_error(path, ErrorCode::BadModelFile, needles);
}

}  // namespace vkr::test
