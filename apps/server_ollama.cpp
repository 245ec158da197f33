// server_ollama.cpp: Ollama's API over the same scheduler, chat template and tool-call handling as
// the OpenAI routes (server_ollama_api.hpp has the request conversion): /api/chat,
// /api/generate, /api/embed (and the older /api/embeddings), /api/tags, /api/show, /api/ps,
// /api/version. Errors are Ollama's {"error": "..."}.
#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>

#include "json_fields.hpp"
#include "server_impl.hpp"
#include "server_ollama_api.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

void send_ollama_error(httplib::Response& res, const Error& e) {
  send_json(res, e.code() == ErrorCode::InvalidArgument ? 400 : 500, {{"error", e.message()}});
}

double ns_between(Job::Clock::time_point a, Job::Clock::time_point b) {
  return std::max(0.0, std::chrono::duration<double, std::nano>(b - a).count());
}

// Ollama's calls: [{"function": {"name", "arguments": {...}}}].
json ollama_calls(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const auto& c : calls) {
    out.push_back(
        {{"function", {{"name", c.name}, {"arguments", json::parse(arguments_text(c))}}}});
  }
  return out;
}

}  // namespace

void Server::Impl::ollama_complete(const httplib::Request& req, httplib::Response& res,
                                   bool chat_api) {
  auto q = std::make_shared<OllamaRequest>();
  std::vector<std::shared_ptr<Job>> jobs;
  auto r = std::make_shared<CompletionResult>(new_result("ollama-"));
  try {
    *q = chat_api ? parse_ollama_chat(req.body, opt.defaults)
                  : parse_ollama_generate(req.body, opt.defaults);
    // An empty prompt is how Ollama's clients load a model before using it: nothing to run.
    const bool load_only = !chat_api && (q->base.chat ? q->base.messages.back().content.empty()
                                                      : q->base.prompts.at(0).text.empty());
    if (load_only) {
      send_json(res, 200,
                {{"model", q->model.empty() ? opt.model_name : q->model},
                 {"created_at", ollama_time_now()},
                 {"response", ""},
                 {"done", true},
                 {"done_reason", "load"}});
      return;
    }
    jobs = submit(q->base);
  } catch (const Error& e) {
    record_error(e);
    send_ollama_error(res, e);
    return;
  }
  r->choices.resize(1);
  const std::string model_name = q->model.empty() ? opt.model_name : q->model;
  // One line of the answer: text so far (a stream's piece), or with `last` the end.
  auto line = [chat_api, model_name](const std::string& text, const json* calls) {
    json l = {{"model", model_name}, {"created_at", ollama_time_now()}};
    if (chat_api) {
      l["message"] = {{"role", "assistant"}, {"content", text}};
      if (calls && !calls->empty()) l["message"]["tool_calls"] = *calls;
    } else {
      l["response"] = text;
    }
    l["done"] = false;
    return l;
  };
  auto stats = [this, r, chat = q->base.chat](const Job& job) {
    finished(job, *r, 0, chat);
    const ChoiceResult& c = r->choices[0];
    OllamaStats s;
    s.finish = job.finish;
    s.prompt_tokens = c.prompt_tokens - std::min(c.cached_tokens, c.prompt_tokens);
    s.output_tokens = c.completion_tokens;
    s.prompt_ns = ns_between(job.started, job.prompt_done);
    s.output_ns = ns_between(job.prompt_done, job.ended);
    s.total_ns = ns_between(job.submitted, job.ended);
    return s;
  };
  const ToolSet* tools = q->base.offered_tools();
  if (!q->base.stream) {
    Job& job = *jobs[0];
    std::string text;
    try {
      text = job.wait_all();
    } catch (const Error& e) {
      record_error(e);
      send_ollama_error(res, e);
      return;
    }
    const ParsedReply reply = tools ? parse_tool_calls(text, *tools) : ParsedReply{text, {}};
    const json calls = ollama_calls(reply.calls);
    json answer = line(reply.content, &calls);
    add_ollama_stats(answer, stats(job));
    send_json(res, 200, answer);
    return;
  }
  // Streamed as Ollama streams: a JSON object per line, each with a piece of the text, then one
  // with done true, the calls (chat) and the counts.
  res.set_chunked_content_provider(
      "application/x-ndjson",
      [this, jobs, tools, line, stats](size_t, httplib::DataSink& sink) {
        auto write = [&](const json& l) {
          const std::string s = dump(l) + "\n";
          return sink.write(s.data(), s.size());
        };
        Job& job = *jobs[0];
        try {
          ToolCallStream calls;
          auto out = [&](const std::string& piece) {
            return piece.empty() || write(line(piece, nullptr));
          };
          if (!relay(jobs, job, tools, calls, out)) {
            stats(job);
            return false;
          }
          const ParsedReply reply = tools ? calls.finish(*tools) : ParsedReply{};
          const json made = ollama_calls(reply.calls);
          json last = line(reply.content, &made);
          add_ollama_stats(last, stats(job));
          write(last);
        } catch (const Error& e) {
          cancel(jobs);
          record_error(e);
          write({{"error", e.message()}});
        }
        sink.done();
        return true;
      },
      [jobs](bool) { cancel(jobs); });
}

