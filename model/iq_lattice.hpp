// iq_lattice.hpp: what the codebook i-quant encoders (quantize_iq_grid.cpp) search. Each grid
// entry is a point of a small integer lattice (8 coordinates of 3 levels for IQ2_* and IQ1_*, 4 of
// 8 levels for IQ3_*), coordinate level l standing for the odd value 2l + 1. The encoders round a
// scaled group of |weights| to the nearest lattice point; when that point is not in the grid they
// try its nearest grid entries, a list precomputed here for every lattice point (ggml's kmap /
// kneighbors: the entries at the smallest, or two or three smallest, squared distances, ordered by
// distance then index, so ties pick the same entry as ggml).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vkr::qblocks {

struct IqLattice {
  int dims = 0;  // values per grid entry (8 or 4)
  int bits = 0;  // bits per coordinate in a lattice index (2 or 3)
  // Per entry, its coordinates as odd values 2l + 1 (dims of them).
  std::vector<int8_t> points;
  // Per lattice index (coordinate k's level at bit bits * k): the grid entry there, or -(o + 1)
  // with `o` the offset in `neighbours` of a list {n, entry_1 .. entry_n}.
  std::vector<int32_t> map;
  std::vector<uint16_t> neighbours;

  std::span<const int8_t> point(uint32_t entry) const {
    return {points.data() + static_cast<size_t>(entry) * static_cast<size_t>(dims),
            static_cast<size_t>(dims)};
  }
  // The neighbour list {n, entries...} of an index that is not on the grid.
  const uint16_t* neighbours_of(uint32_t index) const {
    return neighbours.data() + (-map[index] - 1);
  }
};

// The lattice of IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S or IQ1_S / IQ1_M (ggml type id; the two
// IQ1 types share one grid and one table), built from the grids
// of vkr/iq_grids.hpp on first use (tens of milliseconds) and kept for the process (thread-safe).
// Throws vkr::Error(InvalidArgument) for other types.
const IqLattice& iq_lattice(uint32_t ggml_type);

}  // namespace vkr::qblocks
