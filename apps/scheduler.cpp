// scheduler.cpp: see scheduler.hpp.
#include "scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "scheduler_run.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

bool is_strict_prefix(const std::vector<int32_t>& head, std::span<const int32_t> ids) {
  return !head.empty() && head.size() < ids.size() &&
         std::equal(head.begin(), head.end(), ids.begin());
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

bool is_scored(const Job& j) { return j.prompt_logprobs && j.logprobs >= 0; }

// A scored prompt with no peer checkpoints this many tokens before its end (multiple-choice
// continuations are mostly shorter).
constexpr size_t kTailTokens = 32;

}  // namespace

bool Job::wait_text(std::string& text, std::vector<TokenLogprob>* lps,
                    std::vector<int32_t>* new_ids) {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return done_ || !text_.empty(); });
  if (lps) {
    std::move(logprobs_.begin(), logprobs_.end(), std::back_inserter(*lps));
    logprobs_.clear();
  }
  if (new_ids) new_ids->insert(new_ids->end(), new_ids_.begin(), new_ids_.end());
  new_ids_.clear();
  if (!text_.empty()) {
    text += text_;
    text_.clear();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

bool Job::emit(std::string_view text) {
  {
    std::lock_guard lk(mu_);
    text_ += text;
    new_ids_.insert(new_ids_.end(), staged_.begin(), staged_.end());
    staged_.clear();
  }
  cv_.notify_all();
  return !cancelled_;
}

// `ids` and `staged_` are the scheduler thread's alone until the job ends. A staged id goes to
// the readers with the next text (its own, or the text after it when its text is held back) or
// at the end, so a piece of text and its ids are taken together.
void Job::add_id(int32_t id, bool eog) {
  ids.push_back(id);
  if (!eog) staged_.push_back(id);
}

// Not waking the reader either.
void Job::add_logprob(TokenLogprob lp) {
  std::lock_guard lk(mu_);
  logprobs_.push_back(std::move(lp));
}

void Job::end(std::exception_ptr error) {
  {
    std::lock_guard lk(mu_);
    ended = Clock::now();
    new_ids_.insert(new_ids_.end(), staged_.begin(), staged_.end());
    staged_.clear();
    error_ = std::move(error);
    done_ = true;
  }
  cv_.notify_all();
}

Scheduler::Scheduler(Model& model, const Tokenizer& tok, SchedulerOptions options)
    : model_(model),
      tok_(tok),
      opt_(options),
      session_(model,
               std::max<uint32_t>(options.parallel, 1) + options.kept + options.speculative()) {
  require(opt_.parallel >= 1 && opt_.parallel <= session_.max_batch(), ErrorCode::InvalidArgument,
          "--parallel {}: must be in [1, {}] (the sequences one forward call runs; --batch sets "
          "its rows)",
          opt_.parallel, session_.max_batch());
  if (opt_.piece == 0) opt_.piece = session_.rows();
  runs_.resize(opt_.parallel);
  for (uint32_t i = 0; i < opt_.kept; ++i) kept_.push_back({opt_.parallel + i, {}, 0});
  spare_ = opt_.parallel + opt_.kept;
  require(opt_.lookup >= 0 && opt_.lookup_min >= 1 && opt_.lookup_min <= opt_.lookup_max &&
              opt_.lookup_max <= NgramDrafter::kMaxNgram,
          ErrorCode::InvalidArgument,
          "--lookup {} with n-grams of {} to {} tokens: need lookup >= 0 and 1 <= min <= max "
          "<= {}",
          opt_.lookup, opt_.lookup_min, opt_.lookup_max, NgramDrafter::kMaxNgram);
  if (opt_.draft) {
    require(opt_.draft_max >= 1, ErrorCode::InvalidArgument, "--draft-max {}: must be >= 1",
            opt_.draft_max);
    check_draft_vocabulary(*opt_.draft, model);
    draft_ = std::make_unique<Session>(*opt_.draft, 2 * opt_.parallel);
  }
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::submit(std::shared_ptr<Job> job) {
  require(!job->prompt.empty(), ErrorCode::InvalidArgument, "the prompt is empty");
  require(job->cache_slot < static_cast<int>(kept_.size()), ErrorCode::InvalidArgument,
          "id_slot {}: this server keeps {} cache slots (serve --cache-states {})", job->cache_slot,
          kept_.size(), kept_.size());
  job->submitted = Job::Clock::now();
  {
    std::lock_guard lk(mu_);
    require(!stop_, ErrorCode::Io, "the server is shutting down");
    queue_.push_back(std::move(job));
    stats_.queued = static_cast<uint32_t>(queue_.size());
  }
  cv_.notify_all();
}

Scheduler::Stats Scheduler::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void Scheduler::loop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> arrived;
    std::vector<std::shared_ptr<Job>> waiting;  // scored prompts still queued (checkpoint peers)
    const auto running = static_cast<size_t>(
        std::count_if(runs_.begin(), runs_.end(), [](const auto& r) { return r != nullptr; }));
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty() || running > 0 || !tasks_.empty(); });
      if (stop_) break;
      if (!tasks_.empty()) {
        lk.unlock();
        run_tasks();
        lk.lock();
      }
      // A scored prompt that shares a prefix with one running (or starting now) waits until that
      // one has kept its checkpoint there, then runs only its own tokens.
      for (auto it = queue_.begin();
           it != queue_.end() && running + arrived.size() < runs_.size();) {
        if (waits_for_checkpoint(**it, arrived)) {
          ++it;
          continue;
        }
        arrived.push_back(std::move(*it));
        it = queue_.erase(it);
      }
      for (const auto& q : queue_) {
        if (is_scored(*q)) waiting.push_back(q);
      }
      stats_.queued = static_cast<uint32_t>(queue_.size());
      stats_.running = static_cast<uint32_t>(running + arrived.size());
    }
    for (size_t i = 0; i < arrived.size(); ++i) {
      const auto slot =
          static_cast<uint32_t>(std::find(runs_.begin(), runs_.end(), nullptr) - runs_.begin());
      std::vector<const std::vector<int32_t>*> peers;
      if (is_scored(*arrived[i])) {
        for (size_t k = i + 1; k < arrived.size(); ++k) {
          if (is_scored(*arrived[k])) peers.push_back(&arrived[k]->prompt);
        }
        for (const auto& w : waiting) peers.push_back(&w->prompt);
      }
      start(std::move(arrived[i]), slot, peers);
    }
    // One piece of the earliest prompt still coming in, then one decode step of every reply.
    Run* first = nullptr;
    for (auto& r : runs_) {
      if (!r || r->decoding || r->finish) continue;
      if (r->job->cancelled()) {
        r->finish = Finish::Cancelled;
      } else if (!first || r->order < first->order) {
        first = r.get();
      }
    }
    if (first) {
      try {
        prompt_piece(*first);
      } catch (...) {  // this prompt's fault (or the device's: the next call will say)
        first->job->end(std::current_exception());
        first->job.reset();
        first->finish = Finish::Cancelled;
      }
    }
    try {
      decode();
      retire();
    } catch (...) {  // the states are unknown now: every running request fails
      fail_running(std::current_exception());
    }
  }
  const auto stopped = std::make_exception_ptr(
      Error(ErrorCode::Io, "the server stopped before the request finished"));
  fail_running(stopped);
  for (auto& job : queue_) job->end(stopped);
  queue_.clear();
  std::lock_guard lk(mu_);
  tasks_.clear();  // their callers see a broken promise: "the server is shutting down"
}

