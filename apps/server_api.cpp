// server_api.cpp: see server_api.hpp. Field names and meanings follow OpenAI's completions and
// chat completions APIs, so existing clients work unchanged.
#include "server_api.hpp"

#include <fmt/format.h>

#include <limits>

#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

using json_fields::bad;
using json_fields::field;
using json_fields::flag;
using json_fields::number;

std::string text_of(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  // Content parts (the newer chat format): text parts are joined, anything else is refused.
  if (v.is_array()) {
    std::string text;
    for (const auto& part : v) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        bad(name, "parts must be {\"type\": \"text\", \"text\": \"...\"} (only text is served)");
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
  bad(name, "must be a string");
}

// An assistant message's earlier calls: [{"type": "function", "function": {"name", "arguments":
// a JSON text or object}}] (ids are not part of the model's format).
std::vector<ToolCall> parse_message_calls(const nlohmann::ordered_json& calls,
                                          const std::string& at) {
  if (!calls.is_array()) bad(at + ".tool_calls", "must be an array");
  std::vector<ToolCall> out;
  for (size_t j = 0; j < calls.size(); ++j) {
    const std::string cat = fmt::format("{}.tool_calls[{}]", at, j);
    const auto& c = calls[j];
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
      bad(cat, "must be {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
    }
    const auto& f = c["function"];
    // Written into the prompt as it is: a declared function's name (not a way to break out of
    // the call's JSON).
    if (!f.contains("name") || !f["name"].is_string() ||
        !valid_tool_name(f["name"].get<std::string>())) {
      bad(cat + ".function.name", "must be 1 to 64 letters, digits, '_' or '-'");
    }
    nlohmann::ordered_json args =
        f.contains("arguments") ? f["arguments"] : nlohmann::ordered_json();
    if (args.is_string())
      args = nlohmann::ordered_json::parse(args.get<std::string>(), nullptr, false);
    if (!args.is_object()) {
      bad(cat + ".function.arguments", "must be a JSON object (or a string holding one)");
    }
    out.push_back({f["name"].get<std::string>(), std::move(args)});
  }
  return out;
}

// "tools", "tool_choice" and "parallel_tool_calls" (after the constraint fields: calls cannot be
// combined with another constraint).
void parse_tools(const json& body, const nlohmann::ordered_json& ordered, CompletionRequest& r) {
  using Choice = CompletionRequest::ToolChoice;
  if (const json* t = field(body, "tools"); t && !(t->is_array() && t->empty())) {
    r.tools = ToolSet::parse(ordered["tools"]);
  }
  r.parallel_tool_calls = flag(body, "parallel_tool_calls", true);
  if (const json* c = field(body, "tool_choice")) {
    constexpr const char* kShapes =
        "must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
        "\"function\": {\"name\": ...}}";
    if (c->is_string()) {
      const std::string v = c->get<std::string>();
      if (v == "none") {
        r.tool_choice = Choice::None;
      } else if (v == "auto") {
        r.tool_choice = Choice::Auto;
      } else if (v == "required") {
        r.tool_choice = Choice::Required;
      } else {
        bad("tool_choice", kShapes);
      }
    } else if (c->is_object() && c->contains("function") && (*c)["function"].is_object() &&
               (*c)["function"].contains("name") && (*c)["function"]["name"].is_string()) {
      r.tool_choice = Choice::Named;
      r.tool_name = (*c)["function"]["name"].get<std::string>();
    } else {
      bad("tool_choice", kShapes);
    }
    if ((r.tool_choice == Choice::Required || r.tool_choice == Choice::Named) && !r.tools) {
      bad("tool_choice", "asks for a tool call, but the request has no \"tools\"");
    }
  }
  if (!r.offered_tools()) return;
  if (r.constraint.any()) {
    bad(r.constraint.grammar ? "grammar" : "response_format",
        "cannot be combined with \"tools\" (calls are text of their own format; send "
        "\"tool_choice\": \"none\" to answer in the constrained form instead)");
  }
  ToolCallSpec spec{r.tools, -1, r.parallel_tool_calls};
  spec.lazy = r.tool_choice == Choice::Auto;  // free text; a call once begun is well-formed
  if (r.tool_choice == Choice::Named) {
    spec.only = r.tools->find(r.tool_name);
    if (spec.only < 0) {
      bad("tool_choice",
          fmt::format("names function '{}', which \"tools\" does not declare", r.tool_name));
    }
    spec.parallel = false;
  }
  r.constraint.tool_calls = std::make_shared<const ToolCallSpec>(std::move(spec));
}

}  // namespace

