// wkv_io.glsl: the buffer interface shared by wkv_decode.comp and wkv_prefill.comp (same bindings,
// same push block), so the two kernels are interchangeable behind one host-side policy.
// Loops: lavapipe (llvmpipe) silently ends any loop once a shader invocation has run 65535 loop
// iterations in total (gallivm's loop limiter), so every loop over a compile-time trip count is
// [[unroll]]ed and long calls are split into windows of tokens by the host.
// Include after types.glsl and after the `layout(local_size_x_id = 0) in;` line.
#ifndef VKR_WKV_IO_GLSL
#define VKR_WKV_IO_GLSL

#extension GL_EXT_control_flow_attributes : require

// The recurrence variant (spec §3.4). MODE_RWKV6: bonus u, y reads M_{t-1}. MODE_GLA: y reads the
// updated M_t, no bonus (k already scaled by 1 - w by the caller).
#define MODE_RWKV6 0u
#define MODE_GLA 1u

layout(push_constant) uniform Params {
  uint B;       // sequences
  uint T;       // tokens per sequence in the tensors
  uint H;       // heads
  float scale;  // y multiplier (Rwkv6: 1, Gla: S^-1/2)
  uint t0;      // first token of this dispatch's window (the host splits long calls, see wkv.cpp)
  uint tn;      // tokens in the window
} p;

layout(std430, set = 0, binding = 0) readonly buffer RBuf { sfp r[]; };     // r: (B, T, H, S)
layout(std430, set = 0, binding = 1) readonly buffer KBuf { sfp k[]; };     // k: (B, T, H, S)
layout(std430, set = 0, binding = 2) readonly buffer VBuf { sfp v[]; };     // v: (B, T, H, S)
layout(std430, set = 0, binding = 3) readonly buffer WBuf { float logw[]; };  // logw: (B, T, H, S), <= 0
layout(std430, set = 0, binding = 4) readonly buffer UBuf { float u[]; };   // u: (H, S) (Rwkv6 only)
layout(std430, set = 0, binding = 5) buffer StateBuf { float state[]; };    // state: (B, H, S, S) [i][j]
layout(std430, set = 0, binding = 6) writeonly buffer YBuf { float y[]; };  // y: (B, T, H, S)

// Offset of element (b, t, h, 0) of a (B, T, H, S) activation.
uint wkv_act_at(uint b, uint t, uint h, uint S) { return ((b * p.T + t) * p.H + h) * S; }

// Offset of element (b, h, 0, 0) of the (B, H, S, S) state.
uint wkv_state_at(uint b, uint h, uint S) { return (b * p.H + h) * S * S; }

#endif
