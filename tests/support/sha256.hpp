// sha256.hpp: SHA-256 (FIPS 180-4) of a byte range, hex-encoded, so tests can compare data with
// the digests reference scripts record (e.g. each tensor llama-quantize wrote) without storing the
// bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace vkr::test {

std::string sha256_hex(std::span<const std::byte> data);
// Of a whole file ("" when it cannot be read).
std::string file_sha256(const std::filesystem::path& path);

}  // namespace vkr::test
