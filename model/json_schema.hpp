// json_schema.hpp: sampling constrained to a JSON schema (OpenAI's response_format
// {"type": "json_schema", "json_schema": {"schema": ...}}, `generate --json-schema FILE`).
//  - JsonSchema: a schema compiled to nodes; the root may be any value (an object, an array, an
//    enum of words for a classifier, a number ...). The subset: "type" (object, array, string,
//    number, integer, boolean, null, or a list of them), "properties" (written in the schema's
//    order; those not in "required" may be left out), "required", "additionalProperties" (false, or
//    anything when "properties" is given: only declared keys are written), "items", "minItems",
//    "maxItems", "minLength" / "maxLength" (strings, in characters), "pattern" and "format"
//    (StringPattern::kFormats: date, time, date-time, email, ipv4, uuid, uri (http(s) URLs),
//    json-pointer, base64 ...; password / binary / path take any string; string_pattern.hpp; with
//    length bounds, refused where the pattern could not end in time), "minimum" / "maximum" /
//    "exclusiveMinimum" / "exclusiveMaximum" (integers; numbers: decimal_bounds.hpp), a whole
//    "multipleOf" (integers: every prefix one that can still end on a multiple in range), "enum",
//    "const", "anyOf" (any alternatives, overlapping ones too: two object shapes, integer or
//    number, a string or one constant), "oneOf" (alternatives no value can match twice: told apart
//    by type, const / enum values, integer ranges or a required property, e.g. pydantic's
//    discriminated unions; checked when compiled), "allOf" (merged: schema_merge.hpp), local
//    "$ref" ("#", or into "$defs" / "definitions"; recursion allowed), OpenAPI's "nullable",
//    and for objects without "properties" "propertyNames" (a string schema the keys match) or
//    "patternProperties" with one pattern (keys matching it, values of its schema: what pydantic
//    writes for a dict with constrained keys).
//    Keywords beside a union, enum / const or $ref hold too (merged into each alternative; enum
//    values they refuse dropped). Keywords of another type than the value's are ignored, as JSON
//    Schema says. Annotations (schema_merge::annotation()) are ignored. Any other keyword (other
//    formats, lookarounds, ...) is an error naming it and where: a constraint this cannot enforce
//    would give output the schema rejects.
//  - SchemaPrefix: the byte-level recognizer of texts (RFC 8259) matching a compiled schema.
//    Strings must be valid UTF-8 without raw control characters; nesting is bounded (kMaxDepth
//    values deep) and so are runs of whitespace outside strings (one line break and kMaxSpaces
//    spaces or tabs), so a model cannot pad forever.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "decimal_bounds.hpp"
#include "string_pattern.hpp"

namespace vkr {

class JsonSchema {
 public:
  enum class Kind : uint8_t {
    Any,
    Object,
    Array,
    String,
    Number,
    Integer,
    Boolean,
    Null,
    Enum,
    Union
  };
  struct Node {
    Kind kind = Kind::Any;
    // Object: declared properties in order (key as JSON text with its quotes, value node) and
    // whether each is required; no properties: any keys, values `extra` (Any by default).
    // `closed`: "additionalProperties": false (a validator refuses other keys; this never writes
    // them either way).
    std::vector<std::string> keys;
    std::vector<int32_t> values;
    std::vector<bool> required;
    bool free = false, closed = false;
    // Free keys: the node they match ("propertyNames", or the pattern of "patternProperties",
    // whose schema is then `extra`); -1: any string.
    int32_t key = -1;
    uint32_t min_props = 0, max_props = UINT32_MAX;  // minProperties / maxProperties
    int32_t extra = 0;
    // Array: the first items' nodes (prefixItems), the node of the items after them, bounds;
    // `unique`: no prefix; items a literal node (enum, const, boolean, null: each literal
    // written once) or a string / integer / number node without bounds (values compared).
    std::vector<int32_t> prefix;
    int32_t items = 0;
    uint32_t min_items = 0, max_items = UINT32_MAX;
    bool unique = false;
    // String: length bounds in characters (code points; an escape is the character it writes),
    // and the pattern or format its characters must match (an index into patterns, or -1).
    uint32_t min_len = 0, max_len = UINT32_MAX;
    int32_t pattern = -1;
    // Integer: whether bounds apply, and the closed range [lo, hi] (at most kMaxIntDigits
    // digits then: a bounded integer's text is checked against them digit by digit).
    bool bounded = false;
    int64_t lo = 0, hi = 0;
    uint64_t multiple = 1;  // "multipleOf" (> 1: bounded then, to the 18-digit range at most)
    // Number: whether bounds apply (decimal_bounds.hpp: then written without exponent, at most
    // decimal::kPlaces digits), and the range.
    bool dec_bounded = false;
    decimal::Range dec_range;
    // Enum / const (and true / false / null): the allowed values as compact JSON texts.
    std::vector<std::string> literals;
    // Union: alternatives (at most kMaxAlternatives); a text may begin several of them.
    std::vector<int32_t> alternatives;
  };

