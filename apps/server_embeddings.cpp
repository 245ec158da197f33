// server_embeddings.cpp: POST /v1/embeddings (OpenAI's form): each input's final hidden state
// (Session::eval_hidden), pooled as `serve --pooling` says and scaled to unit length, run by the
// scheduler like any prompt (its state is kept, so a completion that starts with the same text
// runs only the rest).
#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cstring>

#include "json_fields.hpp"
#include "server_impl.hpp"

namespace vkr::cli {

namespace {

using json_fields::bad;
using json_fields::field;
using nlohmann::json;

// Standard base64 with padding (what OpenAI's "encoding_format": "base64" sends: the floats'
// little-endian bytes).
std::string base64(const std::vector<float>& v) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t w = uint32_t{bytes[i]} << 16;
    if (n > 1) w |= uint32_t{bytes[i + 1]} << 8;
    if (n > 2) w |= bytes[i + 2];
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kDigits[(w >> (18 - 6 * k)) & 63] : '=';
    }
  }
  return out;
}

// "input": a text, a list of texts, token ids, or a list of token id lists.
std::vector<PromptInput> inputs_of(const json& body) {
  const json* in = field(body, "input");
  if (!in) bad("input", "is missing");
  auto ids_of = [](const json& v, const std::string& name) {
    std::vector<int32_t> ids;
    for (const auto& x : v) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 ||
          x.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        bad(name, "must hold token ids");
      }
      ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
    }
    return ids;
  };
  if (in->is_string()) return {{in->get<std::string>(), std::nullopt, {}}};
  if (!in->is_array() || in->empty()) {
    bad("input", "must be a text, a list of texts, token ids, or a list of token id lists");
  }
  if ((*in)[0].is_number()) return {{"", ids_of(*in, "input"), {}}};
  if (in->size() > CompletionRequest::kMaxChoices) {
    bad("input", fmt::format("holds {} inputs (at most {} per request)", in->size(),
                             CompletionRequest::kMaxChoices));
  }
  std::vector<PromptInput> out;
  for (size_t i = 0; i < in->size(); ++i) {
    const json& v = (*in)[i];
    const std::string name = fmt::format("input[{}]", i);
    if (v.is_string()) {
      out.push_back({v.get<std::string>(), std::nullopt, {}});
    } else if (v.is_array() && !v.empty()) {
      out.push_back({"", ids_of(v, name), {}});
    } else {
      bad(name, "must be a text or a non-empty list of token ids");
    }
  }
  return out;
}

}  // namespace

std::vector<std::vector<float>> Server::Impl::embeddings(const std::vector<PromptInput>& inputs,
                                                         size_t& tokens) {
  std::vector<std::shared_ptr<Job>> jobs;
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto job = std::make_shared<Job>();
      job->prompt = prompt_ids(inputs[i]);
      job->embed = opt.pooling;
      const std::string which = inputs.size() > 1 ? fmt::format("input {}: ", i) : "";
      require(!job->prompt.empty(), ErrorCode::InvalidArgument,
              "{}the input is empty after tokenization", which);
      for (size_t t = 0; t < job->prompt.size(); ++t) {
        require(job->prompt[t] < static_cast<int64_t>(model.config().V), ErrorCode::InvalidArgument,
                "{}token id {} at position {} is outside the vocabulary [0, {})", which,
                job->prompt[t], t, model.config().V);
      }
      jobs.push_back(std::move(job));
    }
    for (auto& job : jobs) sched.submit(job);
    std::vector<std::vector<float>> out;
    tokens = 0;
    for (auto& job : jobs) {
      job->wait_all();
      tokens += job->prompt.size();
      totals.prompt_tokens += job->prompt.size();
      totals.cached_tokens += job->cached_tokens;
      totals.prompt_us += static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(job->ended - job->started).count());
      out.push_back(std::move(job->embedding));
    }
    return out;
  } catch (...) {
    cancel(jobs);
    throw;
  }
}

void Server::Impl::embed(const httplib::Request& req, httplib::Response& res) {
  try {
    const json body = parse_object(req.body);
    const auto inputs = inputs_of(body);
    std::string format = "float";
    if (const json* f = field(body, "encoding_format")) {
      if (!f->is_string() || (*f != "float" && *f != "base64")) {
        bad("encoding_format", "must be \"float\" or \"base64\"");
      }
      format = f->get<std::string>();
    }
    const int64_t C = model.config().C;
    if (const json* d = field(body, "dimensions");
        d && !(d->is_number_integer() && d->get<int64_t>() == C)) {
      bad("dimensions", fmt::format("must be {} (the model's width; embeddings are not cut)", C));
    }
    size_t tokens = 0;
    const auto vectors = embeddings(inputs, tokens);
    json data = json::array();
    for (size_t i = 0; i < vectors.size(); ++i) {
      data.push_back(
          {{"object", "embedding"},
           {"index", i},
           {"embedding", format == "base64" ? json(base64(vectors[i])) : json(vectors[i])}});
    }
    send_json(res, 200,
              {{"object", "list"},
               {"data", std::move(data)},
               {"model", opt.model_name},
               {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
  } catch (const Error& e) {
    send_error(res, e);
  }
}

}  // namespace vkr::cli
