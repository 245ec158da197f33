// choice_eval.cpp: multiple-choice tasks on the GPU, prefix once, state copied per continuation.
#include "choice_eval.hpp"

#include <algorithm>
#include <span>
#include <string_view>

#include "hellaswag.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

// log p of every token of each sequence from position `cp` on: the shared prefix runs once, its
// state is copied to slot 1 for each sequence; the first token's from the prefix's last row
// (llama-perplexity's softmax route), the others' from the sequence's own rows.
std::vector<std::vector<float>> continuation_logprobs(Session& session,
                                                      std::span<const std::vector<int32_t>> seqs,
                                                      size_t cp, std::string_view what) {
  require(session.state().slots() >= 2, ErrorCode::InvalidArgument,
          "{}: the session needs 2 state slots, has {}", what, session.state().slots());
  session.state().reset(0);
  const std::vector<float> last = session.eval(0, std::span(seqs[0]).first(cp));
  const size_t V = last.size();
  std::vector<std::vector<float>> out(seqs.size());
  for (size_t j = 0; j < seqs.size(); ++j) {
    const auto& s = seqs[j];
    out[j].push_back(prefix_token_logprob(last, s[cp]));
    if (s.size() - cp > 1) {
      session.state().copy(0, 1);
      const auto rows = session.eval(1, std::span(s).subspan(cp, s.size() - 1 - cp), true);
      for (size_t r = 0; r + cp + 1 < s.size(); ++r) {
        out[j].push_back(token_logprob(std::span(rows).subspan(r * V, V), s[cp + 1 + r]));
      }
    }
  }
  return out;
}

}  // namespace

HellaswagScore score_hellaswag(Session& session, const std::array<std::vector<int32_t>, 4>& seqs) {
  HellaswagScore out;
  out.prefix = common_prefix(seqs);
  const size_t cp = out.prefix;
  require(cp > 0, ErrorCode::InvalidArgument,
          "hellaswag: the four sequences share no first token (empty context?)");
  for (size_t j = 0; j < 4; ++j) {
    require(seqs[j].size() > cp, ErrorCode::InvalidArgument,
            "hellaswag: ending {} has no token after the prefix all four share (identical "
            "endings, or one that begins all the others?)",
            j + 1);
  }
  const auto lp = continuation_logprobs(session, seqs, cp, "hellaswag");
  for (size_t j = 0; j < 4; ++j) {
    double sum = 0;  // llama-perplexity sums HellaSwag's log-probabilities in double
    for (float x : lp[j]) sum += x;
    out.mean[j] = sum / static_cast<double>(lp[j].size());
    if (out.mean[j] > out.mean[out.chosen]) out.chosen = j;
  }
  return out;
}

MultipleChoiceScore score_multiple_choice(Session& session,
                                          std::span<const std::vector<int32_t>> seqs) {
  require(!seqs.empty(), ErrorCode::InvalidArgument, "multiple choice: no answers");
  MultipleChoiceScore out;
  size_t shortest = seqs[0].size();
  for (const auto& s : seqs) shortest = std::min(shortest, s.size());
  out.prefix = std::min(common_prefix(seqs), shortest - std::min<size_t>(shortest, 1));
  require(out.prefix > 0, ErrorCode::InvalidArgument,
          "multiple choice: the answers' sequences share no first token (empty question?)");
  const auto lp = continuation_logprobs(session, seqs, out.prefix, "multiple choice");
  for (size_t j = 0; j < seqs.size(); ++j) {
    float sum = 0;  // and --multiple-choice's in float
    for (float x : lp[j]) sum += x;
    out.mean.push_back(sum / static_cast<float>(lp[j].size()));
    if (out.mean[j] > out.mean[out.chosen]) out.chosen = j;
  }
  return out;
}

WinograndeScore score_winogrande(Session& session, const std::array<std::vector<int32_t>, 2>& seqs,
                                 const std::array<size_t, 2>& n_base) {
  require(session.state().slots() >= 2, ErrorCode::InvalidArgument,
          "winogrande: the session needs 2 state slots, has {}", session.state().slots());
  const size_t cp = common_prefix(seqs);
  require(cp > 0, ErrorCode::InvalidArgument,
          "winogrande: the two sentences share no first token (empty first part?)");
  const bool skip_choice = seqs[0].size() - cp > 3 && seqs[1].size() - cp > 3;
  session.state().reset(0);
  const std::vector<float> last = session.eval(0, std::span(seqs[0]).first(cp));
  const size_t V = last.size();
  WinograndeScore out;
  for (size_t c = 0; c < 2; ++c) {
    const auto& s = seqs[c];
    const size_t start = std::max<size_t>(skip_choice ? n_base[c] : cp, cp);
    require(start < s.size(), ErrorCode::InvalidArgument,
            "winogrande: sentence {} has no token after its option", c + 1);
    const size_t end = s.size() - start > 1 ? s.size() - 1 : s.size();  // scored: [start, end)
    std::vector<float> rows;  // logits after positions cp .. end - 2
    if (end >= cp + 2) {
      session.state().copy(0, 1);
      rows = session.eval(1, std::span(s).subspan(cp, end - 1 - cp), true);
    }
    float sum = 0;
    for (size_t i = start; i < end; ++i) {
      const auto row = i - 1 < cp ? std::span<const float>(last)
                                  : std::span<const float>(rows).subspan((i - 1 - cp) * V, V);
      sum += token_logprob(row, s[i]);
    }
    out.mean[c] = sum / static_cast<float>(end - start);
  }
  out.chosen = out.mean[0] > out.mean[1] ? 1 : 2;
  return out;
}

}  // namespace vkr
