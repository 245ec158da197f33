// schema_compile_types.cpp: SchemaCompiler's keywords of each type (schema_compiler.hpp):
// objects (properties, required, counts), arrays (prefixItems, items, uniqueItems), strings
// (lengths, pattern, format), numbers and integers (bounds).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "decimal_bounds.hpp"
#include "schema_compiler.hpp"
#include "string_pattern.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using ojson = nlohmann::ordered_json;
using Kind = JsonSchema::Kind;

}  // namespace

int32_t SchemaCompiler::property_names(const ojson& names, const std::string& path) {
  const std::string at_names = path + "/propertyNames";
  if (!names.is_object()) bad_schema(at_names, "must be a schema object");
  // Keys are strings: a schema without a type, enum or const describes strings.
  ojson key = names;
  if (!key.contains("type") && !key.contains("enum") && !key.contains("const")) {
    key["type"] = "string";
  }
  for (const char* k : {"$ref", "anyOf", "oneOf", "allOf", "not"}) {
    if (key.contains(k)) bad_schema(at_names, fmt::format("'{}' here is not supported", k));
  }
  const int32_t node = compile(key, at_names);
  const auto& n = out_->node(node);
  const bool strings =
      n.kind == Kind::String || (n.kind == Kind::Enum && !n.literals.empty() &&
                                 std::all_of(n.literals.begin(), n.literals.end(),
                                             [](const std::string& l) { return l[0] == '"'; }));
  if (!strings) bad_schema(at_names, "must describe strings (keys are strings)");
  return node;
}

