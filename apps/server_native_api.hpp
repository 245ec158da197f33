// server_native_api.hpp: llama-server's own (non-OpenAI) JSON, which SillyTavern's llama.cpp
// backend, llama.cpp's completion.js and scripts written against llama-server send:
//   POST /completion (also /completions): "prompt" (text, ids, [12, "text", 34] mixed, or a list
//        of those: one result each), "n_predict", "n_probs", "n_cmpl", "return_tokens",
//        "response_fields", and every sampling / constraint field of the OpenAI routes;
//        answered with {content, tokens, stop, stop_type, stopping_word, tokens_predicted,
//        tokens_evaluated, tokens_cached, timings, generation_settings, ...}, or as events of
//        the same shape ("stream", no [DONE], as llama-server).
//   GET /props: the defaults, the slots, the chat template, the special tokens.
//   GET /slots, POST /slots/N?action=save|restore|erase: the kept states as cache slots, written
//        to and read from state files in `serve --slot-save-path` (server_slots.cpp).
// No HTTP and no GPU here (server_native.cpp serves it), so all of it is testable on its own.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generation.hpp"
#include "server_api.hpp"
#include "tokenizer.hpp"

namespace vkr::cli {

struct NativeRequest {
  static constexpr int kMaxProbs = 20;
  CompletionRequest base;  // prompts, n (= n_cmpl), max_tokens (= n_predict), logprobs, ...
  // The answer is an array (one object per prompt and completion, each with its "index"): the
  // prompt was a list of prompts, or n_cmpl > 1. Else one object.
  bool many = false;
  int n_probs = 0;             // > 0: completion_probabilities with this many alternatives
  bool return_tokens = false;  // "tokens" of a whole answer (stream events always carry them)
  std::vector<std::string> response_fields;  // non-empty: only these ("a/b" unnests b)
};

// Parses a POST /completion body. -1 (llama-server's default, "until the end") or no n_predict
// gives `d.max_tokens` (serve -n): an end-of-generation token or a stop string usually comes
// first, and the limit keeps a model that never writes one from running forever. Fields that
// only tune llama-server's KV cache (cache_prompt, n_keep, n_discard, n_cache_reuse) are
// type-checked and ignored (kept states are reused whenever a prompt starts with their tokens,
// with the same results); "id_slot" picks the cache slot that keeps the reply's final state
// (CompletionRequest::cache_slot); fields it cannot honour (n_indent, t_max_predict_ms, lora,
// post_sampling_probs, multimodal_data) are an Error(InvalidArgument) naming them.
NativeRequest parse_native_request(std::string_view body, const RequestDefaults& d);

// The settings one completion ran with (llama-server's "generation_settings"; /props's
// "default_generation_settings.params").
nlohmann::json generation_settings_json(const SamplerParams& s, const SamplingExtras& x,
                                        int n_predict, const std::vector<std::string>& stop,
                                        bool stream, int n_probs);

// What one completion (one prompt, one of its n_cmpl) produced.
struct NativeResult {
  size_t index = 0;
  std::string content;
  std::vector<int32_t> tokens;  // the generated ids (end-of-generation ids left out)
  Finish finish = Finish::Length;
  std::string stop_string;  // the stop string that ended it ("" when none did)
  std::string prompt;       // the prompt as its tokens spell it
  size_t prompt_tokens = 0, cached_tokens = 0;
  double prompt_ms = 0, predicted_ms = 0;
  nlohmann::json settings;  // generation_settings_json
};

// "eos" (an end-of-generation token), "word" (a stop string) or "limit" (n_predict).
std::string stop_type(const NativeResult& r);
// llama-server's "completion_probabilities" for `lps`: [{id, token, bytes, logprob,
// top_logprobs: [{id, token, bytes, logprob}]}] (log-softmax of the raw logits).
nlohmann::json completion_probabilities_json(std::span<const TokenLogprob> lps,
                                             const Tokenizer& tok);
// The whole answer of one completion (`probs`: its completion_probabilities, or null).
nlohmann::json native_result_json(const NativeResult& r, const NativeRequest& q,
                                  const std::string& model, const nlohmann::json& probs);
// A stream event of completion `index` before its end: the text and ids since the last one.
nlohmann::json native_chunk_json(size_t index, int id_slot, std::string_view text,
                                 const std::vector<int32_t>& ids, size_t prompt_tokens,
                                 size_t predicted, const nlohmann::json& probs);
// `answer` cut down to `fields` ("generation_settings/n_predict" moves n_predict to the top;
// fields it lacks are left out), as llama-server's "response_fields".
nlohmann::json pick_fields(const nlohmann::json& answer, const std::vector<std::string>& fields);

// The "filename" of a POST /slots/N?action=save|restore body, checked to name a file inside the
// save directory: not empty, at most 255 bytes, no '/' or '\\', no control characters, not "."
// or "..". Else an Error(InvalidArgument) naming the field.
std::string parse_slot_filename(std::string_view body);

}  // namespace vkr::cli
