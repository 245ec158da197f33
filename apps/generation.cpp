// generation.cpp: see generation.hpp.
#include "generation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

namespace vkr::cli {

// Greedy without penalties reads back only the argmax; otherwise, when the sampler can pick
// exactly from the row's largest logits (Sampler::candidates_needed), they are selected on the
// GPU and only those come back (8k bytes instead of 4V: 608 KB per token for QRWKV6's vocabulary)
// where that pays (Session::gpu_topk_pays); else the whole row.
int32_t decode_step(Session& session, Sampler& sampler, int32_t id, uint32_t slot) {
  const int32_t next[] = {id};
  if (greedy_plain(sampler)) return session.eval_argmax(slot, next);
  const size_t V = session.model().config().V;
  if (const size_t k = sampler.candidates_needed(V); k > 0 && k < V && session.gpu_topk_pays()) {
    const auto top = session.eval_topk(slot, next, static_cast<uint32_t>(k));
    return sampler.sample_candidates(top.ids, top.logits);
  }
  return sampler.sample(session.eval(slot, next));
}

TokenLogprob token_logprob(std::span<const float> logits, int32_t id, int top) {
  // In double: the sum of V exponentials (152064 for QRWKV6) loses digits in float.
  float max = -INFINITY;
  for (float l : logits) max = std::isnan(l) ? max : std::max(max, l);
  double sum = 0;
  for (float l : logits) sum += std::isnan(l) ? 0.0 : std::exp(static_cast<double>(l - max));
  const double norm = static_cast<double>(max) + std::log(sum);
  auto lp = [&](int32_t i) {
    const float l = logits[static_cast<size_t>(i)];
    return std::isnan(l) ? -INFINITY : static_cast<float>(static_cast<double>(l) - norm);
  };
  TokenLogprob out;
  out.id = id;
  out.logprob = lp(id);
  // The `top` largest in one pass (top <= 20 here; an echoed prompt asks this once per token, so
  // no sort of the whole row). The order of lp() is that of the logits, NaN last.
  const size_t k = std::min(logits.size(), static_cast<size_t>(std::max(top, 0)));
  if (k == 0) return out;
  auto key = [&](int32_t i) {
    const float l = logits[static_cast<size_t>(i)];
    return std::isnan(l) ? -INFINITY : l;
  };
  auto before = [&](int32_t a, int32_t b) {
    return key(a) > key(b) || (key(a) == key(b) && a < b);
  };
  std::vector<int32_t> best;
  best.reserve(k + 1);
  for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i) {
    if (best.size() == k && !before(i, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), i, before), i);
    if (best.size() > k) best.pop_back();
  }
  for (int32_t i : best) out.top.emplace_back(i, lp(i));
  return out;
}

ReplyText::ReplyText(const Tokenizer& tok, std::vector<std::string> stops,
                     std::function<bool(std::string_view)> on_text)
    : tok_(tok), stream_(tok), stops_(std::move(stops)), on_text_(std::move(on_text)) {}

bool ReplyText::push(int32_t id) {
  if (finish_) return false;
  if (tok_.is_eog(id)) {
    finish_ = Finish::Stop;
    return false;
  }
  pending_ += stream_.push(id);
  bool maybe = false;
  for (const auto& s : stops_) {
    if (auto at = pending_.find(s); at != std::string::npos) {
      pending_.resize(at);
      by_string_ = true;
      stop_string_ = s;  // a later one found in what is left begins earlier
    }
    for (size_t k = 1; k < s.size() && !maybe; ++k) {
      maybe = pending_.size() >= k && pending_.compare(pending_.size() - k, k, s, 0, k) == 0;
    }
  }
  if (by_string_ || !maybe) {
    if (!pending_.empty() && !on_text_(pending_)) finish_ = Finish::Cancelled;
    pending_.clear();
  }
  if (by_string_ && !finish_) finish_ = Finish::Stop;
  return !finish_;
}

void ReplyText::end() {
  if (ended_) return;
  ended_ = true;
  if (finish_ == Finish::Cancelled || by_string_) return;
  pending_ += stream_.flush();
  if (!pending_.empty() && !on_text_(pending_)) finish_ = Finish::Cancelled;
  pending_.clear();
}

bool Speculation::pays() const {
  if (!pace || plain_n < 2 || check_n < 2) return true;
  return per_check * plain_s >= check_s || idle >= retry;
}

void Speculation::timed_plain(double s) { plain_s = plain_n++ == 0 ? s : std::min(plain_s, s); }

void Speculation::timed_check(double s, size_t ids) {
  check_s = check_n++ == 0 ? s : std::min(check_s, s);
  const auto got = static_cast<double>(ids);
  per_check = per_check == 0 ? got : 0.8 * per_check + 0.2 * got;
  if (plain_n == 0 || per_check * plain_s >= check_s) {
    retry = kRetry;
  } else if (idle >= retry) {  // a retry that did not pay either
    retry = std::min(2 * retry, kMaxRetry);
  }
  idle = 0;
}

std::vector<int32_t> Speculation::guess(const Session& session, size_t pending, size_t left) {
  if (!pays()) return {};
  const size_t width = std::min({static_cast<size_t>(draft_max) + 1, size_t{session.rows()},
                                 size_t{session.max_last_rows()}});
  return drafter->draft(
      std::min(width - std::min(width, pending), left - std::min<size_t>(left, 1)));
}

void Speculation::stepped(size_t ids, double s) {
  if (ids == 1) timed_plain(s);
  ++idle;
}

