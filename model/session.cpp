// session.cpp: input validation, splitting long inputs into calls, submission and readback.
#include "session.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/sampling.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {
namespace {
// The values follow the ids in one readback buffer, at an offset every device accepts for a
// storage-buffer binding (minStorageBufferOffsetAlignment <= 256 by the Vulkan spec).
uint64_t topk_values_offset(uint32_t k) { return (k * 4ull + 255) / 256 * 256; }
}  // namespace

Session::Session(Model& model, uint32_t slots, uint32_t rows)
    : model_(model), state_(model, slots) {
  if (rows == 0) rows = model.options().max_tokens;
  for (const auto& part : model.parts()) {
    scratch_.push_back(make_scratch(*part.ctx, model.config(), rows, &part));
  }
  Context& ctx = head_ctx();
  argmax_ = Buffer::create(ctx, Lifetime::Activations, uint64_t{head().logits_rows} * 4,
                           MemoryUsage::Readback, "argmax");
  const uint64_t V = model.config().V;
  const uint64_t bytes = std::max(  // nll runs on up to logits_rows rows, topk on one
      kernels::sampling_scratch_bytes(ctx, std::max<uint32_t>(head().logits_rows, 1), V),
      kernels::topk_scratch_bytes(ctx, 1, V));
  if (bytes > 0) {
    sample_scratch_ = Buffer::create(ctx, Lifetime::Activations, bytes, MemoryUsage::Device,
                                     "sampling partials");
  }
}

void Session::check_one_device(const char* what) const {
  require(model_.parts().size() == 1, ErrorCode::InvalidArgument,
          "{} needs a model on one device; this one is split over {} devices", what,
          model_.parts().size());
}

void Session::set_profile(StageProfile* profile) {
  if (profile) check_one_device("per-stage profiling");
  profile_ = profile;
}

void Session::check_ids(std::span<const int32_t> ids) const {
  require(!ids.empty(), ErrorCode::InvalidArgument, "empty input: at least one token is needed");
  const auto V = static_cast<int64_t>(model_.config().V);
  for (size_t i = 0; i < ids.size(); ++i) {
    require(ids[i] >= 0 && ids[i] < V, ErrorCode::InvalidArgument,
            "token id {} at position {} is outside the vocabulary [0, {})", ids[i], i, V);
  }
}

void Session::record_call(Recorder& rec, const ForwardCall& call, Tail tail, uint32_t k) {
  Context& ctx = *model_.parts()[call.part].ctx;
  ForwardCall c = call;
  c.hidden = tail == Tail::Hidden;
  record_forward(rec, model_, state_, scratch_[call.part], c);
  if (call.part + 1 < scratch_.size()) return;  // ends with the hand-off to the next part
  const Scratch& s = head();
  const Tensor last = Tensor::of(s.logits, Shape{1, model_.config().V}, DType::F32);
  kernels::SamplingSplit split;  // none: every row in one workgroup
  if (sample_scratch_) {
    split.scratch = Tensor::of(sample_scratch_, Shape{sample_scratch_.size() / 4}, DType::U32);
  }
  if (tail == Tail::Argmax) {
    const uint64_t rows = logits_rows(call);  // one, or the last rows of a speculative check
    kernels::argmax(ctx, rec,
                    {Tensor::of(s.logits, Shape{rows, model_.config().V}, DType::F32),
                     Tensor::of(argmax_, Shape{rows}, DType::U32), split});
  } else if (tail == Tail::TopK) {
    kernels::topk(ctx, rec,
                  {last, Tensor::of(topk_, Shape{1, k}, DType::U32),
                   Tensor::of(topk_, Shape{1, k}, DType::F32, topk_values_offset(k)), split});
  } else if (tail == Tail::Nll) {
    const uint32_t rows = call.B * call.T;
    kernels::nll(ctx, rec,
                 {Tensor::of(s.logits, Shape{rows, model_.config().V}, DType::F32),
                  Tensor::of(nll_, Shape{rows}, DType::U32), split});
  } else if ((tail == Tail::Logits || tail == Tail::Hidden) && !s.logits.host_visible()) {
    const uint64_t width = tail == Tail::Hidden ? model_.config().C : model_.config().V;
    const uint64_t bytes = logits_rows(call) * width * 4;
    rec.copy(s.logits.range(0, bytes), logits_host_.range(0, bytes));
  }
  if (tail != Tail::None) rec.host_barrier();
}

