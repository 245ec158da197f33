// c_api_impl.hpp (internal): the opaque handles behind vkrwkv.h and the exception barrier every
// C entry point goes through.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model.hpp"
#include "sampler.hpp"
#include "session.hpp"
#include "token_constraint.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkrwkv.h"

// Each handle shares ownership of what it runs on, so the C handles can be freed in any order:
// the Vulkan context lives until its last model and session are gone. Members are declared
// outermost first, so they are destroyed innermost first.
struct vkrwkv_context {
  std::shared_ptr<vkr::Context> ctx;
};

struct vkrwkv_model {
  std::vector<std::shared_ptr<vkr::Context>> ctx;  // one per part (a split model has several)
  std::shared_ptr<vkr::Model> model;
};

struct vkrwkv_session {
  std::vector<std::shared_ptr<vkr::Context>> ctx;
  std::shared_ptr<vkr::Model> model;
  std::unique_ptr<vkr::Session> session;
};

struct vkrwkv_sampler {
  vkr::Sampler sampler;
  std::shared_ptr<vkr::Model> constraint_model;      // keeps the tokenizer of `constraint` alive
  std::unique_ptr<vkr::TokenConstraint> constraint;  // JSON object or grammar
};

namespace vkr::capi {

// Sets this thread's last error and returns its code.
int set_error(int code, std::string message);
void clear_error();
int code_of(ErrorCode code);

// Runs `body` (returning int or long long >= 0); any exception becomes a negative code plus the
// message, so nothing escapes into C.
template <typename F>
auto guard(const char* fn, F&& body) -> decltype(body()) {
  try {
    clear_error();
    return body();
  } catch (const Error& e) {
    // Messages that already start with the function's name (argument checks) keep one.
    const std::string prefix = std::string(fn) + ": ";
    const std::string& m = e.message();
    return set_error(code_of(e.code()), m.starts_with(prefix) ? m : prefix + m);
  } catch (const std::bad_alloc&) {
    return set_error(VKRWKV_ERROR_OUT_OF_MEMORY, std::string(fn) + ": out of host memory");
  } catch (const std::exception& e) {
    return set_error(VKRWKV_ERROR_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return set_error(VKRWKV_ERROR_INTERNAL, std::string(fn) + ": unknown exception");
  }
}

// Throws InvalidArgument naming the null argument.
inline void need(const void* p, const char* fn, const char* what) {
  require(p != nullptr, ErrorCode::InvalidArgument, "{}: {} is NULL", fn, what);
}

}  // namespace vkr::capi
