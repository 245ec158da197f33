// forward_checks.hpp: checks of a loaded model's forward pass shared by the forward test files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "model.hpp"

namespace vkr::test {

// A gtest parameter name from a GGUF file name ("tiny-qrwkv6-f16.gguf" -> tiny_qrwkv6_f16).
std::string param_name(const ::testing::TestParamInfo<std::string>& p);

// Quiet loading (no progress bar), `max_tokens` tokens per call, two state slots.
LoadOptions quiet(uint32_t max_tokens = 64);

// Every position of both prompts of reference model `file` (../shared/refmodels) within the
// tolerances of its dtype, argmax agreeing where the reference is confident.
void expect_matches_llamacpp(Model& model, const std::string& file);

}  // namespace vkr::test
