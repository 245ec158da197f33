// json_schema.cpp: see json_schema.hpp.
#include "json_schema.hpp"

#include <fmt/format.h>

#include <bit>
#include <map>
#include <set>

#include "vkr/error.hpp"

namespace vkr {

namespace {

using ojson = nlohmann::ordered_json;
using Kind = JsonSchema::Kind;

[[noreturn]] void bad_schema(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("json schema at '{}': {}", path.empty() ? "/" : path, what));
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

const std::set<std::string> kAnnotations = {"title",   "description", "default",  "examples",
                                            "$schema", "$id",         "$comment", "strict"};
const std::set<std::string> kKeywords = {"type",  "properties", "required", "additionalProperties",
                                         "items", "minItems",   "maxItems", "enum",
                                         "const", "anyOf",      "oneOf",    "$ref",
                                         "$defs", "definitions"};

}  // namespace

class SchemaCompiler {
 public:
  explicit SchemaCompiler(const ojson& root) : root_(root) {}

  std::shared_ptr<const JsonSchema> run() {
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
    if (out_->node(out_->root_).kind != Kind::Object) {
      bad_schema("", "the root must describe an object (\"type\": \"object\")");
    }
    return s;
  }

 private:
  JsonSchema::Node& at(int32_t i) { return out_->nodes_[static_cast<size_t>(i)]; }
  int32_t add_node(Kind k) {
    out_->nodes_.emplace_back();
    out_->nodes_.back().kind = k;
    return static_cast<int32_t>(out_->nodes_.size() - 1);
  }

