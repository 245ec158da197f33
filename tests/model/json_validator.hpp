// json_validator.hpp: the JSON schema tests' second implementation, a naive recursive validator
// of parsed instances (nlohmann's parser for the syntax; the subset's meaning written plainly),
// and the checks the schema tests share: compile errors, constrained walks judged by it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "json_constraint.hpp"
#include "json_schema.hpp"
#include "json_test_util.hpp"
#include "tokenizer.hpp"
#include "vkr/error.hpp"

namespace vkr::test {

using ojson = nlohmann::ordered_json;

// RFC 3339 date-time, as the subset vkrwkv writes (string_pattern.hpp): calendar days (February
// up to the 28th), hours 00-23, a zone; checked field by field rather than by a pattern.
inline bool is_date_time(const std::string& t) {
  int y, mo, d, h, mi, sec, n = 0;
  if (t.size() < 20 ||
      std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
      n != 19) {
    return false;
  }
  for (size_t k : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!std::isdigit(static_cast<unsigned char>(t[k]))) return false;
  }
  const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || h > 23 || mi > 59 || sec > 59) {
    return false;
  }
  size_t k = 19;
  if (k < t.size() && t[k] == '.') {
    const size_t start = ++k;
    while (k < t.size() && std::isdigit(static_cast<unsigned char>(t[k]))) ++k;
    if (k == start) return false;
  }
  const std::string zone = t.substr(k);
  if (zone == "Z") return true;
  int zh, zm;
  n = 0;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
         std::isdigit(static_cast<unsigned char>(zone[1])) &&
         std::isdigit(static_cast<unsigned char>(zone[2])) && zone[3] == ':' &&
         std::isdigit(static_cast<unsigned char>(zone[4])) &&
         std::isdigit(static_cast<unsigned char>(zone[5])) &&
         std::sscanf(zone.c_str() + 1, "%2d:%2d%n", &zh, &zm, &n) == 2 && zh <= 23 && zm <= 59;
}

// An http(s) URI checked loosely but independently of the format's pattern: the scheme, a host
// of letters, digits, '.' and '-', then only RFC 3986 characters, each '%' starting an escape,
// at most one '#'.
inline bool is_http_uri(const std::string& t) {
  const size_t start = t.rfind("https://", 0) == 0 ? 8 : t.rfind("http://", 0) == 0 ? 7 : 0;
  if (start == 0 || start == t.size() || !std::isalnum(static_cast<unsigned char>(t[start]))) {
    return false;
  }
  static const std::string allowed =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%";
  for (size_t k = start; k < t.size(); ++k) {
    if (allowed.find(t[k]) == std::string::npos) return false;
    if (t[k] == '%' && (k + 2 >= t.size() || !std::isxdigit(static_cast<unsigned char>(t[k + 1])) ||
                        !std::isxdigit(static_cast<unsigned char>(t[k + 2])))) {
      return false;
    }
  }
  return std::count(t.begin(), t.end(), '#') <= 1;
}

// RFC 4648 base64 (`url`: the URL-safe alphabet), padded: checked by counting, not by a pattern.
inline bool is_base64(const std::string& t, bool url) {
  if (t.size() % 4 != 0) return false;
  const size_t pad = t.ends_with("==") ? 2 : t.ends_with("=") ? 1 : 0;
  for (size_t i = 0; i + pad < t.size(); ++i) {
    const char c = t[i];
    const bool alpha = std::isalnum(static_cast<unsigned char>(c)) != 0;
    if (!alpha && !(url ? c == '-' || c == '_' : c == '+' || c == '/')) return false;
  }
  return true;
}

// RFC 6901: empty, or '/' first, every '~' starting ~0 or ~1.
inline bool is_json_pointer(const std::string& t) {
  if (!t.empty() && t[0] != '/') return false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '~' && (i + 1 == t.size() || (t[i + 1] != '0' && t[i + 1] != '1'))) return false;
  }
  return true;
}

