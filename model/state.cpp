// state.cpp: StateStore allocation, reset/copy, host save/load and versioned state files.
#include "state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "model.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/recorder.hpp"
#include "vkr/staging.hpp"

namespace vkr {

namespace {
constexpr char kMagic[8] = {'V', 'K', 'R', 'S', 'T', 'A', 'T', 'E'};
// Version 2 appends the ids the state has read (u64 count, then i32 ids; 0: not recorded).
// Version 1 files (no ids) still load.
constexpr uint32_t kVersion = 2;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t fingerprint;
  uint64_t payload_bytes;
};
static_assert(sizeof(FileHeader) == 32);
}  // namespace

StateStore::StateStore(Context& ctx, const ModelConfig& config, uint32_t slots,
                       uint64_t fingerprint)
    : layer_ctx_(config.n_layer, &ctx), config_(config), slots_(slots), fingerprint_(fingerprint) {
  allocate();
}

StateStore::StateStore(const Model& model, uint32_t slots)
    : config_(model.config()), slots_(slots), fingerprint_(model.fingerprint()) {
  for (uint32_t l = 0; l < config_.n_layer; ++l) {
    layer_ctx_.push_back(model.part_of_layer(l).ctx);
  }
  allocate();
}

std::vector<Context*> StateStore::devices() const {
  std::vector<Context*> out;
  for (Context* c : layer_ctx_) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

void StateStore::allocate() {
  require(slots_ > 0, ErrorCode::InvalidArgument, "a state store needs at least one slot");
  const uint64_t shift = uint64_t{slots_} * config_.C * sizeof(float);
  const uint64_t wkv = uint64_t{slots_} * config_.H * config_.S * config_.S * sizeof(float);
  for (uint32_t l = 0; l < config_.n_layer; ++l) {
    Context& ctx = *layer_ctx_[l];
    att_.push_back(Buffer::create(ctx, Lifetime::State, shift, MemoryUsage::Device,
                                  fmt::format("state.att_shift.{}", l)));
    if (config_.arch == Arch::Rwkv6) {
      ffn_.push_back(Buffer::create(ctx, Lifetime::State, shift, MemoryUsage::Device,
                                    fmt::format("state.ffn_shift.{}", l)));
    }
    wkv_.push_back(Buffer::create(ctx, Lifetime::State, wkv, MemoryUsage::Device,
                                  fmt::format("state.wkv.{}", l)));
  }
  for (Context* c : devices()) {
    Recorder rec(*c);
    for (uint32_t l = 0; l < config_.n_layer; ++l) {
      if (layer_ctx_[l] != c) continue;
      rec.fill(att_[l].range(), 0);  // sizes are whole floats
      if (!ffn_.empty()) rec.fill(ffn_[l].range(), 0);
      rec.fill(wkv_[l].range(), 0);
    }
    rec.barrier();
    c->queue().submit(rec).wait();
  }
}

void StateStore::check_slot(uint32_t slot, const char* what) const {
  require(slot < slots_, ErrorCode::InvalidArgument, "{}: slot {} out of range (this session has {})",
          what, slot, slots_);
}

Tensor StateStore::att_shift(uint32_t layer, uint32_t first, uint32_t count) const {
  return Tensor::of(att_[layer], Shape{slots_, config_.C}, DType::F32).rows(first, count);
}

Tensor StateStore::ffn_shift(uint32_t layer, uint32_t first, uint32_t count) const {
  require(!ffn_.empty(), ErrorCode::InvalidArgument, "QRWKV6 has no channel-mix shift state");
  return Tensor::of(ffn_[layer], Shape{slots_, config_.C}, DType::F32).rows(first, count);
}

Tensor StateStore::wkv(uint32_t layer, uint32_t first, uint32_t count) const {
  return Tensor::of(wkv_[layer], Shape{slots_, config_.H, config_.S, config_.S}, DType::F32)
      .rows(first, count);
}

std::vector<StateStore::SlotPart> StateStore::slot_parts(uint32_t slot) const {
  std::vector<SlotPart> out;
  const uint64_t shift = uint64_t{config_.C} * sizeof(float);
  const uint64_t wkv = uint64_t{config_.H} * config_.S * config_.S * sizeof(float);
  for (uint32_t l = 0; l < config_.n_layer; ++l) {
    Context* c = layer_ctx_[l];
    out.push_back({c, &att_[l], slot * shift, shift});
    if (!ffn_.empty()) out.push_back({c, &ffn_[l], slot * shift, shift});
    out.push_back({c, &wkv_[l], slot * wkv, wkv});
  }
  return out;
}

uint64_t StateStore::bytes_per_slot() const { return state_bytes_per_sequence(config_); }

void StateStore::reset(uint32_t slot) {
  check_slot(slot, "state reset");
  const auto parts = slot_parts(slot);
  for (Context* c : devices()) {
    Recorder rec(*c);
    for (const auto& p : parts) {
      if (p.ctx == c) rec.fill(p.buffer->range(p.offset, p.size), 0);
    }
    rec.barrier();
    c->queue().submit(rec).wait();
  }
}

void StateStore::copy(uint32_t from, uint32_t to) {
  check_slot(from, "state copy (source)");
  check_slot(to, "state copy (destination)");
  if (from == to) return;
  auto src = slot_parts(from), dst = slot_parts(to);
  for (Context* c : devices()) {  // a layer's two slots are on the same device
    Recorder rec(*c);
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i].ctx != c) continue;
      rec.copy(src[i].buffer->range(src[i].offset, src[i].size),
               dst[i].buffer->range(dst[i].offset, dst[i].size));
    }
    rec.barrier();
    c->queue().submit(rec).wait();
  }
}

