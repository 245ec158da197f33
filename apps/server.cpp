// server.cpp: see server.hpp. HTTP by cpp-httplib (Debian's libcpp-httplib-dev), JSON by
// nlohmann-json.
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>

#include "dry_breakers.hpp"
#include "model_options.hpp"
#include "server_impl.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

bool write_event(httplib::DataSink& sink, const json& event) {
  const std::string s = "data: " + dump(event) + "\n\n";
  return sink.write(s.data(), s.size());
}

Server::Impl::Impl(Model& m, ServeOptions o)
    : model(m),
      tok(require_tokenizer(m)),
      opt(std::move(o)),
      tmpl(ChatTemplate::of(m)),
      sched(m, tok, opt.scheduler) {
  if (opt.model_name.empty()) opt.model_name = m.file().path().filename().string();
  // httplib serves each connection on a thread of its pool: more threads than requests that
  // run at once, so the ones waiting for a slot queue in the scheduler, not unanswered.
  const size_t threads = std::max<size_t>(8, opt.scheduler.parallel + 4);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
}

SamplerParams Server::Impl::finish_sampling(const CompletionRequest& q) {
  SamplerParams s = q.sampling;
  finalize_sampling(s, q.extras, tok, &dry_cache);
  return s;
}

std::vector<int32_t> Server::Impl::prompt_ids(const PromptInput& p) const {
  if (p.parts.empty()) return p.ids ? *p.ids : tok.encode(p.text, true);
  std::vector<int32_t> ids;
  for (const auto& part : p.parts) {
    const auto more = prompt_ids(part);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  return ids;
}

std::vector<std::shared_ptr<Job>> Server::Impl::submit(const CompletionRequest& q) {
  std::vector<std::vector<int32_t>> prompts;
  if (q.chat) {
    prompts.push_back(tok.encode(tmpl.prompt(q.messages, q.offered_tools()) + q.prefill, true));
  } else {
    for (const auto& p : q.prompts) prompts.push_back(prompt_ids(p));
  }
  const int64_t V = model.config().V;
  for (size_t k = 0; k < prompts.size(); ++k) {
    const std::string which = prompts.size() > 1 ? fmt::format("prompt {}: ", k) : "";
    require(!prompts[k].empty(), ErrorCode::InvalidArgument,
            "{}the prompt is empty after tokenization", which);
    for (size_t i = 0; i < prompts[k].size(); ++i) {
      require(prompts[k][i] >= 0 && prompts[k][i] < V, ErrorCode::InvalidArgument,
              "{}token id {} at position {} is outside the vocabulary [0, {})", which,
              prompts[k][i], i, V);
    }
  }
  const SamplerParams sampling = finish_sampling(q);
  std::vector<std::shared_ptr<Job>> jobs;
  for (size_t c = 0; c < prompts.size() * static_cast<size_t>(q.n); ++c) {
    auto job = std::make_shared<Job>();
    job->prompt = prompts[c / static_cast<size_t>(q.n)];
    job->sampling = sampling;
    const uint64_t n = requests++;
    job->sampling.seed = q.seeded ? q.sampling.seed + c % static_cast<size_t>(q.n)
                                  : opt.defaults.sampling.seed + static_cast<uint32_t>(n);
    job->max_tokens = q.max_tokens;
    job->logprobs = q.logprobs;
    job->prompt_logprobs = q.echo;
    job->constraint = q.constraint;
    job->stops = q.stop;
    job->cache_slot = q.cache_slot;
    job->lookup = q.lookup;
    job->draft_p_min = q.draft_p_min;
    if (q.chat) {
      for (auto& s : tmpl.stops()) job->stops.push_back(s);
    }
    jobs.push_back(std::move(job));
  }
  for (auto& job : jobs) sched.submit(job);
  return jobs;
}

void Server::Impl::finished(const Job& job, CompletionResult& r, size_t index, bool chat) {
  ChoiceResult& c = r.choices.at(index);
  c.finish = job.finish;
  c.prompt_tokens = job.prompt.size();
  c.cached_tokens = job.cached_tokens;
  c.completion_tokens = job.ids.size();
  auto us = [](auto a, auto b) {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(b - a).count()));
  };
  totals.completions++;
  totals.prompt_tokens += c.prompt_tokens;
  totals.cached_tokens += c.cached_tokens;
  totals.generated_tokens += c.completion_tokens;
  totals.prompt_us += us(job.started, job.prompt_done);
  totals.generation_us += us(job.prompt_done, job.ended);
  if (!opt.log) return;
  auto sec = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  const double waited = sec(job.submitted, job.started);
  fmt::print(stderr,
             "{}{} {}: {}prompt {} tokens ({} cached) {:.2f} s, {} generated {:.2f} s, {}\n", r.id,
             r.choices.size() > 1 ? fmt::format("[{}]", index) : "", chat ? "chat" : "completion",
             waited >= 0.01 ? fmt::format("waited {:.2f} s, ", waited) : "", c.prompt_tokens,
             c.cached_tokens, sec(job.started, job.prompt_done), c.completion_tokens,
             sec(job.prompt_done, job.ended),
             c.finish == Finish::Cancelled ? "cancelled" : finish_reason(c.finish));
}

