// schema_union.cpp: see schema_union.hpp.
#include "schema_union.hpp"

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace vkr::schema_union {

namespace {

using Kind = JsonSchema::Kind;
using Node = JsonSchema::Node;

constexpr int kMaxDepth = 16;  // deeper (recursive schemas): unsure

bool literal(Kind k) { return k == Kind::Enum || k == Kind::Boolean || k == Kind::Null; }

// A union of one (allOf, or an anyOf of one schema) is its alternative.
int32_t unwrap(const JsonSchema& s, int32_t i) {
  for (int k = 0; k < kMaxDepth; ++k) {
    const Node& n = s.node(i);
    if (n.kind != Kind::Union || n.alternatives.size() != 1) break;
    i = n.alternatives[0];
  }
  return i;
}

// Literals compared as values (1 and 1.0 are one number to a validator).
bool literals_disjoint(const Node& x, const Node& y) {
  std::vector<nlohmann::json> a;
  for (const auto& l : x.literals) a.push_back(nlohmann::json::parse(l));
  for (const auto& l : y.literals) {
    const auto v = nlohmann::json::parse(l);
    for (const auto& u : a) {
      if (u == v) return false;
    }
  }
  return true;
}

// The bytes a value of node i may start with (whitespace aside), for a node that is no union.
std::set<unsigned char> first_bytes(const Node& n) {
  const std::string digits = "-0123456789";
  switch (n.kind) {
    case Kind::Object:
      return {'{'};
    case Kind::Array:
      return {'['};
    case Kind::String:
      return {'"'};
    case Kind::Number:
    case Kind::Integer:
      return {digits.begin(), digits.end()};
    case Kind::Boolean:
    case Kind::Null:
    case Kind::Enum: {
      std::set<unsigned char> out;
      for (const auto& l : n.literals) out.insert(static_cast<unsigned char>(l[0]));
      return out;
    }
    default: {  // Any
      std::set<unsigned char> out = {'{', '[', '"', 't', 'f', 'n'};
      out.insert(digits.begin(), digits.end());
      return out;
    }
  }
}

int key_index(const Node& n, const std::string& key) {
  for (size_t k = 0; k < n.keys.size(); ++k) {
    if (n.keys[k] == key) return static_cast<int>(k);
  }
  return -1;
}

// The oneOf checks of one schema: their steps counted, so that unions of unions cannot make it take
// forever.
struct Checker {
  const JsonSchema& s;
  int& budget;

  // Some value of x's text refuses y: a property x requires that y refuses.
  bool object_refuses(const Node& x, const Node& y, int depth) {
    for (size_t k = 0; k < x.keys.size(); ++k) {
      if (!x.required[k]) continue;
      const int j = key_index(y, x.keys[k]);
      if (j < 0) {
        if (y.closed && !y.free) return true;
        continue;
      }
      if (exclusive(x.values[k], y.values[static_cast<size_t>(j)], depth + 1)) return true;
    }
    return false;
  }

  bool exclusive(int32_t a, int32_t b, int depth) {
    if (depth > kMaxDepth || --budget < 0) return false;
    a = unwrap(s, a);
    b = unwrap(s, b);
    const Node& x = s.node(a);
    const Node& y = s.node(b);
    if (x.kind == Kind::Union || y.kind == Kind::Union) {
      const Node& u = x.kind == Kind::Union ? x : y;
      const int32_t other = x.kind == Kind::Union ? b : a;
      for (int32_t alt : u.alternatives) {
        if (!exclusive(alt, other, depth + 1)) return false;
      }
      return true;
    }
    const auto fx = first_bytes(x), fy = first_bytes(y);
    bool overlap = false;
    for (unsigned char c : fx) overlap = overlap || fy.count(c) > 0;
    if (!overlap) return true;
    if (literal(x.kind) && literal(y.kind)) return literals_disjoint(x, y);
    if (x.kind == Kind::Integer && y.kind == Kind::Integer) {
      return x.bounded && y.bounded && (x.hi < y.lo || y.hi < x.lo);
    }
    if (x.kind == Kind::Object && y.kind == Kind::Object) {
      return object_refuses(x, y, depth) || object_refuses(y, x, depth);
    }
    return false;
  }
};

}  // namespace

bool exclusive(const JsonSchema& s, int32_t a, int32_t b, int& budget) {
  return Checker{s, budget}.exclusive(a, b, 0);
}

int32_t union_cycle(const JsonSchema& s, size_t nodes) {
  enum : uint8_t { kNew, kOnPath, kDone };
  std::vector<uint8_t> mark(nodes, kNew);
  int32_t found = -1;
  // Depth-first through union alternatives only (any other value reads a byte first).
  auto visit = [&](auto&& self, int32_t i) -> void {
    mark[static_cast<size_t>(i)] = kOnPath;
    for (int32_t a : s.node(i).alternatives) {
      if (found >= 0) break;
      if (s.node(a).kind != Kind::Union) continue;
      if (mark[static_cast<size_t>(a)] == kOnPath) {
        found = a;
      } else if (mark[static_cast<size_t>(a)] == kNew) {
        self(self, a);
      }
    }
    mark[static_cast<size_t>(i)] = kDone;
  };
  for (size_t i = 0; i < nodes && found < 0; ++i) {
    if (mark[i] == kNew && s.node(static_cast<int32_t>(i)).kind == Kind::Union) {
      visit(visit, static_cast<int32_t>(i));
    }
  }
  return found;
}

}  // namespace vkr::schema_union
