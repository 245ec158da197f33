// iq_lattice.cpp: the lattice tables of the codebook i-quant encoders (see iq_lattice.hpp),
// derived from the grids themselves: a grid's distinct byte values, in increasing order, are the
// lattice levels 0, 1, 2 ... (IQ2: 8, 25, 43; IQ3: 4, 12, ... 62; IQ1: -1, 0, 1).
#include "iq_lattice.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vkr/error.hpp>
#include <vkr/iq_grids.hpp>

#include "gguf_types.hpp"

namespace vkr::qblocks {
namespace {

using gguf::GgmlType;

struct LatticeSpec {
  uint32_t grid_word = 0;  // offset in iq::grid_words()
  uint32_t entries = 0;
  int dims = 0;
  int bits = 0;
  int nwant = 0;  // how many of the smallest distinct distances a neighbour list covers (ggml's)
};

LatticeSpec spec_of(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::IQ2_XXS:
      return {iq::kIq2xxsGrid, 256, 8, 2, 2};
    case GgmlType::IQ2_XS:
      return {iq::kIq2xsGrid, 512, 8, 2, 2};
    case GgmlType::IQ2_S:
      return {iq::kIq2sGrid, 1024, 8, 2, 1};
    case GgmlType::IQ3_XXS:
      return {iq::kIq3xxsGrid, 256, 4, 3, 2};
    case GgmlType::IQ3_S:
      return {iq::kIq3sGrid, 512, 4, 3, 3};
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:  // one grid, one table
      return {iq::kIq1sGrid, 2048, 8, 2, 3};
    default:
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("iq_lattice: {} has no grid encoder", gguf::type_name(ggml_type)));
  }
}

IqLattice build(const LatticeSpec& s) {
  const auto words = iq::grid_words();
  // Grid bytes are signed: IQ1's -1, 0, 1 order as levels 0, 1, 2 (the others are all < 128).
  const auto byte_at = [&](uint32_t b) {
    return static_cast<int>(
        static_cast<int8_t>((words[s.grid_word + b / 4] >> (8 * (b % 4))) & 0xFFu));
  };
  const uint32_t n_bytes = s.entries * static_cast<uint32_t>(s.dims);
  std::vector<int> levels;
  for (uint32_t b = 0; b < n_bytes; ++b) levels.push_back(byte_at(b));
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  const int n_levels = static_cast<int>(levels.size());
  require(n_levels <= (1 << s.bits), ErrorCode::InvalidArgument,
          "iq_lattice: a grid has {} distinct values, more than {} bits code", n_levels, s.bits);

  IqLattice lat;
  lat.dims = s.dims;
  lat.bits = s.bits;
  lat.points.resize(n_bytes);
  const uint32_t mask = (1u << s.bits) - 1;
  lat.map.assign(size_t{1} << (s.bits * s.dims), 0);
  std::vector<bool> on_grid(lat.map.size(), false);
  for (uint32_t e = 0; e < s.entries; ++e) {
    uint32_t index = 0;
    for (int k = 0; k < s.dims; ++k) {
      const int v = byte_at(e * static_cast<uint32_t>(s.dims) + static_cast<uint32_t>(k));
      const auto l =
          static_cast<int>(std::lower_bound(levels.begin(), levels.end(), v) - levels.begin());
      lat.points[e * static_cast<uint32_t>(s.dims) + static_cast<uint32_t>(k)] =
          static_cast<int8_t>(2 * l + 1);
      index |= static_cast<uint32_t>(l) << (s.bits * k);
    }
    lat.map[index] = static_cast<int32_t>(e);
    on_grid[index] = true;
  }
  // Neighbour lists for the lattice points the encoders can reach (every level below n_levels;
  // the others stay unused), each the entries at the nwant smallest distinct squared distances.
  // (A full sort of all entries per point, as ggml does, costs ~0.5 s for IQ1's 4513 points x 2048
  // entries; picking the few smallest distinct distances first gives the same lists.)
  std::vector<int> dist(s.entries);
  for (uint32_t index = 0; index < lat.map.size(); ++index) {
    if (on_grid[index]) continue;
    std::array<int, 8> pos{};
    bool reachable = true;
    for (int k = 0; k < s.dims; ++k) {
      const auto l = static_cast<int>((index >> (s.bits * k)) & mask);
      reachable = reachable && l < n_levels;
      pos[static_cast<size_t>(k)] = 2 * l + 1;
    }
    if (!reachable) {
      lat.map[index] = 0;
      continue;
    }
    std::array<int, 4> nearest{};  // the nwant (<= 3) smallest distinct distances, ascending
    int have = 0;
    for (uint32_t e = 0; e < s.entries; ++e) {
      int d2 = 0;
      for (int k = 0; k < s.dims; ++k) {
        const int diff = lat.points[e * static_cast<uint32_t>(s.dims) + static_cast<uint32_t>(k)] -
                         pos[static_cast<size_t>(k)];
        d2 += diff * diff;
      }
      dist[e] = d2;
      int at = 0;
      while (at < have && nearest[static_cast<size_t>(at)] < d2) ++at;
      if ((at < have && nearest[static_cast<size_t>(at)] == d2) || at == s.nwant) continue;
      for (int j = std::min(have, s.nwant - 1); j > at; --j)
        nearest[static_cast<size_t>(j)] = nearest[static_cast<size_t>(j - 1)];
      nearest[static_cast<size_t>(at)] = d2;
      have = std::min(have + 1, s.nwant);
    }
    const size_t start = lat.neighbours.size();
    lat.map[index] = -static_cast<int32_t>(start + 1);
    lat.neighbours.push_back(0);
    for (int j = 0; j < have; ++j) {  // by distance, then by entry index
      for (uint32_t e = 0; e < s.entries; ++e) {
        if (dist[e] == nearest[static_cast<size_t>(j)])
          lat.neighbours.push_back(static_cast<uint16_t>(e));
      }
    }
    lat.neighbours[start] = static_cast<uint16_t>(lat.neighbours.size() - start - 1);
  }
  return lat;
}

// One table per grid, built on first use (C++ makes the static's initialization thread-safe).
template <GgmlType T>
const IqLattice& table() {
  static const IqLattice lat = build(spec_of(static_cast<uint32_t>(T)));
  return lat;
}

}  // namespace

const IqLattice& iq_lattice(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::IQ2_XXS:
      return table<GgmlType::IQ2_XXS>();
    case GgmlType::IQ2_XS:
      return table<GgmlType::IQ2_XS>();
    case GgmlType::IQ2_S:
      return table<GgmlType::IQ2_S>();
    case GgmlType::IQ3_XXS:
      return table<GgmlType::IQ3_XXS>();
    case GgmlType::IQ3_S:
      return table<GgmlType::IQ3_S>();
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:
      return table<GgmlType::IQ1_S>();  // one grid
    default:
      (void)spec_of(ggml_type);  // throws InvalidArgument naming the type
  }
  throw Error(ErrorCode::InvalidArgument, "iq_lattice: not a codebook type");
}

}  // namespace vkr::qblocks