std::string Server::Impl::call_id(const CompletionResult& r, size_t i) {
  return fmt::format("call_{}_{}", r.id, i);
}

CompletionResult Server::Impl::new_result(std::string_view kind) {
  CompletionResult r;
  r.id = fmt::format("{}{}", kind, ++ids_issued);
  r.model = opt.model_name;
  r.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  return r;
}

const char* Server::Impl::record_error(const Error& e) {
  const bool client = e.code() == ErrorCode::InvalidArgument;
  (client ? totals.rejected : totals.failed)++;
  return client ? "invalid_request_error" : "server_error";
}

void Server::Impl::send_error(httplib::Response& res, const Error& e) {
  send_json(res, e.code() == ErrorCode::InvalidArgument ? 400 : 500,
            error_json(e.message(), record_error(e)));
}

void Server::Impl::cancel(const std::vector<std::shared_ptr<Job>>& jobs) {
  for (const auto& j : jobs) j->cancel();
}

void Server::Impl::abandon(const std::vector<std::shared_ptr<Job>>& jobs, Job& job) {
  cancel(jobs);
  std::string rest;
  while (job.wait_text(rest)) rest.clear();
}

bool Server::Impl::relay(const std::vector<std::shared_ptr<Job>>& jobs, Job& job,
                         const ToolSet* tools, ToolCallStream& calls,
                         const std::function<bool(const std::string&)>& out,
                         std::vector<TokenLogprob>* lps) {
  std::string piece;
  while (job.wait_text(piece, lps)) {
    const bool ok = out(tools ? calls.push(piece) : piece);
    piece.clear();
    if (!ok) {
      abandon(jobs, job);
      return false;
    }
  }
  return true;
}

