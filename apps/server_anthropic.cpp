// server_anthropic.cpp: POST /v1/messages and /v1/messages/count_tokens over the same
// scheduler, chat template and tool-call handling as /v1/chat/completions
// (server_anthropic_api.hpp has the JSON).
#include <fmt/format.h>
#include <httplib.h>

#include "server_anthropic_api.hpp"
#include "server_impl.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

const char* error_type(const Error& e) {
  return e.code() == ErrorCode::InvalidArgument ? "invalid_request_error" : "api_error";
}

bool write_named(httplib::DataSink& sink, const char* type, json data) {
  data["type"] = type;
  const std::string s = fmt::format("event: {}\ndata: {}\n\n", type, dump(data));
  return sink.write(s.data(), s.size());
}

}  // namespace

void Server::Impl::anthropic_messages(const httplib::Request& req, httplib::Response& res) {
  auto q = std::make_shared<AnthropicRequest>();
  std::vector<std::shared_ptr<Job>> jobs;
  auto r = std::make_shared<CompletionResult>(new_result("msg_"));
  auto fail = [this](const Error& e) {
    record_error(e);  // for /metrics
    return anthropic_error_json(e.message(), error_type(e));
  };
  try {
    *q = parse_anthropic_request(req.body, opt.defaults);
    jobs = submit(q->base);
  } catch (const Error& e) {
    send_json(res, e.code() == ErrorCode::InvalidArgument ? 400 : 500, fail(e));
    return;
  }
  r->choices.resize(1);
  const std::string tool_ids = "toolu_" + r->id.substr(4);
  // The message object (content: its blocks; empty while streaming).
  // `ended`: the job has ended (its finish and stop string are final).
  auto message = [q, r](const Job& job, json content, bool calls, bool ended) {
    const ChoiceResult& c = r->choices[0];
    const std::string reason =
        ended ? anthropic_stop_reason(job.finish, job.stop_string, *q, calls) : std::string();
    return json{
        {"id", r->id},
        {"type", "message"},
        {"role", "assistant"},
        {"model", r->model},
        {"content", std::move(content)},
        {"stop_reason", ended ? json(reason) : json(nullptr)},
        {"stop_sequence", reason == "stop_sequence" ? json(job.stop_string) : json(nullptr)},
        {"usage", anthropic_usage_json(c.prompt_tokens, c.cached_tokens, c.completion_tokens)}};
  };
  if (!q->base.stream) {
    Job& job = *jobs[0];
    std::string text;
    try {
      text = job.wait_all();
    } catch (const Error& e) {
      send_json(res, 500, fail(e));
      return;
    }
    finished(job, *r, 0, true);
    const ToolSet* tools = q->base.offered_tools();
    const ParsedReply reply = tools ? parse_tool_calls(text, *tools) : ParsedReply{text, {}};
    send_json(res, 200,
              message(job, anthropic_content_json(reply, tool_ids), !reply.calls.empty(), true));
    return;
  }
  // Streamed: message_start, the text block's events as its text comes (opened at the first
  // text; with tools, text that may be a call is held back), a tool_use block per call once the
  // reply has ended, then message_delta (stop reason, usage) and message_stop.
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, jobs, q, r, message, fail, tool_ids](size_t, httplib::DataSink& sink) {
        Job& job = *jobs[0];
        const ToolSet* tools = q->base.offered_tools();
        size_t blocks = 0;  // content blocks opened
        bool text_open = false;
        auto text_out = [&](const std::string& piece) {
          if (piece.empty()) return true;
          if (!text_open) {
            text_open = true;
            if (!write_named(
                    sink, "content_block_start",
                    {{"index", blocks++}, {"content_block", {{"type", "text"}, {"text", ""}}}})) {
              return false;
            }
          }
          return write_named(sink, "content_block_delta",
                             {{"index", 0}, {"delta", {{"type", "text_delta"}, {"text", piece}}}});
        };
        try {
          json start = message(job, json::array(), false, false);
          start["usage"]["input_tokens"] = job.prompt.size();  // what runs is known later
          write_named(sink, "message_start", {{"message", start}});
          write_named(sink, "ping", json::object());
          ToolCallStream calls;
          if (!relay(jobs, job, tools, calls, text_out)) {
            finished(job, *r, 0, true);
            return false;
          }
          finished(job, *r, 0, true);
          ParsedReply reply = tools ? calls.finish(*tools) : ParsedReply{};
          text_out(reply.content);
          if (!text_open && reply.calls.empty()) {  // an empty reply still has its text block
            text_open = true;
            write_named(sink, "content_block_start",
                        {{"index", blocks++}, {"content_block", {{"type", "text"}, {"text", ""}}}});
          }
          if (text_open) write_named(sink, "content_block_stop", {{"index", 0}});
          for (size_t k = 0; k < reply.calls.size(); ++k) {
            const size_t index = blocks++;
            write_named(sink, "content_block_start",
                        {{"index", index},
                         {"content_block",
                          {{"type", "tool_use"},
                           {"id", fmt::format("{}_{}", tool_ids, k)},
                           {"name", reply.calls[k].name},
                           {"input", json::object()}}}});
            write_named(sink, "content_block_delta",
                        {{"index", index},
                         {"delta",
                          {{"type", "input_json_delta"},
                           {"partial_json", arguments_text(reply.calls[k])}}}});
            write_named(sink, "content_block_stop", {{"index", index}});
          }
          const json end = message(job, json::array(), !reply.calls.empty(), true);
          write_named(
              sink, "message_delta",
              {{"delta",
                {{"stop_reason", end["stop_reason"]}, {"stop_sequence", end["stop_sequence"]}}},
               {"usage", end["usage"]}});
          write_named(sink, "message_stop", json::object());
        } catch (const Error& e) {
          cancel(jobs);
          write_named(sink, "error", fail(e));
        }
        sink.done();
        return true;
      },
      [jobs](bool) { cancel(jobs); });
}

void Server::Impl::anthropic_routes() {
  http.Post("/v1/messages", [this](const httplib::Request& q, httplib::Response& res) {
    anthropic_messages(q, res);
  });
  // The prompt's tokens, as the reply's usage would count them (the prefill included).
  http.Post("/v1/messages/count_tokens", [this](const httplib::Request& q, httplib::Response& res) {
    try {
      const AnthropicRequest a = parse_anthropic_request(q.body, opt.defaults, true);
      const std::string prompt =
          tmpl.prompt(a.base.messages, a.base.offered_tools()) + a.base.prefill;
      send_json(res, 200, {{"input_tokens", tok.encode(prompt, true).size()}});
    } catch (const Error& e) {
      record_error(e);
      send_json(res, e.code() == ErrorCode::InvalidArgument ? 400 : 500,
                anthropic_error_json(e.message(), error_type(e)));
    }
  });
}

}  // namespace vkr::cli