std::vector<std::byte> StateStore::save(uint32_t slot) const {
  check_slot(slot, "state save");
  std::vector<std::byte> out(bytes_per_slot());
  size_t at = 0;
  for (const auto& p : slot_parts(slot)) {
    p.ctx->staging().download(*p.buffer, p.offset, std::span(out).subspan(at, p.size));
    at += p.size;
  }
  return out;
}

std::optional<std::string> StateStore::first_non_finite(std::span<const std::byte> bytes) const {
  // A state the model computed is finite (a NaN or inf would have made every later logit NaN),
  // so one that is not comes from a corrupt or foreign file: refuse it here, by name, rather
  // than let it surface tokens later as "every logit is NaN".
  const auto parts = slot_parts(0);
  const bool has_ffn = !ffn_.empty();
  const size_t per_layer = has_ffn ? 3 : 2;
  uint64_t at = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const uint64_t n = parts[i].size / sizeof(float);
    for (uint64_t j = 0; j < n; ++j) {
      float v;
      std::memcpy(&v, bytes.data() + at + j * sizeof(float), sizeof(float));
      if (std::isfinite(v)) continue;
      const size_t kind = i % per_layer;
      const char* name = kind == 0 ? "att_shift" : (has_ffn && kind == 1 ? "ffn_shift" : "wkv");
      return fmt::format("layer {} {} value #{} (byte {} of the state) is {}", i / per_layer, name,
                         j, at + j * sizeof(float), v);
    }
    at += parts[i].size;
  }
  return std::nullopt;
}

void StateStore::load(uint32_t slot, std::span<const std::byte> bytes) {
  check_slot(slot, "state load");
  require(bytes.size() == bytes_per_slot(), ErrorCode::InvalidArgument,
          "state load: {} bytes given, a state of this model is {} bytes", bytes.size(),
          bytes_per_slot());
  const auto bad = first_non_finite(bytes);
  require(!bad, ErrorCode::InvalidArgument, "state load: {}: not a state this model computed",
          bad.value_or(""));
  upload(slot, bytes);
}

void StateStore::upload(uint32_t slot, std::span<const std::byte> bytes) {
  size_t at = 0;
  for (const auto& p : slot_parts(slot)) {
    p.ctx->staging().upload(*p.buffer, p.offset, bytes.subspan(at, p.size));
    at += p.size;
  }
}

