// iq_grids.cpp: the i-quant codebooks, embedded at build time from runtime/data/iq_grids.bin.
#include "vkr/iq_grids.hpp"

namespace vkr::iq {
namespace {
constexpr uint32_t kWords[] = {
#include "iq_grids.inc"
};
static_assert(std::size(kWords) == kGridWords, "runtime/data/iq_grids.bin has the wrong size");
}  // namespace

std::span<const uint32_t> grid_words() { return kWords; }

}  // namespace vkr::iq
