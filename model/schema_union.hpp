// schema_union.hpp: what the schema compiler asks of a oneOf's alternatives (inside the library
// only): whether two of them can match one value (oneOf allows exactly one).
#pragma once

#include <cstdint>

#include "json_schema.hpp"

namespace vkr::schema_union {

// True only when no JSON value matches both nodes as a validator reads them: different first
// bytes, disjoint const / enum values or integer ranges, or objects one of whose required
// properties the other refuses (its value exclusive with the other's, or the property absent
// from an object with "additionalProperties": false). False when unsure (a format, two string
// shapes, integer and number: 1.0 is both; nesting past 16 levels; `budget` steps spent: one
// budget serves a whole schema, so unions of unions cannot make the check take forever).
bool exclusive(const JsonSchema& s, int32_t a, int32_t b, int& budget);

// A union that reaches itself again through unions alone (an anyOf whose alternative is a $ref
// to itself, directly or through other unions): -1 if none. Reading it would look for the
// alternative a byte begins forever, so the compiler refuses it.
int32_t union_cycle(const JsonSchema& s, size_t nodes);

}  // namespace vkr::schema_union