// Dotted decimal 0-255 without leading zeros, or eight groups of 1-4 lowercase hex digits.
inline bool is_ip_address(const std::string& t) {
  const bool v4 = t.find(':') == std::string::npos;
  const char sep = v4 ? '.' : ':';
  size_t groups = 0, at = 0;
  for (;;) {
    const size_t end = std::min(t.find(sep, at), t.size());
    const std::string g = t.substr(at, end - at);
    if (g.empty() || g.size() > (v4 ? 3u : 4u)) return false;
    for (char c : g) {
      if (!(std::isdigit(static_cast<unsigned char>(c)) || (!v4 && c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    if (v4 && ((g.size() > 1 && g[0] == '0') || std::stoi(g) > 255)) return false;
    ++groups;
    if (end == t.size()) break;
    at = end + 1;
  }
  return groups == (v4 ? 4u : 8u);
}

// The naive validator: `v` against schema `s` (the subset's meaning: an object's keys are its
// declared ones, in schema order; `loose`: JSON Schema's, where other keys are allowed unless
// additionalProperties refuses them, in any order: for schemas that combine object schemas,
// whose output the subset's reading of each part would refuse).
inline bool valid(const ojson& v, const ojson& s, const ojson& root, bool loose = false) {
  // Keywords beside a $ref hold too (JSON Schema 2019 and later).
  if (s.contains("$ref") &&
      !valid(v, root.at(ojson::json_pointer(s["$ref"].get<std::string>().substr(1))), root,
             loose)) {
    return false;
  }
  // Every keyword holds (JSON Schema ANDs them): allOf's members, const / enum, a union, and the
  // type's own keywords beside them.
  if (s.contains("allOf")) {
    for (const auto& a : s["allOf"]) {
      if (!valid(v, a, root, loose)) return false;
    }
  }
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
    return false;
  }
  if (s.contains("anyOf")) {
    bool any = false;
    for (const auto& a : s["anyOf"]) any = any || valid(v, a, root, loose);
    if (!any) return false;
  }
  if (s.contains("oneOf")) {
    int n = 0;
    for (const auto& a : s["oneOf"]) n += valid(v, a, root, loose) ? 1 : 0;
    if (n != 1) return false;
  }
  // Without a type, the keywords of the value's own type apply.
  std::vector<std::string> types;
  if (!s.contains("type")) {
    types.push_back(v.is_string()           ? "string"
                    : v.is_number_integer() ? "integer"
                    : v.is_number()         ? "number"
                    : v.is_boolean()        ? "boolean"
                    : v.is_null()           ? "null"
                    : v.is_array()          ? "array"
                                            : "object");
  } else if (s["type"].is_string()) {
    types.push_back(s["type"]);
  } else {
    for (const auto& t : s["type"]) types.push_back(t);
  }
  if (s.value("nullable", false) && s.contains("type")) types.push_back("null");  // OpenAPI 3.0
  for (const auto& t : types) {
    if (t == "string" && v.is_string()) {
      const std::string& text = v.get_ref<const std::string&>();
      const auto chars = static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) >> 6) != 2;
      }));
      if (s.contains("pattern") &&
          !std::regex_search(text, std::regex(s["pattern"].get<std::string>()))) {
        return false;
      }
      if (s.value("format", "") == "date-time" && !is_date_time(text)) return false;
      if (s.value("format", "") == "uri" && !is_http_uri(text)) return false;
      const std::string format = s.value("format", "");
      if ((format == "base64" || format == "base64url") &&
          !is_base64(text, format == "base64url")) {
        return false;
      }
      if (format == "json-pointer" && !is_json_pointer(text)) return false;
      if (format == "ipvanyaddress" && !is_ip_address(text)) return false;
      if (s.value("format", "") == "uuid" &&
          !std::regex_match(text,
                            std::regex("[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"))) {
        return false;
      }
      return chars >= s.value("minLength", 0u) && chars <= s.value("maxLength", 1u << 30);
    }
    // An integer past 64 bits reads as a double; past 2^63 every double is a whole number.
    if (t == "integer" && v.is_number_float() && std::isfinite(v.get<double>()) &&
        std::fabs(v.get<double>()) >= 0x1p63) {
      const long double x = v.get<double>();
      auto num = [&](const char* k) { return s[k].get<long double>(); };
      if (s.contains("minimum") && x < num("minimum")) return false;
      if (s.contains("maximum") && x > num("maximum")) return false;
      if (s.contains("exclusiveMinimum") && x <= num("exclusiveMinimum")) return false;
      if (s.contains("exclusiveMaximum") && x >= num("exclusiveMaximum")) return false;
      if (s.contains("multipleOf") && std::fmod(x, num("multipleOf")) != 0) return false;
      return true;
    }
    if (t == "integer" && v.is_number_integer()) {
      // Bounds against the value read exactly (nlohmann keeps integers as 64-bit integers).
      const auto x = static_cast<long double>(v.get<int64_t>());
      if (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX) return false;
      auto num = [&](const char* k) { return s[k].get<long double>(); };
      if (s.contains("minimum") && x < num("minimum")) return false;
      if (s.contains("maximum") && x > num("maximum")) return false;
      if (s.contains("exclusiveMinimum") && x <= num("exclusiveMinimum")) return false;
      if (s.contains("exclusiveMaximum") && x >= num("exclusiveMaximum")) return false;
      if (s.contains("multipleOf") && v.get<int64_t>() % s["multipleOf"].get<int64_t>() != 0) {
        return false;
      }
      return true;
    }
    if (t == "number" && v.is_number()) {
      const double x = v.get<double>();
      if (s.contains("minimum") && x < s["minimum"].get<double>()) return false;
      if (s.contains("exclusiveMaximum") && x >= s["exclusiveMaximum"].get<double>()) return false;
      return true;
    }
    if (t == "boolean" && v.is_boolean()) return true;
    if (t == "null" && v.is_null()) return true;
    if (t == "array" && v.is_array()) {
      const size_t lo = s.value("minItems", 0u), hi = s.value("maxItems", 1u << 30);
      if (v.size() < lo || v.size() > hi) return false;
      // The first items against prefixItems (or a list as items), the rest against items (or
      // additionalItems after a list); false: no more items.
      const bool listed = s.contains("items") && s["items"].is_array();
      const ojson none = ojson::array();
      const ojson& first = s.contains("prefixItems") ? s["prefixItems"]
                           : listed                  ? s["items"]
                                                     : none;
      const char* rest = listed ? "additionalItems" : "items";
      for (size_t k = 0; k < v.size(); ++k) {
        if (k < first.size()) {
          if (!valid(v[k], first[k], root, loose)) return false;
        } else if (s.contains(rest)) {
          if (s[rest] == false || !valid(v[k], s[rest], root, loose)) return false;
        }
        for (size_t j = 0; j < k && s.value("uniqueItems", false); ++j) {
          if (v[j] == v[k]) return false;
        }
      }
      return true;
    }
    if (t == "object" && v.is_object()) {
      if (v.size() < s.value("minProperties", 0u) ||
          v.size() > s.value("maxProperties", 1u << 30)) {
        return false;
      }
      for (const auto& r : s.value("required", ojson::array())) {
        if (!v.contains(r.get<std::string>())) return false;
      }
      // Keys: each a string valid against propertyNames; one matching a pattern of
      // patternProperties has a value valid against that pattern's schema (in the strict reading
      // every key matches one: only such keys are written).
      for (const auto& [k, x] : v.items()) {
        if (s.contains("propertyNames") && !valid(ojson(k), s["propertyNames"], root, loose)) {
          return false;
        }
        if (!s.contains("patternProperties")) continue;
        bool matched = false;
        for (const auto& [p, sub] : s["patternProperties"].items()) {
          if (!std::regex_search(k, std::regex(p))) continue;
          matched = true;
          if (!valid(x, sub, root, loose)) return false;
        }
        if (!matched && !loose) return false;
      }
      if (s.contains("patternProperties") && !loose) return true;
      if (loose) {
        for (const auto& [k, x] : v.items()) {
          if (s.contains("properties") && s["properties"].contains(k)) {
            if (!valid(x, s["properties"][k], root, loose)) return false;
          } else if (s.contains("additionalProperties")) {
            const ojson& extra = s["additionalProperties"];
            if (extra == false || (extra.is_object() && !valid(x, extra, root, loose))) {
              return false;
            }
          }
        }
        return true;
      }
      if (!s.contains("properties")) {  // free keys: every value of additionalProperties
        const ojson extra = s.value("additionalProperties", ojson(true));
        for (const auto& [k, x] : v.items()) {
          if (extra == false || (extra.is_object() && !valid(x, extra, root, loose))) {
            return false;
          }
        }
        return true;
      }
      const auto& props = s["properties"];
      std::vector<std::string> order;
      for (const auto& [k, x] : props.items()) order.push_back(k);
      size_t at = 0;
      for (const auto& [k, x] : v.items()) {  // declared keys, in the schema's order, once
        while (at < order.size() && order[at] != k) ++at;
        if (at == order.size()) return false;
        if (!valid(x, props[k], root, loose)) return false;
        ++at;
      }
      for (const auto& r : s.value("required", ojson::array())) {
        if (!v.contains(r.get<std::string>())) return false;
      }
      return true;
    }
  }
  return false;
}

