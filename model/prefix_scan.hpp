// prefix_scan.hpp: the whole-vocabulary pass of the constraints whose recognizer reads bytes
// (GrammarConstraint, ToolCallConstraint): which ids' bytes keep the text a prefix of an accepted
// one. The ids go in byte order (Tokenizer::ids_by_bytes), so ids that share first bytes share
// the recognizer's work on them, and a refused prefix refuses every id that starts with it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer.hpp"

namespace vkr {

// Ids that may stand for text: not control or end ids, not empty, and (as llama.cpp's grammar
// sampler) not starting with a NUL byte, which no constrained output wants printed.
inline bool prints_text(const Tokenizer& tok, int32_t id) {
  const std::string& b = tok.token_bytes(id);
  return !b.empty() && b[0] != '\0' && !tok.is_control(id) && !tok.is_eog(id);
}

// Sets allowed[id] = 1 for every id that prints text and whose bytes `start` takes. Prefix: a
// copyable recognizer whose push(unsigned char) answers false when refused (leaving it in any
// state). `depth` is scratch space kept by the caller between calls (depth[i]: the recognizer
// after an id's first i bytes). Ids `decided(id)` are passed over (the caller set them).
template <class Prefix, class Decided>
void scan_vocabulary(const Tokenizer& tok, const Prefix& start, std::vector<Prefix>& depth,
                     std::vector<uint8_t>& allowed, Decided decided) {
  if (depth.empty()) depth.push_back(start);
  depth[0] = start;
  const std::string* prev = nullptr;
  size_t valid = 0;           // depth[1..valid] hold prev's first bytes
  size_t refused = SIZE_MAX;  // prev's shortest refused prefix (its length)
  for (int32_t id : tok.ids_by_bytes()) {
    if (!prints_text(tok, id) || decided(id)) continue;
    const std::string& b = tok.token_bytes(id);
    size_t common = 0;
    if (prev) {
      const size_t n = std::min(prev->size(), b.size());
      while (common < n && (*prev)[common] == b[common]) ++common;
    }
    prev = &b;
    if (refused <= common) {  // starts with a refused prefix
      valid = std::min(valid, common);
      continue;
    }
    refused = SIZE_MAX;
    size_t d = std::min(valid, common);
    if (depth.size() < b.size() + 1) depth.resize(b.size() + 1, start);
    for (; d < b.size(); ++d) {
      depth[d + 1] = depth[d];
      if (!depth[d + 1].push(static_cast<unsigned char>(b[d]))) {
        refused = d + 1;
        break;
      }
    }
    valid = d;
    if (refused == SIZE_MAX) allowed[static_cast<size_t>(id)] = 1;
  }
}

template <class Prefix>
void scan_vocabulary(const Tokenizer& tok, const Prefix& start, std::vector<Prefix>& depth,
                     std::vector<uint8_t>& allowed) {
  scan_vocabulary(tok, start, depth, allowed, [](int32_t) { return false; });
}

}  // namespace vkr
