// server_native_api.cpp: see server_native_api.hpp. Field names and shapes follow llama-server's
// README (tools/server), so its clients work unchanged.
#include "server_native_api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

using json_fields::bad;
using json_fields::field;
using json_fields::flag;

// An integer field in [lo, hi], or `fallback` when absent.
int64_t integer(const json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_number_integer()) bad(name, "must be an integer");
  const auto x = v->get<int64_t>();
  if (x < lo || x > hi) bad(name, fmt::format("must be in [{}, {}] (got {})", lo, hi, x));
  return x;
}

bool is_id(const json& v) { return v.is_number_integer(); }

int32_t id_of(const json& v, const std::string& name) {
  const auto id = v.get<int64_t>();
  if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
    bad(name, fmt::format("holds the token id {}, which is not an id", id));
  }
  return static_cast<int32_t>(id);
}

// One prompt: text, token ids, ids and texts mixed ([12, "text", 34]: one prompt, the texts
// tokenized in place) or {"prompt_string": text}; nullopt when `v` is none of these.
std::optional<PromptInput> one_prompt(const json& v, const std::string& name) {
  if (v.is_string()) return PromptInput{v.get<std::string>(), std::nullopt, {}};
  if (v.is_object()) {
    if (const json* m = field(v, "multimodal_data"); m && !(m->is_array() && m->empty())) {
      bad(name + ".multimodal_data", "is not supported (the model reads text only)");
    }
    const json* s = field(v, "prompt_string");
    if (!s || !s->is_string()) bad(name + ".prompt_string", "must be a string");
    return PromptInput{s->get<std::string>(), std::nullopt, {}};
  }
  if (!v.is_array() || v.empty() || !std::any_of(v.begin(), v.end(), is_id) ||
      !std::all_of(v.begin(), v.end(), [](const json& x) { return is_id(x) || x.is_string(); })) {
    return std::nullopt;
  }
  PromptInput p;
  std::vector<int32_t> run;  // consecutive ids
  for (const auto& x : v) {
    if (is_id(x)) {
      run.push_back(id_of(x, name));
      continue;
    }
    if (!run.empty()) p.parts.push_back({"", std::move(run), {}});
    run.clear();
    p.parts.push_back({x.get<std::string>(), std::nullopt, {}});
  }
  if (p.parts.empty()) return PromptInput{"", std::move(run), {}};
  if (!run.empty()) p.parts.push_back({"", std::move(run), {}});
  return p;
}

// The prompts of "prompt" and whether it was a list of them.
std::pair<std::vector<PromptInput>, bool> prompts_of(const json& body) {
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "is missing");
  if (auto one = one_prompt(*p, "prompt")) return {{std::move(*one)}, false};
  if (!p->is_array() || p->empty()) {
    bad("prompt", "must be a string, token ids (mixed with strings or not), or a list of those");
  }
  if (p->size() > CompletionRequest::kMaxChoices) {
    bad("prompt", fmt::format("holds {} prompts (at most {} per request)", p->size(),
                              CompletionRequest::kMaxChoices));
  }
  std::vector<PromptInput> out;
  for (size_t i = 0; i < p->size(); ++i) {
    const std::string name = fmt::format("prompt[{}]", i);
    auto one = one_prompt((*p)[i], name);
    if (!one) bad(name, "must be a string, an object with prompt_string, or token ids");
    out.push_back(std::move(*one));
  }
  return {std::move(out), true};
}

// Refuses what cannot be honoured and type-checks what is ignored.
void check_unsupported(const json& body) {
  if (integer(body, "n_indent", 0, 0, 1 << 20) > 0) {
    bad("n_indent", "is not supported (a minimum indentation of the generated lines)");
  }
  if (integer(body, "t_max_predict_ms", 0, 0, std::numeric_limits<int64_t>::max()) > 0) {
    bad("t_max_predict_ms", "is not supported (use n_predict to bound the reply)");
  }
  if (const json* l = field(body, "lora"); l && !(l->is_array() && l->empty())) {
    bad("lora", "is not supported (no LoRA adapters are loaded)");
  }
  if (flag(body, "post_sampling_probs")) {
    bad("post_sampling_probs",
        "is not supported (n_probs gives the model's own probabilities, before sampling)");
  }
  flag(body, "cache_prompt");
  integer(body, "n_keep", 0, -1, std::numeric_limits<int32_t>::max());
  integer(body, "n_discard", 0, 0, std::numeric_limits<int32_t>::max());
  integer(body, "n_cache_reuse", 0, 0, std::numeric_limits<int32_t>::max());
}