Recorder& Session::replay_for(const ForwardCall& call, Tail tail, uint32_t k) {
  const ReplayKey key{call.part,       call.first_slot, call.B, call.T,
                      call.all_logits, call.last_rows,  tail,   k};
  auto it = std::find_if(replays_.begin(), replays_.end(),
                         [&](const Replay& r) { return r.key == key; });
  if (it != replays_.end()) {
    std::rotate(it, it + 1, replays_.end());  // most recently used last
    ++replay_stats_.replayed;
    return *replays_.back().rec;
  }
  if (replays_.size() == kMaxReplays * scratch_.size()) replays_.erase(replays_.begin());
  auto rec = std::make_unique<Recorder>(*model_.parts()[call.part].ctx, RecordMode::Replay);
  record_call(*rec, call, tail, k);
  replays_.push_back({key, std::move(rec)});
  ++replay_stats_.recorded;
  return *replays_.back().rec;
}

void Session::set_replay(bool on) {
  for (const auto& p : model_.parts()) p.ctx->queue().wait_idle();
  replay_on_ = on;
  replays_.clear();
}

void Session::submit(const ForwardCall& call, std::span<const int32_t> ids, Tail tail,
                     uint32_t k, bool wait) {
  in_flight_.resize(scratch_.size());
  // The ids buffer is reused: the first part's previous call must be done with it.
  model_.ctx().queue().wait_idle();
  std::memcpy(scratch_.front().ids.mapped(), ids.data(), ids.size_bytes());
  scratch_.front().ids.flush(0, ids.size_bytes());
  if ((tail == Tail::Logits || tail == Tail::Hidden) && !head().logits.host_visible()) {
    const uint64_t bytes = logits_rows(call) * model_.config().V * 4;
    if (!logits_host_ || logits_host_.size() < bytes) {
      head_ctx().queue().wait_idle();
      replays_.clear();  // recordings with a Logits tail bind the old buffer
      logits_host_ = Buffer::create(head_ctx(), Lifetime::Activations, bytes,
                                    MemoryUsage::Readback, "logits readback");
    }
  }
  const uint64_t hidden = uint64_t{call.B} * call.T * model_.config().C * 4;
  for (uint32_t p = 0; p < scratch_.size(); ++p) {
    ForwardCall c = call;
    c.part = p;
    if (p > 0) {  // hand the residual stream over: previous part's readback -> this part's upload
      in_flight_[p - 1].wait();
      in_flight_[p - 1] = {};
      if (in_flight_[p].valid()) in_flight_[p].wait();  // its previous piece reads hidden_in
      in_flight_[p] = {};
      const Buffer& from = scratch_[p - 1].hidden_out;
      Buffer& to = scratch_[p].hidden_in;
      from.invalidate(0, hidden);
      std::memcpy(to.mapped(), from.mapped(), hidden);
      to.flush(0, hidden);
    }
    in_flight_[p] = submit_part(c, p + 1 == scratch_.size() ? tail : Tail::None, k);
  }
  if (wait && in_flight_.back().valid()) {
    in_flight_.back().wait();
    in_flight_.back() = {};
  }
}

Ticket Session::submit_part(const ForwardCall& call, Tail tail, uint32_t k) {
  Context& ctx = *model_.parts()[call.part].ctx;
  if (replay_on_ && !profile_ && !stats_) return ctx.queue().submit(replay_for(call, tail, k));
  Recorder rec(ctx);
  ForwardCall c = call;
  c.profile = profile_;
  c.stats = stats_;
  record_call(rec, c, tail, k);
  ++replay_stats_.recorded;
  ctx.queue().submit(rec).wait();
  return {};
}

void Session::run_pieces(uint32_t slot, std::span<const int32_t> ids, Tail tail, uint32_t k) {
  check_ids(ids);
  require(slot < state_.slots(), ErrorCode::InvalidArgument, "slot {} out of range ({} slots)",
          slot, state_.slots());
  for (size_t at = 0; at < ids.size(); at += rows()) {
    const auto n = static_cast<uint32_t>(std::min<size_t>(rows(), ids.size() - at));
    const bool last = at + n == ids.size();
    // Only the last piece's output is read: on a split model the earlier pieces pipeline (device
    // 0 runs piece i + 1 while device 1 runs piece i).
    submit({slot, 1, n, false}, ids.subspan(at, n), last ? tail : Tail::None, k, last);
  }
}