// nlohmann reads "1.0" as a float and "-0" as an integer; the validator checks the parsed value,
// so an integer in the text must also look like one: compare with the text's own spelling.
inline bool naive(const std::string& text, const ojson& schema, bool loose = false) {
  ojson v;
  try {
    v = ojson::parse(text);
  } catch (const ojson::out_of_range&) {
    // A number past a double's range ("1e99999"): an integer written with an exponent stands
    // for a huge integer, checked as +-1e300 (a free integer allows it, bounds refuse it).
    static const std::regex kHugeInteger(R"(\s*(-?)([1-9][0-9]*)[eE]\+?[0-9]+\s*)");
    std::smatch m;
    if (!std::regex_match(text, m, kHugeInteger)) return false;
    v = m[1].length() ? -1e300 : 1e300;
  } catch (const ojson::exception&) {
    return false;
  }
  return valid(v, schema, schema, loose);
}

// Each schema text fails to compile with Error(InvalidArgument) whose message contains the text
// paired with it.
inline void expect_compile_errors(const std::vector<std::pair<const char*, const char*>>& cases) {
  for (const auto& [schema, message] : cases) {
    try {
      JsonSchema::compile(ojson::parse(schema));
      ADD_FAILURE() << "no error for " << schema;
    } catch (const Error& e) {
      EXPECT_NE(e.message().find(message), std::string::npos) << schema << " -> " << e.message();
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    }
  }
}

