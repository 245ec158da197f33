// c_api_session.cpp: vkrwkv.h sessions: eval, state save/load, and recording a forward pass into a
// host command buffer.
#include <algorithm>
#include <cstring>
#include <span>

#include "c_api_impl.hpp"

using namespace vkr;
using capi::guard;
using capi::need;

namespace {

Session& session_of(const vkrwkv_session* s, const char* fn) {
  need(s, fn, "session");
  return *s->session;
}

uint32_t checked_slot(Session& s, int slot, const char* fn) {
  require(slot >= 0 && static_cast<uint32_t>(slot) < s.state().slots(), ErrorCode::InvalidArgument,
          "{}: slot {} out of range (the session has {} slots)", fn, slot, s.state().slots());
  return static_cast<uint32_t>(slot);
}

std::span<const int32_t> checked_ids(const int32_t* ids, int n_ids, const char* fn) {
  need(ids, fn, "ids");
  require(n_ids > 0, ErrorCode::InvalidArgument, "{}: n_ids is {}, at least 1 is needed", fn,
          n_ids);
  return {ids, static_cast<size_t>(n_ids)};
}

void checked_state_size(Session& s, long long size, const char* fn) {
  const auto want = static_cast<long long>(s.state().bytes_per_slot());
  require(size == want, ErrorCode::InvalidArgument,
          "{}: state buffer is {} bytes, this model's state is {} bytes (vkrwkv_state_size)", fn,
          size, want);
}

vkrwkv_forward_io to_c(const ForwardIO& io) {
  vkrwkv_forward_io out{};
  out.ids_buffer = io.ids.buffer;
  out.ids_offset = io.ids.offset;
  out.ids_size = io.ids.size;
  out.ids_mapped = io.ids_mapped;
  out.logits_buffer = io.logits.buffer;
  out.logits_offset = io.logits.offset;
  out.logits_size = io.logits.size;
  return out;
}

}  // namespace

extern "C" {

int vkrwkv_session_create(vkrwkv_model* model, int n_slots, vkrwkv_session** out) {
  return guard(__func__, [&, fn = __func__] {
    need(out, fn, "out");
    *out = nullptr;
    need(model, fn, "model");
    require(n_slots >= 1, ErrorCode::InvalidArgument, "{}: n_slots is {}, at least 1 is needed", fn,
            n_slots);
    auto h = std::make_unique<vkrwkv_session>();
    h->ctx = model->ctx;
    h->model = model->model;
    h->session = std::make_unique<Session>(*model->model, static_cast<uint32_t>(n_slots));
    *out = h.release();
    return 0;
  });
}

void vkrwkv_session_free(vkrwkv_session* s) {
  guard(__func__, [&, fn = __func__] {
    delete s;
    return 0;
  });
}

int vkrwkv_session_eval(vkrwkv_session* s, int slot, const int32_t* ids, int n_ids, float* logits) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    auto in = checked_ids(ids, n_ids, fn);
    if (!logits) {  // nothing to read back: the argmax path downloads 4 bytes instead of V floats
      se.eval_argmax(sl, in);
      return 0;
    }
    auto out = se.eval(sl, in);
    std::memcpy(logits, out.data(), out.size() * sizeof(float));
    return 0;
  });
}

int vkrwkv_session_eval_hidden(vkrwkv_session* s, int slot, const int32_t* ids, int n_ids,
                               float* hidden) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    auto in = checked_ids(ids, n_ids, fn);
    need(hidden, fn, "hidden");
    auto out = se.eval_hidden(sl, in);
    std::memcpy(hidden, out.data(), out.size() * sizeof(float));
    return 0;
  });
}

int vkrwkv_session_eval_greedy(vkrwkv_session* s, int slot, const int32_t* ids, int n_ids) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    return static_cast<int>(se.eval_argmax(sl, checked_ids(ids, n_ids, fn)));
  });
}

int vkrwkv_session_reset(vkrwkv_session* s, int slot) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    se.state().reset(checked_slot(se, slot, fn));
    return 0;
  });
}

long long vkrwkv_state_size(const vkrwkv_session* s) {
  return guard(__func__, [&, fn = __func__]() -> long long {
    return static_cast<long long>(session_of(s, fn).state().bytes_per_slot());
  });
}

