// cmd_serve.cpp: `vkrwkv serve`: the HTTP server of server.hpp on a loaded model.
#include <fmt/format.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "model_options.hpp"
#include "sampling_options.hpp"
#include "server.hpp"
#include "signal_watch.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

struct ServeCliOptions {
  ModelOptions model;
  ServeOptions serve;
  std::string api_key_file;
  LookupOptions lookup;
  std::string model_draft;
};

// SIGINT / SIGTERM during `serve` (made before any other thread exists, see SignalWatch). Before
// a server is attached (model loading) a signal exits at once with 128 + its number, as an
// unhandled one would; with one attached it stops the server cleanly (its requests end with an
// error). stop() is repeated until the server is detached: one that came just before listen()
// started would otherwise be lost.
class StopSignals {
 public:
  StopSignals()
      : watch_([this](const char* name, int sig, const std::atomic<bool>& ending) {
          run(name, sig, ending);
        }) {}

  // The server signals stop while this lives (detached however the scope ends).
  class Attach {
   public:
    Attach(StopSignals& s, Server& server) : s_(s) { s_.set(&server); }
    ~Attach() { s_.set(nullptr); }
    Attach(const Attach&) = delete;
    Attach& operator=(const Attach&) = delete;

   private:
    StopSignals& s_;
  };

 private:
  void set(Server* server) {
    std::lock_guard lk(mu_);
    server_ = server;
  }
  void run(const char* name, int sig, const std::atomic<bool>& ending) {
    {
      std::lock_guard lk(mu_);
      if (!server_) {
        fmt::print(stderr, "{}: stopped before the server started\n", name);
        std::_Exit(128 + sig);
      }
    }
    fmt::print(stderr, "{}: stopping (requests still running end with an error)\n", name);
    while (!ending) {
      {
        std::lock_guard lk(mu_);
        if (server_) server_->stop();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::mutex mu_;
  Server* server_ = nullptr;
  SignalWatch watch_;  // last: its thread ends before the members it uses
};

std::string read_api_key(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), ErrorCode::Io, "{}: cannot open the API key file", path);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  require(!key.empty(), ErrorCode::InvalidArgument, "{}: the API key file's first line is empty",
          path);
  return key;
}

}  // namespace

