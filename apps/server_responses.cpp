// server_responses.cpp: POST /v1/responses over the same scheduler, chat template and tool-call
// handling as /v1/chat/completions (server_responses_api.hpp has the JSON).
#include <fmt/format.h>
#include <httplib.h>

#include "server_impl.hpp"
#include "server_responses_api.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

// The events of one streamed response, numbered.
class ResponseEvents {
 public:
  explicit ResponseEvents(httplib::DataSink& sink) : sink_(sink) {}
  bool send(const char* type, json data) {
    data["type"] = type;
    data["sequence_number"] = seq_++;
    const std::string s = fmt::format("event: {}\ndata: {}\n\n", type, dump(data));
    return sink_.write(s.data(), s.size());
  }

 private:
  httplib::DataSink& sink_;
  uint64_t seq_ = 0;
};

}  // namespace

void Server::Impl::respond(const httplib::Request& req, httplib::Response& res) {
  auto q = std::make_shared<ResponsesRequest>();
  std::vector<std::shared_ptr<Job>> jobs;
  auto counts = std::make_shared<CompletionResult>(new_result("resp_"));
  try {
    *q = parse_responses_request(req.body, opt.defaults, responses);
    jobs = submit(q->base);
  } catch (const Error& e) {
    send_error(res, e);
    return;
  }
  counts->choices.resize(1);
  auto r = std::make_shared<ResponseResult>();
  r->id = counts->id;
  r->model = counts->model;
  r->created = counts->created;
  // Ids of the output items: the message's, and each call's item and call ids.
  auto msg_id = [r] { return "msg_" + r->id.substr(5); };
  auto fc_id = [r](size_t k) { return fmt::format("fc_{}_{}", r->id.substr(5), k); };
  auto call_id = [r](size_t k) { return fmt::format("call_{}_{}", r->id.substr(5), k); };
  // The ended job's status, counts and kept conversation.
  auto end = [this, q, r, counts](const Job& job, const ParsedReply& reply) {
    finished(job, *counts, 0, true);
    const ChoiceResult& c = counts->choices[0];
    r->status = job.finish == Finish::Length ? "incomplete" : "completed";
    r->input_tokens = c.prompt_tokens;
    r->cached_tokens = c.cached_tokens;
    r->output_tokens = c.completion_tokens;
    if (q->store) {
      auto conversation = q->conversation;
      conversation.push_back({"assistant", reply.content, reply.calls});
      responses.put(r->id, std::move(conversation));
    }
  };
  if (!q->base.stream) {
    Job& job = *jobs[0];
    std::string text;
    std::vector<TokenLogprob> lps;
    try {
      text = job.wait_all(&lps);
    } catch (const Error& e) {
      send_error(res, e);
      return;
    }
    const ToolSet* tools = q->base.offered_tools();
    ParsedReply reply = tools ? parse_tool_calls(text, *tools) : ParsedReply{text, {}};
    end(job, reply);
    const std::string item_status = r->status;
    if (!reply.content.empty() || reply.calls.empty()) {
      const size_t n = tokens_spelling(lps, reply.content.size(), tok);
      r->output.push_back(message_item_json(msg_id(), reply.content, item_status,
                                            output_text_logprobs(std::span(lps).first(n), tok)));
    }
    for (size_t k = 0; k < reply.calls.size(); ++k) {
      r->output.push_back(
          function_call_item_json(fc_id(k), call_id(k), reply.calls[k], "completed"));
    }
    send_json(res, 200, response_object_json(*r, *q));
    return;
  }
  // Streamed: response.created / in_progress, the message's events as its text comes (opened
  // at the first text; with tools, text that may be a call is held back), each call's events
  // once the reply has ended, then response.completed or response.incomplete.
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, jobs, q, r, end, msg_id, fc_id, call_id](size_t, httplib::DataSink& sink) {
        ResponseEvents events(sink);
        Job& job = *jobs[0];
        const ToolSet* tools = q->base.offered_tools();
        std::string text;  // the message's, so far
        bool open = false;
        std::vector<TokenLogprob> lps;  // every token's (with logprobs asked for)
        size_t lps_sent = 0;            // how many went out with the deltas
        const bool want_lps = q->base.logprobs >= 0;
        // The log-probabilities of the tokens the text now spells that no delta carried yet.
        auto new_logprobs = [&] {
          const size_t n = tokens_spelling(lps, text.size(), tok);
          json out = output_text_logprobs(std::span(lps).subspan(lps_sent, n - lps_sent), tok);
          lps_sent = n;
          return out;
        };
        auto item_at = [&](size_t index) { return json{{"output_index", index}}; };
        auto text_event = [&](const char* type, const char* key, const std::string& value,
                              json logprobs) {
          json e = item_at(0);
          e["item_id"] = msg_id();
          e["content_index"] = 0;
          e[key] = value;
          e["logprobs"] = std::move(logprobs);
          return events.send(type, std::move(e));
        };
        auto all_logprobs = [&] {
          return output_text_logprobs(std::span(lps).first(tokens_spelling(lps, text.size(), tok)),
                                      tok);
        };
        auto part = [&](json logprobs) {
          return json{{"type", "output_text"},
                      {"text", text},
                      {"annotations", json::array()},
                      {"logprobs", std::move(logprobs)}};
        };
        auto open_message = [&] {
          open = true;
          json added = item_at(0);
          added["item"] = message_item_json(msg_id(), "", "in_progress");
          json p = item_at(0);
          p["item_id"] = msg_id();
          p["content_index"] = 0;
          p["part"] = part(json::array());
          return events.send("response.output_item.added", std::move(added)) &&
                 events.send("response.content_part.added", std::move(p));
        };
        auto content = [&](const std::string& piece) {
          if (piece.empty()) return true;
          if (!open && !open_message()) return false;
          text += piece;
          return text_event("response.output_text.delta", "delta", piece,
                            want_lps ? new_logprobs() : json::array());
        };
        try {
          const json created = response_object_json(*r, *q);
          events.send("response.created", {{"response", created}});
          events.send("response.in_progress", {{"response", created}});
          ToolCallStream calls;
          if (!relay(jobs, job, tools, calls, content, want_lps ? &lps : nullptr)) {
            end(job, {text, {}});
            return false;
          }
          ParsedReply reply = tools ? calls.finish(*tools) : ParsedReply{};
          content(reply.content);
          reply.content = text;
          end(job, reply);
          if (open || reply.calls.empty()) {
            if (!open) open_message();  // an empty reply still gets its (empty) message
            const json logprobs = all_logprobs();
            text_event("response.output_text.done", "text", text, logprobs);
            json p = item_at(0);
            p["item_id"] = msg_id();
            p["content_index"] = 0;
            p["part"] = part(logprobs);
            events.send("response.content_part.done", std::move(p));
            const json item = message_item_json(msg_id(), text, r->status, logprobs);
            json done = item_at(0);
            done["item"] = item;
            events.send("response.output_item.done", std::move(done));
            r->output.push_back(item);
          }
          for (size_t k = 0; k < reply.calls.size(); ++k) {
            const size_t index = r->output.size();
            json added = item_at(index);
            added["item"] =
                function_call_item_json(fc_id(k), call_id(k), reply.calls[k], "in_progress");
            events.send("response.output_item.added", std::move(added));
            const std::string args = arguments_text(reply.calls[k]);
            json delta = item_at(index);
            delta["item_id"] = fc_id(k);
            delta["delta"] = args;
            events.send("response.function_call_arguments.delta", std::move(delta));
            json args_done = item_at(index);
            args_done["item_id"] = fc_id(k);
            args_done["arguments"] = args;
            events.send("response.function_call_arguments.done", std::move(args_done));
            const json item =
                function_call_item_json(fc_id(k), call_id(k), reply.calls[k], "completed");
            json done = item_at(index);
            done["item"] = item;
            events.send("response.output_item.done", std::move(done));
            r->output.push_back(item);
          }
          events.send(r->status == "incomplete" ? "response.incomplete" : "response.completed",
                      {{"response", response_object_json(*r, *q)}});
        } catch (const Error& e) {
          cancel(jobs);
          events.send("error",
                      {{"code", record_error(e)}, {"message", e.message()}, {"param", nullptr}});
        }
        sink.done();
        return true;
      },
      [jobs](bool) { cancel(jobs); });
}

}  // namespace vkr::cli
