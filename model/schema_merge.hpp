// schema_merge.hpp: one JSON schema for two that must both hold (JSON Schema ANDs a schema's
// keywords: allOf's members, and the keywords beside an anyOf / oneOf, which apply to every
// alternative). JsonSchema's compiler reads unions and literals first; without this, keywords
// beside them (a "type": "object" with "properties" beside "anyOf": [{"required": ["a"]}, ...])
// would be dropped and the output could break them.
//
// both(a, b): keyword by keyword. type: the types both allow (integer within number); enum /
// const: the values both list; properties, required and additionalProperties: a key is allowed
// where both sides allow it (a side's properties, else its additionalProperties), its schema
// both sides' (a required key neither allows is an error); items / additionalItems: both;
// minimum / minLength / minItems / minProperties (and the exclusive bound): the larger,
// maximum ...: the smaller; uniqueItems: either. Schemas no value can meet (no common type or
// enum value) combine to `false`; a property that can then have no value is left out. A union
// (anyOf / oneOf) on one side stays in the result (its alternatives take the rest when compiled);
// on both sides it is an error, as is a keyword both give different values that cannot be combined
// (two patterns, two formats). Local $refs at the top of either side are replaced by what they
// point at; annotations and $defs are dropped.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace vkr::schema_merge {

using ojson = nlohmann::ordered_json;
// The schema a local "$ref" ("#", "#/...") points at; throws for one that points at nothing.
using Deref = std::function<const ojson&(const std::string& ref)>;

// Keywords that only annotate (title, description, default, examples, deprecated, readOnly,
// writeOnly, contentMediaType, OpenAPI's example, xml, x-...): ignored when compiling.
bool annotation(const std::string& k);

// Error(InvalidArgument) with what cannot be combined (no JSON pointer: the caller adds it).
ojson both(const ojson& a, const ojson& b, const Deref& deref);

// `s` as one schema object: its top-level $refs replaced by their targets, allOf's members
// merged in, annotations and $defs dropped.
ojson flatten(const ojson& s, const Deref& deref);

// The JSON Schema type name of a value: string, integer (numbers nlohmann reads as integers),
// number, boolean, null, object or array.
const char* json_type(const ojson& v);

// `s` without the keywords `drop` names (a schema object; true / false as they are).
ojson without(const ojson& s, std::initializer_list<const char*> drop);

}  // namespace vkr::schema_merge
