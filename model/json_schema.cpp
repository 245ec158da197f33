// json_schema.cpp: JsonSchema, the compiler of a schema to nodes (json_schema.hpp); the
// recognizer over them is schema_prefix.cpp.
#include "json_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "schema_compiler.hpp"
#include "schema_merge.hpp"
#include "schema_union.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using ojson = nlohmann::ordered_json;
using Kind = JsonSchema::Kind;

const std::set<std::string> kKeywords = {"type",
                                         "properties",
                                         "required",
                                         "additionalProperties",
                                         "minProperties",
                                         "maxProperties",
                                         "items",
                                         "prefixItems",
                                         "additionalItems",
                                         "uniqueItems",
                                         "minItems",
                                         "maxItems",
                                         "enum",
                                         "const",
                                         "anyOf",
                                         "oneOf",
                                         "allOf",
                                         "$ref",
                                         "$defs",
                                         "definitions",
                                         "minLength",
                                         "maxLength",
                                         "minimum",
                                         "maximum",
                                         "exclusiveMinimum",
                                         "exclusiveMaximum",
                                         "pattern",
                                         "format",
                                         "nullable",
                                         "propertyNames",
                                         "patternProperties",
                                         "multipleOf"};
// Keywords that constrain one type of value only (ignored for values of other types).
const std::set<std::string> kStringKeywords = {"minLength", "maxLength", "pattern", "format"};
const std::set<std::string> kNumberKeywords = {"multipleOf", "minimum", "maximum",
                                               "exclusiveMinimum", "exclusiveMaximum"};

}  // namespace

void bad_schema(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("json schema at '{}': {}", path.empty() ? "/" : path, what));
}

std::shared_ptr<const JsonSchema> SchemaCompiler::run() {
  auto s = std::make_shared<JsonSchema>();
  out_ = s.get();
  auto add = [&](Kind k) {
    JsonSchema::Node n;
    n.kind = k;
    out_->nodes_.push_back(std::move(n));
  };
  add(Kind::Any);
  add(Kind::Object);  // kAnyObject: any keys, any values
  out_->nodes_.back().free = true;
  add(Kind::Array);  // kAnyArray: items any
  add(Kind::String);
  add(Kind::Number);
  add(Kind::Boolean);
  out_->nodes_.back().literals = {"true", "false"};
  add(Kind::Null);
  out_->nodes_.back().literals = {"null"};
  out_->root_ = compile(root_, "");
  if (object_root_ && out_->node(out_->root_).kind != Kind::Object) {
    bad_schema("", "the root must describe an object (\"type\": \"object\")");
  }
  // Unions, once every node (recursive ones too) is filled in.
  if (const int32_t u = schema_union::union_cycle(*out_, out_->nodes_.size()); u >= 0) {
    const auto it = union_paths_.find(u);
    bad_schema(it == union_paths_.end() ? "" : it->second,
               "the anyOf / oneOf / allOf is its own alternative (through $ref): not supported, "
               "the search for the alternative a value begins would never end");
  }
  // Enum values the rest of their schema refuses are dropped (e.g. {"type": "string",
  // "maxLength": 2, "enum": ["ab", "abc"]} writes only "ab").
  if (!pending_enums_.empty()) {
    JsonSchema check = *out_;
    for (const auto& e : pending_enums_) {
      check.root_ = e.rest;
      std::erase_if(at(e.node).literals, [&](const std::string& text) {
        SchemaPrefix p(check);
        return !(p.push(text) && p.may_end());
      });
      if (at(e.node).literals.empty()) {
        bad_schema(e.path, "no enum / const value matches the keywords beside it");
      }
    }
  }
  int budget = 200000;  // steps of the oneOf checks, for the whole schema
  for (const auto& [alts, path] : one_of_) {
    for (size_t a = 0; a < alts.size(); ++a) {
      for (size_t b = a + 1; b < alts.size(); ++b) {
        if (schema_union::exclusive(*out_, alts[a], alts[b], budget)) continue;
        bad_schema(path,
                   fmt::format("oneOf alternatives {} and {} may both match one value, and oneOf "
                               "allows exactly one: tell them apart (by type, const / enum values, "
                               "or a required property whose const values differ, as a "
                               "discriminator does) or use anyOf",
                               a, b));
      }
    }
  }
  return s;
}

