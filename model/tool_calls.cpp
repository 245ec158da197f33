// tool_calls.cpp: see tool_calls.hpp.
#include "tool_calls.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "prefix_scan.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using nlohmann::ordered_json;

constexpr std::string_view kOpenTag = kToolCallTrigger;  // "<tool_call>"
constexpr std::string_view kCloseTag = "</tool_call>";
// The literals of a constrained call around its name and arguments (the template's spelling).
constexpr std::string_view kOpen = "<tool_call>\n{\"name\": \"";
constexpr std::string_view kMid = "\", \"arguments\": ";
constexpr std::string_view kClose = "}\n</tool_call>";
static_assert(kOpen.starts_with(kOpenTag));  // lazy specs feed the recognizer from the tag on

[[noreturn]] void bad(const std::string& name, std::string_view what) {
  throw Error(ErrorCode::InvalidArgument, fmt::format("field '{}' {}", name, what));
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_tool_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::shared_ptr<const ToolSet> ToolSet::parse(const ordered_json& tools) {
  if (!tools.is_array()) bad("tools", "must be an array of {\"type\": \"function\", ...}");
  auto set = std::make_shared<ToolSet>();
  for (size_t i = 0; i < tools.size(); ++i) {
    const ordered_json& t = tools[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object()) bad(at, "must be an object {\"type\": \"function\", \"function\": {...}}");
    auto type = t.find("type");
    if (type == t.end() || *type != "function") {
      bad(at + ".type", "must be \"function\" (the only kind of tool served)");
    }
    auto f = t.find("function");
    if (f == t.end() || !f->is_object()) bad(at + ".function", "must be an object");
    auto name = f->find("name");
    if (name == f->end() || !name->is_string() || !valid_tool_name(name->get<std::string>())) {
      bad(at + ".function.name", "must be 1 to 64 letters, digits, '_' or '-'");
    }
    Tool tool;
    tool.name = name->get<std::string>();
    if (set->find(tool.name) >= 0) {
      bad(at + ".function.name", fmt::format("'{}' is declared twice", tool.name));
    }
    if (auto d = f->find("description"); d != f->end() && !d->is_string() && !d->is_null()) {
      bad(at + ".function.description", "must be a string");
    }
    bool strict = false;
    if (auto s = f->find("strict"); s != f->end() && !s->is_null()) {
      if (!s->is_boolean()) bad(at + ".function.strict", "must be true or false");
      strict = s->get<bool>();
    }
    ordered_json params = {{"type", "object"}, {"properties", ordered_json::object()}};
    if (auto p = f->find("parameters"); p != f->end() && !p->is_null()) {
      if (!p->is_object()) bad(at + ".function.parameters", "must be a JSON schema object");
      params = *p;
    }
    try {
      tool.parameters = JsonSchema::compile(params, true);  // arguments are an object
    } catch (const Error& e) {
      if (strict) bad(at + ".function.parameters", e.message());
      tool.parameters = JsonSchema::any_object();
      tool.loose = true;
    }
    tool.spec = t;
    set->tools_.push_back(std::move(tool));
  }
  return set;
}

int32_t ToolSet::find(std::string_view name) const {
  for (size_t i = 0; i < tools_.size(); ++i) {
    if (tools_[i].name == name) return static_cast<int32_t>(i);
  }
  return -1;
}

ParsedReply parse_tool_calls(std::string_view text, const ToolSet& tools) {
  ParsedReply whole{std::string(text), {}};
  const size_t first = text.find(kOpenTag);
  if (first == std::string_view::npos) return whole;
  ParsedReply r;
  std::string_view head = text.substr(0, first);
  while (!head.empty() && is_space(head.back())) head.remove_suffix(1);
  r.content = head;
  std::string_view rest = text.substr(first);
  while (!(rest = trim(rest)).empty()) {
    if (!rest.starts_with(kOpenTag)) return whole;
    const size_t end = rest.find(kCloseTag);
    if (end == std::string_view::npos) return whole;
    const std::string_view body = trim(rest.substr(kOpenTag.size(), end - kOpenTag.size()));
    rest.remove_prefix(end + kCloseTag.size());
    const ordered_json call = ordered_json::parse(body, nullptr, false);
    if (!call.is_object()) return whole;
    auto name = call.find("name");
    auto args = call.find("arguments");
    if (name == call.end() || !name->is_string() || args == call.end()) return whole;
    if (tools.find(name->get<std::string>()) < 0) return whole;
    ordered_json a = *args;
    if (a.is_string()) a = ordered_json::parse(a.get<std::string>(), nullptr, false);
    if (!a.is_object()) return whole;
    r.calls.push_back({name->get<std::string>(), std::move(a)});
  }
  return r;
}

size_t tool_call_free_prefix(std::string_view text) {
  // Held: from a whole "<tool_call>" on; else a tail that may still become one, with the
  // whitespace before it.
  size_t keep = text.find(kOpenTag);
  if (keep == std::string_view::npos) {
    keep = text.size();
    for (size_t n = std::min(text.size(), kOpenTag.size() - 1); n > 0; --n) {
      if (kOpenTag.starts_with(text.substr(text.size() - n))) {
        keep = text.size() - n;
        break;
      }
    }
  }
  while (keep > 0 && is_space(text[keep - 1])) --keep;
  return keep;
}

ToolCallPrefix::ToolCallPrefix(const ToolCallSpec& spec)
    : tools_(spec.tools.get()), only_(spec.only), parallel_(spec.parallel) {
  require(tools_ && !tools_->tools().empty(), ErrorCode::InvalidArgument,
          "tool calls constrained with no function to call");
  require(only_ < static_cast<int32_t>(tools_->tools().size()), ErrorCode::InvalidArgument,
          "tool call constrained to function {} of {}", only_, tools_->tools().size());
}

bool ToolCallPrefix::name_byte(unsigned char c) {
  const auto& tools = tools_->tools();
  if (c == '"') {
    const int32_t t = tools_->find(name_);
    if (t < 0 || (only_ >= 0 && t != only_)) return false;
    tool_ = t;
    args_.emplace(*tools[static_cast<size_t>(t)].parameters);
    prev_ = 0;
    in_str_ = esc_ = false;
    phase_ = Phase::Mid;
    pos_ = 1;
    return true;
  }
  name_ += static_cast<char>(c);
  for (size_t i = 0; i < tools.size(); ++i) {
    if ((only_ < 0 || static_cast<int32_t>(i) == only_) && tools[i].name.starts_with(name_)) {
      return true;
    }
  }
  return false;
}

bool ToolCallPrefix::push(unsigned char c) {
  auto literal = [&](std::string_view lit, Phase next) {
    if (static_cast<unsigned char>(lit[pos_]) != c) return false;
    if (++pos_ == lit.size()) {
      phase_ = next;
      pos_ = 0;
    }
    return true;
  };
  switch (phase_) {
    case Phase::Open:
      if (pos_ == 0) {
        name_.clear();
        args_.reset();
      }
      return literal(kOpen, Phase::Name);
    case Phase::Name:
      return name_byte(c);
    case Phase::Mid:
      return literal(kMid, Phase::Args);
    case Phase::Args:
      // The arguments object ends at its '}' (JSON takes only whitespace after it), so a '}'
      // once it is complete is the call's own.
      if (args_->complete() && c == kClose[0]) {
        phase_ = Phase::Close;
        pos_ = 1;
        return true;
      }
      if (in_str_) {
        if (esc_) {
          esc_ = false;
        } else if (c == '\\') {
          esc_ = true;
        } else if (c == '"') {
          in_str_ = false;
        }
      } else if (c == '"') {
        in_str_ = true;
      } else if (is_space(static_cast<char>(c)) && (c != ' ' || (prev_ != ':' && prev_ != ','))) {
        return false;
      }
      prev_ = c;
      return args_->push(c);
    case Phase::Close:
      return literal(kClose, Phase::Done);
    case Phase::Done:
      // The next call, on a line of its own (as the template writes several).
      if (!parallel_ || c != '\n') return false;
      phase_ = Phase::Open;
      pos_ = 0;
      return true;
  }
  return false;
}

bool ToolCallPrefix::push(std::string_view bytes) {
  for (char c : bytes) {
    if (!push(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

ToolCallConstraint::ToolCallConstraint(const Tokenizer& tok, ToolCallSpec spec)
    : tok_(&tok), spec_(std::move(spec)), prefix_(spec_), scratch_(spec_), active_(!spec_.lazy) {
  auto plain = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(tok.n_vocab()), 0);
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const std::string& b = tok.token_bytes(id);
    (*plain)[static_cast<size_t>(id)] =
        prints_text(tok, id) && std::all_of(b.begin(), b.end(), [](char c) {
          return c >= 0x20 && c <= 0x7E && c != '"' && c != '\\';
        });
  }
  plain_ = std::move(plain);
}

std::unique_ptr<TokenConstraint> ToolCallConstraint::fresh() const {
  auto c = std::make_unique<ToolCallConstraint>(*this);
  c->prefix_ = ToolCallPrefix(spec_);
  c->scratch_ = c->prefix_;
  c->depth_.clear();
  c->active_ = !spec_.lazy;
  c->tail_.clear();
  return c;
}

bool ToolCallConstraint::trial_lazy(std::string_view bytes) const {
  trigger_at_ = std::string::npos;
  if (tail_.empty() && bytes.find('<') == std::string_view::npos) return true;  // no tag begins
  const std::string text = tail_ + std::string(bytes);
  trigger_at_ = text.find(kToolCallTrigger);
  if (trigger_at_ == std::string::npos) return true;  // still free text
  scratch_ = ToolCallPrefix(spec_);
  return scratch_.push(std::string_view(text).substr(trigger_at_));
}

bool ToolCallConstraint::allows(int32_t id) const {
  if (id < 0 || id >= tok_->n_vocab()) return false;
  if (tok_->is_eog(id)) return complete();
  if (!active_) {
    // free text: anything but a token that begins a call it cannot continue
    return !prints_text(*tok_, id) || trial_lazy(tok_->token_bytes(id));
  }
  if (!prints_text(*tok_, id)) return false;
  scratch_ = prefix_;
  return scratch_.push(tok_->token_bytes(id));
}

void ToolCallConstraint::accept(int32_t id) {
  require(allows(id), ErrorCode::InvalidArgument, "token {} does not continue {}", id, what());
  if (tok_->is_eog(id)) return;
  if (!active_) {
    if (!prints_text(*tok_, id)) return;
    if (trigger_at_ != std::string::npos) {  // allows() found the tag and fed scratch_ from it
      active_ = true;
      prefix_ = scratch_;
      return;
    }
    // Keep the text from its last '<' when that may still begin the tag, else nothing.
    tail_ += tok_->token_bytes(id);
    const size_t lt = tail_.rfind('<');
    if (lt == std::string::npos ||
        !kToolCallTrigger.starts_with(std::string_view(tail_).substr(lt))) {
      tail_.clear();
    } else {
      tail_.erase(0, lt);
    }
    return;
  }
  prefix_ = scratch_;  // allows() left the state after the token there
}

void ToolCallConstraint::allowed_ids(std::vector<uint8_t>& allowed) const {
  if (!active_) {
    for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
      if (allows(id)) allowed[static_cast<size_t>(id)] = 1;
    }
    return;
  }
  if (complete()) {
    for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
      if (tok_->is_eog(id)) allowed[static_cast<size_t>(id)] = 1;
    }
  }
  if (!prefix_.may_continue()) return;
  if (!prefix_.in_string_body()) {
    scan_vocabulary(*tok_, prefix_, depth_, allowed);
    return;
  }
  const std::vector<uint8_t>& plain = *plain_;
  for (size_t id = 0; id < plain.size(); ++id) allowed[id] |= plain[id];
  scan_vocabulary(*tok_, prefix_, depth_, allowed,
                  [&plain](int32_t id) { return plain[static_cast<size_t>(id)] != 0; });
}

}  // namespace vkr
