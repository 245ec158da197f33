// scheduler.hpp: runs the requests of `vkrwkv serve` on one Session, several at once.
//  - Up to `parallel` requests run together, each in a state slot of its own. Their decode steps
//    share one forward call (Session::decode_batch): a decode step is bound by reading the
//    weights, and one pass over them serves every sequence in the batch.
//  - A prompt runs a piece at a time (at most `piece` tokens) between two decode steps, so the
//    replies already streaming keep flowing while a long prompt comes in.
//  - The states of finished requests are kept (`kept` slots, least recently used replaced): a
//    request whose tokens start with a kept state's tokens runs only the rest (a chat's next
//    turn, the same prompt again). RWKV's state is a fixed size whatever the length, so keeping
//    one costs a slot's bytes (StateStore::bytes_per_slot), not memory growing with the text.
//  - Echoed prompts with log-probabilities (how evaluation harnesses score a context followed by
//    each of several continuations) need every position's scores, so a kept state serves them
//    only with the scores of the positions it skips: such a prompt stops at its longest common
//    prefix with the prompts queued beside it and the kept ones, and keeps a checkpoint there
//    (state, scores, the logits that score the next token). The next continuation of the same
//    context then runs only its own tokens.
// The Session belongs to the scheduler's own thread; the HTTP threads only submit jobs and read
// their text.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "generation.hpp"
#include "model.hpp"
#include "sampler.hpp"
#include "session.hpp"
#include "tokenizer.hpp"

namespace vkr::cli {

struct SchedulerOptions {
  uint32_t parallel = 4;  // requests decoded together (state slots in use at once)
  uint32_t kept = 8;      // states of finished requests kept for reuse; 0: none
  uint32_t piece = 0;     // prompt tokens one request runs between decode steps; 0: a call's rows
  // Prompt-lookup decoding (generation.hpp, Speculation): tokens guessed per step of a request
  // decoding alone (requests decoding together share batched calls instead); 0: off. A spare
  // state slot is kept for the checks.
  int lookup = 0;
  int lookup_min = 1, lookup_max = 4;  // n-gram lengths the guesses match
  bool lookup_pace = true;  // Speculation::pace (tests turn it off: counts independent of timing)
  // Speculative decoding with this draft model instead (serve --model-draft; same vocabulary),
  // draft_max guesses per step; two of its state slots per request slot.
  Model* draft = nullptr;
  int draft_max = 4;
  float draft_p_min = 0.75f;  // ModelDrafter::set_p_min
  bool speculative() const { return lookup > 0 || draft != nullptr; }
};

// How an embedding is made of the prompt's final hidden states (Session::eval_hidden): None (a
// completion, not an embedding), the last token's (an RNN's state has read the whole text), or
// the mean over every token. Either is then scaled to unit length.
enum class Pooling : uint8_t { None, Last, Mean };

// One request. The submitter fills in the inputs, submits it, then reads its text with
// wait_text() until that returns false; the outputs below are final from then on.
class Job {
 public:
  using Clock = std::chrono::steady_clock;

  // Inputs.
  std::vector<int32_t> prompt;  // non-empty; ids in the vocabulary
  SamplerParams sampling;
  int max_tokens = 0;
  std::vector<std::string> stops;
  int logprobs = -1;  // >= 0: each sampled id's log-probability and this many top ids' too
  // With logprobs >= 0: the prompt's ids come first in the log-probabilities (an echo; the first
  // one unscored), each under the logits before it. Reuses only kept states that carry their
  // positions' scores (checkpoints of earlier echoed prompts, same number of top ids).
  bool prompt_logprobs = false;
  // The reply is constrained to one JSON object (ends once it is complete) or a grammar's text.
  ConstraintSpec constraint;
  // Not None: the job runs its prompt and makes `embedding` of it (no reply).
  Pooling embed = Pooling::None;
  // >= 0: the state at the reply's end is kept in this cache slot (replacing what it held);
  // -1: in the least recently used one.
  int cache_slot = -1;
  // Guesses per step (prompt lookup or the draft model): -1 the scheduler's `lookup` /
  // `draft_max`; else at most that (0: none).
  int lookup = -1;
  // The draft model's probability cut-off for this request (-1: the scheduler's draft_p_min).
  float draft_p_min = -1;

