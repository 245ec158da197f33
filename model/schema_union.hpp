// schema_union.hpp: what the schema compiler asks of a union's alternatives (inside the library
// only): the bytes a value may start with, and whether two alternatives can match one value
// (oneOf allows exactly one).
#pragma once

#include <cstdint>
#include <set>

#include "json_schema.hpp"

namespace vkr::schema_union {

// The bytes a value of node i may start with (whitespace aside).
std::set<unsigned char> first_bytes(const JsonSchema& s, int32_t i, int depth = 0);

// True only when no JSON value matches both nodes as a validator reads them: different first
// bytes, disjoint const / enum values or integer ranges, or objects one of whose required
// properties the other refuses (its value exclusive with the other's, or the property absent
// from an object with "additionalProperties": false). False when unsure (a format, two string
// shapes, integer and number: 1.0 is both).
bool exclusive(const JsonSchema& s, int32_t a, int32_t b, int depth = 0);

}  // namespace vkr::schema_union
