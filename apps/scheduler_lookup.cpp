// scheduler_lookup.cpp: the step of a request decoding alone, where prompt-lookup decoding
// applies (generation.hpp, Speculation): requests decoding together share one batched call per
// step instead, which on a bandwidth-bound device gives every one of them a token for the price of
// one; a request alone gets its kept guesses for about that price too.
#include <algorithm>
#include <chrono>
#include <exception>

#include "scheduler.hpp"
#include "scheduler_run.hpp"

namespace vkr::cli {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

void Scheduler::step_alone(Run& r, uint32_t slot) {
  Job& j = *r.job;
  std::vector<int32_t> ids = r.lead;  // the ids the state has not read: kept guesses, then next
  ids.push_back(r.next);
  // Rows come back where the sampler, the constraint or the log-probabilities need them; greedy
  // decoding reads only each row's argmax.
  const bool argmax_only = j.logprobs < 0 && !r.constraint && greedy_plain(r.sampler);
  const auto start = std::chrono::steady_clock::now();
  const auto guess = r.drafter ? r.spec.guess(session_, ids.size(),
                                              static_cast<size_t>(j.max_tokens) - j.ids.size())
                               : std::vector<int32_t>();
  // A constraint no text can satisfy ends this request only (as in decode()).
  auto picked = [&](std::span<const float> row) -> std::optional<int32_t> {
    try {
      return pick(r, row);
    } catch (...) {
      r.job->end(std::current_exception());
      r.job.reset();
      r.finish = Finish::Cancelled;
      return std::nullopt;
    }
  };
  r.decoding = false;
  {
    std::lock_guard lk(mu_);
    ++stats_.decode_calls;
    ++stats_.decoded_rows;
    stats_.max_batch = std::max(stats_.max_batch, 1u);
  }
  if (guess.empty()) {
    std::vector<float> logits;
    std::optional<int32_t> got;
    if (ids.size() == 1 && j.logprobs < 0 && !r.constraint) {
      got = decode_step(session_, r.sampler, ids[0], slot);
    } else if (argmax_only) {
      got = session_.eval_argmax(slot, ids);
    } else {
      logits = session_.eval(slot, ids);
    }
    r.seen.insert(r.seen.end(), ids.begin(), ids.end());
    r.lead.clear();
    if (r.drafter) r.spec.stepped(ids.size(), seconds_since(start));
    if (!got) got = picked(logits);
    if (got) take(r, *got, logits);
    return;
  }
  // The check, through a copy of the state in the spare slot.
  std::vector<int32_t> call = ids;
  call.insert(call.end(), guess.begin(), guess.end());
  session_.state().copy(slot, spare_);
  const auto n = static_cast<uint32_t>(call.size());
  std::vector<int32_t> best;
  std::vector<float> rows;
  if (argmax_only) {
    best = session_.eval_argmax_last(spare_, call, n);
  } else {
    rows = session_.eval_last(spare_, call, n);
  }
  const size_t V = model_.config().V;
  size_t matched = 0, emitted = 0;
  for (size_t i = ids.size() - 1; i < n; ++i) {
    const auto row =
        rows.empty() ? std::span<const float>() : std::span<const float>(rows).subspan(i * V, V);
    const auto id = rows.empty() ? std::optional<int32_t>(best[i]) : picked(row);
    if (!id) return;  // the request ended; the slot's state is left as it was
    const bool hit = matched < guess.size() && *id == guess[matched];
    take(r, *id, row);
    ++emitted;
    if (r.finish || !hit) break;
    ++matched;
  }
  if (matched == guess.size() && emitted == guess.size() + 1) {
    // Every guess kept and the id after them picked: the spare state is the request's now.
    session_.state().copy(spare_, slot);
    r.seen.insert(r.seen.end(), call.begin(), call.end());
    r.lead.clear();
  } else {  // the slot's state has not moved: the kept ids run in front of the next one
    r.lead = ids;
    r.lead.insert(r.lead.end(), guess.begin(),
                  guess.begin() + static_cast<std::ptrdiff_t>(matched));
  }
  r.spec.checked(guess.size(), matched, emitted, seconds_since(start));
  std::lock_guard lk(mu_);
  ++stats_.lookup_checks;
  stats_.lookup_drafted += guess.size();
  stats_.lookup_accepted += matched;
}

}  // namespace vkr::cli