void SchemaCompiler::typed(int32_t i, const ojson& s, const std::string& type,
                           const std::string& path) {
  if (type == "object") {
    at(i).kind = Kind::Object;
    object_counts(i, s, path);
    const bool named = s.contains("propertyNames"), patterned = s.contains("patternProperties");
    if (s.contains("properties") && (named || patterned)) {
      bad_schema(path, fmt::format("'{}' beside 'properties' is not supported",
                                   named ? "propertyNames" : "patternProperties"));
    }
    if (named && patterned) {
      bad_schema(path, "'propertyNames' beside 'patternProperties' is not supported");
    }
    if (patterned) {
      // Only keys matching the pattern are written (as only declared keys are beside
      // "properties"), each with its value schema: valid whatever additionalProperties says.
      const ojson& pp = s["patternProperties"];
      if (!pp.is_object()) bad_schema(path + "/patternProperties", "must be an object");
      if (pp.size() != 1) {
        bad_schema(path + "/patternProperties",
                   "must hold one pattern (several, whose keys' values differ, are not "
                   "supported)");
      }
      const auto& [pattern, value] = *pp.items().begin();
      at(i).free = true;
      const std::string at_pattern = path + "/patternProperties/" + pattern;
      const int32_t key = compile(ojson{{"type", "string"}, {"pattern", pattern}}, at_pattern);
      const int32_t e = compile(value, at_pattern);
      at(i).key = key;
      at(i).extra = e;
      check_counts(at(i), path);
      return;
    }
    if (!s.contains("properties")) {
      const ojson* extra =
          s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
      at(i).free = true;
      if (extra && extra->is_boolean() && !extra->get<bool>()) {
        at(i).free = false;  // {} only
        at(i).closed = true;
      } else if (extra && extra->is_object()) {
        const int32_t e = compile(*extra, path + "/additionalProperties");
        at(i).extra = e;
      }
      if (named && at(i).free) at(i).key = property_names(s["propertyNames"], path);
      if (s.contains("required") && !s["required"].empty()) {
        bad_schema(path, "required keys need properties");
      }
      check_counts(at(i), path);
      return;
    }
    const ojson& props = s["properties"];
    if (!props.is_object()) bad_schema(path + "/properties", "must be an object");
    if (props.size() > 64) bad_schema(path + "/properties", "more than 64 properties");
    std::vector<std::string> keys;
    std::vector<int32_t> values;
    for (const auto& [k, v] : props.items()) {
      keys.push_back(ojson(k).dump());
      values.push_back(compile(v, path + "/properties/" + k));
    }
    std::vector<bool> required(keys.size(), false);
    if (s.contains("required")) {
      if (!s["required"].is_array()) bad_schema(path + "/required", "must be an array of names");
      for (const auto& r : s["required"]) {
        if (!r.is_string()) bad_schema(path + "/required", "must be an array of names");
        const std::string key = ojson(r.get<std::string>()).dump();
        size_t k = 0;
        while (k < keys.size() && keys[k] != key) ++k;
        if (k == keys.size()) {
          bad_schema(path + "/required",
                     fmt::format("'{}' is not in properties", r.get<std::string>()));
        }
        required[k] = true;
      }
    }
    at(i).keys = std::move(keys);
    at(i).values = std::move(values);
    at(i).required = std::move(required);
    const ojson* extra = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    at(i).closed = extra && extra->is_boolean() && !extra->get<bool>();
    check_counts(at(i), path);
  } else if (type == "array") {
    array(i, s, path);
  } else if (type == "string") {
    at(i).kind = Kind::String;
    at(i).min_len = count(s, "minLength", 0, path);
    at(i).max_len = count(s, "maxLength", UINT32_MAX, path);
    if (at(i).min_len > at(i).max_len) bad_schema(path, "minLength is above maxLength");
    if (s.contains("pattern") && s.contains("format")) {
      bad_schema(path, "'pattern' beside 'format' is not supported");
    }
    for (const char* k : {"pattern", "format"}) {
      if (!s.contains(k)) continue;
      if (!s[k].is_string()) bad_schema(path, fmt::format("{} must be a string", k));
      const std::string text = s[k].get<std::string>();
      if (k[0] == 'f' && StringPattern::any_text_format(text)) continue;  // any string
      try {
        out_->patterns_.push_back(k[0] == 'p' ? StringPattern::compile(text)
                                              : StringPattern::format(text));
      } catch (const Error& e) {
        bad_schema(path, e.message());
      }
      at(i).pattern = static_cast<int32_t>(out_->patterns_.size() - 1);
    }
    const auto& n = at(i);
    if (n.pattern >= 0 && !out_->patterns_.back().can_finish(
                              out_->patterns_.back().start(), n.min_len,
                              n.max_len == UINT32_MAX ? StringPattern::kUnbounded : n.max_len)) {
      const char* what = s.contains("pattern") ? "pattern" : "format";
      bad_schema(path,
                 n.max_len == UINT32_MAX
                     ? fmt::format("no text of the {} has {} characters or more", what, n.min_len)
                     : fmt::format("no text of the {} has between {} and {} characters", what,
                                   n.min_len, n.max_len));
    }
  } else if (type == "number") {
    if (s.contains("multipleOf")) {
      bad_schema(path, "multipleOf is supported on integers only (\"type\": \"integer\")");
    }
    at(i).kind = Kind::Number;
    try {
      if (const auto r = decimal::number_range(s)) {
        at(i).dec_bounded = true;
        at(i).dec_range = *r;
      }
    } catch (const Error& e) {
      bad_schema(path, e.message());
    }
  } else if (type == "integer") {
    at(i).kind = Kind::Integer;
    integer_bounds(at(i), s, path);
  } else if (type == "boolean") {
    at(i).kind = Kind::Boolean;
    at(i).literals = {"true", "false"};
  } else if (type == "null") {
    at(i).kind = Kind::Null;
    at(i).literals = {"null"};
  } else {
    bad_schema(path, fmt::format("type '{}' is not one of object, array, string, number, "
                                 "integer, boolean, null",
                                 type));
  }
}

