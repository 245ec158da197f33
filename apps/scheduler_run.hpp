// scheduler_run.hpp: Scheduler::Run, a running request's state on the scheduler's thread
// (scheduler.cpp, scheduler_lookup.cpp).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model_draft.hpp"
#include "ngram_draft.hpp"
#include "scheduler.hpp"

namespace vkr::cli {

// A job in a state slot: its prompt coming in a piece at a time, then its reply a token per
// decode step.
struct Scheduler::Run {
  Run(std::shared_ptr<Job> j, const Tokenizer& tok, uint64_t arrival)
      : job(std::move(j)),
        order(arrival),
        sampler(job->sampling),
        reply(tok, job->stops, [this](std::string_view t) { return job->emit(t); }) {}

  std::shared_ptr<Job> job;
  uint64_t order;
  Sampler sampler;
  ReplyText reply;
  std::vector<int32_t> seen;  // the tokens the slot's state has seen
  // Scored prompts: the prompt's log-probabilities so far, and the position to checkpoint at.
  std::vector<TokenLogprob> scores;
  size_t checkpoint = 0;
  bool decoding = false;  // the prompt is in; `next` is the id to run at the next step
  int32_t next = -1;
  std::optional<Finish> finish;  // set when the reply is over (retire() ends the job)
  std::unique_ptr<TokenConstraint> constraint;
  std::vector<double> pool;  // embed: the sum of the hidden rows so far (Mean), or the last row
  // Prompt-lookup decoding (null drafter: off): the text so far, the pacing, and the ids kept
  // after a refused guess that the state has not read yet (they run in front of `next`).
  std::unique_ptr<Drafter> drafter;
  int draft_pair = -1;  // with a draft model: its slots 2p, 2p + 1 in the scheduler's draft session
  Speculation spec;
  std::vector<int32_t> lead;
};

}  // namespace vkr::cli