int32_t SchemaCompiler::add_node(Kind k) {
  out_->nodes_.emplace_back();
  out_->nodes_.back().kind = k;
  return static_cast<int32_t>(out_->nodes_.size() - 1);
}

int32_t SchemaCompiler::resolve(const std::string& ref, const std::string& path) {
  if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
  if (ref != "#" && !ref.starts_with("#/")) {
    bad_schema(path, fmt::format("$ref '{}' is not local (# or #/...)", ref));
  }
  const ojson* target = nullptr;
  try {
    target = &root_.at(ojson::json_pointer(ref.substr(1)));
  } catch (const ojson::exception&) {
    bad_schema(path, fmt::format("$ref '{}' points at nothing", ref));
  }
  // The node exists before its body is compiled, so recursive references find it.
  const int32_t i = add_node(Kind::Any);
  refs_[ref] = i;
  fill(i, *target, ref.substr(1));
  return i;
}

int32_t SchemaCompiler::compile(const ojson& s, const std::string& path) {
  if (s.is_object() && s.contains("$ref") && has_siblings(s, {"$ref"})) {
    // Keywords beside a $ref hold too (JSON Schema 2019 and later; draft 7 ignored them, so
    // output that meets both readings is the safe one).
    Deeper guard(this, path);
    return compile(flattened(s, path, "the keywords beside $ref allow none of its values"), path);
  }
  if (s.is_object() && s.contains("$ref")) {
    if (!s["$ref"].is_string()) bad_schema(path, "$ref must be a string");
    return resolve(s["$ref"].get<std::string>(), path);
  }
  const int32_t i = add_node(Kind::Any);
  fill(i, s, path);
  return i;
}

