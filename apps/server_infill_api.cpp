// server_infill_api.cpp: see server_infill_api.hpp.
#include "server_infill_api.hpp"

#include <fmt/format.h>

#include "json_fields.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using json_fields::bad;
using json_fields::field;
using nlohmann::json;
using nlohmann::ordered_json;

std::string text_field(const json& o, const char* key, const std::string& name,
                       const std::string& fallback) {
  const json* v = field(o, key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_string()) bad(name, "must be a string");
  return v->get<std::string>();
}

}  // namespace

std::optional<FimTokens> find_fim_tokens(const Tokenizer& tok) {
  // Only special tokens count: an ordinary token spelling "<|fim_prefix|>" is text.
  auto special = [&](std::string_view text) -> std::optional<int32_t> {
    const auto id = tok.find_token(text);
    if (!id || tok.token_type(*id) == TokenType::Normal) return std::nullopt;
    return id;
  };
  const auto pre = special("<|fim_prefix|>"), suf = special("<|fim_suffix|>"),
             mid = special("<|fim_middle|>");
  if (!pre || !suf || !mid) return std::nullopt;
  return FimTokens{*pre, *suf, *mid, special("<|repo_name|>"), special("<|file_sep|>")};
}

InfillInput parse_infill_input(std::string_view body_text) {
  const json body = parse_object(body_text);
  InfillInput in;
  in.prefix = text_field(body, "input_prefix", "input_prefix", "");
  in.suffix = text_field(body, "input_suffix", "input_suffix", "");
  if (const json* p = field(body, "prompt"); p && !p->is_string()) {
    bad("prompt", "must be a string (the text typed after input_prefix)");
  }
  in.prompt = text_field(body, "prompt", "prompt", "");
  if (const json* extra = field(body, "input_extra")) {
    if (!extra->is_array()) bad("input_extra", "must be an array of {filename, text}");
    for (size_t i = 0; i < extra->size(); ++i) {
      const json& chunk = (*extra)[i];
      const std::string at = fmt::format("input_extra[{}]", i);
      if (!chunk.is_object()) bad(at, "must be an object {filename, text}");
      const json* t = field(chunk, "text");
      if (!t || !t->is_string()) bad(at + ".text", "must be a string");
      in.extra.emplace_back(text_field(chunk, "filename", at + ".filename", "tmp"),
                            t->get<std::string>());
    }
  }
  return in;
}

std::vector<int32_t> infill_prompt(const InfillInput& in, const Tokenizer& tok,
                                   const FimTokens& fim) {
  std::vector<int32_t> ids;
  auto text = [&](std::string_view t) {
    const auto piece = tok.encode(t, /*parse_special=*/false);  // code may spell "<|...|>"
    ids.insert(ids.end(), piece.begin(), piece.end());
  };
  if (fim.repo) {
    ids.push_back(*fim.repo);
    text("myproject\n");
  }
  for (const auto& [filename, body] : in.extra) {
    if (fim.file_sep) {
      ids.push_back(*fim.file_sep);
      text(filename + "\n");
    } else {
      text("\n\n--- snippet ---\n\n");
    }
    text(body);
  }
  if (fim.file_sep) {
    ids.push_back(*fim.file_sep);
    text("filename\n");
  }
  ids.push_back(fim.prefix);
  text(in.prefix);
  text(in.prompt);
  ids.push_back(fim.suffix);
  text(in.suffix);
  ids.push_back(fim.middle);
  return ids;
}

NativeRequest parse_infill_request(std::string_view body_text, const RequestDefaults& d,
                                   const Tokenizer& tok) {
  const InfillInput in = parse_infill_input(body_text);
  const auto fim = find_fim_tokens(tok);
  require(fim.has_value(), ErrorCode::InvalidArgument,
          "/infill: the model's vocabulary has no fill-in-the-middle tokens (<|fim_prefix|>, "
          "<|fim_suffix|>, <|fim_middle|>); use /completion");
  // /completion's parser on the rest, its prompt replaced by the FIM prompt's ids.
  auto rest = ordered_json::parse(body_text);
  for (const char* k : {"input_prefix", "input_suffix", "input_extra", "prompt"}) rest.erase(k);
  rest["prompt"] = infill_prompt(in, tok, *fim);
  NativeRequest q = parse_native_request(rest.dump(), d);
  return q;
}

}  // namespace vkr::cli