void StateStore::save_file(uint32_t slot, const std::filesystem::path& path,
                           std::span<const int32_t> tokens) const {
  auto payload = save(slot);
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.fingerprint = fingerprint_;
  h.payload_bytes = payload.size();
  const uint64_t n_tokens = tokens.size();
  std::ofstream out(path, std::ios::binary);
  require(static_cast<bool>(out), ErrorCode::Io, "{}: cannot open for writing", path.string());
  out.write(reinterpret_cast<const char*>(&h), sizeof(h));
  out.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
  out.write(reinterpret_cast<const char*>(&n_tokens), sizeof(n_tokens));
  out.write(reinterpret_cast<const char*>(tokens.data()),
            static_cast<std::streamsize>(tokens.size_bytes()));
  out.close();
  require(static_cast<bool>(out), ErrorCode::Io, "{}: write failed", path.string());
}

std::vector<int32_t> StateStore::load_file(uint32_t slot, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), ErrorCode::Io, "{}: cannot open state file", path.string());
  FileHeader h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  require(in.gcount() == sizeof(h) && std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0,
          ErrorCode::BadModelFile, "{}: not a vkrwkv state file", path.string());
  require(h.version == 1 || h.version == kVersion, ErrorCode::BadModelFile,
          "{}: state file version {} (this build reads versions 1 to {})", path.string(), h.version,
          kVersion);
  require(h.fingerprint == fingerprint_, ErrorCode::BadModelFile,
          "{}: state was saved for a different model (fingerprint {:016x}, this model {:016x})",
          path.string(), h.fingerprint, fingerprint_);
  require(h.payload_bytes == bytes_per_slot(), ErrorCode::BadModelFile,
          "{}: state holds {} bytes, this model's state is {} bytes", path.string(),
          h.payload_bytes, bytes_per_slot());
  std::vector<std::byte> payload(h.payload_bytes);
  in.read(reinterpret_cast<char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  require(static_cast<uint64_t>(in.gcount()) == h.payload_bytes, ErrorCode::BadModelFile,
          "{}: truncated state file", path.string());
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  uint64_t end = sizeof(h) + h.payload_bytes;
  std::vector<int32_t> tokens;
  if (h.version >= 2) {
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof(n));
    require(in.gcount() == sizeof(n), ErrorCode::BadModelFile,
            "{}: truncated state file (no token count after the state)", path.string());
    end += sizeof(n);
    // Checked against the file's size before allocating: a corrupt count is not a huge vector.
    require(!ec && n <= (size - end) / sizeof(int32_t), ErrorCode::BadModelFile,
            "{}: truncated state file ({} token ids announced, {} bytes left)", path.string(), n,
            size - end);
    tokens.resize(n);
    in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(n * 4));
    require(static_cast<uint64_t>(in.gcount()) == n * 4, ErrorCode::BadModelFile,
            "{}: truncated state file (token ids)", path.string());
    end += n * 4;
    const int64_t vocab = config_.V;
    const auto bad_id =
        std::find_if(tokens.begin(), tokens.end(), [&](int32_t t) { return t < 0 || t >= vocab; });
    require(bad_id == tokens.end(), ErrorCode::BadModelFile,
            "{}: token #{} of the state is {}, outside the vocabulary of {}: the file is corrupt",
            path.string(), bad_id - tokens.begin(), bad_id == tokens.end() ? 0 : *bad_id, vocab);
  }
  require(ec || size == end, ErrorCode::BadModelFile,
          "{}: {} bytes follow the state, which ends at byte {} (a corrupt or concatenated file)",
          path.string(), size - end, end);
  const auto bad = first_non_finite(payload);
  require(!bad, ErrorCode::BadModelFile, "{}: {}: the file is corrupt", path.string(),
          bad.value_or(""));
  upload(slot, payload);
  return tokens;
}

}  // namespace vkr
