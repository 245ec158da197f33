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

#if defined(WKV_IO_TEX)
// Texel variant (CPU devices; wkv_decode's f32tex / f16tex builds): r, k, v, logw and u are
// uniform texel buffers of uvec4 words, which llvmpipe fetches with one vector load per lane
// (storage loads are a scalar loop per lane and component). Index = element offset / 4, as below.
layout(set = 0, binding = 0) uniform utextureBuffer rt;  // r: (B, T, H, S) sfp
layout(set = 0, binding = 1) uniform utextureBuffer kt;  // k
layout(set = 0, binding = 2) uniform utextureBuffer vt;  // v
layout(set = 0, binding = 3) uniform utextureBuffer wt;  // logw: f32
layout(set = 0, binding = 4) uniform utextureBuffer ut;  // u: (H, S) f32 (Rwkv6)
layout(std430, set = 0, binding = 5) buffer StateBuf { vec4 state4[]; };    // state: (B, H, S, S/4)
layout(std430, set = 0, binding = 6) writeonly buffer YBuf { vec4 y4[]; };  // y: (B, T, H, S/4)
// The state's range again, read as texels (written through state4) where the including shader's
// STATE_TEX says so: every invocation reads its own columns once, before it writes them, and
// dispatches are separated by barriers.
layout(set = 0, binding = 7) uniform utextureBuffer statet;
#define WKV_LD_F32(tex, i) uintBitsToFloat(texelFetch(tex, int(i)))
#define LD_STATE4(i) (STATE_TEX != 0u ? WKV_LD_F32(statet, i) : state4[i])
#if defined(VKR_DTYPE_F16)
// Four halves = half a texel: the low (xy) or high (zw) pair of words.
vec4 wkv_halves4(uvec4 q, uint high) {
  const uvec2 d = high != 0u ? q.zw : q.xy;
  return vec4(unpackHalf2x16(d.x), unpackHalf2x16(d.y));
}
#define WKV_LD_SFP(tex, i) wkv_halves4(texelFetch(tex, int((i) >> 1u)), (i) & 1u)
#else
#define WKV_LD_SFP(tex, i) WKV_LD_F32(tex, i)
#endif
#define LD_R4(i) WKV_LD_SFP(rt, i)
#define LD_K4(i) WKV_LD_SFP(kt, i)
#define LD_V4(i) WKV_LD_SFP(vt, i)
#define LD_W4(i) WKV_LD_F32(wt, i)
#define LD_U4(i) WKV_LD_F32(ut, i)
#elif defined(WKV_IO_VEC4)
// The same buffers seen as 4-element rows (S and every row offset are multiples of 4): one vec4
// load instead of four scalar ones (llvmpipe pays per load instruction and lane). Index = element
// offset / 4.
#if defined(VKR_DTYPE_F16)
#define sfp4 f16vec4
#else
#define sfp4 vec4
#endif
layout(std430, set = 0, binding = 0) readonly buffer RBuf { sfp4 r4[]; };     // r: (B, T, H, S/4)
layout(std430, set = 0, binding = 1) readonly buffer KBuf { sfp4 k4[]; };     // k: (B, T, H, S/4)
layout(std430, set = 0, binding = 2) readonly buffer VBuf { sfp4 v4[]; };     // v: (B, T, H, S/4)
layout(std430, set = 0, binding = 3) readonly buffer WBuf { vec4 logw4[]; };  // logw: (B, T, H, S/4)
layout(std430, set = 0, binding = 4) readonly buffer UBuf { vec4 u4[]; };     // u: (H, S/4) (Rwkv6)
layout(std430, set = 0, binding = 5) buffer StateBuf { vec4 state4[]; };      // state: (B, H, S, S/4)
layout(std430, set = 0, binding = 6) writeonly buffer YBuf { vec4 y4[]; };    // y: (B, T, H, S/4)
#define LD_R4(i) vec4(r4[i])
#define LD_K4(i) vec4(k4[i])
#define LD_V4(i) vec4(v4[i])
#define LD_W4(i) logw4[i]
#define LD_U4(i) u4[i]
#define LD_STATE4(i) state4[i]
#else
layout(std430, set = 0, binding = 0) readonly buffer RBuf { sfp r[]; };     // r: (B, T, H, S)
layout(std430, set = 0, binding = 1) readonly buffer KBuf { sfp k[]; };     // k: (B, T, H, S)
layout(std430, set = 0, binding = 2) readonly buffer VBuf { sfp v[]; };     // v: (B, T, H, S)
layout(std430, set = 0, binding = 3) readonly buffer WBuf { float logw[]; };  // logw: (B, T, H, S), <= 0
layout(std430, set = 0, binding = 4) readonly buffer UBuf { float u[]; };   // u: (H, S) (Rwkv6 only)
layout(std430, set = 0, binding = 5) buffer StateBuf { float state[]; };    // state: (B, H, S, S) [i][j]
layout(std430, set = 0, binding = 6) writeonly buffer YBuf { float y[]; };  // y: (B, T, H, S)

#endif

// Offset of element (b, t, h, 0) of a (B, T, H, S) activation.
uint wkv_act_at(uint b, uint t, uint h, uint S) { return ((b * p.T + t) * p.H + h) * S; }

// Offset of element (b, h, 0, 0) of the (B, H, S, S) state.
uint wkv_state_at(uint b, uint h, uint S) { return (b * p.H + h) * S * S; }

#endif
