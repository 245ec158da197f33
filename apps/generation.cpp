// generation.cpp: see generation.hpp.
#include "generation.hpp"

namespace vkr::cli {

// Greedy without penalties reads back only the argmax; otherwise, when the sampler can pick
// exactly from the row's largest logits (Sampler::candidates_needed), they are selected on the
// GPU and only those come back (8k bytes instead of 4V: 608 KB per token for QRWKV6's vocabulary)
// where that pays (Session::gpu_topk_pays); else the whole row.
int32_t decode_step(Session& session, Sampler& sampler, int32_t id) {
  const int32_t next[] = {id};
  const auto& p = sampler.params();
  const bool no_penalty =
      p.repetition_penalty == 1.0f && p.presence_penalty == 0 && p.frequency_penalty == 0;
  if (p.temperature <= 0 && no_penalty) return session.eval_argmax(0, next);
  const size_t V = session.model().config().V;
  if (const size_t k = sampler.candidates_needed(V); k > 0 && k < V && session.gpu_topk_pays()) {
    const auto top = session.eval_topk(0, next, static_cast<uint32_t>(k));
    return sampler.sample_candidates(top.ids, top.logits);
  }
  return sampler.sample(session.eval(0, next));
}

Generated generate(Session& session, const Tokenizer& tok, Sampler& sampler,
                   std::span<const float> logits, int n, const std::vector<std::string>& stops,
                   const std::function<bool(std::string_view)>& on_text) {
  Generated out;
  StreamDecoder stream(tok);
  std::string pending;  // text held back while it could still be the start of a stop string
  bool cancelled = false;
  for (int i = 0; i < n && !cancelled; ++i) {
    const int32_t id =
        i == 0 ? sampler.sample(logits) : decode_step(session, sampler, out.ids.back());
    out.ids.push_back(id);
    sampler.accept(id);
    if (tok.is_eog(id)) {
      out.finish = Finish::Stop;
      break;
    }
    pending += stream.push(id);
    bool stopped = false, maybe = false;
    for (const auto& s : stops) {
      if (auto at = pending.find(s); at != std::string::npos) {
        pending.resize(at);
        stopped = true;
      }
      for (size_t k = 1; k < s.size() && !maybe; ++k) {
        maybe = pending.size() >= k && pending.compare(pending.size() - k, k, s, 0, k) == 0;
      }
    }
    if (stopped || !maybe) {
      if (!pending.empty() && !on_text(pending)) cancelled = true;
      pending.clear();
    }
    if (stopped) {
      out.finish = Finish::Stop;
      break;
    }
  }
  if (cancelled) {
    out.finish = Finish::Cancelled;
    return out;
  }
  pending += stream.flush();
  if (!pending.empty() && !on_text(pending)) out.finish = Finish::Cancelled;
  return out;
}

}  // namespace vkr::cli