void SchemaCompiler::fill(int32_t i, const ojson& s, const std::string& path) {
  if (s.is_boolean()) {
    if (!s.get<bool>()) bad_schema(path, "the schema false matches nothing");
    return;  // true: any value
  }
  if (!s.is_object()) bad_schema(path, "a schema must be an object");
  if (s.contains("$ref")) {  // a $defs entry that is itself a reference
    const int32_t target = compile(s, path);
    at(i) = out_->node(target);
    return;
  }
  for (const auto& [k, v] : s.items()) {
    if (!kKeywords.count(k) && !schema_merge::annotation(k)) {
      bad_schema(path,
                 fmt::format("'{}' is not supported (supported: type, properties, "
                             "required, additionalProperties, minProperties, maxProperties, items, "
                             "prefixItems, additionalItems, "
                             "minItems, maxItems, uniqueItems, "
                             "minLength, maxLength, pattern, format, minimum, maximum, "
                             "exclusiveMinimum, "
                             "exclusiveMaximum, enum, const, anyOf, oneOf, allOf, $ref, "
                             "nullable, propertyNames, patternProperties, multipleOf)",
                             k));
    }
  }
  // Keywords beside nullable, allOf, enum / const and anyOf / oneOf hold too (JSON Schema ANDs
  // a schema's keywords): allOf's members are merged into one schema (schema_merge.hpp), the
  // keywords beside a union into each alternative, and an enum keeps the values the rest of its
  // schema allows (checked in run(), once every node is filled in).
  if (s.contains("nullable")) {  // OpenAPI 3.0: with a type, null is one more
    if (!s["nullable"].is_boolean()) bad_schema(path, "nullable must be true or false");
    ojson rest = schema_merge::without(s, {"nullable"});
    if (s["nullable"].get<bool>() && rest.contains("type") && !rest.contains("enum") &&
        !rest.contains("const")) {
      ojson t = rest["type"].is_array() ? rest["type"] : ojson::array({rest["type"]});
      if (std::find(t.begin(), t.end(), ojson("null")) == t.end()) t.push_back("null");
      rest["type"] = t;
    }
    fill(i, rest, path);
    return;
  }
  if (s.contains("allOf")) {
    const ojson& list = s["allOf"];
    if (!list.is_array() || list.empty()) {
      bad_schema(path, "allOf must be a non-empty array of schemas");
    }
    if (list.size() == 1 && !has_siblings(s, {"allOf"})) {
      // A union of one: node i stands for its schema without copying a node that may still
      // be being compiled (a recursive $ref).
      union_of(i, {compile(list[0], path + "/allOf/0")}, path, "allOf");
      return;
    }
    Deeper guard(this, path);
    fill(i, flattened(s, path, "allOf's schemas allow no value together"), path);
    return;
  }
  if (s.contains("enum") || s.contains("const")) {
    JsonSchema::Node n;
    n.kind = Kind::Enum;
    if (s.contains("const")) {
      n.literals.push_back(s["const"].dump());
    } else {
      if (!s["enum"].is_array() || s["enum"].empty())
        bad_schema(path, "enum must be a non-empty array");
      for (const auto& v : s["enum"]) n.literals.push_back(v.dump());
    }
    if (n.literals.size() > 64) bad_schema(path, "more than 64 enum values");
    if (has_siblings(s, {"enum", "const"})) {
      ojson rest = schema_merge::without(s, {"enum", "const"});
      if (!rest.contains("type")) rest["type"] = types_of_values(s);
      pending_enums_.push_back({i, compile(rest, path), path});
    }
    at(i) = std::move(n);
    return;
  }
  for (const char* alt : {"anyOf", "oneOf"}) {
    if (!s.contains(alt)) continue;
    const ojson& list = s[alt];
    if (!list.is_array() || list.empty())
      bad_schema(path, fmt::format("{} must be a non-empty array", alt));
    at(i).kind = Kind::Union;
    const bool siblings = has_siblings(s, {alt});
    const ojson rest = schema_merge::without(s, {alt});
    std::vector<int32_t> alts;
    for (size_t k = 0; k < list.size(); ++k) {
      const std::string at_k = fmt::format("{}/{}/{}", path, alt, k);
      if (!siblings) {
        alts.push_back(compile(list[k], at_k));
        continue;
      }
      const ojson merged = merge(
          at_k, [&](const schema_merge::Deref& d) { return schema_merge::both(rest, list[k], d); });
      if (merged == false) continue;  // an alternative the keywords beside it rule out
      Deeper guard(this, at_k);
      alts.push_back(compile(merged, at_k));
    }
    if (alts.empty()) {
      bad_schema(path, fmt::format("no {} alternative meets the keywords beside it", alt));
    }
    union_of(i, alts, path, alt);
    return;
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    const ojson& t = s["type"];
    if (t.is_string()) {
      types.push_back(t.get<std::string>());
    } else if (t.is_array() && !t.empty()) {
      for (const auto& x : t) {
        if (!x.is_string()) bad_schema(path, "type must be a string or an array of strings");
        types.push_back(x.get<std::string>());
      }
    } else {
      bad_schema(path, "type must be a string or an array of strings");
    }
  } else if (s.contains("properties") || s.contains("additionalProperties") ||
             s.contains("propertyNames") || s.contains("patternProperties")) {
    types.push_back("object");
  } else if (s.contains("items") || s.contains("prefixItems")) {
    types.push_back("array");
  } else {
    for (const auto& [k, v] : s.items()) {
      if (kStringKeywords.count(k) || kNumberKeywords.count(k)) {
        bad_schema(path, fmt::format("'{}' needs a \"type\" (string for lengths, patterns "
                                     "and formats, integer for bounds): alone it would leave "
                                     "other values free",
                                     k));
      }
    }
    return;  // any value
  }
  if (types.size() == 1) {
    typed(i, s, types[0], path);
    return;
  }
  at(i).kind = Kind::Union;
  std::vector<int32_t> alts;
  for (const auto& t : types) {
    const int32_t a = add_node(Kind::Any);
    typed(a, s, t, path);
    alts.push_back(a);
  }
  union_of(i, alts, path, "type");
}