json parse_object(std::string_view body_text) {
  json body;
  try {
    body = json::parse(body_text);
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::InvalidArgument, fmt::format("the body is not JSON: {}", e.what()));
  }
  if (!body.is_object()) throw Error(ErrorCode::InvalidArgument, "the body must be a JSON object");
  return body;
}

std::pair<std::string, bool> parse_tokenize(std::string_view body_text) {
  const json body = parse_object(body_text);
  if (!field(body, "content") && field(body, "prompt")) {
    // vLLM's form: special-token text is always parsed (as Hugging Face tokenizers do);
    // add_special_tokens would add a BOS, which neither vocabulary uses.
    const json* prompt = field(body, "prompt");
    if (!prompt->is_string()) bad("prompt", "must be a string");
    flag(body, "add_special_tokens");  // type-checked
    return {prompt->get<std::string>(), true};
  }
  const json* content = field(body, "content");
  if (!content || !content->is_string()) bad("content", "must be a string");
  return {content->get<std::string>(),
          !field(body, "parse_special") || flag(body, "parse_special")};
}

std::vector<int32_t> parse_detokenize(std::string_view body_text, int32_t n_vocab) {
  const json body = parse_object(body_text);
  const json* tokens = field(body, "tokens");
  if (!tokens || !tokens->is_array()) bad("tokens", "must be an array of token ids");
  std::vector<int32_t> ids;
  for (const auto& v : *tokens) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= n_vocab) {
      bad("tokens", fmt::format("must hold token ids in [0, {}) (got {})", n_vocab, v.dump()));
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

CompletionRequest parse_request(std::string_view body_text, bool chat, const RequestDefaults& d) {
  const json body = parse_object(body_text);
  // The body again with keys in their order: schemas, tools and earlier calls' arguments are
  // written (into the prompt, or by the model) in the order the client gave.
  const auto ordered = nlohmann::ordered_json::parse(body_text);
  CompletionRequest r;
  r.chat = chat;
  if (chat) {
    const json* m = field(body, "messages");
    if (!m || !m->is_array() || m->empty()) bad("messages", "must be a non-empty array");
    for (size_t i = 0; i < m->size(); ++i) {
      const json& msg = (*m)[i];
      const std::string at = fmt::format("messages[{}]", i);
      if (!msg.is_object()) bad(at, "must be an object with role and content");
      if (!msg.contains("role") || !msg["role"].is_string()) bad(at + ".role", "must be a string");
      const std::string role = msg["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
        bad(at + ".role", fmt::format("'{}' is not one of system, user, assistant, tool", role));
      }
      ChatMessage cm{role, "", {}};
      if (field(msg, "tool_calls")) {
        if (role != "assistant") bad(at + ".tool_calls", "belongs to assistant messages only");
        cm.tool_calls = parse_message_calls(ordered["messages"][i]["tool_calls"], at);
      }
      const bool has_content = msg.contains("content") && !msg["content"].is_null();
      if (has_content) {
        cm.content = text_of(msg["content"], at + ".content");
      } else if (cm.tool_calls.empty()) {
        bad(at + ".content", "is missing");
      }
      r.messages.push_back(std::move(cm));
    }
    if (field(body, "functions") || field(body, "function_call")) {
      bad(field(body, "functions") ? "functions" : "function_call",
          "(OpenAI's deprecated form) is not supported: send \"tools\" and \"tool_choice\"");
    }
  } else {
    const json* p = field(body, "prompt");
    if (!p) bad("prompt", "is missing");
    auto is_ids = [](const json& v) {
      return v.is_array() && !v.empty() &&
             std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number_integer(); });
    };
    auto ids_of = [](const json& v, const std::string& name) {
      std::vector<int32_t> ids;
      for (const auto& x : v) {
        const auto id = x.get<int64_t>();
        if (id < 0 || id > std::numeric_limits<int32_t>::max())
          bad(name, "has a negative token id");
        ids.push_back(static_cast<int32_t>(id));
      }
      return ids;
    };
    constexpr const char* kShapes =
        "must be a string, an array of token ids, or an array of those (one choice each)";
    if (p->is_string()) {
      r.prompts.push_back({p->get<std::string>(), std::nullopt});
    } else if (is_ids(*p)) {
      r.prompts.push_back({"", ids_of(*p, "prompt")});
    } else if (p->is_array() && !p->empty()) {
      if (p->size() > CompletionRequest::kMaxChoices) {
        bad("prompt", fmt::format("holds {} prompts (at most {} per request)", p->size(),
                                  CompletionRequest::kMaxChoices));
      }
      for (size_t i = 0; i < p->size(); ++i) {
        const json& v = (*p)[i];
        const std::string name = fmt::format("prompt[{}]", i);
        if (v.is_string()) {
          r.prompts.push_back({v.get<std::string>(), std::nullopt});
        } else if (is_ids(v)) {
          r.prompts.push_back({"", ids_of(v, name)});
        } else {
          bad(name, "must be a string or a non-empty array of token ids");
        }
      }
    } else {
      bad("prompt", kShapes);
    }
    r.echo = flag(body, "echo");
  }
  if (const json* n = field(body, "n")) {
    if (!n->is_number_integer()) bad("n", "must be an integer");
    r.n = static_cast<int>(number(body, "n", 1, 1, CompletionRequest::kMaxChoices));
  }
  const size_t prompts = chat ? 1 : r.prompts.size();
  if (prompts * static_cast<size_t>(r.n) > CompletionRequest::kMaxChoices) {
    bad("n", fmt::format("{} x {} prompts: at most {} choices per request", r.n, prompts,
                         CompletionRequest::kMaxChoices));
  }
  constexpr int kMaxTop = 20;
  if (chat) {
    if (flag(body, "logprobs")) {
      r.logprobs = static_cast<int>(number(body, "top_logprobs", 0, 0, kMaxTop));
    } else if (field(body, "top_logprobs")) {
      bad("top_logprobs", "needs \"logprobs\": true");
    }
  } else if (const json* lp = field(body, "logprobs")) {
    if (!lp->is_number_integer())
      bad("logprobs", fmt::format("must be an integer in [0, {}]", kMaxTop));
    r.logprobs = static_cast<int>(number(body, "logprobs", 0, 0, kMaxTop));
  }
  const char* max_name =
      field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.max_tokens = static_cast<int>(number(body, max_name, d.max_tokens, 0, 1 << 20));
  if (const json* slot = field(body, "id_slot")) {
    if (!slot->is_number_integer()) bad("id_slot", "must be an integer (-1: any slot)");
    r.cache_slot = static_cast<int>(number(body, "id_slot", -1, -1, 1 << 30));
  }
  if (const json* n = field(body, "speculative.n_max")) {
    if (!n->is_number_integer()) bad("speculative.n_max", "must be an integer in [0, 64]");
    r.lookup = static_cast<int>(number(body, "speculative.n_max", -1, 0, 64));
  }
  if (field(body, "speculative.p_min")) {
    r.draft_p_min = static_cast<float>(number(body, "speculative.p_min", -1, 0, 1));
  }
  SamplerParams& s = r.sampling;
  s = d.sampling;
  if (const json* seed = field(body, "seed")) {
    if (!seed->is_number_integer()) bad("seed", "must be an integer");
    s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    r.seeded = true;
  }
  r.extras = d.extras;
  parse_sampler_fields(body, s, r.extras);
  validate(s);
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const auto& v : *stop) {
        if (!v.is_string()) bad("stop", "must be a string or an array of strings");
        r.stop.push_back(v.get<std::string>());
      }
    } else {
      bad("stop", "must be a string or an array of strings");
    }
    for (const auto& t : r.stop) {
      if (t.empty()) bad("stop", "must not contain an empty string");
    }
  }
  r.stream = flag(body, "stream");
  auto compile = [&](const nlohmann::ordered_json& schema, const std::string& name) {
    try {
      r.constraint.schema = JsonSchema::compile(schema);
    } catch (const Error& e) {
      bad(name, e.message());
    }
  };
  if (const json* rf = field(body, "response_format")) {
    const json* type = rf->is_object() ? field(*rf, "type") : nullptr;
    if (!type || !type->is_string()) bad("response_format", "must be an object with a \"type\"");
    const std::string t = type->get<std::string>();
    // The schema with keys in their order (properties are written in it).
    const auto& rf_ordered = ordered["response_format"];
    if (t == "json_object") {
      r.constraint.json = true;
      if (field(*rf, "schema")) compile(rf_ordered["schema"], "response_format.schema");
    } else if (t == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object() || !field(*js, "schema")) {
        bad("response_format.json_schema.schema", "is missing");
      }
      r.constraint.json = true;
      compile(rf_ordered["json_schema"]["schema"], "response_format.json_schema.schema");
    } else if (t != "text") {
      bad("response_format", fmt::format("type '{}' is not supported (\"text\", \"json_object\" "
                                         "and \"json_schema\" are)",
                                         t));
    }
  }
  if (const json* js = field(body, "json_schema")) {  // llama-server's field
    if (!js->is_object()) bad("json_schema", "must be an object (a JSON schema)");
    if (r.constraint.json) bad("json_schema", "cannot be combined with a JSON response_format");
    r.constraint.json = true;
    compile(ordered["json_schema"], "json_schema");
  }
  const json* g = field(body, "grammar");
  if (g && !(g->is_string() && g->get<std::string>().empty())) {  // "": none, as llama-server
    if (!g->is_string()) bad("grammar", "must be a string (GBNF text)");
    if (r.constraint.json)
      bad("grammar", "cannot be combined with a JSON response_format or schema");
    try {
      r.constraint.grammar = Grammar::parse(g->get<std::string>());
    } catch (const Error& e) {
      bad("grammar", e.message());
    }
  }
  if (chat) parse_tools(body, ordered, r);
  // vLLM's continue_final_message: the last (assistant) message is a prefill the reply
  // continues, instead of a closed turn followed by a new one.
  if (chat && flag(body, "continue_final_message")) {
    ChatMessage& last = r.messages.back();
    if (last.role != "assistant" || !last.tool_calls.empty()) {
      bad("continue_final_message", "needs a last assistant message of text");
    }
    r.prefill = std::move(last.content);
    r.messages.pop_back();
    if (r.messages.empty()) bad("continue_final_message", "needs a message before the last");
  }
  return r;
}

