// chunk_eval.cpp: one llama-perplexity chunk on a Session.
#include "chunk_eval.hpp"

#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr {

std::vector<float> chunk_logits(Session& session, std::span<const int32_t> chunk) {
  require(chunk.size() >= 3, ErrorCode::InvalidArgument,
          "chunked evaluation: chunks of {} tokens (at least 3)", chunk.size());
  const size_t first = chunk.size() / 2;
  session.state().reset(0);
  session.eval(0, chunk.first(first));  // context only: its last logits are not scored
  return session.eval(0, chunk.subspan(first, chunk.size() - 1 - first), /*all_logits=*/true);
}

}  // namespace vkr