void Server::Impl::complete(const httplib::Request& req, httplib::Response& res, bool chat) {
  CompletionRequest q;
  auto r = std::make_shared<CompletionResult>(new_result(chat ? "chatcmpl-" : "cmpl-"));
  std::vector<std::shared_ptr<Job>> jobs;
  try {
    q = parse_request(req.body, chat, opt.defaults);
    jobs = submit(q);
  } catch (const Error& e) {
    send_error(res, e);
    return;
  }
  r->choices.resize(jobs.size());
  const bool want_lp = q.logprobs >= 0;
  // echo: the prompt's text as its tokens spell it (so text_offset and the tokens line up)
  auto echo_of = [this, echo = q.echo](const Job& j) {
    return echo ? tok.decode(j.prompt, true) : std::string();
  };
  if (!q.stream) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      ChoiceResult& c = r->choices[i];
      std::vector<TokenLogprob> lps;
      c.text = echo_of(*jobs[i]);
      try {
        c.text += jobs[i]->wait_all(&lps);
      } catch (const Error& e) {
        cancel(jobs);
        send_error(res, e);
        return;
      }
      size_t offset = 0;
      if (want_lp) c.logprobs = logprobs_json(lps, chat, tok, offset);
      if (const ToolSet* tools = q.offered_tools()) {
        ParsedReply p = parse_tool_calls(c.text, *tools);
        if (!p.calls.empty()) {
          c.text = std::move(p.content);
          c.tool_calls = tool_calls_json(p.calls, call_id(*r, i), false);
        }
      }
      finished(*jobs[i], *r, i, chat);
    }
    send_json(res, 200, response_json(*r, chat));
    return;
  }
  // Streamed: the provider runs after this handler returns, on the same connection's thread;
  // the releaser runs however the stream ends (jobs nobody reads any more stop). The choices
  // come one after the other (their jobs run together; the text waits in each job).
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, jobs, r, chat, want_lp, echo_of, tools = q.tools,
       offered = q.offered_tools() != nullptr](size_t, httplib::DataSink& sink) {
        auto write = [&](const json& event) { return write_event(sink, event); };
        try {
          for (size_t i = 0; i < jobs.size(); ++i) {
            Job& job = *jobs[i];
            bool first = true;
            std::string echo = echo_of(job);
            // Each chunk carries the log-probabilities of the ids since the last one.
            std::vector<TokenLogprob> lps;
            size_t offset = 0;
            auto take_logprobs = [&] {
              if (want_lp) r->choices[i].logprobs = logprobs_json(lps, chat, tok, offset);
              lps.clear();
            };
            auto send = [&](std::string_view text, const json* calls = nullptr) {
              take_logprobs();
              const bool ok = write(chunk_json(*r, chat, i, text, first, false, false, calls));
              first = false;
              return ok;
            };
            ToolCallStream calls;  // with tools: text that may be a call is held back
            std::string piece;
            while (job.wait_text(piece, &lps)) {
              std::string out = echo + (offered ? calls.push(piece) : piece);
              echo.clear();
              piece.clear();
              if (offered && out.empty()) continue;  // held: its logprobs go with what follows
              if (!send(out)) {
                abandon(jobs, job);
                finished(job, *r, i, chat);
                return false;
              }
            }
            finished(job, *r, i, chat);
            if (offered) {
              ParsedReply p = calls.finish(*tools);
              if (!p.content.empty()) send(p.content);
              if (!p.calls.empty()) {
                r->choices[i].tool_calls = tool_calls_json(p.calls, call_id(*r, i), true);
                send("", &r->choices[i].tool_calls);
              }
            }
            take_logprobs();  // ids whose text never came out (a stop string's; the prompt's)
            if (!echo.empty()) send(echo);  // an echo and no reply text
            write(chunk_json(*r, chat, i, "", first, true, i + 1 == jobs.size()));
          }
        } catch (const Error& e) {
          cancel(jobs);
          write(error_json(e.message(), record_error(e)));
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      },
      [jobs](bool) { cancel(jobs); });
}

bool Server::Impl::allow_origin(const httplib::Request& q, httplib::Response& res) const {
  const std::string origin = q.get_header_value("Origin");
  if (origin.empty()) return false;
  const bool any =
      std::find(opt.cors_origins.begin(), opt.cors_origins.end(), "*") != opt.cors_origins.end();
  if (!any && std::find(opt.cors_origins.begin(), opt.cors_origins.end(), origin) ==
                  opt.cors_origins.end()) {
    return false;
  }
  res.set_header("Access-Control-Allow-Origin", origin);
  res.set_header("Vary", "Origin");
  res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
  res.set_header("Access-Control-Max-Age", "600");
  return true;
}

bool Server::Impl::authorized(const httplib::Request& q) const {
  auto same = [](const std::string& got, const std::string& want) {
    unsigned diff = got.size() == want.size() ? 0u : 1u;
    for (size_t i = 0; i < want.size(); ++i) {
      diff |= static_cast<unsigned char>(want[i]) ^
              static_cast<unsigned char>(i < got.size() ? got[i] : 0);
    }
    return diff == 0;
  };
  // OpenAI's header, or Anthropic's (its SDKs send the key as x-api-key).
  const bool bearer = same(q.get_header_value("Authorization"), "Bearer " + opt.api_key);
  const bool x_api_key =
      q.has_header("x-api-key") && same(q.get_header_value("x-api-key"), opt.api_key);
  return bearer || x_api_key;
}

