// server_ollama_api.cpp: see server_ollama_api.hpp. Field names follow Ollama's API document
// (docs/api.md), so its clients work unchanged.
#include "server_ollama_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>

#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

using json_fields::bad;
using json_fields::field;
using json_fields::string_field;

// "options" (Ollama's sampling settings) under the OpenAI routes' names; the runner's settings
// (num_ctx, num_gpu, num_thread, ...) have nothing to do here.
void copy_options(const ordered_json& body, ordered_json& out) {
  const ordered_json* o = field(body, "options");
  if (!o) return;
  if (!o->is_object()) bad("options", "must be an object");
  for (const char* k : {"temperature", "top_k", "top_p", "min_p", "seed", "stop", "repeat_penalty",
                        "repeat_last_n", "presence_penalty", "frequency_penalty", "typical_p",
                        "mirostat", "mirostat_tau", "mirostat_eta"}) {
    if (const ordered_json* v = field(*o, k)) out[k] = *v;
  }
  if (const ordered_json* n = field(*o, "num_predict")) {
    if (!n->is_number_integer() || n->get<int64_t>() < -2 || n->get<int64_t>() > (1 << 20)) {
      bad("options.num_predict", "must be an integer in [-2, 1048576] (-1, -2: no limit set)");
    }
    if (n->get<int64_t>() >= 0) out["max_tokens"] = *n;  // -1 / -2: serve's -n
  }
}

// The fields /api/chat and /api/generate share: format, stream (on by default), think.
void copy_common(const ordered_json& body, ordered_json& out) {
  copy_options(body, out);
  if (const ordered_json* f = field(body, "format")) {
    if (f->is_string() && *f == "json") {
      out["response_format"] = {{"type", "json_object"}};
    } else if (f->is_object()) {
      out["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"schema", *f}}}};
    } else if (!(f->is_string() && f->get<std::string>().empty())) {
      bad("format", "must be \"json\" or a JSON schema");
    }
  }
  const ordered_json* stream = field(body, "stream");
  if (stream && !stream->is_boolean()) bad("stream", "must be true or false");
  out["stream"] = !stream || stream->get<bool>();
  if (const ordered_json* t = field(body, "think"); t && !(t->is_boolean() && !t->get<bool>())) {
    bad("think", "is not supported (the model writes no thinking)");
  }
}

void refuse_images(const ordered_json& o, const std::string& at) {
  if (const ordered_json* im = field(o, "images"); im && !(im->is_array() && im->empty())) {
    bad(at + "images", "is not supported (the model reads text only)");
  }
}

std::string model_of(const ordered_json& body) {
  const ordered_json* m = field(body, "model");
  return m && m->is_string() ? m->get<std::string>() : std::string();
}

}  // namespace

OllamaRequest parse_ollama_chat(std::string_view body_text, const RequestDefaults& d) {
  parse_object(body_text);  // an object, or an Error saying what it is
  const auto body = ordered_json::parse(body_text);
  ordered_json chat = ordered_json::object();
  const ordered_json* ms = field(body, "messages");
  if (!ms || !ms->is_array() || ms->empty()) bad("messages", "must be a non-empty array");
  ordered_json messages = ordered_json::array();
  for (size_t i = 0; i < ms->size(); ++i) {
    const std::string at = fmt::format("messages[{}]", i);
    const ordered_json& m = (*ms)[i];
    if (!m.is_object()) bad(at, "must be an object with role and content");
    refuse_images(m, at + ".");
    ordered_json out = {{"role", string_field(m, "role", at)}};
    if (const ordered_json* c = field(m, "content")) out["content"] = *c;
    if (const ordered_json* calls = field(m, "tool_calls"); calls && !calls->empty()) {
      if (!calls->is_array()) bad(at + ".tool_calls", "must be an array");
      ordered_json converted = ordered_json::array();
      for (const auto& c : *calls) {
        ordered_json call = c;
        call["type"] = "function";  // Ollama's calls leave it out
        converted.push_back(std::move(call));
      }
      out["tool_calls"] = std::move(converted);
      if (!out.contains("content")) out["content"] = "";
    }
    messages.push_back(std::move(out));
  }
  chat["messages"] = std::move(messages);
  if (const ordered_json* t = field(body, "tools")) chat["tools"] = *t;
  copy_common(body, chat);
  return {parse_request(chat.dump(), true, d), model_of(body)};
}

OllamaRequest parse_ollama_generate(std::string_view body_text, const RequestDefaults& d) {
  parse_object(body_text);
  const auto body = ordered_json::parse(body_text);
  refuse_images(body, "");
  for (const char* k : {"suffix", "template"}) {
    if (const ordered_json* v = field(body, k);
        v && !(v->is_string() && v->get<std::string>().empty())) {
      bad(k, "is not supported (the model's own chat template is used; \"raw\" for none)");
    }
  }
  if (const ordered_json* c = field(body, "context"); c && !(c->is_array() && c->empty())) {
    bad("context",
        "is not supported (Ollama's deprecated form: send the text again; the kept "
        "states make that cheap)");
  }
  const ordered_json* p = field(body, "prompt");
  if (!p || !p->is_string()) bad("prompt", "must be a string");
  const ordered_json* raw = field(body, "raw");
  if (raw && !raw->is_boolean()) bad("raw", "must be true or false");
  ordered_json req = ordered_json::object();
  const bool chat = !raw || !raw->get<bool>();
  if (chat) {
    ordered_json messages = ordered_json::array();
    if (const ordered_json* s = field(body, "system")) {
      if (!s->is_string()) bad("system", "must be a string");
      messages.push_back({{"role", "system"}, {"content", *s}});
    }
    messages.push_back({{"role", "user"}, {"content", *p}});
    req["messages"] = std::move(messages);
  } else {
    req["prompt"] = *p;
  }
  copy_common(body, req);
  return {parse_request(req.dump(), chat, d), model_of(body)};
}

void add_ollama_stats(json& answer, const OllamaStats& s) {
  answer["done"] = true;
  answer["done_reason"] = s.finish == Finish::Length ? "length" : "stop";
  answer["total_duration"] = static_cast<int64_t>(s.total_ns);
  answer["load_duration"] = 0;
  answer["prompt_eval_count"] = s.prompt_tokens;
  answer["prompt_eval_duration"] = static_cast<int64_t>(s.prompt_ns);
  answer["eval_count"] = s.output_tokens;
  answer["eval_duration"] = static_cast<int64_t>(s.output_ns);
}

std::string ollama_time_now() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)), us.count() % 1000000);
}

}  // namespace vkr::cli
