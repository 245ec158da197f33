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

#include "ngram_draft.hpp"
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

// Speculative decoding (prompt lookup, NgramDrafter, or a draft model, ModelDrafter): the
// drafter's guesses of the next tokens are run through the model in one call with the last id,
// and kept as far as the sampler, reading each guess's row in turn, picks them; the first pick
// that differs is kept instead and ends the check. The text is the one plain decoding writes (the
// same ids from the same rows, the sampler's random numbers drawn in the same order), up to the
// float rounding of a call of several tokens vs one. A call costs about one token's time where
// decoding is bound by reading the weights (a GPU), so each kept guess is a token for free.
// The check runs in a spare state slot (a copy of the state), so a refused guess is forgotten:
// the tokens kept before it are run again in front of the next call.
struct Speculation {
  Drafter* drafter = nullptr;       // holds the text so far; generate() adds what it samples
  uint32_t spare_slot = 1;          // a state slot of the session that is free during generate()
  int draft_max = 8;                // tokens guessed per call (>= 1)
  // What happened, for the speed report: calls with guesses, guessed tokens, kept guesses.
  uint64_t checks = 0, drafted = 0, accepted = 0;
  // Whether checks pay, measured as generation goes: where a call of several tokens costs more
  // than one (a CPU device) and few guesses are kept, guessing pauses and is tried again after
  // `retry` steps, twice as many each time it still does not pay. The fastest call of each kind
  // is kept, and nothing is decided before two of each were timed (the first one of a shape also
  // records it, and compiles pipelines).
  static constexpr int kRetry = 16, kMaxRetry = 256;
  bool pace = true;  // false: guess whenever the drafter can (tests: counts independent of timing)
  double plain_s = 0, check_s = 0;  // fastest plain step (one id) and check
  int plain_n = 0, check_n = 0;     // how many were timed
  double per_check = 0;             // ids a check gives (moving average)
  int idle = 0;                     // steps since the last check
  int retry = kRetry;
  bool pays() const;
  void timed_plain(double s);
  void timed_check(double s, size_t ids);

  // The guesses of the next check, none while checks do not pay: with `pending` ids not yet run
  // in front, the call is at most draft_max + 1 tokens (one shape, replayed), fewer where only
  // `left` more ids may be sampled.
  std::vector<int32_t> guess(const Session& session, size_t pending, size_t left);
  // A plain step ran `ids` ids in `s` seconds.
  void stepped(size_t ids, double s);
  // A check of `guessed` tokens kept `kept` of them and gave `ids` ids in `s` seconds.
  void checked(size_t guessed, size_t kept, size_t ids, double s);
};

// Samples up to `n` tokens after `logits` (the prompt's last logits) through slot 0 of
// `session`, calling on_text with each piece of text; on_text returning false cancels. With
// `constraint`, the reply is constrained to its texts (a JSON object, a grammar's language; it
// ends with an end id once complete and nothing more may follow, or when the model picks one).
// With `spec`, guesses are checked as above (the drafter must hold the prompt); slot 0 holds the
// same state afterwards either way.
Generated generate(Session& session, const Tokenizer& tok, Sampler& sampler,
                   std::span<const float> logits, int n, const std::vector<std::string>& stops,
                   const std::function<bool(std::string_view)>& on_text,
                   TokenConstraint* constraint = nullptr, Speculation* spec = nullptr);

// Greedy without penalties: the next id is the row's argmax (computed on the GPU).
bool greedy_plain(const Sampler& sampler);

// One decode step after `id`: the next id. Greedy without penalties reads back only the argmax;
// otherwise the sampler's candidates (GPU top-k, where that pays) or the whole row.
int32_t decode_step(Session& session, Sampler& sampler, int32_t id, uint32_t slot = 0);

}  // namespace vkr::cli