// minProperties / maxProperties. Keys written freely (no properties) could repeat, and a
// parser keeps one of each: more than one is only counted on declared properties.
void SchemaCompiler::object_counts(int32_t i, const ojson& s, const std::string& path) {
  const uint32_t lo = count(s, "minProperties", 0, path);
  const uint32_t hi = count(s, "maxProperties", UINT32_MAX, path);
  if (lo > hi) bad_schema(path, "minProperties is above maxProperties");
  at(i).min_props = lo;
  at(i).max_props = hi;
}

// The counts against the declared properties (after they are read).
void SchemaCompiler::check_counts(const JsonSchema::Node& n, const std::string& path) {
  if (n.free || n.keys.empty()) {
    if (!n.free && n.min_props > 0) {
      bad_schema(path, fmt::format("minProperties {} on an object with no properties and "
                                   "additionalProperties false (only {{}})",
                                   n.min_props));
    }
    if (n.min_props > 1) {
      bad_schema(path,
                 "minProperties above 1 needs \"properties\" (keys written freely "
                 "could repeat, and a parser keeps one of each)");
    }
    return;
  }
  const auto required =
      static_cast<uint32_t>(std::count(n.required.begin(), n.required.end(), true));
  if (required > n.max_props) {
    bad_schema(path, fmt::format("maxProperties {} is below the {} required properties",
                                 n.max_props, required));
  }
  if (n.min_props > n.keys.size()) {
    bad_schema(path, fmt::format("minProperties {} is above the {} properties declared (other "
                                 "keys are never written)",
                                 n.min_props, n.keys.size()));
  }
}

// The first items' schemas: prefixItems (2020-12) or a list of schemas as items (draft 4 to
// 2019-09); the items after them: items (2020-12) or additionalItems, false meaning none.
// uniqueItems: items that are literals (enum, const, boolean, null), each written once.
void SchemaCompiler::array(int32_t i, const ojson& s, const std::string& path) {
  at(i).kind = Kind::Array;
  const bool listed = s.contains("items") && s["items"].is_array();
  if (listed && s.contains("prefixItems")) {
    bad_schema(path, "items must be one schema beside prefixItems");
  }
  const char* first = s.contains("prefixItems") ? "prefixItems" : listed ? "items" : nullptr;
  const char* rest = listed ? "additionalItems" : "items";
  std::vector<int32_t> prefix;
  if (first) {
    const ojson& list = s[first];
    if (!list.is_array()) bad_schema(path, fmt::format("{} must be an array of schemas", first));
    if (list.size() > 64) bad_schema(path, fmt::format("more than 64 {}", first));
    for (size_t k = 0; k < list.size(); ++k) {
      prefix.push_back(compile(list[k], fmt::format("{}/{}/{}", path, first, k)));
    }
  }
  const uint32_t min_items = count(s, "minItems", 0, path);
  uint32_t max_items = count(s, "maxItems", UINT32_MAX, path);
  int32_t items = JsonSchema::kAny;
  if (s.contains(rest)) {
    const ojson& r = s[rest];
    if (r.is_boolean() && !r.get<bool>()) {
      max_items = std::min(max_items, static_cast<uint32_t>(prefix.size()));
    } else {
      items = compile(r, path + "/" + rest);
    }
  }
  bool unique = false;
  if (s.contains("uniqueItems")) {
    if (!s["uniqueItems"].is_boolean()) bad_schema(path, "uniqueItems must be true or false");
    unique = s["uniqueItems"].get<bool>();
  }
  if (unique) {
    if (!prefix.empty())
      bad_schema(path, fmt::format("uniqueItems beside {} is not supported", first));
    items = unique_node(items);
    if (items < 0) {
      bad_schema(path,
                 "uniqueItems is supported for items that are enum, const, boolean or null "
                 "values, or strings / integers / numbers without maxLength, pattern, format "
                 "or bounds (a repeated one can then always be made longer)");
    }
    const auto& it = out_->node(items);
    if (!it.literals.empty()) {
      const auto distinct = static_cast<uint32_t>(it.literals.size());
      if (min_items > distinct) {
        bad_schema(path, fmt::format("uniqueItems with minItems {}, but the items have only {} "
                                     "distinct values",
                                     min_items, distinct));
      }
      max_items = std::min(max_items, distinct);
    }
  }
  if (min_items > max_items) {
    bad_schema(path, max_items == prefix.size() && !unique
                         ? "minItems is above the number of items allowed"
                         : "minItems is above maxItems");
  }
  JsonSchema::Node& n = at(i);
  n.prefix = std::move(prefix);
  n.items = items;
  n.unique = unique;
  n.min_items = min_items;
  n.max_items = max_items;
}