int vkrwkv_state_save(const vkrwkv_session* s, int slot, void* buf, long long size) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    need(buf, fn, "buf");
    checked_state_size(se, size, fn);
    auto bytes = se.state().save(sl);
    std::memcpy(buf, bytes.data(), bytes.size());
    return 0;
  });
}

int vkrwkv_state_load(vkrwkv_session* s, int slot, const void* buf, long long size) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    need(buf, fn, "buf");
    checked_state_size(se, size, fn);
    se.state().load(sl, {static_cast<const std::byte*>(buf), static_cast<size_t>(size)});
    return 0;
  });
}

int vkrwkv_state_save_file(const vkrwkv_session* s, int slot, const char* path,
                           const int32_t* tokens, long long n_tokens) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    need(path, fn, "path");
    require(n_tokens >= 0, ErrorCode::InvalidArgument, "{}: n_tokens {} is negative", fn, n_tokens);
    if (n_tokens > 0) need(tokens, fn, "tokens");
    se.state().save_file(sl, path, {tokens, static_cast<size_t>(n_tokens)});
    return 0;
  });
}

long long vkrwkv_state_load_file(vkrwkv_session* s, int slot, const char* path, int32_t* tokens,
                                 long long capacity) {
  return guard(__func__, [&, fn = __func__]() -> long long {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    need(path, fn, "path");
    require(capacity >= 0, ErrorCode::InvalidArgument, "{}: capacity {} is negative", fn, capacity);
    if (capacity > 0) need(tokens, fn, "tokens");
    const auto ids = se.state().load_file(sl, path);
    std::copy_n(ids.begin(), std::min<size_t>(ids.size(), static_cast<size_t>(capacity)), tokens);
    return static_cast<long long>(ids.size());
  });
}

int vkrwkv_state_copy(vkrwkv_session* s, int from_slot, int to_slot) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t from = checked_slot(se, from_slot, fn);
    se.state().copy(from, checked_slot(se, to_slot, fn));
    return 0;
  });
}

int vkrwkv_session_decode_batch(vkrwkv_session* s, int first_slot, const int32_t* ids, int n,
                                float* logits) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t first = checked_slot(se, first_slot, fn);
    auto in = checked_ids(ids, n, fn);
    need(logits, fn, "logits");
    require(first + in.size() <= se.state().slots(), ErrorCode::InvalidArgument,
            "{}: slots {}..{} out of range (the session has {} slots)", fn, first,
            first + in.size() - 1, se.state().slots());
    require(in.size() <= se.max_batch(), ErrorCode::InvalidArgument,
            "{}: n is {}, at most {} sequences per call (vkrwkv_session_max_batch)", fn, n,
            se.max_batch());
    auto out = se.decode_batch(first, in);
    std::memcpy(logits, out.data(), out.size() * sizeof(float));
    return 0;
  });
}

int vkrwkv_session_max_batch(const vkrwkv_session* s) {
  return guard(__func__,
               [&, fn = __func__] { return static_cast<int>(session_of(s, fn).max_batch()); });
}

int vkrwkv_session_max_tokens(const vkrwkv_session* s) {
  return guard(__func__, [&, fn = __func__] { return static_cast<int>(session_of(s, fn).rows()); });
}

int vkrwkv_session_forward_io(const vkrwkv_session* s, int n_tokens, vkrwkv_forward_io* out) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    need(out, fn, "out");
    require(n_tokens > 0, ErrorCode::InvalidArgument, "{}: n_tokens is {}", fn, n_tokens);
    *out = to_c(se.io(static_cast<uint32_t>(n_tokens)));
    return 0;
  });
}

int vkrwkv_session_record_forward(vkrwkv_session* s, int slot, int n_tokens, VkCommandBuffer cb,
                                  vkrwkv_forward_io* out) {
  return guard(__func__, [&, fn = __func__] {
    Session& se = session_of(s, fn);
    const uint32_t sl = checked_slot(se, slot, fn);
    need(cb, fn, "cb");
    require(n_tokens > 0, ErrorCode::InvalidArgument, "{}: n_tokens is {}", fn, n_tokens);
    ForwardIO io = se.record_into(cb, sl, static_cast<uint32_t>(n_tokens));
    if (out) *out = to_c(io);
    return 0;
  });
}

}  // extern "C"
