// session.hpp: Session, the runtime of one loaded Model: recurrent state for n slots (independent
// sequences), scratch activations, and eval() = record + submit + read the logits back. For a
// model split over devices each call runs part by part (the residual stream handed from device
// to device through host memory: rows x C floats, 20 KB per token at C = 5120).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "forward.hpp"
#include "model.hpp"
#include "state.hpp"
#include "vkr/queue.hpp"

namespace vkr {

// Where a forward pass recorded into a host app's command buffer reads its input and writes its
// output (see Session::record_into). Ranges stay valid for the Session's lifetime.
struct ForwardIO {
  // (n_tokens) int32 token ids; host-visible, also written through ids_mapped
  BufferRange ids;
  void* ids_mapped = nullptr;
  BufferRange logits;     // (V) f32 logits after the last token; device memory
  uint32_t n_tokens = 0;
};

class Session {
 public:
  // `rows` = tokens per forward call (longer inputs run in pieces); 0 = the model's max_tokens.
  explicit Session(Model& model, uint32_t slots = 1, uint32_t rows = 0);

  // Runs `ids` through `slot` and returns the logits after the last id (V floats), or after every
  // id (ids.size() x V) with all_logits. Ids are checked (in [0, V)); an empty input is an error.
  std::vector<float> eval(uint32_t slot, std::span<const int32_t> ids, bool all_logits = false);
  // Like eval() but returns the final hidden state instead of the logits: the output norm's row
  // after the last id (C floats: what the head multiplies, and what embeddings are pooled from),
  // or after every id (ids.size() x C) with all_rows.
  std::vector<float> eval_hidden(uint32_t slot, std::span<const int32_t> ids,
                                 bool all_rows = false);
  // Like eval() but returns only the argmax of the last logits, computed on the GPU, so greedy
  // decoding reads back 4 bytes instead of V floats (608 KB per token for QRWKV6-32B).
  int32_t eval_argmax(uint32_t slot, std::span<const int32_t> ids);
  // Like eval() but returns only the k largest logits after the last id (ids ascending; ties
  // lowest id first), selected on the GPU: what Sampler::sample_candidates() needs, 8k bytes read
  // back instead of 4V. k in [1, V].
  struct TopK {
    std::vector<int32_t> ids;
    std::vector<float> logits;
  };
  TopK eval_topk(uint32_t slot, std::span<const int32_t> ids, uint32_t k);
  // Runs `ids` through `slot` (all of them: the state moves on as with eval()) and returns, for
  // each position t, the negative log-likelihood (nats) of targets[t] under the logits after
  // ids[0..t], computed on the GPU: perplexity reads back one float per token instead of V.
  // targets.size() == ids.size(); each target in [0, V).
  std::vector<float> eval_nll(uint32_t slot, std::span<const int32_t> ids,
                              std::span<const int32_t> targets);
  // The check of speculative decoding (generation.hpp): runs `ids` through `slot` in one call
  // (ids.size() <= rows()) and returns the logits after each of the last `n` ids (n x V, n in
  // [1, min(ids.size(), max_last_rows())]): the rows of the guessed tokens, not of the ones before.
  std::vector<float> eval_last(uint32_t slot, std::span<const int32_t> ids, uint32_t n);
  // Like eval_last() but only each row's argmax, computed on the GPU (n x 4 bytes read back).
  std::vector<int32_t> eval_argmax_last(uint32_t slot, std::span<const int32_t> ids, uint32_t n);
  uint32_t max_last_rows() const { return head().logits_rows; }
  // Whether eval_topk() beats reading the whole row back and selecting on the host. Measured
  // (bench kernels topk row vs Sampler::sample): on a CPU device (lavapipe) the row is already
  // in host memory and the shader's shared-memory atomics are slow (3.9 ms vs 0.3 ms for the host
  // sampler at V = 152064 on llvmpipe); on an H100 the single-workgroup-per-row shader took
  // 2.36 ms, more than the readback it saves (~0.35 ms with the host sampler). So false everywhere
  // for now; eval_topk() stays available (and exact) for hosts that want the small readback.
  bool gpu_topk_pays() const;
  // One decode step for each of the slots [first_slot, first_slot + ids.size()) in one forward
  // call (one token per slot); returns (ids.size(), V) logits.
  std::vector<float> decode_batch(uint32_t first_slot, std::span<const int32_t> ids);

