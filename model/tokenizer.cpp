// Tokenizer common part: vocabulary validation, algorithm choice, special-token splitting,
// decoding and the UTF-8-safe streaming decoder.
#include "tokenizer.hpp"

#include <algorithm>
#include <array>
#include <vkr/error.hpp>

#include "tokenizer_detail.hpp"

namespace vkr {

namespace {

// CONTROL tokens whose text marks the end of a turn or text. llama.cpp keeps a longer list of this
// kind; these are the spellings our two vocabularies (and the common chat formats) use.
// (Qwen's fill-in-the-middle pad and file separators end a middle as llama.cpp's vocabularies
// treat them.)
constexpr std::array<std::string_view, 10> kEogTexts = {
    "<|endoftext|>",   "<|im_end|>",    "<|eot_id|>",  "<|end|>",       "<|eom_id|>",
    "<|end_of_text|>", "<end_of_turn>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
};

std::vector<TokenType> checked_types(const TokenizerVocab& vocab) {
  require(!vocab.tokens.empty(), ErrorCode::BadModelFile, "tokenizer.ggml.tokens is empty");
  std::vector<TokenType> types(vocab.tokens.size(), TokenType::Normal);
  if (vocab.token_types.empty()) return types;
  require(vocab.token_types.size() == vocab.tokens.size(), ErrorCode::BadModelFile,
          "tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}",
          vocab.token_types.size(), vocab.tokens.size());
  for (size_t i = 0; i < types.size(); ++i) {
    const int32_t t = vocab.token_types[i];
    require(t >= 0 && t <= static_cast<int32_t>(TokenType::Byte), ErrorCode::BadModelFile,
            "tokenizer.ggml.token_type[{}] = {} is not a known token type (0..6)", i, t);
    types[i] = static_cast<TokenType>(t);
  }
  return types;
}

// Splits `text` at occurrences of special tokens; raw pieces keep id -1.
struct Fragment {
  std::string_view text;
  int32_t id;
};

void split_on(std::vector<Fragment>& frags, std::string_view needle, int32_t id,
              std::vector<Fragment>& scratch) {
  scratch.clear();
  for (const Fragment& f : frags) {
    if (f.id >= 0) {
      scratch.push_back(f);
      continue;
    }
    size_t pos = 0;
    for (size_t hit; (hit = f.text.find(needle, pos)) != std::string_view::npos;
         pos = hit + needle.size()) {
      if (hit > pos) scratch.push_back({f.text.substr(pos, hit - pos), -1});
      scratch.push_back({needle, id});
    }
    if (pos < f.text.size()) scratch.push_back({f.text.substr(pos), -1});
  }
  frags.swap(scratch);
}

// How the UTF-8 sequence starting at s[i] looks (Unicode Table 3-7 well-formed sequences).
struct Utf8Step {
  enum Kind { Valid, Truncated, Invalid } kind;
  size_t len;  // Valid: sequence length; Truncated: bytes left; Invalid: maximal subpart length
};

Utf8Step utf8_step(std::string_view s, size_t i) {
  const auto b = static_cast<uint8_t>(s[i]);
  if (b < 0x80) return {Utf8Step::Valid, 1};
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // range of the first continuation byte
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;  // no overlongs
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;  // no overlongs
    if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Utf8Step::Invalid, 1};
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return {Utf8Step::Truncated, k};
    const auto c = static_cast<uint8_t>(s[i + k]);
    if (c < lo || c > hi) return {Utf8Step::Invalid, k};
    lo = 0x80;
    hi = 0xBF;
  }
  return {Utf8Step::Valid, need + 1};
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string sanitize_utf8(std::string_view bytes, bool keep_incomplete_tail, size_t* tail_len) {
  std::string out;
  out.reserve(bytes.size());
  if (tail_len != nullptr) *tail_len = 0;
  size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Step step = utf8_step(bytes, i);
    if (step.kind == Utf8Step::Valid) {
      out.append(bytes.substr(i, step.len));
    } else if (step.kind == Utf8Step::Truncated && keep_incomplete_tail) {
      if (tail_len != nullptr) *tail_len = step.len;
      break;
    } else {
      out.append(kReplacement);
    }
    i += step.len;
  }
  return out;
}