// A union of `alts`. anyOf (and a list of types): alternatives may begin alike, a schema
// listed twice is read once. oneOf: no value may match two of them (checked in run()).
void SchemaCompiler::union_of(int32_t i, std::vector<int32_t> alts, const std::string& path,
                              const char* what) {
  if (alts.size() > JsonSchema::kMaxAlternatives) {
    bad_schema(path,
               fmt::format("more than {} {} alternatives", JsonSchema::kMaxAlternatives, what));
  }
  if (std::string_view(what) == "oneOf") {
    one_of_.emplace_back(alts, path);
  } else {
    std::vector<int32_t> once;
    for (int32_t a : alts) {
      if (std::find(once.begin(), once.end(), a) == once.end()) once.push_back(a);
    }
    alts = std::move(once);
  }
  at(i).kind = Kind::Union;
  at(i).alternatives = std::move(alts);
  union_paths_[i] = path;
}

// schema_merge's result (`how` given the $ref resolver), its errors named at `path`.
ojson SchemaCompiler::merge(const std::string& path,
                            const std::function<ojson(const schema_merge::Deref&)>& how) const {
  const schema_merge::Deref deref = [&](const std::string& ref) -> const ojson& {
    if (ref != "#" && !ref.starts_with("#/")) {
      bad_schema(path, fmt::format("$ref '{}' is not local (# or #/...)", ref));
    }
    try {
      return root_.at(ojson::json_pointer(ref.substr(1)));
    } catch (const ojson::exception&) {
      bad_schema(path, fmt::format("$ref '{}' points at nothing", ref));
    }
  };
  try {
    return how(deref);
  } catch (const Error& e) {
    if (e.message().starts_with("json schema at")) throw;
    bad_schema(path, e.message());
  }
}

// Whether `s` has keywords other than annotations, $defs and those `except` names.
bool SchemaCompiler::has_siblings(const ojson& s, std::initializer_list<const char*> except) {
  for (const auto& [k, v] : s.items()) {
    if (schema_merge::annotation(k) || k == "$defs" || k == "definitions") continue;
    if (std::none_of(except.begin(), except.end(), [&](const char* e) { return k == e; })) {
      return true;
    }
  }
  return false;
}

ojson SchemaCompiler::flattened(const ojson& s, const std::string& path, const char* none) const {
  const ojson merged =
      merge(path, [&](const schema_merge::Deref& d) { return schema_merge::flatten(s, d); });
  if (merged == false) bad_schema(path, fmt::format("{} (no type or enum value is in all)", none));
  return merged;
}

// The JSON types of an enum's / const's values (for the rest of its schema, when untyped).
ojson SchemaCompiler::types_of_values(const ojson& s) {
  const ojson values = s.contains("const") ? ojson::array({s["const"]}) : s["enum"];
  ojson types = ojson::array();
  for (const auto& v : values) {
    const char* t = schema_merge::json_type(v);
    if (std::find(types.begin(), types.end(), ojson(t)) == types.end()) types.push_back(t);
  }
  return types;
}

std::shared_ptr<const JsonSchema> JsonSchema::compile(const nlohmann::ordered_json& schema,
                                                      bool object_root) {
  return SchemaCompiler(schema, object_root).run();
}

std::shared_ptr<const JsonSchema> JsonSchema::any_object() {
  return compile(nlohmann::ordered_json{{"type", "object"}}, true);
}

}  // namespace vkr