int32_t Session::eval_argmax(uint32_t slot, std::span<const int32_t> ids) {
  run_pieces(slot, ids, Tail::Argmax);
  uint32_t id = 0;
  argmax_.invalidate(0, 4);
  std::memcpy(&id, argmax_.mapped(), 4);
  return static_cast<int32_t>(id);
}

void Session::submit_last(uint32_t slot, std::span<const int32_t> ids, uint32_t n, Tail tail) {
  check_ids(ids);
  require(slot < state_.slots(), ErrorCode::InvalidArgument, "slot {} out of range ({} slots)",
          slot, state_.slots());
  require(ids.size() <= rows(), ErrorCode::InvalidArgument,
          "eval_last: {} tokens exceed the {} rows of one call", ids.size(), rows());
  require(n >= 1 && n <= ids.size() && n <= max_last_rows(), ErrorCode::InvalidArgument,
          "eval_last: the last {} rows of {} tokens (1 to {} rows)", n, ids.size(),
          std::min<size_t>(ids.size(), max_last_rows()));
  ForwardCall call{slot, 1, static_cast<uint32_t>(ids.size()), false};
  call.last_rows = n;
  submit(call, ids, tail);
}

std::vector<float> Session::eval_last(uint32_t slot, std::span<const int32_t> ids, uint32_t n) {
  submit_last(slot, ids, n, Tail::Logits);
  return read_logits(n);
}

std::vector<int32_t> Session::eval_argmax_last(uint32_t slot, std::span<const int32_t> ids,
                                               uint32_t n) {
  submit_last(slot, ids, n, Tail::Argmax);
  std::vector<int32_t> out(n);
  argmax_.invalidate(0, n * 4ull);
  std::memcpy(out.data(), argmax_.mapped(), n * 4ull);
  return out;
}

std::vector<float> Session::eval_nll(uint32_t slot, std::span<const int32_t> ids,
                                     std::span<const int32_t> targets) {
  check_ids(ids);
  require(targets.size() == ids.size(), ErrorCode::InvalidArgument,
          "eval_nll: {} targets for {} ids (need one per id)", targets.size(), ids.size());
  check_ids(targets);
  require(slot < state_.slots(), ErrorCode::InvalidArgument, "slot {} out of range ({} slots)",
          slot, state_.slots());
  const uint32_t piece = head().logits_rows;
  if (!nll_) {
    nll_ = Buffer::create(head_ctx(), Lifetime::Activations, uint64_t{piece} * 4,
                          MemoryUsage::Readback, "nll");
  }
  std::vector<float> out(ids.size());
  for (size_t at = 0; at < ids.size(); at += piece) {
    const auto n = static_cast<uint32_t>(std::min<size_t>(piece, ids.size() - at));
    head_ctx().queue().wait_idle();  // nll_ is reused
    std::memcpy(nll_.mapped(), targets.data() + at, n * 4ull);
    nll_.flush(0, n * 4ull);
    submit({slot, 1, n, true}, ids.subspan(at, n), Tail::Nll);
    nll_.invalidate(0, n * 4ull);
    std::memcpy(out.data() + at, nll_.mapped(), n * 4ull);
  }
  return out;
}

bool Session::gpu_topk_pays() const {
  // Measured on both kinds of device, and the host wins on both with one workgroup per row: 2359 us
  // on an H100 at V = 152064, while reading the row back (608 KB) and sampling on the host costs
  // ~0.35 ms. GPUs now split the row (topk_split.comp); unmeasured, so the host path stays.
  return false;
}

Session::TopK Session::eval_topk(uint32_t slot, std::span<const int32_t> ids, uint32_t k) {
  const uint32_t V = model_.config().V;
  require(k >= 1 && k <= V, ErrorCode::InvalidArgument, "eval_topk: k = {} must be in [1, {}]", k,
          V);
  if (k > topk_cap_) {
    head_ctx().queue().wait_idle();
    replays_.clear();  // recordings with a top-k tail bind the old buffer
    topk_ = Buffer::create(head_ctx(), Lifetime::Activations, topk_values_offset(k) + k * 4ull,
                           MemoryUsage::Readback, "topk");
    topk_cap_ = k;
  }
  run_pieces(slot, ids, Tail::TopK, k);
  TopK out{std::vector<int32_t>(k), std::vector<float>(k)};
  topk_.invalidate(0, topk_values_offset(k) + k * 4ull);
  std::memcpy(out.ids.data(), topk_.mapped(), k * 4ull);
  std::memcpy(out.logits.data(), topk_.mapped() + topk_values_offset(k), k * 4ull);
  return out;
}