void Scheduler::start(std::shared_ptr<Job> job, uint32_t slot,
                      const std::vector<const std::vector<int32_t>*>& peers) {
  auto r = std::make_unique<Run>(std::move(job), tok_, ++arrivals_);
  Job& j = *r->job;
  j.started = Job::Clock::now();
  r->constraint = j.constraint.make(tok_);
  for (int32_t id : j.prompt) r->sampler.accept(id);  // penalties see the prompt
  Kept* best = nullptr;
  const bool scored = is_scored(j);  // needs every prompt position's scores
  const bool every_row = j.embed == Pooling::Mean;  // needs every position's hidden state
  for (auto& k : kept_) {
    if (every_row) break;
    if (scored && k.top != j.logprobs) continue;  // scored: only checkpoints with the scores
    if (is_strict_prefix(k.tokens, j.prompt) && (!best || k.tokens.size() > best->tokens.size())) {
      best = &k;
    }
  }
  try {
    if (best) {
      session_.state().copy(best->slot, slot);
      r->seen = best->tokens;
      best->used = ++clock_;
    } else {
      session_.state().reset(slot);
    }
    if (scored) {
      // The positions the checkpoint skips: their stored scores, then the next token's from the
      // logits it kept; scored_prompt_piece() goes on from there.
      TokenLogprob first;
      first.id = j.prompt[0];
      first.scored = false;
      r->scores.push_back(std::move(first));
      if (best) {
        r->scores.insert(r->scores.end(), best->scores.begin(), best->scores.end());
        r->scores.push_back(token_logprob(best->next_logits, j.prompt[r->seen.size()], j.logprobs));
      }
      for (const TokenLogprob& lp : r->scores) j.add_logprob(lp);
      std::vector<const std::vector<int32_t>*> all = peers;
      for (const Kept& k : kept_) all.push_back(&k.tokens);
      r->checkpoint = checkpoint_at(j.prompt, r->seen.size(), all);
      // No peer yet (requests one at a time): a checkpoint shortly before the end, where the
      // context usually ends and the choice begins, for the next choice of the same context.
      const size_t tail = j.prompt.size() > 2 * kTailTokens ? j.prompt.size() - kTailTokens : 0;
      if (r->checkpoint == 0 && !kept_.empty() && tail > r->seen.size()) r->checkpoint = tail;
    }
  } catch (...) {
    j.end(std::current_exception());
    return;
  }
  j.cached_tokens = r->seen.size();
  const int most = opt_.draft ? opt_.draft_max : opt_.lookup;
  const int lookup = j.lookup < 0 ? most : std::min(j.lookup, most);
  if (lookup > 0 && j.embed == Pooling::None) {
    if (draft_) {  // the lowest pair of draft slots no running request holds
      int p = 0;
      while (std::any_of(runs_.begin(), runs_.end(),
                         [&](const auto& o) { return o && o->draft_pair == p; })) {
        ++p;
      }
      r->draft_pair = p;
      const auto first = static_cast<uint32_t>(2 * p);
      auto d = std::make_unique<ModelDrafter>(*draft_, first, first + 1);
      d->set_p_min(j.draft_p_min < 0 ? opt_.draft_p_min : j.draft_p_min);
      r->drafter = std::move(d);
    } else {
      r->drafter = std::make_unique<NgramDrafter>(opt_.lookup_min, opt_.lookup_max);
    }
    r->drafter->add(j.prompt);
    r->spec.drafter = r->drafter.get();
    r->spec.spare_slot = spare_;
    r->spec.draft_max = lookup;
    r->spec.pace = opt_.lookup_pace;
  }
  runs_[slot] = std::move(r);
}

