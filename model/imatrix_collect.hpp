// imatrix_collect.hpp: computing an importance matrix by running a calibration text through a
// model (`vkrwkv imatrix`), chunk by chunk as llama-imatrix does.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "imatrix.hpp"

namespace vkr {

class Session;

struct ImatrixRunOptions {
  uint32_t chunk = 512;    // tokens per chunk; each chunk starts from a zero state
  uint32_t chunks = 0;     // at most this many chunks (0: every whole chunk of the text)
  bool head = false;       // also collect the output matrix (llama-imatrix --process-output)
  bool perplexity = true;  // also score each chunk's next-token predictions
  // After each chunk: (chunks done, chunks in all, that chunk's mean NLL or NaN).
  std::function<void(uint32_t, uint32_t, double)> progress;
  // Set by another thread (a signal handler's): the run stops after the chunk in progress and
  // returns the chunks done so far (ImatrixRun::interrupted); before the first one finished it
  // throws vkr::Error(InvalidArgument, "interrupted ...").
  const std::atomic<bool>* stop = nullptr;
};

struct ImatrixRun {
  Imatrix imatrix;   // datasets left empty (the caller knows the file name)
  double nll = 0.0;  // mean next-token NLL over the scored tokens (nats); NaN without scoring
  uint64_t scored = 0;
  bool interrupted = false;  // stopped early by ImatrixRunOptions::stop
};

// Runs the text's first whole chunks through slot 0 of `session` (reset before each chunk) with
// activation statistics attached, and returns them. Throws vkr::Error(InvalidArgument) when the
// text holds no whole chunk (naming both sizes) or chunk < 2.
ImatrixRun collect_imatrix(Session& session, std::span<const int32_t> ids,
                           const ImatrixRunOptions& options = {});

}  // namespace vkr
