// default_model_test.hpp: a fixture with the bundled default model, loaded once per suite and
// released before the shared context is (gpu_main.cpp), for the serve and scheduler tests.
#pragma once

#include <memory>

#include "model.hpp"
#include "support/default_model.hpp"
#include "support/gpu_env.hpp"
#include "tokenizer.hpp"

namespace vkr::test {

class DefaultModelTest : public GpuTest {
 protected:
  static Model& model() {
    if (!model_) model_ = Model::load(*gpu_context(), kDefaultModelDir / kDefaultModelFile);
    return *model_;
  }
  static const Tokenizer& tok() { return *model().tokenizer(); }
  static void TearDownTestSuite() { model_.reset(); }

 private:
  static inline std::unique_ptr<Model> model_;
};

}  // namespace vkr::test