  // Compiles `schema` (its root any value; with `object_root` it must describe an object, as a
  // tool's parameters do); Error(InvalidArgument) naming what is unsupported or malformed, with
  // its JSON pointer.
  static std::shared_ptr<const JsonSchema> compile(const nlohmann::ordered_json& schema,
                                                   bool object_root = false);
  // {"type": "object"}: any JSON object.
  static std::shared_ptr<const JsonSchema> any_object();

  const Node& node(int32_t i) const { return nodes_[static_cast<size_t>(i)]; }
  const StringPattern& pattern(int32_t i) const { return patterns_[static_cast<size_t>(i)]; }
  int32_t root() const { return root_; }
  // Nodes every schema has: any value, and the kinds an Any value resolves to.
  static constexpr uint32_t kMaxIntDigits = 18;
  static constexpr size_t kMaxAlternatives = 64;
  static constexpr int32_t kAny = 0, kAnyObject = 1, kAnyArray = 2, kString = 3, kNumber = 4,
                           kBoolean = 5, kNull = 6;

 private:
  std::vector<Node> nodes_;
  std::vector<StringPattern> patterns_;
  int32_t root_ = 0;
  friend class SchemaCompiler;
};

class SchemaPrefix {
 public:
  static constexpr size_t kMaxDepth = 64;
  static constexpr uint32_t kMaxSpaces = 20;

  // Recognizers an ambiguous text may spread into (one per alternative of an anyOf it may still
  // become, nested ones included): past it the first alternatives are kept, which narrows the
  // texts allowed but never admits a wrong one.
  static constexpr uint32_t kBudget = 64;

  // `schema` must outlive the recognizer (and its copies).
  explicit SchemaPrefix(const JsonSchema& schema) : schema_(&schema), root_(schema.root()) {}

  // Feeds one byte: false if no text matching the schema starts with the bytes so far and this
  // one (the state is then unspecified: callers try bytes on a copy).
  bool push(unsigned char c);
  bool push(std::string_view bytes);
  // The value is whole and nothing but whitespace may follow (a closing '}', ']', '"', or a
  // literal's last byte).
  bool complete() const { return done_; }
  // The text may end here: complete, or a number at the root (which more digits could still
  // continue: "4" may end or become "42").
  bool may_end() const;
  // Inside a string's text with no length limit (no escape or UTF-8 sequence pending):
  // printable ASCII other than '"' and '\\' keeps it there.
  bool in_string_body() const;

 private:
  // A frame's answer to a byte: more to come, its value complete with it, refused, complete
  // before it (the byte goes to the parent), or a child value starts with it (pending_*).
  enum class Res : uint8_t { More, Done, Bad, Ended, Start };
  struct Frame {
    // Alt: a union whose alternatives the text may still become (subs_ reads them; always the
    // top frame: nothing is pushed above it).
    enum class Kind : uint8_t { Lit, Str, Num, Obj, Arr, Alt };
    Kind kind;
    uint8_t st = 0;                    // kind-specific state
    uint8_t left = 0, lo = 0, hi = 0;  // Str: escapes and UTF-8
    bool integer = false;              // Num
    bool low_next = false;             // Str: a \\u escape must give a low surrogate
    uint16_t unit = 0;                 // Str: the \\u escape's UTF-16 unit so far
    uint32_t cp = 0;  // Str: the character being read (for a pattern); Obj: properties written
    StringPattern::Mask live;          // Str: the pattern's live positions
    decimal::Prefix num;               // Num: a bounded number's text so far
    int32_t node = 0;
    uint32_t pos = 0;    // Lit: bytes matched; Obj: next declared property; Arr: items so far;
                         // Str: characters so far
    int32_t prop = -1;   // Obj: the property whose value is being read (-1: a free key)
    uint64_t alive = 0;  // Lit: candidates still matching; Arr (uniqueItems): literals written
    const std::vector<std::string>* lits = nullptr;
  };

