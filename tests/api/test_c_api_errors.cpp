// test_c_api_errors.cpp: every C API error path returns a negative code with a message naming the
// problem (nulls, bad device, missing file, bad slot, bad ids, short buffers, wrong state size)
// and never crashes; the last error is per thread.
#include <thread>
#include <vector>

#include "c_api_fixture.hpp"

namespace vkr::test {
namespace {

constexpr int kInvalid = VKRWKV_ERROR_INVALID_ARGUMENT;

TEST(CapiNoDevice, NullArgumentsAreErrors) {
  int32_t id = 1;
  char buf[8];
  float f = 0;
  vkrwkv_forward_io io{};
  expect_error(vkrwkv_context_create(-1, nullptr), kInvalid, "out is NULL");
  vkrwkv_context* c = nullptr;
  expect_error(vkrwkv_context_create_external(nullptr, &c), kInvalid, "dev is NULL");
  EXPECT_EQ(c, nullptr);
  vkrwkv_model* m = nullptr;
  expect_error(vkrwkv_model_load(nullptr, "x.gguf", &m), kInvalid, "ctx is NULL");
  expect_error(vkrwkv_model_n_vocab(nullptr), kInvalid, "model is NULL");
  expect_error(vkrwkv_tokenize(nullptr, "a", &id, 1), kInvalid, "model is NULL");
  expect_error(vkrwkv_token_to_piece(nullptr, 0, buf, 8), kInvalid, "model is NULL");
  vkrwkv_session* s = nullptr;
  expect_error(vkrwkv_session_create(nullptr, 1, &s), kInvalid, "model is NULL");
  expect_error(vkrwkv_session_eval(nullptr, 0, &id, 1, &f), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_eval_greedy(nullptr, 0, &id, 1), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_eval_hidden(nullptr, 0, &id, 1, &f), kInvalid, "session is NULL");
  expect_error(vkrwkv_model_n_embd(nullptr), kInvalid, "model is NULL");
  expect_error(vkrwkv_session_reset(nullptr, 0), kInvalid, "session is NULL");
  expect_error(vkrwkv_state_size(nullptr), kInvalid, "session is NULL");
  expect_error(vkrwkv_state_save(nullptr, 0, buf, 8), kInvalid, "session is NULL");
  expect_error(vkrwkv_state_load(nullptr, 0, buf, 8), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_max_tokens(nullptr), kInvalid, "session is NULL");
  expect_error(vkrwkv_state_copy(nullptr, 0, 1), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_decode_batch(nullptr, 0, &id, 1, &f), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_max_batch(nullptr), kInvalid, "session is NULL");
  expect_error(vkrwkv_sampler_default_params(nullptr), kInvalid, "out is NULL");
  vkrwkv_sampler_params sp{};
  vkrwkv_sampler* smp = nullptr;
  expect_error(vkrwkv_sampler_create(nullptr, &smp), kInvalid, "params is NULL");
  expect_error(vkrwkv_sampler_create(&sp, nullptr), kInvalid, "out is NULL");
  expect_error(vkrwkv_sampler_sample(nullptr, &f, 1), kInvalid, "sampler is NULL");
  expect_error(vkrwkv_sampler_accept(nullptr, 0), kInvalid, "sampler is NULL");
  expect_error(vkrwkv_sampler_reset(nullptr), kInvalid, "sampler is NULL");
  vkrwkv_sampler_free(nullptr);
  expect_error(vkrwkv_session_forward_io(nullptr, 1, &io), kInvalid, "session is NULL");
  expect_error(vkrwkv_session_record_forward(nullptr, 0, 1, VK_NULL_HANDLE, &io), kInvalid,
               "session is NULL");
  expect_error(
      vkrwkv_device_requirements_query(VK_NULL_HANDLE, VK_NULL_HANDLE, nullptr, 0, nullptr),
      kInvalid, "out is NULL");
  vkrwkv_device_requirements req;
  expect_error(vkrwkv_device_requirements_query(VK_NULL_HANDLE, VK_NULL_HANDLE, nullptr, 0, &req),
               kInvalid, "all required");
  vkrwkv_external_device ext{};
  expect_error(vkrwkv_context_create_external(&ext, &c), kInvalid, "are all required");
  // Destroying NULL handles is a no-op.
  vkrwkv_session_free(nullptr);
  vkrwkv_model_free(nullptr);
  vkrwkv_context_destroy(nullptr);
}

TEST(CapiNoDevice, LastErrorIsPerThreadAndClearedBySuccess) {
  expect_error(vkrwkv_model_n_vocab(nullptr), kInvalid, "model is NULL");
  std::string other;
  std::thread([&] { other = vkrwkv_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_NE(std::string(vkrwkv_last_error()), "");
}

class CapiErrors : public CapiTest {};

TEST_F(CapiErrors, BadDeviceIndexAndMissingFile) {
  vkrwkv_context* c = nullptr;
  expect_error(vkrwkv_context_create(-2, &c), kInvalid, "device_index -2");
  expect_error(vkrwkv_context_create(999, &c), kInvalid, "999");
  EXPECT_EQ(c, nullptr);
  vkrwkv_model* m = nullptr;
  expect_error(vkrwkv_model_load(ctx_, "/no/such/model.gguf", &m), VKRWKV_ERROR_IO,
               "/no/such/model.gguf");
  EXPECT_EQ(m, nullptr);
  expect_error(vkrwkv_model_load(ctx_, nullptr, &m), kInvalid, "gguf_path is NULL");
  expect_error(vkrwkv_model_load(ctx_, kCapiModel.c_str(), nullptr), kInvalid, "out is NULL");
}

TEST_F(CapiErrors, BadSlotsAndIds) {
  const int32_t ids[2] = {1, 2};
  std::vector<float> logits(static_cast<size_t>(vkrwkv_model_n_vocab(model_)));
  std::vector<char> state(static_cast<size_t>(vkrwkv_state_size(session_)));
  const auto size = static_cast<long long>(state.size());
  for (int slot : {-1, 2, 1000}) {
    const std::string what = "slot " + std::to_string(slot) + " out of range";
    expect_error(vkrwkv_session_eval(session_, slot, ids, 2, logits.data()), kInvalid, what);
    expect_error(vkrwkv_session_eval_greedy(session_, slot, ids, 2), kInvalid, what);
    expect_error(vkrwkv_session_reset(session_, slot), kInvalid, what);
    expect_error(vkrwkv_state_save(session_, slot, state.data(), size), kInvalid, what);
    expect_error(vkrwkv_state_load(session_, slot, state.data(), size), kInvalid, what);
    expect_error(vkrwkv_session_record_forward(session_, slot, 1, VK_NULL_HANDLE, nullptr),
                 kInvalid, what);
  }
  expect_error(vkrwkv_session_eval(session_, 0, nullptr, 2, logits.data()), kInvalid,
               "ids is NULL");
  expect_error(vkrwkv_session_eval(session_, 0, ids, 0, logits.data()), kInvalid, "n_ids is 0");
  const int32_t bad[1] = {vkrwkv_model_n_vocab(model_)};
  expect_error(vkrwkv_session_eval(session_, 0, bad, 1, logits.data()), kInvalid,
               "outside the vocabulary");
  expect_error(vkrwkv_session_create(model_, 0, nullptr), kInvalid, "out is NULL");
  vkrwkv_session* s = nullptr;
  expect_error(vkrwkv_session_create(model_, 0, &s), kInvalid, "n_slots is 0");
  expect_error(vkrwkv_session_record_forward(session_, 0, 1, VK_NULL_HANDLE, nullptr), kInvalid,
               "cb is NULL");
  vkrwkv_forward_io io{};
  const int too_many = vkrwkv_session_max_tokens(session_) + 1;
  expect_error(vkrwkv_session_forward_io(session_, too_many, &io), kInvalid,
               "1 to " + std::to_string(too_many - 1));
  expect_error(vkrwkv_session_forward_io(session_, 0, &io), kInvalid, "n_tokens is 0");
}

TEST_F(CapiErrors, ShortBuffersAndWrongStateSizes) {
  const char* text = "Hello world, this is a test";
  const int n = vkrwkv_tokenize(model_, text, nullptr, 0);
  ASSERT_GT(n, 1);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  expect_error(vkrwkv_tokenize(model_, text, ids.data(), n - 1), VKRWKV_ERROR_BUFFER_TOO_SMALL,
               std::to_string(n) + " ids do not fit in max_ids = " + std::to_string(n - 1));
  expect_error(vkrwkv_tokenize(model_, text, nullptr, 5), kInvalid, "ids is NULL");
  expect_error(vkrwkv_tokenize(model_, nullptr, ids.data(), n), kInvalid, "utf8 is NULL");
  expect_error(vkrwkv_tokenize(model_, text, ids.data(), -1), kInvalid, "max_ids -1");
  ASSERT_EQ(vkrwkv_tokenize(model_, text, ids.data(), n), n);
  char piece[64];
  const int len = vkrwkv_token_to_piece(model_, ids[1], piece, sizeof(piece));
  ASSERT_GT(len, 0) << vkrwkv_last_error();
  expect_error(vkrwkv_token_to_piece(model_, ids[1], piece, len - 1), VKRWKV_ERROR_BUFFER_TOO_SMALL,
               "buf_size is " + std::to_string(len - 1));
  expect_error(vkrwkv_token_to_piece(model_, ids[1], nullptr, 8), kInvalid, "buf is NULL");
  expect_error(vkrwkv_token_to_piece(model_, -1, piece, 64), kInvalid, "-1");
  const long long size = vkrwkv_state_size(session_);
  std::vector<char> state(static_cast<size_t>(size) + 1);
  for (long long wrong : {size - 1, size + 1, 0LL, -5LL}) {
    const std::string what = "state buffer is " + std::to_string(wrong) + " bytes";
    expect_error(vkrwkv_state_save(session_, 0, state.data(), wrong), kInvalid, what);
    expect_error(vkrwkv_state_load(session_, 0, state.data(), wrong), kInvalid, what);
  }
  expect_error(vkrwkv_state_save(session_, 0, nullptr, size), kInvalid, "buf is NULL");
  expect_error(vkrwkv_state_load(session_, 0, nullptr, size), kInvalid, "buf is NULL");
}

}  // namespace
}  // namespace vkr::test
