// cmd_logits.cpp: `vkrwkv logits` (raw f32 logits of token ids, for comparing implementations).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <span>
#include <sstream>

#include "model_options.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used == word.size() && v >= INT32_MIN && v <= INT32_MAX, ErrorCode::InvalidArgument,
            "--tokens: '{}' is not a token id", word);
    ids.push_back(static_cast<int32_t>(v));
  }
  require(!ids.empty(), ErrorCode::InvalidArgument, "--tokens: no token ids given");
  return ids;
}

}  // namespace

Command add_logits(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand("logits", "Write the logits of token ids as raw little-endian f32");
  auto mo = std::make_shared<ModelOptions>();
  auto tokens = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  add_model_options(sub, common, *mo);
  sub->add_option("--tokens", *tokens, "Token ids, space-separated, e.g. \"1 2 3\"")->required();
  sub->add_option("--out", *out, "Output file: [positions][vocab] f32")->required();
  sub->add_flag("--all", *all, "Logits of every position (default: the last one)");
  return {sub, [&common, mo, tokens, out, all] {
            const auto ids = parse_ids(*tokens);
            auto loaded = load_model(common, *mo);
            Session session(*loaded.model, 1);
            const auto logits = session.eval(0, ids, *all);
            std::ofstream f(*out, std::ios::binary);
            require(static_cast<bool>(f), ErrorCode::Io, "{}: cannot open for writing", *out);
            f.write(reinterpret_cast<const char*>(logits.data()),
                    static_cast<std::streamsize>(logits.size() * sizeof(float)));
            require(static_cast<bool>(f), ErrorCode::Io, "{}: write failed", *out);
            fmt::print(stderr, "wrote {} x {} logits to {}\n", *all ? ids.size() : 1,
                       loaded.model->config().V, *out);
            return 0;
          }};
}

}  // namespace vkr::cli
