// test_decay.cpp: decay.comp (+ lora_down.comp) vs ref::decay, and the fused QRWKV6 key scaling
// with GQA repetition vs ref::repeat_kv + ref::scale_keys_one_minus_w.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/decay.hpp"
#include "kernels/lora_down.hpp"
#include "kernels/ops_test_util.hpp"
#include "reference/ops.hpp"
#include "support/random.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"

namespace vkr {
namespace {

using test::expect_close;
using test::f32;

struct Case {
  int T, C, Dd;
  int S = 0, Hkv = 0;  // S = 0: no key-scaling fusion
};

class DecayTest : public test::GpuTest {
 protected:
  void run(Case c, uint32_t seed) {
    test::Rng rng(seed);
    SCOPED_TRACE(rng.trace());
    const size_t T = c.T, C = c.C, Dd = c.Dd, n = T * C;
    auto xw = rng.normal_vec(n);
    // d0 over [-9, 2]: logw from ~-1e-4 (w ~ 1, where 1 - w needs expm1) down to ~-7.
    auto d0 = rng.uniform_vec(C, -9.0f, 2.0f);
    auto p = rng.normal_vec(Dd * C, 0.0f, 1.0f / std::sqrt(static_cast<float>(C)));
    auto q = rng.normal_vec(C * Dd, 0.0f, 0.1f);
    std::vector<float> want(n);
    ref::decay(c.T, c.C, c.Dd, xw, d0, p, q, want);

    const bool fuse = c.S > 0;
    const size_t ckv = fuse ? static_cast<size_t>(c.Hkv) * c.S : 1;
    auto k = rng.normal_vec(T * ckv), v = rng.normal_vec(T * ckv);
    const Shape scratch = kernels::lora_scratch_shape(T, C, Dd);
    Buffer bx = make_buffer(xw), bd = make_buffer(d0), bp = make_buffer(p), bq = make_buffer(q),
           bs = make_buffer(scratch.elements()), bl = make_buffer(n), bk = make_buffer(k),
           bv = make_buffer(v), bko = make_buffer(n), bvo = make_buffer(n);
    kernels::DecayArgs args{f32(bx, {T, C}),  f32(bd, {C}),     f32(bp, {Dd, C}),
                            f32(bq, {C, Dd}), f32(bs, scratch), f32(bl, {T, C})};
    if (fuse) {
      args.k = f32(bk, {T, ckv});
      args.v = f32(bv, {T, ckv});
      args.k_out = f32(bko, {T, C});
      args.v_out = f32(bvo, {T, C});
      args.head_size = static_cast<uint32_t>(c.S);
    }
    Recorder rec(ctx());
    kernels::decay(ctx(), rec, args);
    ctx().queue().submit(rec).wait();
    const std::string what =
        fmt::format("decay T={} C={} Dd={} S={} Hkv={}", c.T, c.C, c.Dd, c.S, c.Hkv);
    // delta is an f32 sum of Dd + C-long dots (~1e-6 abs error), amplified by exp: 1e-5 relative.
    const auto got = read(bl);
    expect_close(want, got, 1e-6, 2e-5, what);
    if (!fuse) return;
    const int H = c.C / c.S, n_rep = H / c.Hkv;
    std::vector<float> krep(n), vrep(n), kwant(n);
    ref::repeat_kv(c.T, c.Hkv, n_rep, c.S, k, krep);
    ref::repeat_kv(c.T, c.Hkv, n_rep, c.S, v, vrep);
    // Scale with the GPU's own logw so this checks the expm1 + indexing, not the LoRA again.
    ref::scale_keys_one_minus_w(krep, got, kwant);
    expect_close(kwant, read(bko), 1e-7, 1e-5, what + " k_out");
    expect_close(vrep, read(bvo), 0.0, 0.0, what + " v_out");
  }
};

TEST_F(DecayTest, LogwOverOddShapes) {
  uint32_t seed = 800;
  for (int T : {1, 3, 17}) {
    for (int C : {1, 7, 64, 255}) run({T, C, 64}, seed++);
  }
  run({5, 256, 128}, seed++);
  run({1, 5120, 128}, seed++);
  run({9, 100, 68}, seed++);   // Dd % 8 != 0: vec4 loads in the up GEMM
  run({64, 512, 64}, seed++);  // full 8-row tiles
}

TEST_F(DecayTest, FusedKeyScalingWithGqa) {
  uint32_t seed = 900;
  run({3, 64, 64, 16, 2}, seed++);    // H = 4, n_rep = 2
  run({17, 96, 64, 8, 3}, seed++);    // H = 12, n_rep = 4
  run({1, 256, 128, 64, 4}, seed++);  // n_rep = 1: plain scaling
  run({3, 256, 64, 32, 1}, seed++);   // one kv head for all
}

TEST_F(DecayTest, ShapeErrorsBeforeRecording) {
  Buffer b = make_buffer(1 << 14);
  Recorder rec(ctx());
  const Shape scratch = kernels::lora_scratch_shape(2, 64, 64);
  kernels::DecayArgs a{f32(b, {2, 64}),  f32(b, {64}),    f32(b, {64, 64}),
                       f32(b, {64, 64}), f32(b, scratch), f32(b, {2, 64})};
  a.k = f32(b, {2, 48});  // only one of the four fusion tensors
  EXPECT_THROW(kernels::decay(ctx(), rec, a), Error);
  a.v = f32(b, {2, 48});
  a.k_out = f32(b, {2, 64});
  a.v_out = f32(b, {2, 64});
  a.head_size = 16;  // Hkv = 3 does not divide H = 4
  EXPECT_THROW(kernels::decay(ctx(), rec, a), Error);
  a.q = f32(b, {64, 32});  // q width does not match p
  EXPECT_THROW(kernels::decay(ctx(), rec, a), Error);
  EXPECT_EQ(rec.dispatch_count(), 0u);
}

}  // namespace
}  // namespace vkr