  // Embedding: records one forward pass of `n_tokens` tokens (1..rows()) through `slot` into
  // `cb`, a command buffer the host owns, is recording, and submits itself; vkrwkv submits
  // nothing. Synchronization contract:
  //  - we record first a global memory barrier (compute+transfer writes -> compute+transfer
  //    reads/writes), so token ids written earlier in `cb` by a host compute shader or transfer
  //    command are seen; ids written by the CPU through ids_mapped before the submit are seen too.
  //    Ids produced in another submission or queue need the host's own semaphore/barrier.
  //  - we end with the same global barrier plus a compute+transfer -> host barrier, so the host
  //    may read logits in later compute/transfer commands of `cb`, or map-and-read after the
  //    submission completes. Other consumers (graphics stages) need the host's own barrier.
  //  - until that submission completes the host must not call eval()/record_into()/state
  //    save/load on this Session (they share the ids/logits buffers and the state slots), nor
  //    destroy it. The descriptor resources of the recording are kept until the next record_into.
  // Needs a model on one device (one command buffer cannot span devices).
  ForwardIO record_into(VkCommandBuffer cb, uint32_t slot, uint32_t n_tokens);
  // The buffers record_into() uses for `n_tokens` tokens, without recording anything (so a host
  // can record its producer of ids first).
  ForwardIO io(uint32_t n_tokens) const;

  // Per-stage GPU timestamps for the following calls (null to stop); see StageProfile. Profiled
  // calls are recorded afresh (timestamps belong to one recording). Needs a model on one device.
  void set_profile(StageProfile* profile);
  // Importance-matrix statistics for the following calls (null to stop): every projection's
  // input rows are accumulated into `stats` (made for this model); such calls are recorded afresh.
  void set_stats(ActivationStats* stats) { stats_ = stats; }
  // Calls repeat with the same buffers and shapes (a decode step is the same commands every
  // token), so each distinct call (slot, tokens, output kind) is recorded once and its command
  // buffer replayed; false re-records every call (for tests and debugging). Default true.
  void set_replay(bool on);
  // How many calls were recorded and how many replayed since the Session was made (tests, bench).
  struct ReplayStats {
    uint64_t recorded = 0, replayed = 0;
  };
  ReplayStats replay_stats() const { return replay_stats_; }

  StateStore& state() { return state_; }
  const StateStore& state() const { return state_; }
  const Model& model() const { return model_; }
  uint32_t rows() const { return scratch_.front().rows; }
  // The most slots decode_batch() takes in one call (rows, and the logits rows the head keeps).
  uint32_t max_batch() const { return std::min(rows(), head().logits_rows); }