  // A recognizer of one value of `node` (an alternative of an ambiguous union), with no
  // whitespace around it: `base` frames lie below it in its parents, `budget` as kBudget.
  SchemaPrefix(const JsonSchema& schema, int32_t node, size_t base, uint32_t budget)
      : schema_(&schema), root_(node), value_only_(true), base_(base), budget_(budget) {}
  // One byte, for a value-only recognizer: More, Done, Ended (complete before c) or Bad.
  Res step(unsigned char c);
  void note_byte(unsigned char c);  // a byte outside a string that is not a space ends a run
  // A union's first byte c: its one possible alternative started, or an Alt frame over several.
  Res start_union(int32_t node, unsigned char c);
  Res alt(unsigned char c);  // the Alt frame's answer: its alternatives' answers combined
  void splice();             // one alternative left: its frames replace the Alt frame
  Res feed(Frame& f, unsigned char c);
  Res lit(Frame& f, unsigned char c);
  Res str(Frame& f, unsigned char c);
  // A string's character read whole (More), or refused by its pattern (Bad).
  Res character(Frame& f, uint32_t cp) const;
  // Whether a character in [lo, hi] may still come (the pattern's early refusal).
  bool may_become(const Frame& f, uint32_t lo, uint32_t hi) const;
  // The characters that may follow those read (lengths bounds; StringPattern::can_finish()).
  std::pair<uint32_t, uint32_t> room(const Frame& f) const;
  // ... for a \\u escape that can still become the UTF-16 units [lo, hi].
  bool unit_may_become(const Frame& f, uint32_t lo, uint32_t hi) const;
  Res num(Frame& f, unsigned char c);
  Res bounded_digit(Frame& f, unsigned char c) const;  // a bounded integer's next digit
  Res bounded_end(const Frame& f) const;               // ... or its end (Ended or Bad)
  Res decimal_num(Frame& f, unsigned char c) const;    // a bounded number's next byte
  Res obj(Frame& f, unsigned char c);
  Res arr(Frame& f, unsigned char c);
  // Starts a value of `node` with its first byte `c` (pushing its frame): the new frame's answer.
  Res start_value(int32_t node, unsigned char c);
  // Runs the answer of the top frame (or of a frame just started) to byte c: More, Done (the
  // value is complete with c), Ended (complete before c, the stack empty) or Bad.
  Res settle(Res r, unsigned char c);
  void value_done();                        // the top frame's child value (or key) ended
  Res space(unsigned char c);               // whitespace between tokens (runs bounded): More or Bad
  uint64_t key_mask(const Frame& f) const;  // Obj: keys that may come next
  bool may_close(const Frame& f) const;     // Obj: no required key left
  bool can_start(int32_t node, unsigned char c) const;

  // A uniqueItems array of strings or numbers on the stack: its frame's index (counting the
  // frames below this recognizer: base_ + index), its items so far as values (shared by copies:
  // the vocabulary pass copies the recognizer per id), the item being read (its bytes).
  struct Seen {
    size_t at = 0;
    std::shared_ptr<const std::vector<nlohmann::json>> values;
    std::string item;
  };
  // uniqueItems over literal items (a mask of those written; else values compared, Seen).
  bool unique_literals(const JsonSchema::Node& n) const {
    return n.unique && !schema_->node(n.items).literals.empty();
  }
  Seen* reading_item();  // the Seen whose item the top frame is, or null
  bool item_is_new();    // the top frame (complete) is such an item: false if a repeat

  const JsonSchema* schema_;
  int32_t root_;
  bool value_only_ = false;  // an alternative's recognizer (step(), not push())
  size_t base_ = 0;          // frames below this recognizer's (an alternative's) in its parents
  uint32_t budget_ = kBudget;
  std::vector<Frame> stack_;
  std::vector<SchemaPrefix> subs_;  // the top frame is Alt: its alternatives still alive
  std::vector<Seen> seen_;
  int32_t matched_ = -1;  // the literal a Lit frame ended on (for keys)
  // A child the top frame starts (Res::Start): a value of pending_node_ (>= 0), a declared key
  // (-1: literals pending_lits_ under pending_mask_) or a free key (-2: any string).
  int32_t pending_node_ = 0;
  uint64_t pending_mask_ = 0;
  const std::vector<std::string>* pending_lits_ = nullptr;
  uint32_t spaces_ = 0;  // spaces / tabs in the current whitespace run
  uint8_t breaks_ = 0;   // '\n' (1) and '\r' (2) seen in it
  bool started_ = false, done_ = false;
};

}  // namespace vkr
