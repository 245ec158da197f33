// Reads the tokenizer.ggml.* keys of a GGUF file into a TokenizerVocab (spec §7.1 / §7.2).
#include <limits>
#include <vkr/error.hpp>

#include "gguf.hpp"
#include "tokenizer.hpp"

namespace vkr {
namespace {

std::vector<std::string> copy_strings(const std::vector<std::string_view>& views) {
  return {views.begin(), views.end()};
}

// Special ids are u32 in files from llama.cpp's converter; some writers use -1 for "none".
std::optional<int32_t> special_id(const gguf::File& file, std::string_view key) {
  const std::optional<int64_t> value = file.get_int(key);
  if (!value || *value < 0) return std::nullopt;
  require(*value <= std::numeric_limits<int32_t>::max(), ErrorCode::BadModelFile,
          "{}: {} = {} is not a valid token id", file.path().string(), key, *value);
  return static_cast<int32_t>(*value);
}

}  // namespace

TokenizerVocab vocab_from_gguf(const gguf::File& file) {
  TokenizerVocab vocab;
  const auto model = file.get_string("tokenizer.ggml.model");
  require(model.has_value(), ErrorCode::BadModelFile, "{}: tokenizer.ggml.model is missing",
          file.path().string());
  vocab.model = std::string(*model);
  vocab.pre = std::string(file.get_string("tokenizer.ggml.pre").value_or(""));

  const auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  require(tokens.has_value(), ErrorCode::BadModelFile, "{}: tokenizer.ggml.tokens is missing",
          file.path().string());
  vocab.tokens = copy_strings(*tokens);

  if (const auto types = file.get_int_array("tokenizer.ggml.token_type")) {
    vocab.token_types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t t = (*types)[i];
      require(t >= 0 && t <= 6, ErrorCode::BadModelFile,
              "{}: tokenizer.ggml.token_type[{}] = {} is not a known token type (0..6)",
              file.path().string(), i, t);
      vocab.token_types.push_back(static_cast<int32_t>(t));
    }
  }
  if (const auto merges = file.get_string_array("tokenizer.ggml.merges")) {
    vocab.merges = copy_strings(*merges);
  }
  vocab.bos_id = special_id(file, "tokenizer.ggml.bos_token_id");
  vocab.eos_id = special_id(file, "tokenizer.ggml.eos_token_id");
  vocab.eot_id = special_id(file, "tokenizer.ggml.eot_token_id");
  vocab.pad_id = special_id(file, "tokenizer.ggml.padding_token_id");
  return vocab;
}

}  // namespace vkr