  int32_t resolve(const std::string& ref, const std::string& path) {
    if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
    if (!ref.starts_with("#/"))
      bad_schema(path, fmt::format("$ref '{}' is not local (#/...)", ref));
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

  int32_t compile(const ojson& s, const std::string& path) {
    if (s.is_object() && s.contains("$ref")) {
      for (const auto& [k, v] : s.items()) {
        if (k != "$ref" && k != "$defs" && k != "definitions" && !kAnnotations.count(k)) {
          bad_schema(path, fmt::format("'{}' beside $ref is not supported", k));
        }
      }
      if (!s["$ref"].is_string()) bad_schema(path, "$ref must be a string");
      return resolve(s["$ref"].get<std::string>(), path);
    }
    const int32_t i = add_node(Kind::Any);
    fill(i, s, path);
    return i;
  }

  void fill(int32_t i, const ojson& s, const std::string& path) {
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
      if (!kKeywords.count(k) && !kAnnotations.count(k)) {
        bad_schema(path, fmt::format("'{}' is not supported (supported: type, properties, "
                                     "required, additionalProperties, items, minItems, maxItems, "
                                     "enum, const, anyOf, oneOf, $ref)",
                                     k));
      }
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
      at(i) = std::move(n);
      return;
    }
    for (const char* alt : {"anyOf", "oneOf"}) {
      if (!s.contains(alt)) continue;
      const ojson& list = s[alt];
      if (!list.is_array() || list.empty())
        bad_schema(path, fmt::format("{} must be a non-empty array", alt));
      at(i).kind = Kind::Union;
      std::vector<int32_t> alts;
      for (size_t k = 0; k < list.size(); ++k) {
        alts.push_back(compile(list[k], fmt::format("{}/{}/{}", path, alt, k)));
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
    } else if (s.contains("properties") || s.contains("additionalProperties")) {
      types.push_back("object");
    } else if (s.contains("items")) {
      types.push_back("array");
    } else {
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

  void typed(int32_t i, const ojson& s, const std::string& type, const std::string& path) {
    if (type == "object") {
      at(i).kind = Kind::Object;
      if (!s.contains("properties")) {
        const ojson* extra =
            s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
        at(i).free = true;
        if (extra && extra->is_boolean() && !extra->get<bool>()) {
          at(i).free = false;  // {} only
        } else if (extra && extra->is_object()) {
          const int32_t e = compile(*extra, path + "/additionalProperties");
          at(i).extra = e;
        }
        if (s.contains("required") && !s["required"].empty()) {
          bad_schema(path, "required keys need properties");
        }
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
    } else if (type == "array") {
      at(i).kind = Kind::Array;
      if (s.contains("items")) {
        const int32_t items = compile(s["items"], path + "/items");
        at(i).items = items;
      }
      auto bound = [&](const char* name, uint32_t fallback) {
        if (!s.contains(name)) return fallback;
        const ojson& v = s[name];
        if (!v.is_number_unsigned() || v.get<uint64_t>() > 1u << 20) {
          bad_schema(path, fmt::format("{} must be an integer in [0, {}]", name, 1u << 20));
        }
        return static_cast<uint32_t>(v.get<uint64_t>());
      };
      at(i).min_items = bound("minItems", 0);
      at(i).max_items = bound("maxItems", UINT32_MAX);
      if (at(i).min_items > at(i).max_items) bad_schema(path, "minItems is above maxItems");
    } else if (type == "string") {
      at(i).kind = Kind::String;
    } else if (type == "number") {
      at(i).kind = Kind::Number;
    } else if (type == "integer") {
      at(i).kind = Kind::Integer;
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

  // The bytes a value of node `i` may start with (whitespace aside).
  std::set<unsigned char> first_bytes(int32_t i, int depth = 0) const {
    const auto& n = out_->node(i);
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
        return {'t', 'f'};
      case Kind::Null:
        return {'n'};
      case Kind::Enum: {
        std::set<unsigned char> out;
        for (const auto& l : n.literals) out.insert(static_cast<unsigned char>(l[0]));
        return out;
      }
      case Kind::Union: {
        std::set<unsigned char> out;
        if (depth < 16) {
          for (int32_t a : n.alternatives) {
            for (unsigned char c : first_bytes(a, depth + 1)) out.insert(c);
          }
        }
        return out;
      }
      case Kind::Any:
      default: {
        std::set<unsigned char> out = {'{', '[', '"', 't', 'f', 'n'};
        out.insert(digits.begin(), digits.end());
        return out;
      }
    }
  }

  void union_of(int32_t i, const std::vector<int32_t>& alts, const std::string& path,
                const char* what) {
    std::set<unsigned char> seen;
    for (int32_t a : alts) {
      for (unsigned char c : first_bytes(a)) {
        if (!seen.insert(c).second) {
          bad_schema(path, fmt::format("the {} alternatives must start with different characters "
                                       "(e.g. a string or null); two may start with '{}'",
                                       what, static_cast<char>(c)));
        }
      }
    }
    at(i).kind = Kind::Union;
    at(i).alternatives = alts;
  }

  const ojson& root_;
  JsonSchema* out_ = nullptr;
  std::map<std::string, int32_t> refs_;
};

std::shared_ptr<const JsonSchema> JsonSchema::compile(const nlohmann::ordered_json& schema) {
  return SchemaCompiler(schema).run();
}

std::shared_ptr<const JsonSchema> JsonSchema::any_object() {
  return compile(nlohmann::ordered_json{{"type", "object"}});
}

// --- the recognizer -------------------------------------------------------------------------

namespace {

// Frame states.
enum : uint8_t { kOOpen, kONeedKey, kOKey, kOColon, kOValWait, kOValue, kOAfter };
enum : uint8_t { kAOpen, kANeed, kAItem, kAAfter };
enum : uint8_t { kSStart, kSIn, kSEsc, kSHex, kSUtf8 };
enum : uint8_t { kNStart, kNMinus, kNZero, kNInt, kNDot, kNFrac, kNExpMark, kNExpSign, kNExp };

}  // namespace

bool SchemaPrefix::in_string_body() const {
  return !stack_.empty() && stack_.back().kind == Frame::Kind::Str && stack_.back().st == kSIn;
}

bool SchemaPrefix::push(std::string_view bytes) {
  for (char c : bytes) {
    if (!push(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

SchemaPrefix::Res SchemaPrefix::space(unsigned char c) {
  if (!is_space(c)) return Res::Bad;
  return ++spaces_ <= kMaxSpaces ? Res::More : Res::Bad;
}

bool SchemaPrefix::push(unsigned char c) {
  const bool in_string =
      !stack_.empty() && stack_.back().kind == Frame::Kind::Str && stack_.back().st != kSStart;
  if (!in_string && !is_space(c)) spaces_ = 0;
  if (stack_.empty()) {
    if (done_ || is_space(c)) return space(c) == Res::More;
    if (started_) return false;
    started_ = true;
    return settle(start_value(schema_->root(), c), c);
  }
  return settle(feed(stack_.back(), c), c);
}

bool SchemaPrefix::settle(Res r, unsigned char c) {
  for (;;) {
    switch (r) {
      case Res::More:
        return true;
      case Res::Bad:
        return false;
      case Res::Done:
        stack_.pop_back();
        value_done();
        return true;
      case Res::Ended:  // complete before c: c belongs to the parent
        stack_.pop_back();
        value_done();
        if (stack_.empty()) return space(c) == Res::More;
        r = feed(stack_.back(), c);
        break;
      case Res::Start:
        if (pending_node_ >= 0) {
          r = start_value(pending_node_, c);
        } else {
          if (stack_.size() >= kMaxDepth) return false;
          Frame f{};
          if (pending_node_ == -1) {
            f.kind = Frame::Kind::Lit;
            f.lits = pending_lits_;
            f.alive = pending_mask_;
          } else {
            f.kind = Frame::Kind::Str;
          }
          stack_.push_back(f);
          r = feed(stack_.back(), c);
        }
        break;
    }
  }
}

void SchemaPrefix::value_done() {
  if (stack_.empty()) {
    done_ = true;
    return;
  }
  Frame& f = stack_.back();
  if (f.kind == Frame::Kind::Obj) {
    if (f.st == kOKey) {
      f.prop = schema_->node(f.node).free ? -1 : matched_;
      f.st = kOColon;
    } else {
      if (f.prop >= 0) f.pos = static_cast<uint32_t>(f.prop) + 1;
      f.st = kOAfter;
    }
  } else if (f.kind == Frame::Kind::Arr) {
    ++f.pos;
    f.st = kAAfter;
  }
}

bool SchemaPrefix::can_start(int32_t node, unsigned char c) const {
  const auto& n = schema_->node(node);
  switch (n.kind) {
    case Kind::Any:
      return c == '{' || c == '[' || c == '"' || c == '-' || is_digit(c) || c == 't' || c == 'f' ||
             c == 'n';
    case Kind::Object:
      return c == '{';
    case Kind::Array:
      return c == '[';
    case Kind::String:
      return c == '"';
    case Kind::Number:
    case Kind::Integer:
      return c == '-' || is_digit(c);
    case Kind::Boolean:
    case Kind::Null:
    case Kind::Enum:
      for (const auto& l : n.literals) {
        if (static_cast<unsigned char>(l[0]) == c) return true;
      }
      return false;
    case Kind::Union:
      for (int32_t a : n.alternatives) {
        if (can_start(a, c)) return true;
      }
      return false;
  }
  return false;
}

SchemaPrefix::Res SchemaPrefix::start_value(int32_t node, unsigned char c) {
  const auto& n = schema_->node(node);
  if (stack_.size() >= kMaxDepth) return Res::Bad;
  Frame f{};
  f.node = node;
  switch (n.kind) {
    case Kind::Any:
      for (int32_t k : {JsonSchema::kAnyObject, JsonSchema::kAnyArray, JsonSchema::kString,
                        JsonSchema::kNumber, JsonSchema::kBoolean, JsonSchema::kNull}) {
        if (can_start(k, c)) return start_value(k, c);
      }
      return Res::Bad;
    case Kind::Union:
      for (int32_t a : n.alternatives) {
        if (can_start(a, c)) return start_value(a, c);
      }
      return Res::Bad;
    case Kind::Object:
      if (c != '{') return Res::Bad;
      f.kind = Frame::Kind::Obj;
      f.st = kOOpen;
      stack_.push_back(f);
      return Res::More;
    case Kind::Array:
      if (c != '[') return Res::Bad;
      f.kind = Frame::Kind::Arr;
      f.st = kAOpen;
      stack_.push_back(f);
      return Res::More;
    case Kind::String:
      f.kind = Frame::Kind::Str;
      break;
    case Kind::Number:
    case Kind::Integer:
      f.kind = Frame::Kind::Num;
      f.integer = n.kind == Kind::Integer;
      break;
    case Kind::Boolean:
    case Kind::Null:
    case Kind::Enum:
      f.kind = Frame::Kind::Lit;
      f.lits = &n.literals;
      f.alive = n.literals.size() >= 64 ? ~0ull : (1ull << n.literals.size()) - 1;
      break;
  }
  stack_.push_back(f);
  return feed(stack_.back(), c);
}

SchemaPrefix::Res SchemaPrefix::feed(Frame& f, unsigned char c) {
  switch (f.kind) {
    case Frame::Kind::Lit:
      return lit(f, c);
    case Frame::Kind::Str:
      return str(f, c);
    case Frame::Kind::Num:
      return num(f, c);
    case Frame::Kind::Obj:
      return obj(f, c);
    case Frame::Kind::Arr:
      return arr(f, c);
  }
  return Res::Bad;
}

SchemaPrefix::Res SchemaPrefix::lit(Frame& f, unsigned char c) {
  uint64_t next = 0;
  int32_t whole = -1;  // a candidate that ended before c
  for (uint64_t m = f.alive; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    const std::string& s = (*f.lits)[static_cast<size_t>(i)];
    if (s.size() == f.pos) {
      whole = i;
    } else if (static_cast<unsigned char>(s[f.pos]) == c) {
      next |= 1ull << i;
    }
  }
  if (next == 0) {
    if (whole < 0) return Res::Bad;
    matched_ = whole;
    return Res::Ended;
  }
  f.alive = next;
  ++f.pos;
  int32_t full = -1;
  bool longer = false;
  for (uint64_t m = next; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    if ((*f.lits)[static_cast<size_t>(i)].size() == f.pos) {
      full = i;
    } else {
      longer = true;
    }
  }
  if (full >= 0 && !longer) {
    matched_ = full;
    return Res::Done;
  }
  return Res::More;
}

SchemaPrefix::Res SchemaPrefix::str(Frame& f, unsigned char c) {
  switch (f.st) {
    case kSStart:
      if (c != '"') return Res::Bad;
      f.st = kSIn;
      return Res::More;
    case kSIn:
      if (c == '"') return Res::Done;
      if (c == '\\') {
        f.st = kSEsc;
        return Res::More;
      }
      if (c < 0x20) return Res::Bad;
      if (c < 0x80) return Res::More;
      f.lo = 0x80;
      f.hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        f.left = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        f.left = 2;
        if (c == 0xE0) f.lo = 0xA0;
        if (c == 0xED) f.hi = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        f.left = 3;
        if (c == 0xF0) f.lo = 0x90;
        if (c == 0xF4) f.hi = 0x8F;
      } else {
        return Res::Bad;
      }
      f.st = kSUtf8;
      return Res::More;
    case kSUtf8:
      if (c < f.lo || c > f.hi) return Res::Bad;
      f.lo = 0x80;
      f.hi = 0xBF;
      if (--f.left == 0) f.st = kSIn;
      return Res::More;
    case kSEsc:
      if (c == 'u') {
        f.left = 4;
        f.st = kSHex;
        return Res::More;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        f.st = kSIn;
        return Res::More;
      }
      return Res::Bad;
    case kSHex:
      if (!is_hex(c)) return Res::Bad;
      if (--f.left == 0) f.st = kSIn;
      return Res::More;
  }
  return Res::Bad;
}

SchemaPrefix::Res SchemaPrefix::num(Frame& f, unsigned char c) {
  switch (f.st) {
    case kNStart:
      if (c == '-') {
        f.st = kNMinus;
        return Res::More;
      }
      [[fallthrough]];
    case kNMinus:
      if (c == '0') {
        f.st = kNZero;
        return Res::More;
      }
      if (c >= '1' && c <= '9') {
        f.st = kNInt;
        return Res::More;
      }
      return Res::Bad;
    case kNZero:
    case kNInt:
      if (f.st == kNInt && is_digit(c)) return Res::More;
      if (!f.integer && c == '.') {
        f.st = kNDot;
        return Res::More;
      }
      if (!f.integer && (c == 'e' || c == 'E')) {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNDot:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNFrac;
      return Res::More;
    case kNFrac:
      if (is_digit(c)) return Res::More;
      if (c == 'e' || c == 'E') {
        f.st = kNExpMark;
        return Res::More;
      }
      return Res::Ended;
    case kNExpMark:
      if (c == '+' || c == '-') {
        f.st = kNExpSign;
        return Res::More;
      }
      [[fallthrough]];
    case kNExpSign:
      if (!is_digit(c)) return Res::Bad;
      f.st = kNExp;
      return Res::More;
    case kNExp:
      return is_digit(c) ? Res::More : Res::Ended;
  }
  return Res::Bad;
}

uint64_t SchemaPrefix::key_mask(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  uint64_t mask = 0;
  for (size_t k = f.pos; k < n.keys.size(); ++k) {
    mask |= 1ull << k;
    if (n.required[k]) break;  // a required key cannot be skipped
  }
  return mask;
}

bool SchemaPrefix::may_close(const Frame& f) const {
  const auto& n = schema_->node(f.node);
  for (size_t k = f.pos; k < n.required.size(); ++k) {
    if (n.required[k]) return false;
  }
  return true;
}

SchemaPrefix::Res SchemaPrefix::obj(Frame& f, unsigned char c) {
  const auto& n = schema_->node(f.node);
  switch (f.st) {
    case kOOpen:
      if (c == '}') return may_close(f) ? Res::Done : Res::Bad;
      [[fallthrough]];
    case kONeedKey:
      if (c != '"') return space(c);
      if (n.free) {
        pending_node_ = -2;
      } else {
        const uint64_t mask = key_mask(f);
        if (mask == 0) return Res::Bad;
        pending_node_ = -1;
        pending_mask_ = mask;
        pending_lits_ = &n.keys;
      }
      f.st = kOKey;
      return Res::Start;
    case kOColon:
      if (c == ':') {
        f.st = kOValWait;
        return Res::More;
      }
      return space(c);
    case kOValWait:
      if (is_space(c)) return space(c);
      f.st = kOValue;
      pending_node_ = f.prop >= 0 ? n.values[static_cast<size_t>(f.prop)] : n.extra;
      return Res::Start;
    case kOAfter:
      if (c == ',') {
        if (!n.free && key_mask(f) == 0) return Res::Bad;
        f.st = kONeedKey;
        return Res::More;
      }
      if (c == '}') return may_close(f) ? Res::Done : Res::Bad;
      return space(c);
    default:
      return Res::Bad;  // a child is active: never fed here
  }
}

SchemaPrefix::Res SchemaPrefix::arr(Frame& f, unsigned char c) {
  const auto& n = schema_->node(f.node);
  switch (f.st) {
    case kAOpen:
      if (c == ']') return n.min_items == 0 ? Res::Done : Res::Bad;
      [[fallthrough]];
    case kANeed:
      if (is_space(c)) return space(c);
      if (f.pos >= n.max_items) return Res::Bad;
      f.st = kAItem;
      pending_node_ = n.items;
      return Res::Start;
    case kAAfter:
      if (c == ',') {
        if (f.pos >= n.max_items) return Res::Bad;
        f.st = kANeed;
        return Res::More;
      }
      if (c == ']') return f.pos >= n.min_items ? Res::Done : Res::Bad;
      return space(c);
    default:
      return Res::Bad;
  }
}

}  // namespace vkr
