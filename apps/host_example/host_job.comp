// host_job.comp: the host example's own compute job: v[i] = (i * mul + add) % modulus for i < n.
// grid: (ceil(n / 64), 1, 1); push: n, mul, add, modulus; v: (n) uint.
#version 450
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Out { uint v[]; };
layout(push_constant) uniform Params { uint n, mul, add, modulus; } p;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n) v[i] = (i * p.mul + p.add) % p.modulus;
}
