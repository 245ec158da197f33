// forward.hpp: the GPU forward pass of both architectures, recorded into one command buffer:
// embedding -> layers (time mix + FFN / channel mix) -> final norm -> head. Prefill and decode
// share every block; only the WKV kernel and the gemm/gemv choice differ, and those choices live
// in kernels::wkv() and kernels::linear().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "vkr/buffer.hpp"
#include "vkr/gpu_timer.hpp"
#include "vkr/recorder.hpp"

namespace vkr {

class ActivationStats;
class Model;
class StateStore;
struct ModelPart;

// Activations for up to `rows` token rows (B sequences x T tokens) per call. Every buffer is its
// own sub-allocation of the activations arena.
struct Scratch {
  uint32_t rows = 0;         // max B*T per call
  uint32_t logits_rows = 0;  // rows the logits buffer holds (all-position logits come in pieces)
  Buffer ids;                // (rows) u32, host-visible upload
  Buffer x;                  // (rows, C) residual stream
  Buffer a;                  // (rows, C) normalized input
  Buffer xx;                 // (5, rows, C) ddlerp outputs w,k,v,r,g
  Buffer r, g, logw, y;      // (rows, C)
  Buffer k, v;               // (rows, KV) before GQA repetition
  Buffer kr, vr;             // (rows, C) after repetition / (1-w) scaling
  Buffer lora;               // LoRA partial sums (max of the two LoRA stacks)
  Buffer f1, f2;             // (rows, F) FFN hidden; RWKV-6 channel mix uses f1 only
  Buffer c1, c2;             // (2, rows, C) channel-mix lerps / (rows, C) receptance
  Buffer logits;             // (logits_rows, V); the head's part only
  Buffer wkv;                // chunk-parallel WKV workspace (GPUs only; empty on CPU devices)
  // Hand-off of the residual stream between the parts of a model split over devices: a part
  // without the head copies x to hidden_out (host-visible) at its end, the host copies that to
  // the next part's hidden_in (host-visible), which copies it to its x first.
  Buffer hidden_in, hidden_out;  // (rows, C) where the part has no embedding / no head
};

// Activations of a part (token ids where it embeds, else the hand-off input; logits where it has
// the head, else the hand-off output; the whole model by default).
uint64_t scratch_bytes(const ModelConfig& config, uint32_t rows, bool embed = true,
                       bool head = true);
// Scratch for `part` of a model (ids where it embeds, logits where it has the head, hand-off
// buffers between parts); null = a model on one device.
Scratch make_scratch(Context& ctx, const ModelConfig& config, uint32_t rows,
                     const ModelPart* part = nullptr);

// Optional per-stage GPU timestamps: record_forward() writes one after every stage (the barrier
// that ends it) and labels the interval with the kind of work ("linear ..." = GEMV/GEMM).
struct StageProfile {
  GpuTimer* timer = nullptr;      // needs 1 + ~20 per layer queries
  std::vector<std::string> labels;  // labels[i] names the interval ending at timestamp i + 1
  uint32_t used = 0;
};

struct ForwardCall {
  uint32_t first_slot = 0;  // sequences use state slots [first_slot, first_slot + B)
  uint32_t B = 1;           // sequences
  uint32_t T = 1;           // tokens per sequence; ids (B*T, sequence-major) are in scratch.ids
  bool all_logits = false;  // logits for every row (B*T <= logits_rows) or the last of each sequence
  // B == 1: logits of the last `last_rows` rows only (<= logits_rows; 0: as all_logits says), so a
  // speculative-decoding check reads the rows of its guesses, not of the tokens before them.
  uint32_t last_rows = 0;
  StageProfile* profile = nullptr;
  // Importance-matrix statistics: when set, every projection's input rows are also accumulated
  // into it (one col_sumsq dispatch beside each linear; `vkrwkv imatrix`).
  ActivationStats* stats = nullptr;
  // Which part of a model split over devices (Model::parts()) to record, with its scratch: a
  // part without the embedding starts from scratch.hidden_in, one without the head ends by
  // copying x to scratch.hidden_out (followed by a host barrier).
  uint32_t part = 0;
  // Instead of the logits: the output norm's rows (C floats each: the final hidden state the head
  // would multiply, what embeddings are made of), written from the start of scratch.logits.
  bool hidden = false;
};

// Timestamps record_forward() may write for `config` (size the GpuTimer with it).
uint32_t profile_queries(const ModelConfig& config);

// Records the forward pass (of part call.part: the whole pass unless the model is split); the
// logits land in scratch.logits rows [0, n) where n = B*T (all_logits) or B. Ends with a
// barrier, so a copy/readback may follow directly.
void record_forward(Recorder& rec, const Model& model, StateStore& state, Scratch& s,
                    const ForwardCall& call);

}  // namespace vkr
