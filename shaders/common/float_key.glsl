// float_key.glsl: the order-preserving float -> uint key of topk.comp and topk_split.comp.
#ifndef VKR_FLOAT_KEY_GLSL
#define VKR_FLOAT_KEY_GLSL

// Order-preserving map float -> uint (larger float, larger key); NaN -> 0, below -inf's key;
// -0 maps like +0 because they compare equal (ties are then broken by id, as on the CPU).
uint key_of(float f) {
  if (isnan(f)) return 0u;
  uint b = floatBitsToUint(f);
  if (b == 0x80000000u) b = 0u;
  return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

#endif