  // Waits for more text and appends it to `text` (and the log-probabilities of the ids sampled
  // so far to `lps`, where asked for); false once the job has ended and every piece was
  // taken. Rethrows the error that ended the job, if one did. Also appends the ids sampled
  // since the last call to `new_ids` (when given; end-of-generation ids left out), so a stream can
  // say which tokens each piece came from.
  bool wait_text(std::string& text, std::vector<TokenLogprob>* lps = nullptr,
                 std::vector<int32_t>* new_ids = nullptr);
  // Waits for the end; returns the whole text (the rest of it, after earlier wait_text calls).
  std::string wait_all(std::vector<TokenLogprob>* lps = nullptr) {
    std::string text;
    while (wait_text(text, lps)) {
    }
    return text;
  }
  // The client went away: the job ends at the scheduler's next step (Finish::Cancelled).
  void cancel() { cancelled_ = true; }

  // Outputs.
  Finish finish = Finish::Length;
  std::vector<int32_t> ids;  // the sampled ids
  size_t cached_tokens = 0;  // prompt tokens that came from a kept state
  std::string stop_string;   // the stop string that ended the reply ("" when none did)
  std::vector<float> embedding;  // embed: C floats of unit length
  Clock::time_point submitted, started, prompt_done, ended;

 private:
  friend class Scheduler;
  bool cancelled() const { return cancelled_; }
  bool emit(std::string_view text);  // scheduler thread; false if the client went away
  void add_logprob(TokenLogprob lp);
  void add_id(int32_t id, bool eog);
  void end(std::exception_ptr error = nullptr);

  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;                    // handed out, not yet taken
  std::vector<TokenLogprob> logprobs_;  // not yet taken
  std::vector<int32_t> new_ids_;        // not yet taken
  std::vector<int32_t> staged_;         // sampled, their text not yet handed out
  bool done_ = false;
  std::exception_ptr error_;
  std::atomic<bool> cancelled_{false};
};

class Scheduler {
 public:
  // Checks the options against the model (parallel <= the rows of one call) and starts the
  // thread that runs the jobs.
  Scheduler(Model& model, const Tokenizer& tok, SchedulerOptions options);
  // Stops the thread; jobs still queued or running end with an Error.
  ~Scheduler();
  // The same, now (a server shutting down); later submits are an Error. Idempotent.
  void shutdown();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void submit(std::shared_ptr<Job> job);

  struct Stats {
    uint64_t decode_calls = 0;  // forward calls of decode steps
    uint64_t decoded_rows = 0;  // sequences they advanced (rows / calls = the mean batch)
    uint32_t max_batch = 0;     // the most sequences one decode call advanced
    uint32_t running = 0, queued = 0;
    // prompt-lookup decoding: calls that checked guesses, guessed tokens, guesses kept
    uint64_t lookup_checks = 0, lookup_drafted = 0, lookup_accepted = 0;
  };
  Stats stats() const;
  const SchedulerOptions& options() const { return opt_; }
  uint64_t state_bytes_per_slot() const { return session_.state().bytes_per_slot(); }