Tokenizer::Tokenizer(const TokenizerVocab& vocab) : model_name_(vocab.model) {
  types_ = checked_types(vocab);
  bytes_.resize(vocab.tokens.size());
  if (vocab.model == "gpt2") {
    model_ = detail::make_bpe_model(vocab, types_, bytes_);
  } else if (vocab.model == "rwkv") {
    model_ = detail::make_world_model(vocab, types_, bytes_);
  } else {
    throw Error(ErrorCode::BadModelFile,
                fmt::format("tokenizer.ggml.model = '{}' is not supported (expected 'gpt2' or "
                            "'rwkv')",
                            printable(vocab.model)));
  }
  // Special tokens are stored as plain text in both formats; unused slots stand for nothing.
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (types_[i] == TokenType::Control || types_[i] == TokenType::UserDefined) {
      bytes_[i] = vocab.tokens[i];
    }
  }
  validate_special_ids(vocab);
  bos_id_ = vocab.bos_id;
  eos_id_ = vocab.eos_id;
  eot_id_ = vocab.eot_id;
  collect_special_tokens();
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

void Tokenizer::validate_special_ids(const TokenizerVocab& vocab) const {
  const std::array<std::pair<std::string_view, std::optional<int32_t>>, 4> ids = {{
      {"bos", vocab.bos_id},
      {"eos", vocab.eos_id},
      {"eot", vocab.eot_id},
      {"padding", vocab.pad_id},
  }};
  for (const auto& [name, id] : ids) {
    require(!id || (*id >= 0 && *id < n_vocab()), ErrorCode::BadModelFile,
            "tokenizer.ggml.{}_token_id = {} is outside the vocabulary ({} tokens)", name,
            id.value_or(0), n_vocab());
  }
}

void Tokenizer::collect_special_tokens() {
  for (int32_t id = 0; id < n_vocab(); ++id) {
    const TokenType t = types_[id];
    if ((t == TokenType::Control || t == TokenType::UserDefined) && !bytes_[id].empty()) {
      specials_.push_back(id);
    }
  }
  // Longest first, so "<|im_start|>" wins over any shorter special token that is its prefix
  // (llama.cpp's order; ties by id keep it deterministic).
  std::stable_sort(specials_.begin(), specials_.end(),
                   [this](int32_t a, int32_t b) { return bytes_[a].size() > bytes_[b].size(); });
  // Special tokens first so that find_token() prefers them over an ordinary token with the same
  // bytes; emplace keeps the first id seen.
  for (int32_t id : specials_) by_bytes_.emplace(bytes_[id], id);
  for (int32_t id = 0; id < n_vocab(); ++id) {
    if (!bytes_[id].empty()) by_bytes_.emplace(bytes_[id], id);
  }
  for (auto id : {eos_id_, eot_id_}) {
    if (id) eog_ids_.push_back(*id);
  }
  for (int32_t id : specials_) {
    if (types_[id] == TokenType::Control &&
        std::find(kEogTexts.begin(), kEogTexts.end(), bytes_[id]) != kEogTexts.end()) {
      eog_ids_.push_back(id);
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  std::vector<Fragment> frags{{text, -1}};
  std::vector<Fragment> scratch;
  for (int32_t id : specials_) {
    // CONTROL text is only a token when the caller asks for it (chat templates); USER_DEFINED
    // tokens such as "<tool_call>" are always whole tokens, as in llama.cpp and HF.
    if (!parse_special && types_[id] == TokenType::Control) continue;
    if (text.find(bytes_[id]) == std::string_view::npos) continue;
    split_on(frags, bytes_[id], id, scratch);
  }
  for (const Fragment& f : frags) {
    if (f.id >= 0) {
      out.push_back(f.id);
    } else {
      model_->encode(f.text, out);
    }
  }
  return out;
}

TokenType Tokenizer::token_type(int32_t id) const {
  require(id >= 0 && id < n_vocab(), ErrorCode::InvalidArgument,
          "token id {} is outside the vocabulary ({} tokens)", id, n_vocab());
  return types_[id];
}

const std::vector<int32_t>& Tokenizer::ids_by_bytes() const {
  std::call_once(byte_order_->once, [this] {
    auto& ids = byte_order_->ids;
    ids.resize(bytes_.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::sort(ids.begin(), ids.end(), [this](int32_t a, int32_t b) {
      return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)];
    });
  });
  return byte_order_->ids;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  token_type(id);  // range check
  return bytes_[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (!render_special && token_type(id) == TokenType::Control) continue;
    out += token_bytes(id);
  }
  return out;
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  const auto it = by_bytes_.find(text);
  if (it == by_bytes_.end()) return std::nullopt;
  return it->second;
}

std::string StreamDecoder::push(int32_t id) {
  if (!render_special_ && tokenizer_->is_control(id)) return {};
  pending_ += tokenizer_->token_bytes(id);
  size_t tail = 0;
  std::string out = sanitize_utf8(pending_, /*keep_incomplete_tail=*/true, &tail);
  pending_.erase(0, pending_.size() - tail);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace vkr
