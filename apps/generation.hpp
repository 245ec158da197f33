// generation.hpp: the sample -> decode loop shared by `generate` and `serve`: text is handed out
// as it becomes whole UTF-8 characters, held back while it could still be the start of a stop
// string, and never includes the stop string or an end-of-generation token.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sampler.hpp"
#include "session.hpp"
#include "token_constraint.hpp"
#include "tokenizer.hpp"

namespace vkr::cli {

enum class Finish {
  Stop,       // an end-of-generation token or a stop string
  Length,     // the token limit
  Cancelled,  // the text callback returned false (e.g. the client went away)
};

struct Generated {
  std::vector<int32_t> ids;  // every sampled id, in order
  Finish finish = Finish::Length;
  // Every id but the last went through the model (slot 0): the state holds the prompt and
  // ids[0, fed()). The last one is never run, as nothing needs its logits.
  size_t fed() const { return ids.empty() ? 0 : ids.size() - 1; }
  // The last id when its text was handed out but the model has not seen it (the token limit
  // ended the loop): run it where the state must hold everything shown.
  std::optional<int32_t> unfed() const {
    if (finish != Finish::Length || ids.empty()) return std::nullopt;
    return ids.back();
  }
};

// The log-probability of a sampled id under the model's distribution (log-softmax of the raw
// logits: before penalties and temperature, as OpenAI's `logprobs`), and the `top` most likely
// ids with theirs (most likely first; ties: lower id first).
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
  // false: nothing predicted this id (the first token of an echoed prompt); logprob and top
  // are empty (JSON null)
  bool scored = true;
};
TokenLogprob token_logprob(std::span<const float> logits, int32_t id, int top);

// The text side of one reply: sampled ids in, text out (through on_text) as whole UTF-8
// characters, held back while it could still be the start of a stop string; the reply ends at an
// end-of-generation id, a stop string (neither is handed out) or when on_text returns false.
class ReplyText {
 public:
  ReplyText(const Tokenizer& tok, std::vector<std::string> stops,
            std::function<bool(std::string_view)> on_text);
  // Takes the next sampled id; false once the reply has ended (finish() says why).
  bool push(int32_t id);
  // The reply is over (ended, or the caller stops it): hands out the text still held back,
  // unless a stop string or the client ended it.
  void end();
  // Why the reply ended; nullopt while it goes on (the caller's token limit is not known here).
  std::optional<Finish> finish() const { return finish_; }
  // The stop string that ended the reply ("" when none did).
  const std::string& stop_string() const { return stop_string_; }

 private:
  const Tokenizer& tok_;
  StreamDecoder stream_;
  std::vector<std::string> stops_;
  std::function<bool(std::string_view)> on_text_;
  std::string pending_;  // text held back while it could still be the start of a stop string
  std::optional<Finish> finish_;
  bool by_string_ = false;  // ended by a stop string: what the decoder still holds comes after it
  std::string stop_string_;
  bool ended_ = false;
};

// Samples up to `n` tokens after `logits` (the prompt's last logits) through slot 0 of
// `session`, calling on_text with each piece of text; on_text returning false cancels. With
// `constraint`, the reply is constrained to its texts (a JSON object, a grammar's language; it
// ends with an end id once complete and nothing more may follow, or when the model picks one).
Generated generate(Session& session, const Tokenizer& tok, Sampler& sampler,
                   std::span<const float> logits, int n, const std::vector<std::string>& stops,
                   const std::function<bool(std::string_view)>& on_text,
                   TokenConstraint* constraint = nullptr);

// One decode step after `id`: the next id. Greedy without penalties reads back only the argmax;
// otherwise the sampler's candidates (GPU top-k, where that pays) or the whole row.
int32_t decode_step(Session& session, Sampler& sampler, int32_t id, uint32_t slot = 0);

}  // namespace vkr::cli
