// token_shift.hpp: host twins of shaders/token_shift.comp: ddlerp (time-mix, spec §3.1, three
// dispatches with lora_down) and the plain lerp (RWKV-6 channel-mix). Both update the shift state.
#pragma once

#include "vkr/recorder.hpp"
#include "vkr/tensor.hpp"

namespace vkr::kernels {

struct TokenShiftDdlerpArgs {
  Tensor x;        // (B*T, C) f32 normalized inputs, sequence-major rows (r = b*T + t)
  Tensor state;    // (B, C) f32 in/out: x_prev of each sequence's first token; becomes x[b, T-1]
  Tensor mu_x;     // (C) f32 time_maa_x
  Tensor lambda;   // (5, C) f32 time_maa_{w,k,v,r,g}
  Tensor a;        // (5*Dm, C) f32 time_mix_w1
  Tensor bm;       // (5, C, Dm) f32 time_mix_w2
  Tensor scratch;  // lora_scratch_shape(B*T, C, 5*Dm) f32, clobbered (h = tanh(A·xi))
  Tensor out;      // (5, B*T, C) f32: x^w, x^k, x^v, x^r, x^g
  uint32_t sequences = 1;  // B
};

struct TokenShiftLerpArgs {
  Tensor x;                // (B*T, C) f32 normalized inputs, sequence-major rows
  Tensor state;            // (B, C) f32 in/out, as above
  Tensor mu;               // (G, C) f32, G in {1, 2} (time_maa_k, time_maa_r)
  Tensor out;              // (G, B*T, C) f32: out[g] = x + (x_prev - x) * mu[g]
  uint32_t sequences = 1;  // B
};

// Mirrors `Params p` in the shader.
struct TokenShiftPush {
  uint32_t rows, T, C, groups;
};
static_assert(sizeof(TokenShiftPush) == 16);

// ddlerp records three dispatches separated by barriers: token_shift MODE 2 (xi, x_prev into
// scratch, new state), lora_down (h = tanh(A·xi)), token_shift MODE 0 (the five LoRA "up" GEMMs
// with the lerp epilogue); for decode (T = 1) two: lora_down mixing xi itself, then MODE 3 (MODE 0
// that reads x_prev from the state and then updates it). lerp records one. The caller barriers
// before anything reads `out` or `state`.
void token_shift_ddlerp(Context& ctx, Recorder& rec, const TokenShiftDdlerpArgs& args);
void token_shift_lerp(Context& ctx, Recorder& rec, const TokenShiftLerpArgs& args);

}  // namespace vkr::kernels
