// decay.hpp: host twin of shaders/decay.comp (+ lora_down): logw = -exp(d0 + Q·tanh(P·x^w)),
// optionally fused with QRWKV6 key scaling k * (1 - w) and GQA repetition of k and v (spec §3.3).
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct DecayArgs {
  Tensor xw;       // (rows, C) f32 mixed input x^w
  Tensor d0;       // (C) f32 time_decay
  Tensor p;        // (Dd, C) f32 decay_w1
  Tensor q;        // (C, Dd) f32 decay_w2
  Tensor scratch;  // lora_scratch_shape(rows, C, Dd) f32, clobbered
  Tensor logw;     // (rows, C) f32 output
  // Optional QRWKV6 fusion (all four or none): head h = rep + n_rep * kvh reads kv head h / n_rep.
  Tensor k;                // (rows, Hkv*S) f32 keys (biases already added)
  Tensor v;                // (rows, Hkv*S) f32 values
  Tensor k_out;            // (rows, C) f32: k repeated to H heads, times -expm1(logw)
  Tensor v_out;            // (rows, C) f32: v repeated to H heads
  uint32_t head_size = 0;  // S (only with the fusion)
};

// Mirrors `Params p` in the shader.
struct DecayPush {
  uint32_t rows, C, S, n_rep, ckv;
};
static_assert(sizeof(DecayPush) == 20);

// Records lora_down (h = tanh(P·x^w)), a barrier, then decay.comp. The caller barriers before
// reading the outputs.
void decay(Context& ctx, Recorder& rec, const DecayArgs& args);

}  // namespace vkr::kernels