json token_json(const Tokenizer& tok, int32_t id, float logprob) {
  const std::string& t = tok.token_bytes(id);
  json bytes = json::array();
  for (unsigned char c : t) bytes.push_back(c);
  return {{"id", id}, {"token", t}, {"bytes", bytes}, {"logprob", logprob}};
}

}  // namespace

NativeRequest parse_native_request(std::string_view body_text, const RequestDefaults& d) {
  const json body = parse_object(body_text);
  check_unsupported(body);
  NativeRequest q;
  auto [prompts, listed] = prompts_of(body);
  const char* limit = field(body, "n_predict") ? "n_predict" : "max_tokens";
  int64_t n_predict = integer(body, limit, -1, -1, 1 << 20);
  if (n_predict < 0) n_predict = d.max_tokens;
  q.n_probs = static_cast<int>(integer(body, "n_probs", 0, 0, NativeRequest::kMaxProbs));
  const int64_t n =
      integer(body, field(body, "n_cmpl") ? "n_cmpl" : "n", 1, 1, CompletionRequest::kMaxChoices);
  q.return_tokens = flag(body, "return_tokens");
  if (const json* f = field(body, "response_fields")) {
    if (!f->is_array()) bad("response_fields", "must be an array of field names");
    for (const auto& v : *f) {
      if (!v.is_string()) bad("response_fields", "must be an array of field names");
      q.response_fields.push_back(v.get<std::string>());
    }
  }
  // The rest is the OpenAI route's (sampling, stop, stream, seed, grammar, json_schema, ...):
  // the body again under its names, keys in their order (schemas are written in it).
  auto rest = ordered_json::parse(body_text);
  for (const char* k : {"prompt", "n_predict", "max_tokens", "max_completion_tokens", "n_probs",
                        "logprobs", "echo", "n_cmpl", "n"}) {
    rest.erase(k);
  }
  rest["prompt"] = "";
  rest["max_tokens"] = n_predict;
  rest["n"] = n;
  if (q.n_probs > 0) rest["logprobs"] = q.n_probs;
  q.base = parse_request(rest.dump(), false, d);
  if (prompts.size() * static_cast<size_t>(n) > CompletionRequest::kMaxChoices) {
    bad("n_cmpl", fmt::format("{} x {} prompts: at most {} completions per request", n,
                              prompts.size(), CompletionRequest::kMaxChoices));
  }
  q.base.prompts = std::move(prompts);
  q.many = listed || n > 1;
  return q;
}

json generation_settings_json(const SamplerParams& s, const SamplingExtras& x, int n_predict,
                              const std::vector<std::string>& stop, bool stream, int n_probs) {
  json samplers = json::array();
  for (auto stage : s.order) samplers.push_back(stage_name(stage));
  return {{"n_predict", n_predict},
          {"seed", s.seed},
          {"temperature", s.temperature},
          {"dynatemp_range", s.dynatemp_range},
          {"dynatemp_exponent", s.dynatemp_exponent},
          {"top_k", s.top_k},
          {"top_p", s.top_p},
          {"min_p", s.min_p},
          {"top_n_sigma", s.top_n_sigma},
          {"xtc_probability", s.xtc_probability},
          {"xtc_threshold", s.xtc_threshold},
          {"typical_p", s.typical_p},
          {"repeat_last_n", s.penalty_last_n},
          {"repeat_penalty", s.repetition_penalty},
          {"presence_penalty", s.presence_penalty},
          {"frequency_penalty", s.frequency_penalty},
          {"dry_multiplier", s.dry_multiplier},
          {"dry_base", s.dry_base},
          {"dry_allowed_length", s.dry_allowed_length},
          {"dry_penalty_last_n", s.dry_penalty_last_n},
          {"dry_sequence_breakers", s.dry_sequence_breakers},
          {"mirostat", s.mirostat},
          {"mirostat_tau", s.mirostat_tau},
          {"mirostat_eta", s.mirostat_eta},
          {"stop", stop},
          {"max_tokens", n_predict},
          {"n_keep", 0},
          {"ignore_eos", x.ignore_eos},
          {"stream", stream},
          {"n_probs", n_probs},
          {"min_keep", s.min_keep},
          {"samplers", samplers}};
}

