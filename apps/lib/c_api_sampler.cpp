// c_api_sampler.cpp: vkrwkv.h samplers: the host Sampler (model/sampler.hpp) behind a handle.
#include <memory>

#include "c_api_impl.hpp"

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
  return guard(__func__, [&] {
    need(out, __func__, "out");
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
  return guard(__func__, [&] {
    need(out, __func__, "out");
    *out = nullptr;
    need(params, __func__, "params");
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
    *out = new vkrwkv_sampler{Sampler(p), nullptr, std::nullopt};
    return 0;
  });
}

void vkrwkv_sampler_free(vkrwkv_sampler* s) {
  guard(__func__, [&] {
    delete s;
    return 0;
  });
}

int vkrwkv_sampler_sample(vkrwkv_sampler* s, const float* logits, int n_vocab) {
  return guard(__func__, [&] {
    Sampler& sa = sampler_of(s, __func__);
    need(logits, __func__, "logits");
    require(n_vocab > 0, ErrorCode::InvalidArgument, "{}: n_vocab is {}, at least 1 is needed",
            __func__, n_vocab);
    const std::span<const float> row(logits, static_cast<size_t>(n_vocab));
    return static_cast<int>(s->json ? s->json->sample(sa, row) : sa.sample(row));
  });
}

int vkrwkv_sampler_accept(vkrwkv_sampler* s, int32_t id) {
  return guard(__func__, [&] {
    Sampler& sa = sampler_of(s, __func__);
    require(id >= 0, ErrorCode::InvalidArgument, "{}: id {} is negative", __func__, id);
    if (s->json) {
      require(id < s->json_model->tokenizer()->n_vocab(), ErrorCode::InvalidArgument,
              "{}: id {} is outside the vocabulary [0, {})", __func__, id,
              s->json_model->tokenizer()->n_vocab());
      require(s->json->allows(id), ErrorCode::InvalidArgument,
              "{}: id {} cannot continue the JSON object", __func__, id);
      s->json->accept(id);
    }
    sa.accept(id);
    return 0;
  });
}

int vkrwkv_sampler_reset(vkrwkv_sampler* s) {
  return guard(__func__, [&] {
    sampler_of(s, __func__).reset();
    if (s->json) s->json.emplace(*s->json_model->tokenizer());
    return 0;
  });
}

int vkrwkv_sampler_set_json(vkrwkv_sampler* s, const vkrwkv_model* model, int on) {
  return guard(__func__, [&] {
    sampler_of(s, __func__);
    if (!on) {
      s->json.reset();
      s->json_model.reset();
      return 0;
    }
    need(model, __func__, "model");
    require(model->model->tokenizer() != nullptr, ErrorCode::InvalidArgument,
            "{}: the model has no tokenizer (a JSON constraint needs its vocabulary)", __func__);
    s->json_model = model->model;
    s->json.emplace(*model->model->tokenizer());
    return 0;
  });
}

}  // extern "C"