Command add_serve(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand(
      "serve",
      "HTTP server: OpenAI's /v1/completions, /v1/chat/completions and /v1/responses, "
      "Anthropic's /v1/messages, Ollama's /api/chat, llama-server's /completion");
  auto o = std::make_shared<ServeCliOptions>();
  add_model_options(sub, common, o->model);
  auto& s = o->serve;
  sub->add_option("--host", s.host, "Address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  sub->add_option("--port", s.port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sub->add_option("--name", s.model_name, "Model id for clients (default: the file name)");
  auto& d = s.defaults;
  sub->add_option("-n,--n-predict", d.max_tokens, "max_tokens when a request sets none")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  sub->add_option("--temp", d.sampling.temperature, "Default temperature (<= 0: greedy)")
      ->capture_default_str();
  sub->add_option("--top-k", d.sampling.top_k, "Default top-k (0: off)")->capture_default_str();
  sub->add_option("--top-p", d.sampling.top_p, "Default top-p (1: off)")->capture_default_str();
  sub->add_option("--min-p", d.sampling.min_p, "Default min-p (0: off)")->capture_default_str();
  sub->add_option("--repeat-penalty", d.sampling.repetition_penalty,
                  "Default repetition penalty (1: off)");
  sub->add_option("--presence-penalty", d.sampling.presence_penalty, "Default presence penalty");
  sub->add_option("--frequency-penalty", d.sampling.frequency_penalty, "Default frequency penalty");
  sub->add_option("--repeat-last-n", d.sampling.penalty_last_n,
                  "Default count of ids the penalties look back on");
  add_sampler_flags(sub, d.sampling, d.extras);
  sub->add_option("--seed", d.sampling.seed,
                  "Seed of the first request without one (then +1 "
                  "per request)");
  sub->add_option("--parallel", s.scheduler.parallel,
                  "Requests run at once, their decode steps batched (the others queue)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("--cache-states", s.scheduler.kept,
                  "States of finished requests kept, so a request starting with the same tokens "
                  "(a chat's next turn) runs only the new ones (0: none)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--pooling",
         [o](const std::string& v) {
           o->serve.pooling = v == "mean" ? Pooling::Mean : Pooling::Last;
         },
         "/v1/embeddings: the last token's final hidden state (an RNN's state has read the whole "
         "text) or the mean over the tokens; unit length either way")
      ->check(CLI::IsMember({"last", "mean"}))
      ->default_str("last");
  sub->add_option("--slot-save-path", s.slot_save_path,
                  "Directory of the state files POST /slots/N?action=save|restore writes and "
                  "reads (default: none; those actions are refused)");
  sub->add_option(
      "--api-key", s.api_key,
      "Require \"Authorization: Bearer KEY\" (or \"x-api-key: KEY\") on every route but /health");
  sub->add_option(
      "--api-key-file", o->api_key_file,
      "Read the API key from the first line of FILE (keeps it out of the process list)");
  sub->add_option("--cors", s.cors_origins,
                  "Let web pages from ORIGIN (e.g. http://localhost:3000; '*': any) call the "
                  "server from a browser (repeat or comma-separate; default: none)")
      ->delimiter(',');
  sub->add_flag(
      "--quiet", [o](int64_t) { o->serve.log = false; }, "No line per request");
  auto* lookup = add_lookup_flags(sub, o->lookup,
                                  " for a request decoding alone (requests decoding together "
                                  "share batched calls); a request's \"speculative.n_max\" "
                                  "lowers it");
  sub->add_option("--model-draft,--md", o->model_draft,
                  "Speculative decoding with this draft model (same vocabulary) for a request "
                  "decoding alone, as generate --model-draft")
      ->excludes(lookup);
  sub->add_option("--draft-p-min", s.scheduler.draft_p_min,
                  "--model-draft: guessing stops at a token the draft model gives less "
                  "probability (0: always --draft-max tokens; a request's \"speculative.p_min\" "
                  "overrides it)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--draft-max", s.scheduler.draft_max,
                  "--model-draft: tokens guessed per step (a request's \"speculative.n_max\" "
                  "lowers it)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  return {sub, [&common, o] {
            validate(o->serve.defaults.sampling);
            o->lookup.validate();
            auto& sched = o->serve.scheduler;
            sched.lookup = o->lookup.n;
            sched.lookup_min = o->lookup.ngram_min;
            sched.lookup_max = o->lookup.ngram_max;
            require(o->api_key_file.empty() || o->serve.api_key.empty(), ErrorCode::InvalidArgument,
                    "--api-key and --api-key-file: give one of them");
            if (!o->api_key_file.empty()) o->serve.api_key = read_api_key(o->api_key_file);
            const std::string& saves = o->serve.slot_save_path;
            require(saves.empty() || std::filesystem::is_directory(saves), ErrorCode::Io,
                    "--slot-save-path {}: no such directory", saves);
            StopSignals signals;  // before any thread exists
            auto loaded = load_model(common, o->model);
            std::unique_ptr<Model> draft;  // on the (first) device of the model
            if (!o->model_draft.empty()) {
              LoadOptions lo;
              lo.max_tokens = o->model.max_tokens;
              draft = Model::load(*loaded.devices.front(), o->model_draft, lo);
              sched.draft = draft.get();
            }
            {  // the defaults against the vocabulary (biased ids ...), before serving
              SamplerParams check = o->serve.defaults.sampling;
              finalize_sampling(check, o->serve.defaults.extras, require_tokenizer(*loaded.model));
            }
            Server server(*loaded.model, o->serve);
            const int port = server.bind();
            const auto& sc = o->serve.scheduler;
            fmt::print(
                stderr,
                "serving {} on http://{}:{} (POST /v1/completions, "
                "/v1/chat/completions, /tokenize, /detokenize; GET /v1/models, /health, "
                "/tokenizer_info, /metrics): "
                "{} requests at once, "
                "{} states kept ({:.1f} MiB each){}{}\n",
                loaded.model->file().path().filename().string(), o->serve.host, port, sc.parallel,
                sc.kept, static_cast<double>(server.state_bytes_per_slot()) / 1048576.0,
                sc.draft ? fmt::format("; draft model {} ({} tokens)", o->model_draft, sc.draft_max)
                : sc.lookup > 0 ? fmt::format("; prompt lookup of {} tokens", sc.lookup)
                                : "",
                o->serve.api_key.empty() ? "" : "; API key required");
            {
              StopSignals::Attach stoppable(signals, server);
              server.listen();
            }
            server.stop();
            fmt::print(stderr, "server stopped\n");
            return 0;
          }};
}

}  // namespace vkr::cli