  // The kept states as numbered cache slots 0 .. kept-1 (llama-server's /slots;
  // scheduler_slots.cpp). Each call runs on the scheduler's thread between two of its steps
  // and waits for that; an id out of range is an Error naming the count.
  struct CacheSlot {
    uint32_t id = 0;
    std::vector<int32_t> tokens;  // what its state has read (empty: unused)
    bool checkpoint = false;      // a scored prompt's checkpoint (it also keeps scores)
    bool pinned = false;          // a running request will keep its final state here
  };
  std::vector<CacheSlot> cache_slots();
  // Writes slot `id`'s state and tokens to a state file (StateStore::save_file); returns the
  // token count. An unused slot is an Error.
  size_t save_slot(uint32_t id, const std::filesystem::path& path);
  // Reads a state file into slot `id` (so prompts starting with its tokens continue it); returns
  // the token count. A file of another model, a corrupt one, or one without its tokens is an
  // Error, and the slot keeps what it held.
  size_t restore_slot(uint32_t id, const std::filesystem::path& path);
  // Empties slot `id`; returns the count of tokens it held.
  size_t erase_slot(uint32_t id);

 private:
  struct Run;
  struct Kept {
    uint32_t slot;
    std::vector<int32_t> tokens;  // what the slot's state has seen; empty: unused
    uint64_t used = 0;
    // A scored checkpoint: the log-probabilities of tokens[1..] with `top` alternatives each and
    // the logits after the last token. top < 0: a plain kept state.
    int top = -1;
    std::vector<TokenLogprob> scores;
    std::vector<float> next_logits;
  };

  void loop();
  // Runs `task` on the scheduler's thread before its next step and waits; rethrows its Error.
  void on_loop(std::function<void()> task);
  void run_tasks();  // scheduler thread
  Kept& kept_slot(uint32_t id);
  bool pinned(uint32_t id) const;  // a running request will keep its final state in kept_[id]
  // `peers`: the prompts of the scored requests arriving with it or still queued.
  void start(std::shared_ptr<Job> job, uint32_t slot,
             const std::vector<const std::vector<int32_t>*>& peers);
  void prompt_piece(Run& r);
  void embed_piece(Run& r, uint32_t slot);
  void scored_prompt_piece(Run& r, uint32_t slot);
  void decode();
  // One step of `r` decoding alone in `slot` (scheduler_lookup.cpp): the ids kept after refused
  // guesses and its next id, with prompt-lookup guesses checked where it has them.
  void step_alone(Run& r, uint32_t slot);
  // The next id of `r` from one row of logits: its sampler, within its JSON constraint if any.
  static int32_t pick(Run& r, std::span<const float> logits);
  void take(Run& r, int32_t id, std::span<const float> logits);
  void retire();
  // Kept `tokens` for slot `slot` (the least recently used kept state replaced); returns it.
  // `pin` >= 0: in that kept state, whatever it held.
  Kept* keep(uint32_t slot, const std::vector<int32_t>& tokens, int pin = -1);
  // Where a scored prompt should stop to checkpoint: its longest common prefix with `peers` and
  // the kept states (0: nowhere past `from`).
  // Whether queued job `q` should wait for a checkpoint that a running request, or one of
  // `starting`, is about to keep.
  bool waits_for_checkpoint(const Job& q, const std::vector<std::shared_ptr<Job>>& starting) const;
  size_t checkpoint_at(const std::vector<int32_t>& prompt, size_t from,
                       const std::vector<const std::vector<int32_t>*>& peers) const;
  void fail_running(std::exception_ptr error);

  Model& model_;
  const Tokenizer& tok_;
  SchedulerOptions opt_;
  Session session_;
  std::vector<std::unique_ptr<Run>> runs_;  // by slot; running requests fill slots [0, n)
  std::vector<Kept> kept_;
  uint32_t spare_ = 0;  // the checks' state slot (with opt_.lookup > 0 or a draft model)
  std::unique_ptr<Session> draft_;  // on opt_.draft: slots 2p, 2p + 1 for a request's drafter
  uint64_t clock_ = 0;     // use counter of the kept states
  uint64_t arrivals_ = 0;  // order of the running requests (prompts run first come first)

  mutable std::mutex mu_;  // guards the queue, stop_ and the stats
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::deque<std::packaged_task<void()>> tasks_;  // on_loop()'s, run before the next step
  bool stop_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace vkr::cli
