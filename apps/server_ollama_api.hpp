// server_ollama_api.hpp: the JSON of Ollama's API, which many chat front ends and editor plugins
// speak by default (Open WebUI, Continue, ...): POST /api/chat and /api/generate become the chat
// and completions routes' requests ("options" holds the sampling fields, "format" a JSON schema
// or "json", "stream" is on unless false); their answers are Ollama's objects (streamed as JSON
// lines). No HTTP and no GPU here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "generation.hpp"
#include "server_api.hpp"

namespace vkr::cli {

struct OllamaRequest {
  CompletionRequest base;  // chat (/api/chat, /api/generate without raw) or a plain prompt
  std::string model;       // the name the client gave (echoed back)
};

// POST /api/chat. A bad field, or one it cannot honour (images, thinking), is an
// Error(InvalidArgument) naming it.
OllamaRequest parse_ollama_chat(std::string_view body, const RequestDefaults& d);
// POST /api/generate: "prompt" with "system" in the chat template, or as it is with "raw".
OllamaRequest parse_ollama_generate(std::string_view body, const RequestDefaults& d);

// Ollama's timings and counts of an ended reply (nanoseconds), and its done_reason.
struct OllamaStats {
  Finish finish = Finish::Stop;
  size_t prompt_tokens = 0, output_tokens = 0;
  double prompt_ns = 0, output_ns = 0, total_ns = 0;
};
// Adds done, done_reason and the counts and durations to `answer`.
void add_ollama_stats(nlohmann::json& answer, const OllamaStats& s);
// RFC 3339 UTC time, as Ollama's "created_at".
std::string ollama_time_now();

}  // namespace vkr::cli