void Scheduler::prompt_piece(Run& r) {
  const uint32_t slot = static_cast<uint32_t>(
      std::find_if(runs_.begin(), runs_.end(), [&](const auto& p) { return p.get() == &r; }) -
      runs_.begin());
  if (r.job->prompt_logprobs && r.job->logprobs >= 0) return scored_prompt_piece(r, slot);
  if (r.job->embed != Pooling::None) return embed_piece(r, slot);
  const std::span<const int32_t> prompt(r.job->prompt);
  const size_t at = r.seen.size(), left = prompt.size() - 1 - at;
  if (left > 0) {  // every prompt token but the last, `piece` at a time
    const size_t n = std::min<size_t>(left, opt_.piece);
    session_.eval_argmax(slot, prompt.subspan(at, n));
    r.seen.insert(r.seen.end(), prompt.begin() + at, prompt.begin() + at + n);
    if (n < left) return;
    // All but the last token: kept, so the same prompt again still has a token to give logits.
    keep(slot, r.seen);
  }
  const auto logits = session_.eval(slot, prompt.last(1));
  r.seen.push_back(prompt.back());
  r.job->prompt_done = Job::Clock::now();
  if (r.job->max_tokens == 0) {
    r.finish = Finish::Length;
    return;
  }
  take(r, pick(r, logits), logits);
}

