// state.hpp: StateStore, the recurrent state of n slots (independent sequences) on the GPU.
//
// Layout (f32, one buffer per layer and kind so every binding stays small):
//   att_shift[l]: (slots, C)        last normalized time-mix input of each slot (spec §4)
//   ffn_shift[l]: (slots, C)        RWKV-6 only: last normalized channel-mix input
//   wkv[l]:       (slots, H, S, S)  [slot][h][i][j], i = key row, j = value column (spec §3.4),
//                                   the official BlinkDL orientation; H = query heads for QRWKV6
// A fresh slot is all zeros. Host copies of a slot (save/load) concatenate, per layer, att_shift,
// ffn_shift (RWKV-6) and wkv rows of that slot in this order. A model split over devices keeps
// each layer's state on the device of that layer; the host copies are the same bytes either way,
// so a state saved on one device loads on a split model and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config.hpp"
#include "vkr/buffer.hpp"
#include "vkr/tensor.hpp"

namespace vkr {

class Model;

class StateStore {
 public:
  StateStore(Context& ctx, const ModelConfig& config, uint32_t slots, uint64_t fingerprint);
  // Each layer's state on the device running it (Model::part_of_layer).
  StateStore(const Model& model, uint32_t slots);

  uint32_t slots() const { return slots_; }
  // Views of slots [first, first + count) of layer l.
  Tensor att_shift(uint32_t layer, uint32_t first, uint32_t count) const;
  Tensor ffn_shift(uint32_t layer, uint32_t first, uint32_t count) const;
  Tensor wkv(uint32_t layer, uint32_t first, uint32_t count) const;

  void reset(uint32_t slot);
  void copy(uint32_t from, uint32_t to);
  uint64_t bytes_per_slot() const;
  std::vector<std::byte> save(uint32_t slot) const;
  // Bytes of the wrong size, or holding a NaN or inf, are refused (InvalidArgument).
  void load(uint32_t slot, std::span<const std::byte> bytes);
  // State files: a versioned header with the model fingerprint, save()'s bytes, then `tokens`:
  // the ids the state has read, so a server can tell which prompts it continues (empty: not
  // recorded). Loading a file made for another model (or truncated, longer than its header says,
  // holding a NaN or inf, or not a state file) is a clear error. load_file() returns the ids
  // (none from a version-1 file, written before they were recorded).
  void save_file(uint32_t slot, const std::filesystem::path& path,
                 std::span<const int32_t> tokens = {}) const;
  std::vector<int32_t> load_file(uint32_t slot, const std::filesystem::path& path);

 private:
  void check_slot(uint32_t slot, const char* what) const;
  // Byte ranges of one slot, in save() order.
  struct SlotPart {
    Context* ctx;
    const Buffer* buffer;
    VkDeviceSize offset, size;
  };
  std::vector<SlotPart> slot_parts(uint32_t slot) const;
  // Where a state's bytes hold a NaN or inf, if anywhere ("layer 3 wkv value #17 (byte 1234 of
  // the state) is nan").
  std::optional<std::string> first_non_finite(std::span<const std::byte> bytes) const;
  void upload(uint32_t slot, std::span<const std::byte> bytes);  // checked by the caller
  // The distinct devices holding state, in layer order.
  std::vector<Context*> devices() const;
  void allocate();

  std::vector<Context*> layer_ctx_;  // the device of each layer
  ModelConfig config_;
  uint32_t slots_;
  uint64_t fingerprint_;
  std::vector<Buffer> att_, ffn_, wkv_;
};

}  // namespace vkr
