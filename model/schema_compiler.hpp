// schema_compiler.hpp: SchemaCompiler, which turns a JSON schema into JsonSchema's nodes
// (json_schema.hpp). Internal to the compiler's two files: json_schema.cpp (references, unions,
// keywords that combine, the checks once every node is filled in) and schema_compile_types.cpp
// (each type's keywords: objects, arrays, strings, numbers).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "json_schema.hpp"
#include "schema_merge.hpp"

namespace vkr {

// Error(InvalidArgument) "json schema at '<path>': <what>".
[[noreturn]] void bad_schema(const std::string& path, const std::string& what);

class SchemaCompiler {
  using ojson = nlohmann::ordered_json;
  using Kind = JsonSchema::Kind;

 public:
  SchemaCompiler(const ojson& root, bool object_root) : root_(root), object_root_(object_root) {}

  std::shared_ptr<const JsonSchema> run();

 private:
  JsonSchema::Node& at(int32_t i) { return out_->nodes_[static_cast<size_t>(i)]; }
  int32_t add_node(Kind k);

  int32_t resolve(const std::string& ref, const std::string& path);

  int32_t compile(const ojson& s, const std::string& path);

  void fill(int32_t i, const ojson& s, const std::string& path);

  void typed(int32_t i, const ojson& s, const std::string& type, const std::string& path);
  // The node of propertyNames' schema (strings: a type-less schema is a string's).
  int32_t property_names(const ojson& names, const std::string& path);

  // minProperties / maxProperties. Keys written freely (no properties) could repeat, and a
  // parser keeps one of each: more than one is only counted on declared properties.
  void object_counts(int32_t i, const ojson& s, const std::string& path);

  // The counts against the declared properties (after they are read).
  void check_counts(const JsonSchema::Node& n, const std::string& path);

  // The first items' schemas: prefixItems (2020-12) or a list of schemas as items (draft 4 to
  // 2019-09); the items after them: items (2020-12) or additionalItems, false meaning none.
  // uniqueItems: items that are literals (enum, const, boolean, null), each written once.
  void array(int32_t i, const ojson& s, const std::string& path);

  // The node a uniqueItems array's items resolve to (unions of one looked through), -1 if
  // unsupported: literals (enum, const, boolean, null: each written once), or strings, integers
  // and numbers that a repeated value can always grow out of (no maxLength, pattern or bounds).
  int32_t unique_node(int32_t i) const;

  // Whether `s` has keywords other than annotations, $defs and those `except` names.
  static bool has_siblings(const ojson& s, std::initializer_list<const char*> except);

  // The JSON types of an enum's / const's values (for the rest of its schema, when untyped).
  static ojson types_of_values(const ojson& s);

  // schema_merge's result (`how` given the $ref resolver), its errors named at `path`.
  ojson merge(const std::string& path,
              const std::function<ojson(const schema_merge::Deref&)>& how) const;

  // `s` with allOf and the keywords beside its $ref merged into one schema (schema_merge.hpp);
  // one no value meets is an error saying `none`.
  ojson flattened(const ojson& s, const std::string& path, const char* none) const;

  // Merged schemas are compiled again and may hold the union they came from (through $ref):
  // their nesting is bounded.
  struct Deeper {
    Deeper(SchemaCompiler* c, const std::string& path) : c_(c) {
      if (++c_->merge_depth_ > 16) {
        bad_schema(path,
                   "keywords beside anyOf / oneOf / allOf combined more than 16 deep "
                   "(a union that includes itself through $ref?): not supported");
      }
    }
    ~Deeper() { --c_->merge_depth_; }
    Deeper(const Deeper&) = delete;
    Deeper& operator=(const Deeper&) = delete;
    SchemaCompiler* c_;
  };

  // A count keyword (minItems, maxLength, ...): an integer in [0, 2^20], `fallback` if absent.
  static uint32_t count(const ojson& s, const char* name, uint32_t fallback,
                        const std::string& path);

  // minimum / maximum / exclusiveMinimum / exclusiveMaximum as the closed integer range
  // [lo, hi] (read as numbers' bounds are: decimal_bounds.hpp).
  static void integer_bounds(JsonSchema::Node& n, const ojson& s, const std::string& path);

  // A union of `alts`. anyOf (and a list of types): alternatives may begin alike, a schema
  // listed twice is read once. oneOf: no value may match two of them (checked in run()).
  void union_of(int32_t i, std::vector<int32_t> alts, const std::string& path, const char* what);

  const ojson& root_;
  bool object_root_;
  JsonSchema* out_ = nullptr;
  std::map<std::string, int32_t> refs_;
  std::vector<std::pair<std::vector<int32_t>, std::string>> one_of_;  // alternatives, path
  std::map<int32_t, std::string> union_paths_;                        // for error messages
  struct PendingEnum {
    int32_t node, rest;  // an enum node, and the node of the rest of its schema
    std::string path;
  };
  std::vector<PendingEnum> pending_enums_;
  int merge_depth_ = 0;
};

}  // namespace vkr
