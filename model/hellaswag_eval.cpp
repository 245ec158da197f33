// hellaswag_eval.cpp: a HellaSwag task on the GPU, prefix once, state copied per continuation.
#include "hellaswag_eval.hpp"

#include <span>

#include "hellaswag.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr {

HellaswagScore score_hellaswag(Session& session, const std::array<std::vector<int32_t>, 4>& seqs) {
  require(session.state().slots() >= 2, ErrorCode::InvalidArgument,
          "hellaswag: the session needs 2 state slots, has {}", session.state().slots());
  HellaswagScore out;
  out.prefix = common_prefix(seqs);
  const size_t cp = out.prefix;
  require(cp > 0, ErrorCode::InvalidArgument,
          "hellaswag: the four sequences share no first token (empty context?)");
  for (size_t j = 0; j < 4; ++j) {
    require(seqs[j].size() > cp, ErrorCode::InvalidArgument,
            "hellaswag: ending {} has no token of its own (identical endings?)", j);
  }
  session.state().reset(0);
  const std::vector<float> last = session.eval(0, std::span(seqs[0]).first(cp));
  const size_t V = last.size();
  for (size_t j = 0; j < 4; ++j) {
    const auto& s = seqs[j];
    double sum = prefix_token_logprob(last, s[cp]);
    size_t count = 1;
    if (s.size() - cp > 1) {
      session.state().copy(0, 1);
      const auto rows = session.eval(1, std::span(s).subspan(cp, s.size() - 1 - cp), true);
      for (size_t r = 0; r + cp + 1 < s.size(); ++r) {
        sum += token_logprob(std::span(rows).subspan(r * V, V), s[cp + 1 + r]);
        ++count;
      }
    }
    out.mean[j] = sum / static_cast<double>(count);
    if (out.mean[j] > out.mean[out.chosen]) out.chosen = j;
  }
  return out;
}

}  // namespace vkr
