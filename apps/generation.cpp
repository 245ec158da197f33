// generation.cpp: see generation.hpp.
#include "generation.hpp"

#include <algorithm>
#include <cmath>

namespace vkr::cli {

// Greedy without penalties reads back only the argmax; otherwise, when the sampler can pick
// exactly from the row's largest logits (Sampler::candidates_needed), they are selected on the
// GPU and only those come back (8k bytes instead of 4V: 608 KB per token for QRWKV6's vocabulary)
// where that pays (Session::gpu_topk_pays); else the whole row.
int32_t decode_step(Session& session, Sampler& sampler, int32_t id, uint32_t slot) {
  const int32_t next[] = {id};
  const auto& p = sampler.params();
  const bool no_penalty =
      p.repetition_penalty == 1.0f && p.presence_penalty == 0 && p.frequency_penalty == 0;
  if (p.temperature <= 0 && no_penalty) return session.eval_argmax(slot, next);
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

Generated generate(Session& session, const Tokenizer& tok, Sampler& sampler,
                   std::span<const float> logits, int n, const std::vector<std::string>& stops,
                   const std::function<bool(std::string_view)>& on_text,
                   TokenConstraint* constraint) {
  Generated out;
  ReplyText reply(tok, stops, on_text);
  for (int i = 0; i < n; ++i) {
    int32_t id = 0;
    if (constraint) {  // the whole row: the constraint may have to look past the sampler's first
                       // pick
      std::vector<float> row;
      if (i > 0) {
        const int32_t prev[] = {out.ids.back()};
        row = session.eval(0, prev);
      }
      id = constraint->sample(sampler, i == 0 ? logits : std::span<const float>(row));
      constraint->accept(id);
    } else {
      id = i == 0 ? sampler.sample(logits) : decode_step(session, sampler, out.ids.back());
    }
    out.ids.push_back(id);
    sampler.accept(id);
    if (!reply.push(id)) break;
  }
  reply.end();
  out.finish = reply.finish().value_or(Finish::Length);
  return out;
}

}  // namespace vkr::cli
