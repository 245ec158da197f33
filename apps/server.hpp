// server.hpp: `vkrwkv serve`, an HTTP server with OpenAI-style endpoints over one loaded model:
//   GET  /health, GET /v1/models, GET /metrics (Prometheus text: tokens, times, batching)
//   POST /v1/completions, POST /v1/chat/completions (JSON, or server-sent events with "stream");
//        completions take a batch of prompts (one choice each) and "echo" (the prompt's text and,
//        with "logprobs", its tokens' log-probabilities: what lm-evaluation-harness's
//        loglikelihood tasks ask for); chat takes "tools" and gives "tool_calls" (tool_calls.hpp)
//   POST /tokenize, POST /detokenize, GET /tokenizer_info (the served vocabulary, in
//        llama-server's and vLLM's forms)
//   POST /v1/responses: OpenAI's Responses API over the chat machinery (server_responses_api.hpp)
//   POST /v1/messages, POST /v1/messages/count_tokens: Anthropic's Messages API
//        (server_anthropic_api.hpp)
//   POST /v1/embeddings: each input's final hidden state, pooled (last or mean), unit length
//   /api/chat, /api/generate, /api/embed, /api/tags, ...: Ollama's API (server_ollama_api.hpp)
//   POST /completion, POST /infill, GET /props, POST /apply-template: llama-server's own API
//        (server_native_api.hpp); aliases /completions, /chat/completions, /models
//   GET /slots, POST /slots/N?action=save|restore|erase: the kept states as cache slots, saved
//        to and restored from state files (server_slots.cpp)
// Requests run several at once, their decode steps batched (scheduler.hpp); the states of finished
// requests are kept, so a prompt that starts with the tokens of an earlier request (its prompt, or
// its prompt and reply: a chat's next turn) runs only its new tokens ("cached_tokens" in the
// usage).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model.hpp"
#include "scheduler.hpp"
#include "server_api.hpp"

namespace vkr::cli {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;         // 0: any free port (bind() returns it)
  std::string model_name;  // the id /v1/models lists (default: the model file's name)
  RequestDefaults defaults;
  SchedulerOptions scheduler;
  Pooling pooling = Pooling::Last;  // /v1/embeddings: the last token's hidden state, or the mean
  // The directory of POST /slots/N?action=save|restore's files; empty: those actions are refused
  // (a client must not write files on the server unless its operator says where).
  std::string slot_save_path;
  bool log = true;  // one line per request on stderr
  // Non-empty: every route but /health needs "Authorization: Bearer <api_key>" or
  // "x-api-key: <api_key>" (else a 401).
  std::string api_key;
  // Origins whose web pages may call the server from a browser (CORS), e.g.
  // "http://localhost:3000"; "*" allows any origin. Empty (the default): no CORS headers, so
  // browsers keep other sites' scripts from reading the answers of a server on localhost.
  std::vector<std::string> cors_origins;
};

class Server {
 public:
  Server(Model& model, ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port; an Error naming the address when it cannot.
  int bind();
  // Serves until stop() (from another thread). Call after bind().
  void listen();
  // Ends the queued and running requests with an error (streams get an error event and
  // [DONE]), refuses new ones and makes listen() return.
  void stop();

  Scheduler::Stats stats() const;
  uint64_t state_bytes_per_slot() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkr::cli
