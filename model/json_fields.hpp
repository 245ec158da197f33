// json_fields.hpp: reading a request body's fields with errors that name the field (serve's
// request parsing, the sampler settings of sampler_json.hpp).
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "vkr/error.hpp"

namespace vkr::json_fields {

// Error(InvalidArgument) "field 'NAME' WHAT".
[[noreturn]] inline void bad(std::string_view name, std::string_view what) {
  throw Error(ErrorCode::InvalidArgument, fmt::format("field '{}' {}", name, what));
}

// The value of `name` when present and not null (json or ordered_json).
template <class Json>
const Json* field(const Json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// The string `name` of the object at `at` ("at.name must be a string" otherwise).
template <class Json>
std::string string_field(const Json& o, const char* name, std::string_view at) {
  const Json* v = field(o, name);
  if (!v || !v->is_string()) bad(fmt::format("{}.{}", at, name), "must be a string");
  return v->template get<std::string>();
}

// A number in [lo, hi], or `fallback` when absent.
inline double number(const nlohmann::json& body, const char* name, double fallback, double lo,
                     double hi) {
  const nlohmann::json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_number()) bad(name, "must be a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) bad(name, fmt::format("must be in [{}, {}] (got {})", lo, hi, x));
  return x;
}

// true / false, or `fallback` when absent.
inline bool flag(const nlohmann::json& body, const char* name, bool fallback = false) {
  const nlohmann::json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(name, "must be true or false");
  return v->get<bool>();
}

}  // namespace vkr::json_fields