// An embedding's prompt, a piece at a time: the hidden states of the piece's last token (Last) or
// of all its tokens (Mean, summed); after the last piece, the pooled vector at unit length.
void Scheduler::embed_piece(Run& r, uint32_t slot) {
  Job& j = *r.job;
  const std::span<const int32_t> prompt(j.prompt);
  const size_t at = r.seen.size(), C = model_.config().C;
  const size_t n = std::min<size_t>(prompt.size() - at, opt_.piece);
  const bool mean = j.embed == Pooling::Mean;
  const auto h = session_.eval_hidden(slot, prompt.subspan(at, n), mean);
  r.pool.resize(C, 0.0);
  for (size_t c = 0; c < C; ++c) {
    if (!mean) r.pool[c] = h[c];
    for (size_t i = 0; mean && i < n; ++i) r.pool[c] += h[i * C + c];
  }
  r.seen.insert(r.seen.end(), prompt.begin() + at, prompt.begin() + at + n);
  if (r.seen.size() < prompt.size()) return;
  double norm = 0;
  for (double v : r.pool) norm += v * v;
  norm = std::sqrt(norm);
  j.embedding.resize(C);
  for (size_t c = 0; c < C; ++c) {
    j.embedding[c] = static_cast<float>(norm > 0 ? r.pool[c] / norm : 0.0);
  }
  j.prompt_done = Job::Clock::now();
  r.finish = Finish::Stop;
}

// An echoed prompt with log-probabilities: every position's logits come back (in pieces of at most
// the logits rows a call holds: V floats each), each scores the next prompt id, the last one
// samples the first reply id.
void Scheduler::scored_prompt_piece(Run& r, uint32_t slot) {
  Job& j = *r.job;
  const std::span<const int32_t> prompt(j.prompt);
  const size_t at = r.seen.size();
  size_t n = std::min<size_t>({prompt.size() - at, opt_.piece, session_.max_batch()});
  if (r.checkpoint > at) n = std::min(n, r.checkpoint - at);  // a piece ends at the checkpoint
  const auto logits = session_.eval(slot, prompt.subspan(at, n), true);
  const size_t V = model_.config().V;
  const std::span<const float> rows(logits);
  for (size_t i = 0; i < n && at + i + 1 < prompt.size(); ++i) {
    r.scores.push_back(token_logprob(rows.subspan(i * V, V), prompt[at + i + 1], j.logprobs));
    j.add_logprob(r.scores.back());
  }
  r.seen.insert(r.seen.end(), prompt.begin() + at, prompt.begin() + at + n);
  if (r.seen.size() == r.checkpoint && r.checkpoint < prompt.size()) {
    // scores[1 .. checkpoint) belong to the kept tokens; scores[checkpoint] is the next token's
    Kept* k = keep(slot, r.seen);
    if (k != nullptr && k->top != j.logprobs) {
      k->top = j.logprobs;
      k->scores.assign(r.scores.begin() + 1, r.scores.begin() + static_cast<ptrdiff_t>(at + n));
      const auto last = rows.last(V);
      k->next_logits.assign(last.begin(), last.end());
    }
  }
  if (r.seen.size() < prompt.size()) return;
  j.prompt_done = Job::Clock::now();
  if (j.max_tokens == 0) {
    r.finish = Finish::Length;
    return;
  }
  const auto last = rows.last(V);
  take(r, pick(r, last), last);
}

int32_t Scheduler::pick(Run& r, std::span<const float> logits) {
  return r.constraint ? r.constraint->sample(r.sampler, logits) : r.sampler.sample(logits);
}

