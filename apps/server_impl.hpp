// server_impl.hpp: the inside of `vkrwkv serve` (Server::Impl), shared by server.cpp (the
// OpenAI-style routes, authentication, CORS, metrics) and server_native.cpp (llama-server's own
// routes: /completion, /props, /apply-template). Not installed; the apps' code only.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dry_breakers.hpp"
#include "server.hpp"
#include "server_responses_api.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// A server-sent event "data: <json>\n\n"; false when the client went away.
bool write_event(httplib::DataSink& sink, const nlohmann::json& event);

struct Server::Impl {
  Impl(Model& m, ServeOptions o);

  // The request's sampling with its text biases and ignore_eos made into ids and DRY's breakers
  // into tokens (kept per breaker list: a vocabulary scan each).
  SamplerParams finish_sampling(const CompletionRequest& q);
  // A prompt's ids (text tokenized with special-token text parsed; a mixed prompt's parts
  // joined).
  std::vector<int32_t> prompt_ids(const PromptInput& p) const;
  // Tokenizes and checks every prompt of the request, then queues n jobs per prompt (none when
  // any prompt is bad); the caller reads the jobs' text.
  std::vector<std::shared_ptr<Job>> submit(const CompletionRequest& q);
  // The counts of an ended job (choice `index`), and its line on stderr.
  void finished(const Job& job, CompletionResult& r, size_t index, bool chat);
  // The base of the ids of choice i's tool calls ("call_<request>_<choice>", then _<call>).
  static std::string call_id(const CompletionResult& r, size_t i);
  // A result with a new id `kind`<n> ("cmpl-", "chatcmpl-", "resp_"), the model and the time.
  CompletionResult new_result(std::string_view kind);
  // Counts a failed request (for /metrics) and gives its OpenAI error type.
  const char* record_error(const Error& e);
  void send_error(httplib::Response& res, const Error& e);
  static void cancel(const std::vector<std::shared_ptr<Job>>& jobs);
  // The client went away mid-stream: the request's jobs stop, and `job` is read to its end (the
  // scheduler drops it at its next step), so its counts are final.
  static void abandon(const std::vector<std::shared_ptr<Job>>& jobs, Job& job);
  // Passes a chat reply's text to `out` as it comes (with `tools`, text that may begin a call is
  // held back in `calls`: calls.finish() gives the rest); false when `out` failed (then the
  // request is abandoned). `lps`: the log-probabilities are appended there as they come.
  static bool relay(const std::vector<std::shared_ptr<Job>>& jobs, Job& job, const ToolSet* tools,
                    ToolCallStream& calls, const std::function<bool(const std::string&)>& out,
                    std::vector<TokenLogprob>* lps = nullptr);

  // POST /v1/completions and /v1/chat/completions.
  void complete(const httplib::Request& req, httplib::Response& res, bool chat);
  // POST /completion (llama-server's own form; server_native.cpp).
  // `infill`: POST /infill (server_infill_api.hpp), the prompt made of the FIM fields.
  void complete_native(const httplib::Request& req, httplib::Response& res, bool infill = false);
  // POST /v1/responses (OpenAI's Responses API; server_responses.cpp).
  void respond(const httplib::Request& req, httplib::Response& res);
  // POST /v1/messages and /v1/messages/count_tokens (Anthropic's; server_anthropic.cpp).
  void anthropic_messages(const httplib::Request& req, httplib::Response& res);
  void anthropic_routes();
  // POST /v1/embeddings (server_embeddings.cpp).
  void embed(const httplib::Request& req, httplib::Response& res);
  // Each input's embedding (serve --pooling), run by the scheduler; `tokens`: their count.
  std::vector<std::vector<float>> embeddings(const std::vector<PromptInput>& inputs,
                                             size_t& tokens);
  // Ollama's routes (server_ollama.cpp): /api/chat, /api/generate (`chat_api`: the former),
  // /api/embed, /api/tags, /api/show, /api/ps, /api/version.
  void ollama_complete(const httplib::Request& req, httplib::Response& res, bool chat_api);
  void ollama_routes();
  // CORS: when the request's Origin is allowed, the headers that let its page read the answer
  // (and send the Authorization and Content-Type headers a client needs). True if allowed.
  bool allow_origin(const httplib::Request& q, httplib::Response& res) const;
  // The request carries the API key ("Authorization: Bearer KEY" or "x-api-key: KEY"); compares
  // every byte whatever the first difference (no timing hint at the key's prefix).
  bool authorized(const httplib::Request& q) const;
  // A POST route answering `answer(body)` as JSON; an Error becomes a 400 / 500 naming it.
  void post_json(const char* path, std::function<nlohmann::json(const std::string&)> answer);
  void routes();
  void native_routes();  // server_native.cpp
  void slot_routes();    // server_slots.cpp
  // n_ctx for llama-server's clients: the model's training context (RWKV has no window).
  uint64_t context_length() const;

  Model& model;
  const Tokenizer& tok;
  DryBreakerCache dry_cache;
  ServeOptions opt;
  ChatTemplate tmpl;
  Scheduler sched;
  ResponseStore responses;  // conversations of stored responses, for previous_response_id
  std::atomic<uint64_t> requests{0}, ids_issued{0};
  struct Totals {  // for /metrics
    std::atomic<uint64_t> completions{0}, prompt_tokens{0}, cached_tokens{0}, generated_tokens{0},
        prompt_us{0}, generation_us{0}, rejected{0}, failed{0};
  } totals;
  httplib::Server http;
};

}  // namespace vkr::cli
