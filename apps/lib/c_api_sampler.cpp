// c_api_sampler.cpp: vkrwkv.h samplers: the host Sampler (model/sampler.hpp) behind a handle.
#include <fmt/format.h>

#include <memory>

#include "c_api_impl.hpp"
#include "grammar.hpp"
#include "json_schema.hpp"
#include "sampler_json.hpp"

using namespace vkr;
using capi::guard;
using capi::need;

namespace {

Sampler& sampler_of(vkrwkv_sampler* s, const char* fn) {
  need(s, fn, "sampler");
  return s->sampler;
}

}  // namespace

extern "C" {

int vkrwkv_sampler_default_params(vkrwkv_sampler_params* out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    const SamplerParams d;
    *out = {d.temperature,
            d.top_k,
            d.top_p,
            d.min_p,
            d.repetition_penalty,
            d.presence_penalty,
            d.frequency_penalty,
            d.penalty_last_n,
            d.seed};
    return 0;
  });
}

int vkrwkv_sampler_create(const vkrwkv_sampler_params* params, vkrwkv_sampler** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    need(params, fn, "params");
    SamplerParams p;
    p.temperature = params->temperature;
    p.top_k = params->top_k;
    p.top_p = params->top_p;
    p.min_p = params->min_p;
    p.repetition_penalty = params->repeat_penalty;
    p.presence_penalty = params->presence_penalty;
    p.frequency_penalty = params->frequency_penalty;
    p.penalty_last_n = params->penalty_last_n;
    p.seed = params->seed;
    validate(p);
    *out = new vkrwkv_sampler{Sampler(p), nullptr, nullptr};
    return 0;
  });
}

void vkrwkv_sampler_free(vkrwkv_sampler* s) {
  guard(__func__, [&, fn = __func__] {
    delete s;
    return 0;
  });
}

int vkrwkv_sampler_sample(vkrwkv_sampler* s, const float* logits, int n_vocab) {
  return guard(__func__, [&, fn = __func__] {
    Sampler& sa = sampler_of(s, fn);
    need(logits, fn, "logits");
    require(n_vocab > 0, ErrorCode::InvalidArgument, "{}: n_vocab is {}, at least 1 is needed", fn,
            n_vocab);
    const std::span<const float> row(logits, static_cast<size_t>(n_vocab));
    return static_cast<int>(s->constraint ? s->constraint->sample(sa, row) : sa.sample(row));
  });
}

int vkrwkv_sampler_accept(vkrwkv_sampler* s, int32_t id) {
  return guard(__func__, [&, fn = __func__] {
    Sampler& sa = sampler_of(s, fn);
    require(id >= 0, ErrorCode::InvalidArgument, "{}: id {} is negative", fn, id);
    if (s->constraint) {
      const int32_t V = s->constraint_model->tokenizer()->n_vocab();
      require(id < V, ErrorCode::InvalidArgument, "{}: id {} is outside the vocabulary [0, {})", fn,
              id, V);
      require(s->constraint->allows(id), ErrorCode::InvalidArgument, "{}: id {} cannot continue {}",
              fn, id, s->constraint->what());
      s->constraint->accept(id);
    }
    sa.accept(id);
    return 0;
  });
}

int vkrwkv_sampler_reset(vkrwkv_sampler* s) {
  return guard(__func__, [&, fn = __func__] {
    sampler_of(s, fn).reset();
    if (s->constraint) s->constraint = s->constraint->fresh();
    return 0;
  });
}

namespace {

// Sets (or with spec.any() false, removes) the sampler's constraint.
void set_constraint(vkrwkv_sampler* s, const vkrwkv_model* model, const ConstraintSpec& spec,
                    const char* fn) {
  sampler_of(s, fn);
  if (!spec.any()) {
    s->constraint.reset();
    s->constraint_model.reset();
    return;
  }
  need(model, fn, "model");
  require(model->model->tokenizer() != nullptr, ErrorCode::InvalidArgument,
          "{}: the model has no tokenizer (a constraint needs its vocabulary)", fn);
  s->constraint = spec.make(*model->model->tokenizer());
  s->constraint_model = model->model;
}

}  // namespace

int vkrwkv_sampler_set_json(vkrwkv_sampler* s, const vkrwkv_model* model, int on) {
  return guard(__func__, [&, fn = __func__] {
    ConstraintSpec spec;
    spec.json = on != 0;
    set_constraint(s, model, spec, fn);
    return 0;
  });
}

int vkrwkv_sampler_set_json_schema(vkrwkv_sampler* s, const vkrwkv_model* model,
                                   const char* schema) {
  return guard(__func__, [&, fn = __func__] {
    ConstraintSpec spec;
    sampler_of(s, fn);
    if (schema) {
      nlohmann::ordered_json j;  // ordered: properties are written in the schema's order
      try {
        j = nlohmann::ordered_json::parse(schema);
      } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("{}: the schema is not JSON: {}", fn, e.what()));
      }
      spec.schema = JsonSchema::compile(j);
      spec.json = true;
    }
    set_constraint(s, model, spec, fn);
    return 0;
  });
}

int vkrwkv_sampler_set_grammar(vkrwkv_sampler* s, const vkrwkv_model* model, const char* gbnf) {
  return guard(__func__, [&, fn = __func__] {
    ConstraintSpec spec;
    sampler_of(s, fn);
    if (gbnf) spec.grammar = Grammar::parse(gbnf);
    set_constraint(s, model, spec, fn);
    return 0;
  });
}

int vkrwkv_sampler_configure(vkrwkv_sampler* s, const vkrwkv_model* model, const char* json) {
  return guard(__func__, [&, fn = __func__] {
    Sampler& sa = sampler_of(s, fn);
    need(json, fn, "json");
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(json);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("{}: the settings are not JSON: {}", fn, e.what()));
    }
    require(body.is_object(), ErrorCode::InvalidArgument, "{}: the settings must be a JSON object",
            fn);
    SamplerParams p = sa.params();
    SamplingExtras x;
    parse_sampler_fields(body, p, x);
    if (const auto it = body.find("seed"); it != body.end() && !it->is_null()) {
      require(it->is_number_unsigned(), ErrorCode::InvalidArgument,
              "{}: field 'seed' must be a non-negative integer", fn);
      p.seed = it->get<uint64_t>();
    }
    if (model) {
      require(model->model->tokenizer() != nullptr, ErrorCode::InvalidArgument,
              "{}: the model has no tokenizer", fn);
      finalize_sampling(p, x, *model->model->tokenizer());
    } else {
      require(x.text_bias.empty() && !x.ignore_eos &&
                  (!p.dry_enabled() || p.dry_sequence_breakers.empty()),
              ErrorCode::InvalidArgument,
              "{}: text logit biases, ignore_eos and DRY's sequence breakers need the model "
              "(its vocabulary)",
              fn);
      validate(p);
    }
    sa = Sampler(p);
    return 0;
  });
}

}  // extern "C"
