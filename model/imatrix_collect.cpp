// imatrix_collect.cpp: the calibration loop behind `vkrwkv imatrix`.
#include "imatrix_collect.hpp"

#include <cmath>
#include <limits>

#include "activation_stats.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr {

ImatrixRun collect_imatrix(Session& session, std::span<const int32_t> ids,
                           const ImatrixRunOptions& options) {
  require(options.chunk >= 2, ErrorCode::InvalidArgument,
          "imatrix: chunks of {} tokens (at least 2 are needed)", options.chunk);
  uint64_t n_chunks = ids.size() / options.chunk;
  require(n_chunks > 0, ErrorCode::InvalidArgument,
          "imatrix: the text has {} tokens, fewer than one chunk of {} (use a smaller chunk size "
          "or a longer text)",
          ids.size(), options.chunk);
  if (options.chunks > 0) n_chunks = std::min<uint64_t>(n_chunks, options.chunks);

  ActivationStats stats(session.model(), options.head);
  session.set_stats(&stats);
  ImatrixRun run;
  double nll_sum = 0.0;
  try {
    for (uint64_t c = 0; c < n_chunks; ++c) {
      if (options.stop && options.stop->load()) {
        require(c > 0, ErrorCode::InvalidArgument,
                "imatrix: interrupted before the first chunk finished; nothing to save");
        run.interrupted = true;
        n_chunks = c;
        break;
      }
      const auto chunk = ids.subspan(c * options.chunk, options.chunk);
      session.state().reset(0);
      double chunk_nll = std::numeric_limits<double>::quiet_NaN();
      if (options.perplexity) {
        // Every position but the last predicts the next token; the last token runs on its own
        // so its activations count too (llama-imatrix evaluates the whole chunk).
        const auto nll = session.eval_nll(0, chunk.first(chunk.size() - 1), chunk.subspan(1));
        session.eval(0, chunk.last(1));
        double s = 0.0;
        for (float x : nll) s += x;
        nll_sum += s;
        run.scored += nll.size();
        chunk_nll = s / static_cast<double>(nll.size());
      } else {
        session.eval(0, chunk);
      }
      if (options.progress)
        options.progress(static_cast<uint32_t>(c + 1), static_cast<uint32_t>(n_chunks), chunk_nll);
    }
  } catch (...) {
    session.set_stats(nullptr);
    throw;
  }
  session.set_stats(nullptr);
  for (auto& [name, e] : stats.read()) run.imatrix.entries.emplace_back(name, std::move(e));
  run.imatrix.chunk_count = static_cast<uint32_t>(n_chunks);
  run.imatrix.chunk_size = options.chunk;
  run.nll = run.scored ? nll_sum / static_cast<double>(run.scored)
                       : std::numeric_limits<double>::quiet_NaN();
  return run;
}

}  // namespace vkr