void Server::Impl::ollama_routes() {
  http.Post("/api/chat", [this](const httplib::Request& q, httplib::Response& res) {
    ollama_complete(q, res, true);
  });
  http.Post("/api/generate", [this](const httplib::Request& q, httplib::Response& res) {
    ollama_complete(q, res, false);
  });
  // The served model as Ollama lists models (one, under serve's --name).
  auto details = [this] {
    const std::string arch(arch_name(model.config().arch));
    return json{{"parent_model", ""}, {"format", "gguf"},     {"family", arch},
                {"families", {arch}}, {"parameter_size", ""}, {"quantization_level", ""}};
  };
  auto entry = [this, details] {
    std::error_code ec;
    const auto size = std::filesystem::file_size(model.file().path(), ec);
    return json{{"name", opt.model_name},
                {"model", opt.model_name},
                {"modified_at", ollama_time_now()},
                {"size", ec ? 0 : size},
                {"digest", ""},
                {"details", details()}};
  };
  http.Get("/api/tags", [entry](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"models", json::array({entry()})}});
  });
  http.Get("/api/ps", [entry](const httplib::Request&, httplib::Response& res) {
    json e = entry();
    e["expires_at"] = "9999-12-31T23:59:59Z";  // loaded for as long as the server runs
    e["size_vram"] = e["size"];
    send_json(res, 200, {{"models", json::array({e})}});
  });
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"version", VKR_VERSION}});
  });
  http.Post("/api/show", [this, details](const httplib::Request&, httplib::Response& res) {
    const auto& c = model.config();
    const std::string arch(arch_name(c.arch));
    json caps = {"completion", "embedding"};
    if (tmpl.has_tool_calls()) caps.push_back("tools");
    send_json(
        res, 200,
        {{"modelfile", ""},
         {"parameters", ""},
         {"template", std::string(model.file().get_string("tokenizer.chat_template").value_or(""))},
         {"details", details()},
         {"model_info",
          {{"general.architecture", arch},
           {arch + ".embedding_length", c.C},
           {arch + ".block_count", c.n_layer},
           {arch + ".vocab_size", c.V}}},
         {"capabilities", caps}});
  });
  // /api/embed {"input": text or texts} and the older /api/embeddings {"prompt": text}.
  auto embed_route = [this](bool old_form) {
    return [this, old_form](const httplib::Request& req, httplib::Response& res) {
      try {
        const json body = parse_object(req.body);
        const char* key = old_form ? "prompt" : "input";
        const json* in = json_fields::field(body, key);
        std::vector<PromptInput> inputs;
        if (in && in->is_string()) {
          inputs.push_back({in->get<std::string>(), std::nullopt, {}});
        } else if (!old_form && in && in->is_array() && !in->empty()) {
          for (const auto& v : *in) {
            if (!v.is_string()) json_fields::bad(key, "must be a text or a list of texts");
            inputs.push_back({v.get<std::string>(), std::nullopt, {}});
          }
        } else {
          json_fields::bad(key, old_form ? "must be a text" : "must be a text or a list of texts");
        }
        size_t tokens = 0;
        const auto started = Job::Clock::now();
        auto vectors = embeddings(inputs, tokens);
        if (old_form) {
          send_json(res, 200, {{"embedding", vectors.at(0)}});
          return;
        }
        send_json(res, 200,
                  {{"model", opt.model_name},
                   {"embeddings", vectors},
                   {"total_duration", static_cast<int64_t>(ns_between(started, Job::Clock::now()))},
                   {"load_duration", 0},
                   {"prompt_eval_count", tokens}});
      } catch (const Error& e) {
        record_error(e);
        send_ollama_error(res, e);
      }
    };
  };
  http.Post("/api/embed", embed_route(false));
  http.Post("/api/embeddings", embed_route(true));
}

}  // namespace vkr::cli