void Speculation::checked(size_t guessed, size_t kept, size_t ids, double s) {
  ++checks;
  drafted += guessed;
  accepted += kept;
  timed_check(s, ids);
}

bool greedy_plain(const Sampler& sampler) {
  const auto& p = sampler.params();
  return p.temperature <= 0 && p.repetition_penalty == 1.0f && p.presence_penalty == 0 &&
         p.frequency_penalty == 0;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The sampling side of generate(): every sampled id goes through here, in order.
class Picker {
 public:
  Picker(Session& session, Sampler& sampler, TokenConstraint* constraint)
      : session_(session), sampler_(sampler), constraint_(constraint) {}
  // The next id from a row of logits.
  int32_t pick(std::span<const float> row) {
    return constraint_ ? constraint_->sample(sampler_, row) : sampler_.sample(row);
  }
  // The next id after running `ids` through `slot` (one plain decode step when ids is one token).
  int32_t step(std::span<const int32_t> ids, uint32_t slot) {
    if (!constraint_ && ids.size() == 1) return decode_step(session_, sampler_, ids[0], slot);
    if (!constraint_ && greedy_plain(sampler_)) return session_.eval_argmax(slot, ids);
    // with a constraint, the whole row: it may have to look past the sampler's first pick
    return pick(session_.eval(slot, ids));
  }
  // Ids for the rows of a call of `ids` through `slot` from row `first` on (every row comes
  // back: one shape however many ids lead): a row's id is picked only after the ids of the rows
  // before it were accepted (`next` takes each in turn and says whether to go on).
  void check(std::span<const int32_t> ids, uint32_t slot, size_t first,
             const std::function<bool(int32_t)>& next) {
    const auto n = static_cast<uint32_t>(ids.size());
    if (!constraint_ && greedy_plain(sampler_)) {
      const auto best = session_.eval_argmax_last(slot, ids, n);
      for (size_t r = first; r < n; ++r) {
        if (!next(best[r])) return;
      }
      return;
    }
    const auto rows = session_.eval_last(slot, ids, n);
    const size_t V = rows.size() / n;
    for (size_t r = first; r < n; ++r) {
      if (!next(pick(std::span(rows).subspan(r * V, V)))) return;
    }
  }
  void accept(int32_t id) {
    if (constraint_) constraint_->accept(id);
    sampler_.accept(id);
  }

 private:
  Session& session_;
  Sampler& sampler_;
  TokenConstraint* constraint_;
};

}  // namespace

Generated generate(Session& session, const Tokenizer& tok, Sampler& sampler,
                   std::span<const float> logits, int n, const std::vector<std::string>& stops,
                   const std::function<bool(std::string_view)>& on_text,
                   TokenConstraint* constraint, Speculation* spec) {
  Generated out;
  if (n <= 0) return out;
  ReplyText reply(tok, stops, on_text);
  Picker picker(session, sampler, constraint);
  // Sampled ids the state in slot 0 has not read yet; the last sampled id is always here.
  std::vector<int32_t> pending;
  const uint32_t spare = spec ? spec->spare_slot : 0;
  bool open = true;
  auto emit = [&](int32_t id) {
    picker.accept(id);
    out.ids.push_back(id);
    pending.push_back(id);
    if (spec) spec->drafter->add(id);
    open = reply.push(id) && out.ids.size() < static_cast<size_t>(n);
    return open;
  };
  emit(picker.pick(logits));
  while (open) {
    // After refused guesses the pending ids take more of a check's call (Speculation::guess);
    // once they fill it a plain step runs them. A check's time includes the guessing (a draft
    // model's steps).
    const auto start = Clock::now();
    const auto guess =
        spec ? spec->guess(session, pending.size(), static_cast<size_t>(n) - out.ids.size())
             : std::vector<int32_t>();
    if (guess.empty()) {
      const size_t ran = pending.size();
      const int32_t id = picker.step(pending, 0);
      if (spec) spec->stepped(ran, seconds_since(start));
      pending.clear();
      emit(id);
      continue;
    }
    // The check: pending ids + guesses through a copy of the state.
    std::vector<int32_t> call = pending;
    call.insert(call.end(), guess.begin(), guess.end());
    session.state().copy(0, spare);
    const size_t before = pending.size(), had = out.ids.size();
    size_t matched = 0;
    picker.check(call, spare, before - 1, [&](int32_t id) {
      const bool hit = matched < guess.size() && id == guess[matched];
      if (!emit(id) || !hit) return false;
      ++matched;
      return true;
    });
    // Every guess was picked and so was the id after them: the spare state has read exactly the
    // ids before the last one. Otherwise (a refused guess, or the reply ended inside the guesses)
    // it is ahead of the text, and slot 0 is kept with the picked ids pending.
    if (matched == guess.size() && pending.size() == before + guess.size() + 1) {
      // Copied back rather than swapping the slots' roles: calls are recorded once per slot and
      // shape and then replayed, and one slot per role keeps the shapes few.
      session.state().copy(spare, 0);
      pending.erase(pending.begin(), pending.end() - 1);
    }
    spec->checked(guess.size(), matched, out.ids.size() - had, seconds_since(start));
  }
  reply.end();
  out.finish = reply.finish().value_or(Finish::Length);
  // Slot 0 must hold every id but the last (Generated::fed()).
  if (pending.size() > 1) session.eval_argmax(0, std::span(pending).first(pending.size() - 1));
  return out;
}

}  // namespace vkr::cli
