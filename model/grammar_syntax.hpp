// grammar_syntax.hpp: what grammar_parse.cpp (GBNF text -> rules of items) hands to
// grammar_compile.cpp (items -> Grammar's flat elements); internal to the grammar code.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "grammar.hpp"
#include "vkr/error.hpp"

namespace vkr::gbnf {

constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

struct Item;
using Seq = std::vector<Item>;
using Alts = std::vector<Seq>;

struct Item {
  enum class Kind : uint8_t { Set, Ref, Group } kind = Kind::Set;
  Grammar::CharSet set;
  std::string ref;
  size_t at = 0;  // where the item starts in the text (for errors)
  Alts group;
  uint32_t min = 1, max = 1;
  uint32_t wraps = 0;  // repetitions of repetitions around the item (x** is (x*)*)
};

struct RuleText {
  std::string name;
  size_t at = 0;
  Alts alts;
};

// The grammar's text, for errors that say where.
class Text {
 public:
  explicit Text(std::string_view s) : s_(s) {}
  std::string_view view() const { return s_; }

  // "line L, column C" of a byte offset (columns count characters, from 1).
  std::string where(size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80) {
        ++col;
      }
    }
    return fmt::format("line {}, column {}", line, col);
  }

  // Error(InvalidArgument): "grammar: line L, column C: <message>".
  template <typename... Args>
  [[noreturn]] void fail(size_t at, fmt::format_string<Args...> format, Args&&... args) const {
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("grammar: {}: {}", where(at),
                            fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  std::string_view s_;
};

// Lowers the parsed rules into `g` (texts start at rule `root`); errors as Text::fail.
void compile(const Text& text, const std::vector<RuleText>& rules, std::string_view root,
             Grammar& g);

}  // namespace vkr::gbnf
