// c_api_fixture.hpp: one C-API context + model + session per test suite (loading once keeps the
// suites fast), and helpers to assert a call failed with a given code and message.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/gpu_env.hpp"
#include "vkrwkv.h"

namespace vkr::test {

inline const std::string kCapiModel = std::string(VKR_SHARED_DIR) + "/refmodels/tiny-qrwkv6-f16.gguf";

// Expects rc == code and the thread's last error to contain `needle`.
inline void expect_error(long long rc, int code, const std::string& needle) {
  EXPECT_EQ(rc, code) << vkrwkv_last_error();
  const std::string msg = vkrwkv_last_error();
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nwanted: " << needle;
}

class CapiTest : public GpuTest {
 protected:
  static void SetUpTestSuite() {
    if (!gpu_context()) return;
    ASSERT_EQ(vkrwkv_context_create(-1, &ctx_), 0) << vkrwkv_last_error();
    ASSERT_EQ(vkrwkv_model_load(ctx_, kCapiModel.c_str(), &model_), 0) << vkrwkv_last_error();
    ASSERT_EQ(vkrwkv_session_create(model_, 2, &session_), 0) << vkrwkv_last_error();
  }
  static void TearDownTestSuite() {
    vkrwkv_session_free(session_);
    vkrwkv_model_free(model_);
    vkrwkv_context_destroy(ctx_);
    session_ = nullptr;
    model_ = nullptr;
    ctx_ = nullptr;
  }
  static std::vector<float> eval(int slot, const std::vector<int32_t>& ids) {
    std::vector<float> logits(static_cast<size_t>(vkrwkv_model_n_vocab(model_)));
    EXPECT_EQ(vkrwkv_session_eval(session_, slot, ids.data(), static_cast<int>(ids.size()),
                                  logits.data()),
              0)
        << vkrwkv_last_error();
    return logits;
  }

  static inline vkrwkv_context* ctx_ = nullptr;
  static inline vkrwkv_model* model_ = nullptr;
  static inline vkrwkv_session* session_ = nullptr;
};

}  // namespace vkr::test