// `logits`: the row `id` was sampled from (empty where only the argmax came back).
void Scheduler::take(Run& r, int32_t id, std::span<const float> logits) {
  if (r.job->logprobs >= 0 && !logits.empty() && !tok_.is_eog(id)) {
    r.job->add_logprob(token_logprob(logits, id, r.job->logprobs));
  }
  if (r.constraint) r.constraint->accept(id);
  r.job->add_id(id, tok_.is_eog(id));
  r.sampler.accept(id);
  if (r.drafter) r.drafter->add(id);
  if (!r.reply.push(id)) {
    r.finish = r.reply.finish();
  } else if (r.job->cancelled()) {
    r.finish = Finish::Cancelled;
  } else if (r.job->ids.size() >= static_cast<size_t>(r.job->max_tokens)) {
    r.finish = Finish::Length;
  } else {
    r.next = id;
    r.decoding = true;
  }
}

void Scheduler::decode() {
  const size_t V = model_.config().V;
  for (size_t s = 0; s < runs_.size();) {
    auto live = [&](size_t i) {
      return i < runs_.size() && runs_[i] && runs_[i]->decoding && !runs_[i]->finish;
    };
    if (live(s) && runs_[s]->job->cancelled()) runs_[s]->finish = Finish::Cancelled;
    if (!live(s)) {
      ++s;
      continue;
    }
    // Adjacent slots share one call (retire() keeps the running requests in slots [0, n)); one
    // with ids left by a refused guess runs them alone first.
    size_t e = s + 1;
    while (runs_[s]->lead.empty() && live(e) && runs_[e]->lead.empty()) ++e;
    if (e == s + 1 && (runs_[s]->drafter || !runs_[s]->lead.empty())) {
      step_alone(*runs_[s], static_cast<uint32_t>(s));
      s = e;
      continue;
    }
    const auto first = static_cast<uint32_t>(s), n = static_cast<uint32_t>(e - s);
    std::vector<int32_t> ids;
    for (size_t i = s; i < e; ++i) ids.push_back(runs_[i]->next);
    std::vector<int32_t> got(n);
    std::vector<float> logits;
    if (n == 1 && runs_[s]->job->logprobs < 0 && !runs_[s]->constraint) {
      // One sequence: greedy reads back the argmax only (decode_step).
      got[0] = decode_step(session_, runs_[s]->sampler, ids[0], first);
    } else {
      logits = n == 1 ? session_.eval(first, ids) : session_.decode_batch(first, ids);
      for (uint32_t b = 0; b < n; ++b) {
        Run& r = *runs_[s + b];
        try {
          got[b] = pick(r, std::span(logits).subspan(b * V, V));
        } catch (...) {  // this request's constraint (e.g. a schema no text can satisfy)
          r.job->end(std::current_exception());
          r.job.reset();
          r.finish = Finish::Cancelled;
        }
      }
    }
    for (uint32_t b = 0; b < n; ++b) {
      Run& r = *runs_[s + b];
      r.seen.push_back(r.next);
      r.decoding = false;
      if (!r.job) continue;  // ended above
      take(r, got[b],
           logits.empty() ? std::span<const float>() : std::span(logits).subspan(b * V, V));
    }
    {
      std::lock_guard lk(mu_);
      ++stats_.decode_calls;
      stats_.decoded_rows += n;
      stats_.max_batch = std::max(stats_.max_batch, n);
    }
    s = e;
  }
}

