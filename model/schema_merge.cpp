// schema_merge.cpp: see schema_merge.hpp.
#include "schema_merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "vkr/error.hpp"

namespace vkr::schema_merge {

namespace {

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); }

// The schemas every value meets: true and {} (not null or [], which are no schemas at all).
bool anything(const ojson& s) {
  return (s.is_boolean() && s.get<bool>()) || (s.is_object() && s.empty());
}

// The schema with its top-level $refs replaced by their targets (keywords beside a $ref hold
// too), allOf folded in, annotations and $defs dropped. `hops` bounds chains and cycles of $refs.
ojson both_at(const ojson& a, const ojson& b, const Deref& deref, int depth);

// Combining recurses into properties, items and $ref targets: a cycle through $ref (an allOf
// that includes its own schema) would never end, so the depth is bounded.
constexpr int kMaxDepth = 64;

ojson flat(const ojson& s, const Deref& deref, int depth) {
  if (depth > kMaxDepth) {
    fail(fmt::format("schemas combined more than {} deep (an allOf or $ref that includes itself?)",
                     kMaxDepth));
  }
  if (s.is_object() && s.contains("$ref")) {
    if (!s["$ref"].is_string()) fail("$ref must be a string");
    const ojson& target = deref(s["$ref"].get<std::string>());
    ojson rest = ojson::object();
    for (const auto& [k, v] : s.items()) {
      if (k != "$ref" && !annotation(k) && k != "$defs" && k != "definitions") rest[k] = v;
    }
    return rest.empty() ? flat(target, deref, depth + 1)
                        : both_at(flat(target, deref, depth + 1), rest, deref, depth + 1);
  }
  if (!s.is_object()) return s;
  ojson r = ojson::object();
  for (const auto& [k, v] : s.items()) {
    if (!annotation(k) && k != "$defs" && k != "definitions" && k != "allOf") r[k] = v;
  }
  if (s.contains("allOf")) {
    const ojson& list = s["allOf"];
    if (!list.is_array() || list.empty()) fail("allOf must be a non-empty array of schemas");
    for (const auto& m : list) r = both_at(r, flat(m, deref, depth + 1), deref, depth + 1);
  }
  // draft 2019's tuple form as 2020-12's, so the two merge alike.
  if (r.contains("items") && r["items"].is_array()) {
    r["prefixItems"] = r["items"];
    r.erase("items");
    if (r.contains("additionalItems")) {
      r["items"] = r["additionalItems"];
      r.erase("additionalItems");
    }
  }
  return r;
}

std::vector<std::string> types_of(const ojson& s) {
  static const std::vector<std::string> all = {"object",  "array",   "string", "number",
                                               "integer", "boolean", "null"};
  if (!s.contains("type")) return all;
  if (s["type"].is_string()) return {s["type"].get<std::string>()};
  std::vector<std::string> out;
  for (const auto& t : s["type"]) out.push_back(t.get<std::string>());
  return out;
}

std::optional<ojson> values_of(const ojson& s) {
  if (s.contains("const")) return ojson::array({s["const"]});
  if (s.contains("enum")) return s["enum"];
  return std::nullopt;
}

// What side `s` says about the value of key `k`: its schema, or nullopt if it refuses the key.
std::optional<ojson> property(const ojson& s, const std::string& k) {
  if (s.contains("properties") && s["properties"].contains(k)) return s["properties"][k];
  if (!s.contains("additionalProperties")) return ojson::object();
  const ojson& extra = s["additionalProperties"];
  if (extra.is_boolean() && !extra.get<bool>()) return std::nullopt;
  return extra;
}

bool needs_key(const ojson& s, const std::string& k) {
  if (!s.contains("required")) return false;
  const ojson& r = s["required"];
  return std::find(r.begin(), r.end(), ojson(k)) != r.end();
}

