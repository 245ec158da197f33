// types.glsl: storage vs arithmetic float types chosen by the build variant (ncnn's sfp/afp idea).
// VKR_DTYPE_F32 / VKR_DTYPE_F16 / VKR_DTYPE_BF16 select how *weights/activations are stored*;
// arithmetic is always f32 here (accumulation precision matters more than ALU rate for our shapes).
// bf16 has no GLSL type in glslang 12: it is stored as 16-bit words and widened by shifting.
#ifndef VKR_TYPES_GLSL
#define VKR_TYPES_GLSL

#if defined(VKR_DTYPE_F16)
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define sfp float16_t
#define sfp_to_f32(x) float(x)
#define f32_to_sfp(x) float16_t(x)
#elif defined(VKR_DTYPE_BF16)
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#define sfp uint16_t
#define sfp_to_f32(x) uintBitsToFloat(uint(x) << 16)
// Round to nearest even; NaN stays NaN because the quiet bit survives the shift.
#define f32_to_sfp(x) uint16_t((floatBitsToUint(x) + 0x7FFFu + ((floatBitsToUint(x) >> 16) & 1u)) >> 16)
#else
#define sfp float
#define sfp_to_f32(x) (x)
#define f32_to_sfp(x) (x)
#endif

#endif
