// activation_stats.cpp: per-matrix accumulators of the importance-matrix statistics.
#include "activation_stats.hpp"

#include <fmt/format.h>

#include "imatrix.hpp"
#include "kernels/col_sumsq.hpp"
#include "model.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/queue.hpp"
#include "vkr/staging.hpp"

namespace vkr {

namespace {

constexpr auto kInputs = static_cast<uint32_t>(StatsInput::Count);

// The weight tensors reading input `which`, with the input width, for `config`'s architecture;
// empty when the architecture has no such input.
std::vector<std::string> input_names(const ModelConfig& c, uint32_t l, StatsInput which,
                                     uint64_t& K) {
  const bool q = c.arch == Arch::QRwkv6;
  const auto blk = [l](const char* what) { return fmt::format("blk.{}.{}.weight", l, what); };
  K = c.C;
  switch (which) {
    case StatsInput::Receptance:
      return {blk("time_mix_receptance")};
    case StatsInput::Key:
      return {blk("time_mix_key")};
    case StatsInput::Value:
      return {blk("time_mix_value")};
    case StatsInput::Gate:
      return {blk("time_mix_gate")};
    case StatsInput::Output:
      return {blk("time_mix_output")};
    case StatsInput::FfnGateUp:
      if (!q) return {};
      return {blk("ffn_gate"), blk("ffn_up")};
    case StatsInput::FfnDown:
      K = c.F;
      if (!q) return {};
      return {blk("ffn_down")};
    case StatsInput::CmKey:
      if (q) return {};
      return {blk("channel_mix_key")};
    case StatsInput::CmRecept:
      if (q) return {};
      return {blk("channel_mix_receptance")};
    case StatsInput::CmValue:
      K = c.F;
      if (q) return {};
      return {blk("channel_mix_value")};
    case StatsInput::Count:
      break;
  }
  return {};
}

}  // namespace

ActivationStats::ActivationStats(const Model& model, bool head)
    : layers_(model.config().n_layer), head_(head) {
  const auto& c = model.config();
  accs_.resize(size_t{layers_} * kInputs + 1);
  auto make = [](Acc& a, Context& ctx, std::vector<std::string> names, uint64_t K) {
    a.names = std::move(names);
    a.ctx = &ctx;
    a.K = K;
    a.sums = Buffer::create(ctx, Lifetime::Activations, K * 4, MemoryUsage::Device,
                            fmt::format("imatrix {}", a.names.front()));
    Recorder rec(ctx);
    rec.fill(a.sums.range(0, K * 4), 0u);
    ctx.queue().submit(rec).wait();
  };
  for (uint32_t l = 0; l < layers_; ++l) {
    Context& ctx = *model.part_of_layer(l).ctx;
    for (uint32_t w = 0; w < kInputs; ++w) {
      uint64_t K = 0;
      auto names = input_names(c, l, static_cast<StatsInput>(w), K);
      if (!names.empty()) make(accs_[size_t{l} * kInputs + w], ctx, std::move(names), K);
    }
  }
  if (head_) make(accs_.back(), *model.parts().back().ctx, {"output.weight"}, c.C);
}

ActivationStats::Acc& ActivationStats::acc(uint32_t layer, StatsInput which) {
  const auto w = static_cast<uint32_t>(which);
  require(layer < layers_ && w < kInputs, ErrorCode::InvalidArgument,
          "activation stats: layer {} input {} out of range ({} layers)", layer, w, layers_);
  return accs_[size_t{layer} * kInputs + w];
}

void ActivationStats::record(Context& ctx, Recorder& rec, uint32_t layer, StatsInput which,
                             const Tensor& x) {
  Acc& a = acc(layer, which);
  require(a.sums && a.ctx == &ctx, ErrorCode::InvalidArgument,
          "activation stats: no accumulator for input {} of layer {} on this device",
          static_cast<uint32_t>(which), layer);
  kernels::col_sumsq(ctx, rec, {x, Tensor::of(a.sums, Shape{a.K}, DType::F32)});
  a.rows += x.shape[0];
}

void ActivationStats::record_head(Context& ctx, Recorder& rec, const Tensor& x) {
  if (!head_) return;
  Acc& a = accs_.back();
  require(a.ctx == &ctx, ErrorCode::InvalidArgument,
          "activation stats: the head's accumulator is on another device");
  kernels::col_sumsq(ctx, rec, {x, Tensor::of(a.sums, Shape{a.K}, DType::F32)});
  a.rows += x.shape[0];
}

std::vector<std::pair<std::string, ImatrixEntry>> ActivationStats::read() const {
  std::vector<std::pair<std::string, ImatrixEntry>> out;
  for (const Acc& a : accs_) {
    if (!a.sums) continue;
    ImatrixEntry e;
    e.K = a.K;
    e.sums.resize(a.K);
    a.ctx->staging().download(a.sums, std::span<float>(e.sums));
    e.counts = {static_cast<double>(a.rows)};
    for (const std::string& name : a.names) out.emplace_back(name, e);
  }
  return out;
}

}  // namespace vkr