void merge_objects(const ojson& a, const ojson& b, ojson& r, const Deref& deref, int depth) {
  std::vector<std::string> keys;
  for (const ojson* side : {&a, &b}) {
    if (!side->contains("properties")) continue;
    for (const auto& [k, v] : (*side)["properties"].items()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  }
  ojson props = ojson::object();
  for (const auto& k : keys) {
    const auto pa = property(a, k), pb = property(b, k);
    const ojson merged = pa && pb ? both_at(*pa, *pb, deref, depth + 1) : ojson(false);
    if (merged == false) {  // refused by a side, or no value meets both schemas
      if (needs_key(a, k) || needs_key(b, k)) {
        fail(
            fmt::format("property '{}' is required, but the schemas combined allow no value "
                        "for it (one's additionalProperties refuses it, or their schemas for it "
                        "do not meet)",
                        k));
      }
      continue;
    }
    props[k] = merged;
  }
  if (!keys.empty()) r["properties"] = props;
  const bool ea = a.contains("additionalProperties"), eb = b.contains("additionalProperties");
  if (ea && eb) {
    r["additionalProperties"] =
        both_at(a["additionalProperties"], b["additionalProperties"], deref, depth + 1);
  } else if (ea || eb) {
    r["additionalProperties"] = (ea ? a : b)["additionalProperties"];
  }
  ojson required = ojson::array();
  for (const ojson* side : {&a, &b}) {
    if (!side->contains("required")) continue;
    for (const auto& k : (*side)["required"]) {
      if (std::find(required.begin(), required.end(), k) == required.end()) required.push_back(k);
    }
  }
  if (!required.empty()) r["required"] = required;
}

void merge_arrays(const ojson& a, const ojson& b, ojson& r, const Deref& deref, int depth) {
  const ojson any = ojson::object();
  const ojson& ia = a.contains("items") ? a["items"] : any;
  const ojson& ib = b.contains("items") ? b["items"] : any;
  const size_t na = a.contains("prefixItems") ? a["prefixItems"].size() : 0;
  const size_t nb = b.contains("prefixItems") ? b["prefixItems"].size() : 0;
  if (na + nb > 0) {
    ojson prefix = ojson::array();
    for (size_t k = 0; k < std::max(na, nb); ++k) {
      prefix.push_back(both_at(k < na ? a["prefixItems"][k] : ia, k < nb ? b["prefixItems"][k] : ib,
                               deref, depth + 1));
    }
    r["prefixItems"] = prefix;
  }
  if (a.contains("items") || b.contains("items")) r["items"] = both_at(ia, ib, deref, depth + 1);
}

}  // namespace

bool annotation(const std::string& k) {
  static const char* const names[] = {"title",
                                      "description",
                                      "default",
                                      "examples",
                                      "example",
                                      "$schema",
                                      "$id",
                                      "$comment",
                                      "$anchor",
                                      "strict",
                                      "discriminator",
                                      "deprecated",
                                      "readOnly",
                                      "writeOnly",
                                      "contentEncoding",
                                      "contentMediaType",
                                      "contentSchema",
                                      "externalDocs",
                                      "xml"};
  if (k.starts_with("x-")) return true;  // OpenAPI's vendor extensions
  return std::find(std::begin(names), std::end(names), k) != std::end(names);
}

const char* json_type(const ojson& v) {
  return v.is_string()           ? "string"
         : v.is_number_integer() ? "integer"
         : v.is_number()         ? "number"
         : v.is_boolean()        ? "boolean"
         : v.is_null()           ? "null"
         : v.is_object()         ? "object"
                                 : "array";
}

ojson without(const ojson& s, std::initializer_list<const char*> drop) {
  if (!s.is_object()) return s;
  ojson r = s;
  for (const char* k : drop) r.erase(k);
  return r;
}

ojson both(const ojson& a, const ojson& b, const Deref& deref) { return both_at(a, b, deref, 0); }

ojson flatten(const ojson& s, const Deref& deref) { return flat(s, deref, 0); }

