// session.hpp: Session, the runtime of one loaded Model: recurrent state for n slots (independent
// sequences), scratch activations, and eval() = record + submit + read the logits back.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "forward.hpp"
#include "model.hpp"
#include "state.hpp"

namespace vkr {

// Where a forward pass recorded into a host app's command buffer reads its input and writes its
// output (see Session::record_into). Ranges stay valid for the Session's lifetime.
struct ForwardIO {
  BufferRange ids;        // (n_tokens) int32 token ids; host-visible, also written through ids_mapped
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
  // Like eval() but returns only the argmax of the last logits, computed on the GPU, so greedy
  // decoding reads back 4 bytes instead of V floats (608 KB per token for QRWKV6-32B).
  int32_t eval_argmax(uint32_t slot, std::span<const int32_t> ids);
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
  ForwardIO record_into(VkCommandBuffer cb, uint32_t slot, uint32_t n_tokens);
  // The buffers record_into() uses for `n_tokens` tokens, without recording anything (so a host
  // can record its producer of ids first).
  ForwardIO io(uint32_t n_tokens) const;

  // Per-stage GPU timestamps for the following calls (null to stop); see StageProfile.
  void set_profile(StageProfile* profile) { profile_ = profile; }

  StateStore& state() { return state_; }
  const Model& model() const { return model_; }
  uint32_t rows() const { return scratch_.rows; }

 private:
  // Records and submits one forward call; with `argmax` the argmax kernel runs on the last logits.
  void submit(const ForwardCall& call, std::span<const int32_t> ids, bool argmax);
  std::vector<float> run(const ForwardCall& call, std::span<const int32_t> ids);
  void check_ids(std::span<const int32_t> ids) const;

  Model& model_;
  StateStore state_;
  Scratch scratch_;
  Buffer argmax_;  // (1) u32, readback
  std::unique_ptr<Recorder> host_recorder_;  // last record_into(); keeps its descriptor pools
  StageProfile* profile_ = nullptr;
};

}  // namespace vkr
