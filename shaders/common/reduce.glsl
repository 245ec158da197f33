// reduce.glsl: workgroup-wide sum / max / (max, first index) reductions, correct for ANY subgroup
// size (lavapipe 8, NVIDIA 32, AMD 64, Intel varying): a subgroup pass, then one shared slot per
// subgroup read back by every invocation (gl_NumSubgroups is a run-time value, never assumed).
// Include AFTER `layout(local_size_x_id = 0) in;` (the shared array is sized by gl_WorkGroupSize).
// Every invocation of the workgroup must call these (they contain barriers) and all get the result.
// A workgroup of one subgroup (how CPU devices run them: lavapipe switches coroutines at every
// barrier) takes the subgroup result directly: the branch is uniform, and no barrier runs.
#ifndef VKR_REDUCE_GLSL
#define VKR_REDUCE_GLSL

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// One slot per subgroup; a subgroup has >= 1 invocation, so WG slots always suffice.
shared float vkr_red_f[gl_WorkGroupSize.x];
shared uint vkr_red_u[gl_WorkGroupSize.x];

float wg_sum(float v) {
  v = subgroupAdd(v);
  if (gl_NumSubgroups == 1u) return v;
  if (subgroupElect()) vkr_red_f[gl_SubgroupID] = v;
  barrier();
  float total = 0.0;
  for (uint i = 0u; i < gl_NumSubgroups; ++i) total += vkr_red_f[i];  // same order everywhere
  barrier();  // the slots are reused by the next call
  return total;
}

float wg_max(float v) {
  v = subgroupMax(v);
  if (gl_NumSubgroups == 1u) return v;
  if (subgroupElect()) vkr_red_f[gl_SubgroupID] = v;
  barrier();
  float m = vkr_red_f[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) m = max(m, vkr_red_f[i]);
  barrier();
  return m;
}

// (value, index) pair with the largest value; ties go to the lowest index. NaN values must be
// filtered by the caller (pass -inf with index 0xFFFFFFFF for "nothing").
void wg_argmax(inout float v, inout uint idx) {
  float sm = subgroupMax(v);
  uint si = subgroupMin(v == sm ? idx : 0xFFFFFFFFu);
  if (gl_NumSubgroups == 1u) {
    v = sm;
    idx = si;
    return;
  }
  if (subgroupElect()) {
    vkr_red_f[gl_SubgroupID] = sm;
    vkr_red_u[gl_SubgroupID] = si;
  }
  barrier();
  v = vkr_red_f[0];
  idx = vkr_red_u[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) {
    float fv = vkr_red_f[i];
    uint fi = vkr_red_u[i];
    if (fv > v || (fv == v && fi < idx)) {
      v = fv;
      idx = fi;
    }
  }
  barrier();
}

#endif
