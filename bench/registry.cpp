// registry.cpp: the list of bench families, generated from families.inc (one line per family).
#include "harness.hpp"

#define VKR_BENCH_FAMILY(name, fn) void fn(Harness& h);
namespace vkr::bench {
#include "families.inc"
}  // namespace vkr::bench
#undef VKR_BENCH_FAMILY

namespace vkr::bench {

const std::vector<std::pair<std::string_view, BenchFn>>& bench_families() {
#define VKR_BENCH_FAMILY(name, fn) {#name, &fn},
  static const std::vector<std::pair<std::string_view, BenchFn>> families = {
#include "families.inc"
  };
#undef VKR_BENCH_FAMILY
  return families;
}

}  // namespace vkr::bench