std::string stop_type(const NativeResult& r) {
  if (r.finish == Finish::Length) return "limit";
  return r.stop_string.empty() ? "eos" : "word";
}

json completion_probabilities_json(std::span<const TokenLogprob> lps, const Tokenizer& tok) {
  json out = json::array();
  for (const auto& lp : lps) {
    json top = json::array();
    for (const auto& [id, l] : lp.top) top.push_back(token_json(tok, id, l));
    json entry = token_json(tok, lp.id, lp.logprob);
    entry["top_logprobs"] = std::move(top);
    out.push_back(std::move(entry));
  }
  return out;
}

json native_result_json(const NativeResult& r, const NativeRequest& q, const std::string& model,
                        const json& probs) {
  const size_t predicted = r.tokens.size();
  const size_t evaluated = r.prompt_tokens - std::min(r.cached_tokens, r.prompt_tokens);
  auto per_token = [](double ms, size_t n) { return n ? ms / static_cast<double>(n) : 0.0; };
  auto per_second = [](double ms, size_t n) {
    return ms > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0;
  };
  json answer = {{"index", r.index},
                 {"content", r.content},
                 {"tokens", q.return_tokens ? json(r.tokens) : json::array()},
                 {"id_slot", q.base.cache_slot},
                 {"stop", true},
                 {"model", model},
                 {"tokens_predicted", predicted},
                 {"tokens_evaluated", r.prompt_tokens},
                 {"tokens_cached", r.cached_tokens},
                 {"generation_settings", r.settings},
                 {"prompt", r.prompt},
                 {"has_new_line", r.content.find('\n') != std::string::npos},
                 {"truncated", false},  // RWKV's state has no context window to overflow
                 {"stop_type", stop_type(r)},
                 {"stopping_word", r.stop_string},
                 {"timings",
                  {{"cache_n", r.cached_tokens},
                   {"prompt_n", evaluated},
                   {"prompt_ms", r.prompt_ms},
                   {"prompt_per_token_ms", per_token(r.prompt_ms, evaluated)},
                   {"prompt_per_second", per_second(r.prompt_ms, evaluated)},
                   {"predicted_n", predicted},
                   {"predicted_ms", r.predicted_ms},
                   {"predicted_per_token_ms", per_token(r.predicted_ms, predicted)},
                   {"predicted_per_second", per_second(r.predicted_ms, predicted)}}}};
  if (!probs.is_null()) answer["completion_probabilities"] = probs;
  return q.response_fields.empty() ? answer : pick_fields(answer, q.response_fields);
}

json native_chunk_json(size_t index, int id_slot, std::string_view text,
                       const std::vector<int32_t>& ids, size_t prompt_tokens, size_t predicted,
                       const json& probs) {
  json chunk = {{"index", index},
                {"content", std::string(text)},
                {"tokens", ids},
                {"stop", false},
                {"id_slot", id_slot},
                {"tokens_predicted", predicted},
                {"tokens_evaluated", prompt_tokens}};
  if (!probs.is_null()) chunk["completion_probabilities"] = probs;
  return chunk;
}

json pick_fields(const json& answer, const std::vector<std::string>& fields) {
  json out = json::object();
  for (const auto& f : fields) {
    const json* at = &answer;
    std::string_view path = f, key;
    while (at) {
      const size_t slash = path.find('/');
      key = path.substr(0, slash);
      const auto it = at->is_object() ? at->find(std::string(key)) : at->end();
      at = it == at->end() ? nullptr : &*it;
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash + 1);
    }
    if (at) out[std::string(key)] = *at;
  }
  return out;
}

std::string parse_slot_filename(std::string_view body_text) {
  const json body = parse_object(body_text);
  const json* f = field(body, "filename");
  if (!f || !f->is_string()) bad("filename", "must be a string naming a file");
  const auto name = f->get<std::string>();
  if (name.empty() || name.size() > 255) bad("filename", "must be 1 to 255 bytes long");
  if (name == "." || name == "..") bad("filename", fmt::format("'{}' is not a file name", name));
  for (unsigned char c : name) {
    if (c == '/' || c == '\\') {
      bad("filename", fmt::format("'{}' holds a path separator: give a name inside the "
                                  "server's --slot-save-path directory",
                                  name));
    }
    if (c < 0x20 || c == 0x7f) bad("filename", "holds a control character");
  }
  return name;
}

}  // namespace vkr::cli