void Server::Impl::post_json(const char* path, std::function<json(const std::string&)> answer) {
  http.Post(path,
            [this, answer = std::move(answer)](const httplib::Request& q, httplib::Response& res) {
              try {
                send_json(res, 200, answer(q.body));
              } catch (const Error& e) {
                send_error(res, e);
              }
            });
}

void Server::Impl::routes() {
  // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port and
  // silently take half its connections: only SO_REUSEADDR (restart without waiting TIME_WAIT).
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_payload_max_length(64u << 20);
  if (!opt.api_key.empty() || !opt.cors_origins.empty()) {
    http.set_pre_routing_handler([this](const httplib::Request& q, httplib::Response& res) {
      const bool cors = allow_origin(q, res);
      // A browser's preflight carries no credentials: answered before the key check (with the
      // CORS headers when the origin is allowed, without them otherwise, which the browser
      // takes as a refusal).
      if (q.method == "OPTIONS") {
        res.status = cors ? 204 : 403;
        return httplib::Server::HandlerResponse::Handled;
      }
      if (opt.api_key.empty() || q.path == "/health" || authorized(q)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      res.set_header("WWW-Authenticate", "Bearer");
      send_json(res, 401,
                error_json("invalid or missing API key (send \"Authorization: Bearer <key>\" "
                           "or \"x-api-key: <key>\")",
                           "authentication_error"));
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const auto st = sched.stats();
    send_json(res, 200,
              {{"status", "ok"},
               {"requests",
                {{"running", st.running},
                 {"queued", st.queued},
                 {"parallel", sched.options().parallel}}}});
  });
  // Prometheus text format (what llama-server's --metrics scrapers read), behind the API key.
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const auto st = sched.stats();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
      out += fmt::format("# HELP vkrwkv_{0} {1}\n# TYPE vkrwkv_{0} {2}\nvkrwkv_{0} {3}\n", name,
                         help, type, value);
    };
    metric("completions_total", "counter", "Choices finished (a request has one per prompt and n).",
           totals.completions.load());
    metric("prompt_tokens_total", "counter", "Prompt tokens of finished choices.",
           totals.prompt_tokens.load());
    metric("prompt_tokens_cached_total", "counter",
           "Prompt tokens that came from a kept state instead of being run.",
           totals.cached_tokens.load());
    metric("generated_tokens_total", "counter", "Tokens generated.",
           totals.generated_tokens.load());
    metric("prompt_seconds_total", "counter", "Time spent on prompts.",
           static_cast<double>(totals.prompt_us.load()) * 1e-6);
    metric("generation_seconds_total", "counter", "Time from prompt end to reply end.",
           static_cast<double>(totals.generation_us.load()) * 1e-6);
    metric("decode_calls_total", "counter", "Forward calls of decode steps.", st.decode_calls);
    metric("lookup_checks_total", "counter",
           "Decode calls that checked prompt-lookup guesses (--lookup).", st.lookup_checks);
    metric("lookup_drafted_total", "counter", "Prompt-lookup guessed tokens checked.",
           st.lookup_drafted);
    metric("lookup_accepted_total", "counter", "Prompt-lookup guessed tokens kept.",
           st.lookup_accepted);
    metric("decoded_rows_total", "counter",
           "Sequences those calls advanced (rows / calls = the mean batch).", st.decoded_rows);
    metric("requests_rejected_total", "counter", "Requests answered 400.", totals.rejected.load());
    metric("requests_failed_total", "counter", "Requests that failed on the server's side.",
           totals.failed.load());
    metric("requests_running", "gauge", "Requests in a state slot now.", st.running);
    metric("requests_queued", "gauge", "Requests waiting for a slot.", st.queued);
    metric("parallel", "gauge", "Requests run at once (--parallel).", sched.options().parallel);
    res.set_content(out, "text/plain; version=0.0.4");
  });
  for (const char* path : {"/v1/models", "/models"}) {
    http.Get(path, [this](const httplib::Request&, httplib::Response& res) {
      send_json(
          res, 200,
          {{"object", "list"},
           {"data",
            json::array({{{"id", opt.model_name}, {"object", "model"}, {"owned_by", "vkrwkv"}}})}});
    });
  }
  // llama-server's token endpoints: clients count or inspect tokens with the served vocabulary.
  // llama-server's and vLLM's forms (lm-evaluation-harness tokenizes through the server with
  // the latter when /tokenizer_info answers).
  post_json("/tokenize", [this](const std::string& body) {
    const auto [text, special] = parse_tokenize(body);
    const auto ids = tok.encode(text, special);
    return json{{"tokens", ids}, {"count", ids.size()}};
  });
  post_json("/detokenize", [this](const std::string& body) {
    const std::string text = tok.decode(parse_detokenize(body, tok.n_vocab()), true);
    return json{{"content", text}, {"prompt", text}};
  });
  http.Get("/tokenizer_info", [this](const httplib::Request&, httplib::Response& res) {
    auto text_of = [&](std::optional<int32_t> id) {
      return id ? json(tok.token_bytes(*id)) : json(nullptr);
    };
    const auto eos = tok.eos_id() ? tok.eos_id() : tok.eot_id();
    send_json(res, 200,
              {{"eos_token", text_of(eos)},
               {"bos_token", text_of(tok.bos_id())},
               {"eos_token_id", eos ? json(*eos) : json(nullptr)},
               {"bos_token_id", tok.bos_id() ? json(*tok.bos_id()) : json(nullptr)},
               {"vocab_size", tok.n_vocab()},
               {"tokenizer_model", tok.model_name()}});
  });
  http.Post("/v1/completions",
            [this](const httplib::Request& q, httplib::Response& res) { complete(q, res, false); });
  // llama-server answers chat without the /v1 too (clients configured with a bare base URL).
  for (const char* path : {"/v1/chat/completions", "/chat/completions"}) {
    http.Post(path, [this](const httplib::Request& q, httplib::Response& res) {
      complete(q, res, true);
    });
  }
  native_routes();
  slot_routes();
  anthropic_routes();
  ollama_routes();
  http.Post("/v1/embeddings",
            [this](const httplib::Request& q, httplib::Response& res) { embed(q, res); });
  http.Post("/v1/responses",
            [this](const httplib::Request& q, httplib::Response& res) { respond(q, res); });
  http.set_error_handler([](const httplib::Request& q, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own error body
    const std::string msg = res.status == 404 ? fmt::format("no endpoint {} {}", q.method, q.path)
                                              : fmt::format("HTTP {}", res.status);
    send_json(res, res.status, error_json(msg, "invalid_request_error"));
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string msg = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const Error& e) {
          msg = e.message();
        } catch (const std::exception& e) {
          msg = e.what();
        } catch (...) {
        }
        send_json(res, 500, error_json(msg, "server_error"));
      });
}

Server::Server(Model& model, ServeOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(options))) {
  impl_->routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  auto& o = impl_->opt;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  require(port > 0, ErrorCode::Io,
          "cannot listen on {}:{} (address in use, or not an address of "
          "this machine)",
          o.host, o.port);
  o.port = port;
  return port;
}

void Server::listen() { impl_->http.listen_after_bind(); }

Scheduler::Stats Server::stats() const { return impl_->sched.stats(); }

uint64_t Server::state_bytes_per_slot() const { return impl_->sched.state_bytes_per_slot(); }

void Server::stop() {
  // Requests first: httplib's stop waits for its handlers, and a stream ends only when its job
  // does.
  impl_->sched.shutdown();
  if (impl_->http.is_running()) impl_->http.stop();
}

}  // namespace vkr::cli