// The node a uniqueItems array's items resolve to (unions of one looked through), -1 if
// unsupported: literals (enum, const, boolean, null: each written once), or strings, integers
// and numbers that a repeated value can always grow out of (no maxLength, pattern or bounds).
int32_t SchemaCompiler::unique_node(int32_t i) const {
  for (int k = 0; k < 16; ++k) {
    const auto& n = out_->node(i);
    switch (n.kind) {
      case Kind::Enum:
      case Kind::Boolean:
      case Kind::Null:
        return i;
      case Kind::String:
        return n.max_len == UINT32_MAX && n.pattern < 0 ? i : -1;
      case Kind::Integer:
        return n.bounded ? -1 : i;
      case Kind::Number:
        return n.dec_bounded ? -1 : i;
      case Kind::Union:
        if (n.alternatives.size() != 1) return -1;
        i = n.alternatives[0];
        break;
      default:
        return -1;
    }
  }
  return -1;
}

// A count keyword (minItems, maxLength, ...): an integer in [0, 2^20], `fallback` if absent.
uint32_t SchemaCompiler::count(const ojson& s, const char* name, uint32_t fallback,
                               const std::string& path) {
  if (!s.contains(name)) return fallback;
  const ojson& v = s[name];
  if (!v.is_number_unsigned() || v.get<uint64_t>() > 1u << 20) {
    bad_schema(path, fmt::format("{} must be an integer in [0, {}]", name, 1u << 20));
  }
  return static_cast<uint32_t>(v.get<uint64_t>());
}

// minimum / maximum / exclusiveMinimum / exclusiveMaximum as the closed integer range
// [lo, hi] (read as numbers' bounds are: decimal_bounds.hpp).
void SchemaCompiler::integer_bounds(JsonSchema::Node& n, const ojson& s, const std::string& path) {
  try {
    if (const auto r = decimal::integer_range(s, JsonSchema::kMaxIntDigits)) {
      n.bounded = true;
      n.lo = r->first;
      n.hi = r->second;
    }
  } catch (const Error& e) {
    bad_schema(path, e.message());
  }
  if (!s.contains("multipleOf")) return;
  // A whole multipleOf: the value is checked digit by digit as a bounded one is (an exponent
  // would hide the remainder), within the 18-digit range when no bound says otherwise.
  constexpr int64_t kLargest = 999'999'999'999'999'999;
  const ojson& m = s["multipleOf"];
  const double x = m.is_number() ? m.get<double>() : 0;
  if (!m.is_number() || !(x > 0) || x != std::floor(x) || x > static_cast<double>(kLargest)) {
    bad_schema(path, fmt::format("multipleOf {} on an integer: only a whole number above 0 is "
                                 "supported",
                                 m.dump()));
  }
  n.multiple = m.is_number_unsigned() || m.is_number_integer() ? m.get<uint64_t>()
                                                               : static_cast<uint64_t>(x);
  if (n.multiple == 1) return;
  if (!n.bounded) {
    n.bounded = true;
    n.lo = -kLargest;
    n.hi = kLargest;
  }
  if (!decimal::has_multiple(n.lo, n.hi, n.multiple)) {
    bad_schema(path, fmt::format("no multiple of {} lies in [{}, {}]", n.multiple, n.lo, n.hi));
  }
}

}  // namespace vkr