std::string finish_reason(Finish f) { return f == Finish::Length ? "length" : "stop"; }

std::string finish_reason(const ChoiceResult& c) {
  if (!c.tool_calls.is_null() && c.finish == Finish::Stop) return "tool_calls";
  return finish_reason(c.finish);
}

nlohmann::ordered_json chat_messages_json(const std::vector<ChatMessage>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
    if (!m.tool_calls.empty()) {
      nlohmann::ordered_json calls = nlohmann::ordered_json::array();
      for (const auto& c : m.tool_calls) {
        calls.push_back(
            {{"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      j["tool_calls"] = std::move(calls);
    }
    out.push_back(std::move(j));
  }
  return out;
}

std::string arguments_text(const ToolCall& call) {
  return call.arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

json tool_calls_json(const std::vector<ToolCall>& calls, std::string_view id_base, bool indexed) {
  json out = json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    json c = {{"id", fmt::format("{}_{}", id_base, k)},
              {"type", "function"},
              {"function", {{"name", calls[k].name}, {"arguments", arguments_text(calls[k])}}}};
    if (indexed) c["index"] = k;
    out.push_back(std::move(c));
  }
  return out;
}

std::string ToolCallStream::push(std::string_view piece) {
  text_ += piece;
  if (in_call_) return {};
  const std::string_view rest = std::string_view(text_).substr(sent_);
  in_call_ = rest.find("<tool_call>") != std::string_view::npos;
  const size_t n = tool_call_free_prefix(rest);
  std::string out(rest.substr(0, n));
  sent_ += n;
  return out;
}

ParsedReply ToolCallStream::finish(const ToolSet& tools) {
  ParsedReply p = parse_tool_calls(text_, tools);
  // With calls, the content before them is out already (the same text parse_tool_calls keeps).
  p.content = p.calls.empty() ? text_.substr(sent_) : std::string();
  sent_ = text_.size();
  return p;
}

json usage_json(const CompletionResult& r) {
  size_t prompt = 0, cached = 0, completion = 0;
  for (const auto& c : r.choices) {
    prompt += c.prompt_tokens;
    cached += c.cached_tokens;
    completion += c.completion_tokens;
  }
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json response_json(const CompletionResult& r, bool chat) {
  json choices = json::array();
  for (size_t i = 0; i < r.choices.size(); ++i) {
    const ChoiceResult& c = r.choices[i];
    json choice = {{"index", i}, {"finish_reason", finish_reason(c)}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      if (!c.tool_calls.is_null()) {
        if (c.text.empty()) choice["message"]["content"] = nullptr;
        choice["message"]["tool_calls"] = c.tool_calls;
      }
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs;
    choices.push_back(std::move(choice));
  }
  return {{"id", r.id},           {"object", chat ? "chat.completion" : "text_completion"},
          {"created", r.created}, {"model", r.model},
          {"choices", choices},   {"usage", usage_json(r)}};
}

json chunk_json(const CompletionResult& r, bool chat, size_t index, std::string_view text,
                bool first, bool last, bool usage, const json* tool_calls) {
  json choice = {{"index", index}};
  choice["finish_reason"] = last ? json(finish_reason(r.choices.at(index))) : json(nullptr);
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (tool_calls) {
      delta["content"] = nullptr;
      delta["tool_calls"] = *tool_calls;
    } else if (!last) {
      delta["content"] = std::string(text);
    }
    choice["delta"] = delta;
  } else {
    choice["text"] = std::string(text);
  }
  if (const json& lp = r.choices.at(index).logprobs; !lp.is_null()) choice["logprobs"] = lp;
  json chunk = {{"id", r.id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", r.created},
                {"model", r.model},
                {"choices", json::array({choice})}};
  if (last && usage) chunk["usage"] = usage_json(r);
  return chunk;
}

json logprobs_json(std::span<const TokenLogprob> lps, bool chat, const Tokenizer& tok,
                   size_t& offset) {
  auto bytes_of = [](const std::string& t) {
    json b = json::array();
    for (unsigned char c : t) b.push_back(c);
    return b;
  };
  if (chat) {
    json content = json::array();
    for (const auto& lp : lps) {
      const std::string& t = tok.token_bytes(lp.id);
      json top = json::array();
      for (const auto& [id, l] : lp.top) {
        const std::string& tt = tok.token_bytes(id);
        top.push_back({{"token", tt}, {"logprob", l}, {"bytes", bytes_of(tt)}});
      }
      content.push_back(
          {{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes_of(t)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
       offsets = json::array();
  for (const auto& lp : lps) {
    const std::string& t = tok.token_bytes(lp.id);
    tokens.push_back(t);
    if (lp.scored) {
      token_logprobs.push_back(lp.logprob);
      json alternatives = json::object();
      for (const auto& [id, l] : lp.top) alternatives[tok.token_bytes(id)] = l;
      top.push_back(alternatives);
    } else {
      token_logprobs.push_back(nullptr);
      top.push_back(nullptr);
    }
    offsets.push_back(offset);
    offset += t.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_json(std::string_view message, std::string_view type) {
  return {{"error", {{"message", std::string(message)}, {"type", std::string(type)}}}};
}

}  // namespace vkr::cli
