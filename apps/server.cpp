// server.cpp: see server.hpp. HTTP by cpp-httplib (Debian's libcpp-httplib-dev), JSON by
// nlohmann-json.
#include "server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "model_options.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

bool is_strict_prefix(const std::vector<int32_t>& head, const std::vector<int32_t>& ids) {
  return !head.empty() && head.size() < ids.size() &&
         std::equal(head.begin(), head.end(), ids.begin());
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

std::string sse(const json& event) { return "data: " + event.dump() + "\n\n"; }

}  // namespace

struct Server::Impl {
  Impl(Model& m, ServeOptions o)
      : model(m),
        tok(require_tokenizer(m)),
        opt(std::move(o)),
        tmpl(m.config().arch),
        session(m, 2) {
    if (opt.model_name.empty()) opt.model_name = m.file().path().filename().string();
  }

  // Runs one request on the model: the prompt (reusing the kept state where it can), then the
  // generation, handing text to on_text. Fills `r` (ids, counts, finish).
  void run(const CompletionRequest& q, CompletionResult& r,
           const std::function<bool(std::string_view)>& on_text) {
    std::lock_guard lock(mu);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = q.prompt_ids ? *q.prompt_ids
                               : q.chat     ? tok.encode(tmpl.prompt(q.messages), true)
                                            : tok.encode(q.prompt, true);
    require(!ids.empty(), ErrorCode::InvalidArgument, "the prompt is empty after tokenization");
    // Slot 0 holds `live` (the previous prompt and reply), slot 1 `snap` (the previous prompt
    // but its last token, so the same prompt again still has a token to give the logits).
    size_t reuse = is_strict_prefix(live, ids) ? live.size() : 0;
    const bool from_snap = is_strict_prefix(snap, ids) && snap.size() > reuse;
    live.clear();  // until this prompt is in, slot 0 holds nothing known
    if (from_snap) {
      reuse = snap.size();
      session.state().copy(1, 0);
    } else if (reuse == 0) {
      session.state().reset(0);
    }
    const std::span<const int32_t> all(ids);
    if (reuse + 1 < ids.size()) session.eval_argmax(0, all.subspan(reuse, ids.size() - 1 - reuse));
    session.state().copy(0, 1);
    snap.assign(ids.begin(), ids.end() - 1);
    const auto logits = session.eval(0, all.last(1));
    live = ids;
    SamplerParams sp = q.sampling;
    if (!q.seeded) sp.seed = opt.defaults.sampling.seed + requests;
    Sampler sampler(sp);
    for (int32_t id : ids) sampler.accept(id);  // penalties see the prompt, as in `generate`
    std::vector<std::string> stops = q.stop;
    if (q.chat) {
      for (auto& s : tmpl.stops()) stops.push_back(s);
    }
    const auto t1 = std::chrono::steady_clock::now();
    const Generated out = generate(session, tok, sampler, logits, q.max_tokens, stops, on_text);
    live.insert(live.end(), out.ids.begin(), out.ids.begin() + static_cast<long>(out.fed()));
    ++requests;
    r.finish = out.finish;
    r.prompt_tokens = ids.size();
    r.cached_tokens = reuse;
    r.completion_tokens = out.ids.size();
    if (opt.log) {
      const auto t2 = std::chrono::steady_clock::now();
      auto sec = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
      fmt::print(
          stderr, "{} {}: prompt {} tokens ({} cached) {:.2f} s, {} generated {:.2f} s, {}\n", r.id,
          q.chat ? "chat" : "completion", ids.size(), reuse, sec(t0, t1), out.ids.size(),
          sec(t1, t2), out.finish == Finish::Cancelled ? "cancelled" : finish_reason(out.finish));
    }
  }

  CompletionResult new_result(bool chat) {
    CompletionResult r;
    r.id = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl", ++ids_issued);
    r.model = opt.model_name;
    r.created = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    return r;
  }

  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    CompletionRequest q;
    try {
      q = parse_request(req.body, chat, opt.defaults);
    } catch (const Error& e) {
      send_json(res, 400, error_json(e.message(), "invalid_request_error"));
      return;
    }
    auto r = std::make_shared<CompletionResult>(new_result(chat));
    if (!q.stream) {
      try {
        run(q, *r, [&](std::string_view text) {
          r->text += text;
          return true;
        });
      } catch (const Error& e) {
        const bool client = e.code() == ErrorCode::InvalidArgument;
        send_json(res, client ? 400 : 500,
                  error_json(e.message(), client ? "invalid_request_error" : "server_error"));
        return;
      }
      send_json(res, 200, response_json(*r, chat));
      return;
    }
    // Streamed: the provider runs after this handler returns, on the same connection's thread.
    res.set_chunked_content_provider(
        "text/event-stream", [this, q, r, chat](size_t, httplib::DataSink& sink) {
          bool first = true;
          auto write = [&](const json& event) {
            const std::string s = sse(event);
            return sink.write(s.data(), s.size());
          };
          try {
            run(q, *r, [&](std::string_view text) {
              const bool ok = write(chunk_json(*r, chat, text, first, std::nullopt));
              first = false;
              return ok;
            });
            if (r->finish != Finish::Cancelled) write(chunk_json(*r, chat, "", first, r->finish));
          } catch (const Error& e) {
            write(error_json(e.message(), e.code() == ErrorCode::InvalidArgument
                                              ? "invalid_request_error"
                                              : "server_error"));
          }
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        });
  }

  void routes() {
    // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port and
    // silently take half its connections: only SO_REUSEADDR (restart without waiting TIME_WAIT).
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    http.set_payload_max_length(64u << 20);
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"status", "ok"}});
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      send_json(
          res, 200,
          {{"object", "list"},
           {"data",
            json::array({{{"id", opt.model_name}, {"object", "model"}, {"owned_by", "vkrwkv"}}})}});
    });
    http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& res) {
      complete(q, res, false);
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& res) {
      complete(q, res, true);
    });
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

  Model& model;
  const Tokenizer& tok;
  ServeOptions opt;
  ChatTemplate tmpl;
  Session session;
  std::mutex mu;  // one request on the model at a time; guards everything below
  std::vector<int32_t> live, snap;
  uint64_t requests = 0;
  std::atomic<uint64_t> ids_issued{0};
  httplib::Server http;
};

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

void Server::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}

}  // namespace vkr::cli