uint64_t Session::logits_rows(const ForwardCall& call) {
  if (call.last_rows) return call.last_rows;
  return call.all_logits ? uint64_t{call.B} * call.T : call.B;
}

std::vector<float> Session::run(const ForwardCall& call, std::span<const int32_t> ids) {
  submit(call, ids, Tail::Logits);
  return read_logits(logits_rows(call));
}

std::vector<float> Session::read_logits(uint64_t rows, uint64_t width) {
  std::vector<float> logits(rows * (width ? width : model_.config().V));
  if (head().logits.host_visible()) {
    head_ctx().staging().download(head().logits, std::span<float>(logits));
  } else {
    logits_host_.invalidate(0, logits.size() * 4);
    std::memcpy(logits.data(), logits_host_.mapped(), logits.size() * 4);
  }
  return logits;
}

std::vector<float> Session::eval(uint32_t slot, std::span<const int32_t> ids, bool all_logits) {
  return eval_rows(slot, ids, all_logits, Tail::Logits, model_.config().V);
}

std::vector<float> Session::eval_hidden(uint32_t slot, std::span<const int32_t> ids,
                                        bool all_rows) {
  return eval_rows(slot, ids, all_rows, Tail::Hidden, model_.config().C);
}

std::vector<float> Session::eval_rows(uint32_t slot, std::span<const int32_t> ids, bool all,
                                      Tail tail, uint64_t width) {
  if (!all) {  // pieces of `rows` tokens; only the last one's row is read
    run_pieces(slot, ids, tail);
    return read_logits(1, width);
  }
  check_ids(ids);
  require(slot < state_.slots(), ErrorCode::InvalidArgument, "slot {} out of range ({} slots)",
          slot, state_.slots());
  std::vector<float> out;
  const uint32_t piece = head().logits_rows;
  for (size_t at = 0; at < ids.size(); at += piece) {
    const auto n = static_cast<uint32_t>(std::min<size_t>(piece, ids.size() - at));
    submit({slot, 1, n, true}, ids.subspan(at, n), tail);
    const auto rows = read_logits(n, width);
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

std::vector<float> Session::decode_batch(uint32_t first_slot, std::span<const int32_t> ids) {
  check_ids(ids);
  require(ids.size() <= max_batch(), ErrorCode::InvalidArgument,
          "decode_batch: {} slots exceed the {} rows per call", ids.size(), max_batch());
  return run({first_slot, static_cast<uint32_t>(ids.size()), 1, false}, ids);
}


ForwardIO Session::io(uint32_t n_tokens) const {
  check_one_device("a forward pass in the host's command buffer");
  require(n_tokens >= 1 && n_tokens <= rows(), ErrorCode::InvalidArgument,
          "forward of {} tokens: 1 to {} tokens per recorded pass", n_tokens, rows());
  ForwardIO io;
  io.ids = scratch_.front().ids.range(0, uint64_t{n_tokens} * 4);
  io.ids_mapped = scratch_.front().ids.mapped();
  io.logits = head().logits.range(0, uint64_t{model_.config().V} * 4);
  io.n_tokens = n_tokens;
  return io;
}

ForwardIO Session::record_into(VkCommandBuffer cb, uint32_t slot, uint32_t n_tokens) {
  require(cb != VK_NULL_HANDLE, ErrorCode::InvalidArgument, "record_into: null command buffer");
  require(slot < state_.slots(), ErrorCode::InvalidArgument, "slot {} out of range ({} slots)",
          slot, state_.slots());
  ForwardIO out = io(n_tokens);
  host_recorder_.reset();  // the host's previous submission is done (contract above)
  host_recorder_ = std::make_unique<Recorder>(model_.ctx(), cb);
  host_recorder_->barrier();  // host-produced ids -> our first reads
  record_forward(*host_recorder_, model_, state_, scratch_.front(), {slot, 1, n_tokens, false});
  host_recorder_->host_barrier();  // record_forward already ended with the compute barrier
  return out;
}

}  // namespace vkr