// Ends the finished requests (their states kept) and moves the last running ones down into the
// freed slots, so the running requests stay in adjacent slots and decode in one call.
void Scheduler::retire() {
  // The jobs are ended last, once the stats no longer count them: a client that reads /metrics
  // right after its reply must not see its request still running.
  std::vector<std::pair<std::shared_ptr<Job>, std::exception_ptr>> ended;
  for (size_t s = 0; s < runs_.size(); ++s) {
    if (!runs_[s] || !runs_[s]->finish) continue;
    Run& r = *runs_[s];
    if (r.job) {
      r.reply.end();
      r.job->finish = r.reply.finish() == Finish::Cancelled ? Finish::Cancelled : *r.finish;
      r.job->stop_string = r.reply.stop_string();
      std::exception_ptr error;
      try {
        keep(static_cast<uint32_t>(s), r.seen, r.job->cache_slot);
      } catch (...) {
        error = std::current_exception();
      }
      ended.emplace_back(r.job, error);
    }
    runs_[s].reset();
  }
  for (size_t s = 0; s < runs_.size(); ++s) {
    if (runs_[s]) continue;
    size_t last = runs_.size();
    while (last > s + 1 && !runs_[last - 1]) --last;
    if (last <= s + 1) break;
    session_.state().copy(static_cast<uint32_t>(last - 1), static_cast<uint32_t>(s));
    runs_[s] = std::move(runs_[last - 1]);
  }
  {
    std::lock_guard lk(mu_);
    stats_.running = static_cast<uint32_t>(
        std::count_if(runs_.begin(), runs_.end(), [](const auto& r) { return r != nullptr; }));
  }
  for (auto& [job, error] : ended) job->end(error);
}

bool Scheduler::pinned(uint32_t id) const {
  return std::any_of(runs_.begin(), runs_.end(), [&](const auto& r) {
    return r && r->job && r->job->cache_slot == static_cast<int>(id);
  });
}

Scheduler::Kept* Scheduler::keep(uint32_t slot, const std::vector<int32_t>& tokens, int pin) {
  if (kept_.empty() || tokens.empty()) return nullptr;
  auto victim = kept_.end();
  if (pin >= 0) {
    victim = kept_.begin() + std::min<size_t>(static_cast<size_t>(pin), kept_.size() - 1);
  } else {
    for (auto& k : kept_) {
      if (k.tokens == tokens) {
        k.used = ++clock_;
        return &k;
      }
    }
    victim = std::min_element(kept_.begin(), kept_.end(),
                              [](const Kept& a, const Kept& b) { return a.used < b.used; });
  }
  victim->tokens.clear();  // unusable until the copy is done
  victim->top = -1;
  victim->scores.clear();
  victim->next_logits.clear();
  session_.state().copy(slot, victim->slot);
  victim->tokens = tokens;
  victim->used = ++clock_;
  return &*victim;
}

bool Scheduler::waits_for_checkpoint(const Job& q,
                                     const std::vector<std::shared_ptr<Job>>& starting) const {
  if (!is_scored(q) || kept_.empty()) return false;
  for (const auto& r : runs_) {
    if (r && r->job && r->seen.size() < r->checkpoint && r->checkpoint < q.prompt.size() &&
        common_prefix(q.prompt, r->job->prompt) >= r->checkpoint) {
      return true;
    }
  }
  for (const auto& a : starting) {  // start() gives it a checkpoint at its prefix with q
    if (!is_scored(*a)) continue;
    const size_t l = common_prefix(q.prompt, a->prompt);
    if (l >= 2 && l < q.prompt.size() && l < a->prompt.size()) return true;
  }
  return false;
}

size_t Scheduler::checkpoint_at(const std::vector<int32_t>& prompt, size_t from,
                                const std::vector<const std::vector<int32_t>*>& peers) const {
  if (kept_.empty()) return 0;  // nowhere to keep it
  size_t best = 0;
  for (const auto* p : peers) best = std::max(best, common_prefix(prompt, *p));
  // Past what the slot already has, short of the whole prompt (whose state retire() keeps), and
  // not already a scored checkpoint.
  if (best <= from || best >= prompt.size()) return 0;
  for (const Kept& k : kept_) {
    if (k.top >= 0 && k.tokens.size() == best &&
        std::equal(k.tokens.begin(), k.tokens.end(), prompt.begin())) {
      return 0;
    }
  }
  return best;
}

void Scheduler::fail_running(std::exception_ptr error) {
  for (auto& r : runs_) {
    if (r && r->job) r->job->end(error);
  }
  for (auto& r : runs_) r.reset();
  std::lock_guard lk(mu_);
  stats_.running = 0;
}

}  // namespace vkr::cli