namespace {

ojson both_at(const ojson& a_in, const ojson& b_in, const Deref& deref, int depth) {
  if (anything(a_in)) return b_in;
  if (anything(b_in)) return a_in;
  const ojson a = flat(a_in, deref, depth + 1), b = flat(b_in, deref, depth + 1);
  if (a.is_boolean() || b.is_boolean()) return false;  // one is `false`: nothing matches
  if (!a.is_object() || !b.is_object()) fail("a schema must be an object");
  const bool ua = a.contains("anyOf") || a.contains("oneOf");
  const bool ub = b.contains("anyOf") || b.contains("oneOf");
  if (ua && ub) fail("two unions (anyOf / oneOf) that must both hold are not supported");
  ojson r = ojson::object();
  for (const char* u : {"anyOf", "oneOf"}) {
    if (a.contains(u)) r[u] = a[u];
    if (b.contains(u)) r[u] = b[u];
  }
  if (a.contains("type") || b.contains("type")) {
    const auto ta = types_of(a), tb = types_of(b);
    ojson types = ojson::array();
    auto has = [](const std::vector<std::string>& v, const char* t) {
      return std::find(v.begin(), v.end(), t) != v.end();
    };
    for (const auto& t : ta) {
      const bool in_b = has(tb, t.c_str()) || (t == "integer" && has(tb, "number"));
      if (in_b) types.push_back(t);
      if (t == "number" && !has(tb, "number") && has(tb, "integer") && !has(ta, "integer")) {
        types.push_back("integer");
      }
    }
    if (types.empty()) return false;  // no type is allowed by both: nothing matches
    r["type"] = types.size() == 1 ? types[0] : types;
  }
  const auto va = values_of(a), vb = values_of(b);
  if (va || vb) {
    ojson values = ojson::array();
    for (const auto& v : va ? *va : *vb) {
      if (!va || !vb || std::find(vb->begin(), vb->end(), v) != vb->end()) values.push_back(v);
    }
    if (r.contains("type")) {  // values of a type the other side refuses cannot come
      const auto types = types_of(r);
      auto has = [&](const char* t) {
        return std::find(types.begin(), types.end(), t) != types.end();
      };
      auto refused = [&](const ojson& v) {
        if (v.is_number()) {
          const bool whole =
              v.is_number_integer() || std::trunc(v.get<double>()) == v.get<double>();
          return !has("number") && !(whole && has("integer"));
        }
        return !has(json_type(v));
      };
      ojson kept = ojson::array();
      for (const auto& v : values) {
        if (!refused(v)) kept.push_back(v);
      }
      values = kept;
    }
    if (values.empty()) return false;  // no value is allowed by both
    r["enum"] = values;
  }
  for (const char* k : {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}) {
    if (a.contains(k) && b.contains(k)) {
      r[k] = a[k] < b[k] ? b[k] : a[k];
    } else if (a.contains(k) || b.contains(k)) {
      r[k] = (a.contains(k) ? a : b)[k];
    }
  }
  for (const char* k : {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}) {
    if (a.contains(k) && b.contains(k)) {
      r[k] = b[k] < a[k] ? b[k] : a[k];
    } else if (a.contains(k) || b.contains(k)) {
      r[k] = (a.contains(k) ? a : b)[k];
    }
  }
  if (a.contains("uniqueItems") || b.contains("uniqueItems")) {
    r["uniqueItems"] = a.value("uniqueItems", false) || b.value("uniqueItems", false);
  }
  const bool objects = a.contains("properties") || b.contains("properties") ||
                       a.contains("additionalProperties") || b.contains("additionalProperties") ||
                       a.contains("required") || b.contains("required");
  if (objects) merge_objects(a, b, r, deref, depth);
  merge_arrays(a, b, r, deref, depth);
  static const char* const handled[] = {"anyOf",
                                        "oneOf",
                                        "type",
                                        "enum",
                                        "const",
                                        "minimum",
                                        "exclusiveMinimum",
                                        "minLength",
                                        "minItems",
                                        "minProperties",
                                        "maximum",
                                        "exclusiveMaximum",
                                        "maxLength",
                                        "maxItems",
                                        "maxProperties",
                                        "uniqueItems",
                                        "properties",
                                        "additionalProperties",
                                        "required",
                                        "items",
                                        "prefixItems"};
  for (const ojson* side : {&a, &b}) {
    for (const auto& [k, v] : side->items()) {
      if (std::find(std::begin(handled), std::end(handled), k) != std::end(handled)) continue;
      if (!r.contains(k)) {
        r[k] = v;
      } else if (r[k] != v) {
        fail(
            fmt::format("'{}' is given two different values ({} and {}) that must both hold: "
                        "not supported",
                        k, r[k].dump(), v.dump()));
      }
    }
  }
  return r;
}

}  // namespace

}  // namespace vkr::schema_merge