// Constrained random walks (random_walk, seeds 1 .. seeds) through schema `s` over `tok`: none
// may reach a text no token continues (the sampler's error is a failure naming the text), every
// text on the way is a prefix the recognizer takes, and those that end satisfy the naive
// validator. Returns how many ended.
inline int schema_walks(const Tokenizer& tok, const ojson& s, const std::vector<int32_t>& boost,
                        uint64_t seeds, int steps, bool loose = false) {
  const auto schema = JsonSchema::compile(s);
  int ended = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    JsonConstraint c(tok, schema);
    std::string last;  // the text before a dead end, for the report
    Walk w;
    try {
      w = random_walk(tok, c, seed, steps, boost, [&](const std::string& t) {
        last = t;
        SchemaPrefix check(*schema);
        return check.push(t);
      });
    } catch (const Error& e) {
      ADD_FAILURE() << e.message() << " after: " << printable(last, 4096);
      continue;
    }
    if (w.ended) {
      ++ended;
      EXPECT_TRUE(naive(w.text, s, loose)) << w.text;
    }
  }
  return ended;
}

// Whether SchemaPrefix takes `text` whole (and it may end there).
inline bool ours(const std::string& text, const JsonSchema& schema) {
  SchemaPrefix p(schema);
  return p.push(text) && p.may_end();
}

// `n` random instances of `s` (drawn by `instance`) are taken at every byte and complete, and a
// single-byte mutation of each gets the naive validator's verdict (mutations the two readings
// of a number could split on are skipped: nlohmann reads 1e400 as out of range, "-0" and "1.0"
// by value). Returns how many mutations were accepted and refused.
inline std::pair<int, int> instances_and_mutations(
    const ojson& s, uint32_t seed, const std::string& alphabet,
    const std::function<ojson(std::mt19937&)>& instance, int n = 3000) {
  const auto schema = JsonSchema::compile(s);
  std::mt19937 rng(seed);
  const std::regex split("[0-9][eE.]|[eE][+-]?[0-9]{3,}|-0");
  int accepted = 0, refused = 0;
  for (int i = 0; i < n; ++i) {
    const std::string text = instance(rng).dump(rng() % 3 == 0 ? 1 : -1);
    EXPECT_TRUE(naive(text, s)) << text;
    SchemaPrefix p(*schema);
    for (size_t k = 0; k < text.size(); ++k) {
      if (!p.push(static_cast<unsigned char>(text[k]))) {
        ADD_FAILURE() << "byte " << k << " of " << text;
        return {accepted, refused};
      }
    }
    EXPECT_TRUE(p.may_end()) << text;
    const std::string m = mutate(text, rng, alphabet);
    if (std::regex_search(m, split) || breaks_twice(m)) continue;
    const bool a = ours(m, *schema), b = naive(m, s);
    EXPECT_EQ(a, b) << "text: " << m;
    if (a != b) return {accepted, refused};
    (a ? accepted : refused)++;
  }
  return {accepted, refused};
}

}  // namespace vkr::test