 private:
  // What runs on the last logits after the forward, in the same submission. Logits: the call's
  // logits are copied to logits_host_ where the logits buffer is not mapped (discrete GPUs).
  // Hidden: the call's output is the hidden rows (ForwardCall::hidden), read back as Logits are.
  enum class Tail { None, Logits, Argmax, TopK, Nll, Hidden };
  // Records and submits one forward call (+ the tail kernel on the last logits), part by part,
  // and waits for it. wait = false (a split model's prompt pieces before the last) leaves the
  // last part running, so the next piece's first parts overlap it on their own devices.
  void submit(const ForwardCall& call, std::span<const int32_t> ids, Tail tail, uint32_t k = 0,
              bool wait = true);
  // Submits one part; returns its ticket (empty: already waited for, when not replaying).
  Ticket submit_part(const ForwardCall& call, Tail tail, uint32_t k);
  void record_call(Recorder& rec, const ForwardCall& call, Tail tail, uint32_t k);
  // The replayable recording of (call, tail, k), recorded now if it is not among the recent ones.
  Recorder& replay_for(const ForwardCall& call, Tail tail, uint32_t k);
  // Runs all pieces of `ids` through `slot`; the tail runs after the last piece.
  void run_pieces(uint32_t slot, std::span<const int32_t> ids, Tail tail, uint32_t k = 0);
  std::vector<float> run(const ForwardCall& call, std::span<const int32_t> ids);
  // eval() / eval_hidden(): the row after the last id, or (`all`) every row, `width` floats each
  // (the tail's output: Logits or Hidden), in calls of at most the logits rows.
  std::vector<float> eval_rows(uint32_t slot, std::span<const int32_t> ids, bool all, Tail tail,
                               uint64_t width);
  // Rows of V logits `call` returns (B, or B*T with all_logits).
  static uint64_t logits_rows(const ForwardCall& call);
  // The logits of the last call with Tail::Logits: `rows` rows of V (`width`: of C, after
  // Tail::Hidden).
  std::vector<float> read_logits(uint64_t rows, uint64_t width = 0);
  void check_ids(std::span<const int32_t> ids) const;
  void check_one_device(const char* what) const;
  // The part with the head: the logits and every tail buffer live on its device.
  Context& head_ctx() const { return *model_.parts().back().ctx; }
  Scratch& head() { return scratch_.back(); }
  const Scratch& head() const { return scratch_.back(); }

  Model& model_;
  StateStore state_;
  std::vector<Scratch> scratch_;  // one per model part; ids in the first, logits in the last
  // Each part's submission not yet waited for (pipelined prompt pieces of a split model); all
  // empty between public calls.
  std::vector<Ticket> in_flight_;
  Buffer argmax_;  // (logits rows) u32, readback
  // eval_last / eval_argmax_last: one checked call of ids.size() tokens with the last n rows' tail
  void submit_last(uint32_t slot, std::span<const int32_t> ids, uint32_t n, Tail tail);
  // Per-block partials of the split argmax / nll / topk (kernels::SamplingSplit); empty where the
  // device never splits (CPU devices). Reused by every submit: submit() waits for the previous one.
  Buffer sample_scratch_;
  Buffer topk_;    // (k) u32 ids then (k) f32 logits, readback; grown on demand
  uint32_t topk_cap_ = 0;
  Buffer nll_;  // (logits_rows) u32 targets in, f32 nll out; host-visible, made on first use
  // Readback copy of the logits, written by the forward's own submission where scratch_.logits is
  // not host-visible: one submission per token instead of a forward plus a staging download (a
  // command pool, a submit and a wait). Grown on demand; unused where the logits are mapped.
  Buffer logits_host_;
  std::unique_ptr<Recorder> host_recorder_;  // last record_into(); keeps its descriptor pools
  StageProfile* profile_ = nullptr;
  ActivationStats* stats_ = nullptr;
  // Recent replayable recordings, least recently used first. A typical generation alternates
  // between at most a prompt piece and one decode step; a few entries cover sampling modes, and
  // prompt-lookup decoding's check call and the plain step that runs ids left by a refused guess.
  struct ReplayKey {
    uint32_t part, first_slot, B, T;
    bool all_logits;
    uint32_t last_rows;
    Tail tail;
    uint32_t k;
    bool operator==(const ReplayKey&) const = default;
  };
  struct Replay {
    ReplayKey key;
    std::unique_ptr<Recorder> rec;
  };
  static constexpr size_t kMaxReplays = 6;  // per model part
  std::vector<Replay> replays_;
  bool replay_on_ = true;
  ReplayStats replay_stats_;
};

}  // namespace vkr
