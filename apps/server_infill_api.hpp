// server_infill_api.hpp: llama-server's POST /infill (fill-in-the-middle, what code editors'
// completion plugins such as llama.vim and llama.vscode send): the code before the cursor
// ("input_prefix"), after it ("input_suffix"), other files of the project ("input_extra":
// [{filename, text}]) and "prompt" (text typed after the prefix), made into one prompt with the
// vocabulary's FIM tokens; every other field is /completion's. No HTTP here.
//
// The prompt, in the order Qwen2.5-Coder was trained on (and llama-server builds), each text
// tokenized on its own with special-token text left as text:
//   [<|repo_name|> "myproject\n"]  [<|file_sep|> filename "\n" text]...  [<|file_sep|>
//   "filename\n"]
//   <|fim_prefix|> input_prefix prompt <|fim_suffix|> input_suffix <|fim_middle|>
// (the bracketed parts where the vocabulary has those tokens; without <|file_sep|> the extra
// files are joined by a "--- snippet ---" line). The model writes the middle and ends it with an
// end-of-generation token (<|endoftext|>, <|fim_pad|>, <|file_sep|>, <|repo_name|>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server_native_api.hpp"
#include "tokenizer.hpp"

namespace vkr::cli {

// The vocabulary's fill-in-the-middle tokens (Qwen2.5's texts); nullopt when it lacks one of the
// three it needs (prefix, suffix, middle).
struct FimTokens {
  int32_t prefix = -1, suffix = -1, middle = -1;
  std::optional<int32_t> repo, file_sep;
};
std::optional<FimTokens> find_fim_tokens(const Tokenizer& tok);

struct InfillInput {
  std::string prefix, suffix, prompt;
  std::vector<std::pair<std::string, std::string>> extra;  // (filename, text)
};
// The FIM fields of a POST /infill body; ill-typed ones are an Error(InvalidArgument) naming
// them (e.g. "input_extra[1].text").
InfillInput parse_infill_input(std::string_view body);

// The prompt's ids (the layout above).
std::vector<int32_t> infill_prompt(const InfillInput& in, const Tokenizer& tok,
                                   const FimTokens& fim);

// The whole request: /completion's fields with the prompt made of the FIM fields. A vocabulary
// without FIM tokens is an Error(InvalidArgument) saying so.
NativeRequest parse_infill_request(std::string_view body, const RequestDefaults& d,
                                   const Tokenizer& tok);

}  // namespace vkr::cli
