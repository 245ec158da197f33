// sampler_json.cpp: see sampler_json.hpp. Field names are llama-server's (and OpenAI's), so
// clients written for it work here unchanged.
#include "sampler_json.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "dry_breakers.hpp"
#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

using nlohmann::json;

using json_fields::bad;
using json_fields::field;
using json_fields::number;

float bias_value(const json& v, const std::string& where) {
  if (v.is_boolean()) {
    if (v.get<bool>()) bad("logit_bias", where + ": true is not a bias (false bans the token)");
    return -std::numeric_limits<float>::infinity();
  }
  if (!v.is_number()) bad("logit_bias", where + ": the bias must be a number or false");
  const double b = v.get<double>();
  if (!std::isfinite(b)) bad("logit_bias", where + ": the bias must be finite");
  return static_cast<float>(b);
}

// A key or first element: a token id (a number, or a string of digits as OpenAI's keys) or a
// token text.
void add_bias(const json& key, float bias, SamplerParams& s, SamplingExtras& x,
              const std::string& where) {
  if (key.is_number_integer()) {
    const int64_t id = key.get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      bad("logit_bias", fmt::format("{}: token id {} is out of range", where, id));
    s.logit_bias.push_back({static_cast<int32_t>(id), bias});
    return;
  }
  if (!key.is_string()) bad("logit_bias", where + ": a token is an id or a text");
  const std::string k = key.get<std::string>();
  int32_t id = 0;
  const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
  if (!k.empty() && ec == std::errc() && end == k.data() + k.size() && id >= 0) {
    s.logit_bias.push_back({id, bias});
  } else {
    if (k.empty()) bad("logit_bias", where + ": the token text is empty");
    x.text_bias.emplace_back(k, bias);
  }
}

}  // namespace

void parse_sampler_fields(const json& body, SamplerParams& s, SamplingExtras& x) {
  const auto f = [&](const char* name, float& v, double lo, double hi) {
    v = static_cast<float>(number(body, name, v, lo, hi));
  };
  const auto i = [&](const char* name, int& v, double lo, double hi) {
    if (const json* j = field(body, name); j && !j->is_number_integer())
      bad(name, "must be an integer");
    v = static_cast<int>(number(body, name, v, lo, hi));
  };
  f("temperature", s.temperature, 0, 100);
  f("top_p", s.top_p, 0, 1);
  if (s.top_p == 0) s.top_p = 1;  // some clients send 0 for "off"
  s.top_k = static_cast<int>(number(body, "top_k", s.top_k, 0, 1 << 30));
  f("min_p", s.min_p, 0, 1);
  f("presence_penalty", s.presence_penalty, -2, 2);
  f("frequency_penalty", s.frequency_penalty, -2, 2);
  f("repeat_penalty", s.repetition_penalty, 1e-3, 100);
  s.penalty_last_n = static_cast<int>(number(body, "repeat_last_n", s.penalty_last_n, 0, 1 << 20));
  f("typical_p", s.typical_p, 0, 1);
  f("top_n_sigma", s.top_n_sigma, -1e9, 1e9);
  f("xtc_probability", s.xtc_probability, 0, 1);
  f("xtc_threshold", s.xtc_threshold, 0, 1);
  f("dynatemp_range", s.dynatemp_range, 0, 100);
  f("dynatemp_exponent", s.dynatemp_exponent, 1e-6, 100);
  i("min_keep", s.min_keep, 0, 1 << 30);
  f("dry_multiplier", s.dry_multiplier, 0, 1e6);
  f("dry_base", s.dry_base, 1e-6, 100);
  i("dry_allowed_length", s.dry_allowed_length, 0, 1 << 20);
  i("dry_penalty_last_n", s.dry_penalty_last_n, -1, 1 << 30);
  i("mirostat", s.mirostat, 0, 2);
  f("mirostat_tau", s.mirostat_tau, 0, 1e3);
  f("mirostat_eta", s.mirostat_eta, 0, 1e3);
  if (const json* it = field(body, "dry_sequence_breakers")) {
    if (!it->is_array()) bad("dry_sequence_breakers", "must be an array of strings");
    s.dry_sequence_breakers.clear();
    for (const auto& b : *it) {
      if (!b.is_string() || b.get<std::string>().empty())
        bad("dry_sequence_breakers", "must be an array of non-empty strings");
      s.dry_sequence_breakers.push_back(b.get<std::string>());
    }
  }
  if (const json* it = field(body, "samplers")) {
    std::string names;
    if (it->is_string()) {
      names = it->get<std::string>();
    } else if (it->is_array()) {
      for (const auto& n : *it) {
        if (!n.is_string()) bad("samplers", "must be an array of sampler names or a string");
        names += n.get<std::string>() + ";";
      }
    } else {
      bad("samplers", "must be an array of sampler names or a string");
    }
    try {
      s.order = parse_sampler_order(names);
    } catch (const Error& e) {
      bad("samplers", e.message());
    }
  }
  if (const json* it = field(body, "logit_bias")) {
    s.logit_bias.clear();   // the request's list replaces the defaults'
    if (it->is_object()) {  // OpenAI: {"15043": -100}
      for (const auto& [k, v] : it->items()) add_bias(json(k), bias_value(v, k), s, x, k);
    } else if (it->is_array()) {  // llama-server: [[15043, -1], ["Hello", false]]
      for (size_t n = 0; n < it->size(); ++n) {
        const json& e = (*it)[n];
        const std::string where = fmt::format("entry {}", n);
        if (!e.is_array() || e.size() != 2) bad("logit_bias", where + ": must be [token, bias]");
        add_bias(e[0], bias_value(e[1], where), s, x, where);
      }
    } else {
      bad("logit_bias", "must be an object {\"token id\": bias} or an array of [token, bias]");
    }
  }
  x.ignore_eos = json_fields::flag(body, "ignore_eos", x.ignore_eos);
}

void finalize_sampling(SamplerParams& p, const SamplingExtras& x, const Tokenizer& tok,
                       DryBreakerCache* cache) {
  for (const auto& [text, bias] : x.text_bias) {
    const auto ids = tok.encode(text, false);
    require(!ids.empty(), ErrorCode::InvalidArgument, "logit_bias: '{}' has no tokens", text);
    for (int32_t id : ids) p.logit_bias.push_back({id, bias});
  }
  if (x.ignore_eos) {
    for (int32_t id = 0; id < tok.n_vocab(); ++id)
      if (tok.is_eog(id)) p.logit_bias.push_back({id, -std::numeric_limits<float>::infinity()});
  }
  for (const LogitBias& b : p.logit_bias) {
    require(b.id >= 0 && b.id < tok.n_vocab(), ErrorCode::InvalidArgument,
            "logit_bias: token id {} is outside the vocabulary [0, {})", b.id, tok.n_vocab());
  }
  validate(p);
  resolve_dry_breakers(p, tok, cache);
}

}  // namespace vkr
