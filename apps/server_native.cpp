// server_native.cpp: llama-server's own routes over the same scheduler as the OpenAI ones
// (server_native_api.hpp has the JSON): POST /completion (and /completions), POST /infill,
// GET /props, POST /apply-template.
#include <fmt/format.h>
#include <httplib.h>

#include <chrono>

#include "server_impl.hpp"
#include "server_infill_api.hpp"
#include "server_native_api.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

double ms_between(Job::Clock::time_point a, Job::Clock::time_point b) {
  return std::max(0.0, std::chrono::duration<double, std::milli>(b - a).count());
}

}  // namespace

void Server::Impl::complete_native(const httplib::Request& req, httplib::Response& res,
                                   bool infill) {
  auto q = std::make_shared<NativeRequest>();
  std::vector<std::shared_ptr<Job>> jobs;
  auto r = std::make_shared<CompletionResult>(new_result("cmpl-"));
  try {
    *q = infill ? parse_infill_request(req.body, opt.defaults, tok)
                : parse_native_request(req.body, opt.defaults);
    jobs = submit(q->base);
  } catch (const Error& e) {
    send_error(res, e);
    return;
  }
  r->choices.resize(jobs.size());
  // An ended job's answer (`content`: its whole text; with `stream_end`, the stream's last event,
  // whose text and tokens came in the events before).
  auto answer = [this, q](const Job& j, size_t index, std::string content,
                          const std::vector<TokenLogprob>& lps, bool stream_end) {
    NativeResult n;
    n.index = index;
    n.content = std::move(content);
    for (int32_t id : j.ids) {
      if (!tok.is_eog(id)) n.tokens.push_back(id);
    }
    n.finish = j.finish;
    n.stop_string = j.stop_string;
    n.prompt = tok.decode(j.prompt, true);
    n.prompt_tokens = j.prompt.size();
    n.cached_tokens = j.cached_tokens;
    n.prompt_ms = ms_between(j.started, j.prompt_done);
    n.predicted_ms = ms_between(j.prompt_done, j.ended);
    n.settings = generation_settings_json(j.sampling, q->base.extras, j.max_tokens, j.stops,
                                          q->base.stream, q->n_probs);
    const json probs =
        q->n_probs > 0 && !stream_end ? completion_probabilities_json(lps, tok) : json();
    json a = native_result_json(n, *q, opt.model_name, probs);
    if (stream_end) {
      if (a.contains("content")) a["content"] = "";
      if (a.contains("tokens")) a["tokens"] = json::array();
    }
    return a;
  };
  if (!q->base.stream) {
    json all = json::array();
    for (size_t i = 0; i < jobs.size(); ++i) {
      std::string text;
      std::vector<TokenLogprob> lps;
      try {
        text = jobs[i]->wait_all(&lps);
      } catch (const Error& e) {
        cancel(jobs);
        send_error(res, e);
        return;
      }
      finished(*jobs[i], *r, i, false);
      all.push_back(answer(*jobs[i], i, std::move(text), lps, false));
    }
    send_json(res, 200, q->many ? all : all.at(0));
    return;
  }
  // Streamed as llama-server streams /completion: an event per piece of text with its ids (and
  // their probabilities with n_probs), then the completion's whole answer with empty content;
  // completions one after the other; no [DONE].
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, jobs, r, q, answer](size_t, httplib::DataSink& sink) {
        auto write = [&](const json& event) { return write_event(sink, event); };
        try {
          for (size_t i = 0; i < jobs.size(); ++i) {
            Job& job = *jobs[i];
            std::string piece;
            std::vector<TokenLogprob> lps;
            std::vector<int32_t> ids;
            size_t predicted = 0;
            while (job.wait_text(piece, &lps, &ids)) {
              predicted += ids.size();
              const json probs = q->n_probs > 0 ? completion_probabilities_json(lps, tok) : json();
              if (!write(native_chunk_json(i, job.cache_slot, piece, ids, job.prompt.size(),
                                           predicted, probs))) {
                abandon(jobs, job);
                finished(job, *r, i, false);
                return false;
              }
              piece.clear();
              lps.clear();
              ids.clear();
            }
            finished(job, *r, i, false);
            json last = answer(job, i, "", lps, true);
            // The ids (and scores) whose text never came out: a stop string's.
            if (!lps.empty() && q->n_probs > 0) {
              last["completion_probabilities"] = completion_probabilities_json(lps, tok);
            }
            write(last);
          }
        } catch (const Error& e) {
          cancel(jobs);
          write(error_json(e.message(), record_error(e)));
        }
        sink.done();
        return true;
      },
      [jobs](bool) { cancel(jobs); });
}

uint64_t Server::Impl::context_length() const {
  // What the model was trained on; RWKV's state has no window, so a file without the key gets
  // the largest count a request may generate.
  const Arch arch = model.config().arch;
  return model.file()
      .get_uint(fmt::format("{}.context_length", arch_name(arch)))
      .value_or(uint64_t{1} << 20);
}

void Server::Impl::native_routes() {
  for (const char* path : {"/completion", "/completions"}) {
    http.Post(path, [this](const httplib::Request& q, httplib::Response& res) {
      complete_native(q, res);
    });
  }
  http.Post("/infill", [this](const httplib::Request& q, httplib::Response& res) {
    complete_native(q, res, true);
  });
  http.Get("/props", [this](const httplib::Request&, httplib::Response& res) {
    const auto& d = opt.defaults;
    auto piece = [&](std::optional<int32_t> id) { return id ? tok.token_bytes(*id) : ""; };
    const auto eos = tok.eos_id() ? tok.eos_id() : tok.eot_id();
    json slot = {
        {"id", 0},
        {"id_task", -1},
        {"n_ctx", context_length()},
        {"speculative", sched.options().speculative()},
        {"is_processing", sched.stats().running > 0},
        {"params", generation_settings_json(d.sampling, d.extras, d.max_tokens, {}, false, 0)},
        {"prompt", ""}};
    send_json(res, 200,
              {{"default_generation_settings", slot},
               {"total_slots", sched.options().parallel},
               {"model_alias", opt.model_name},
               {"model_path", model.file().path().string()},
               {"chat_template",
                std::string(model.file().get_string("tokenizer.chat_template").value_or(""))},
               {"bos_token", piece(tok.bos_id())},
               {"eos_token", piece(eos)},
               {"modalities", {{"vision", false}, {"audio", false}}},
               {"build_info", "vkrwkv " VKR_VERSION},
               {"is_sleeping", false}});
  });
  // The prompt a chat request would run (the same text as /v1/chat/completions feeds the model,
  // tools included), for clients that edit it and send it to /completion.
  post_json("/apply-template", [this](const std::string& body) {
    const CompletionRequest q = parse_request(body, true, opt.defaults);
    return json{{"prompt", tmpl.prompt(q.messages, q.offered_tools()) + q.prefill}};
  });
}

}  // namespace vkr::cli
