// sampling_options.cpp: see sampling_options.hpp. Flag names are llama-cli's.
#include "sampling_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "ngram_draft.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

// llama-cli's -l form: ID+BIAS or ID-BIAS (BIAS may be inf).
LogitBias parse_bias_flag(const std::string& s) {
  const size_t sign = s.find_first_of("+-", 1);
  int32_t id = -1;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + (sign == std::string::npos ? s.size() : sign), id);
  float bias = 0.0f;
  bool ok = sign != std::string::npos && ec == std::errc() && end == s.data() + sign && id >= 0;
  if (ok) {
    const std::string tail = s.substr(sign + 1);
    char* stop = nullptr;
    bias = std::strtof(tail.c_str(), &stop);
    ok = !tail.empty() && stop == tail.c_str() + tail.size() && !std::isnan(bias);
    if (s[sign] == '-') bias = -bias;
  }
  require(ok, ErrorCode::InvalidArgument,
          "--logit-bias '{}': expected TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043+1, 2-inf)", s);
  return {id, bias};
}

// A flag's bad value as CLI11's error (its message and exit code, like any other bad flag).
template <class F>
auto as_flag_error(F f) {
  return [f](const auto& v) {
    try {
      f(v);
    } catch (const Error& e) {
      throw CLI::ValidationError(e.message());
    }
  };
}

}  // namespace

void add_sampler_flags(CLI::App* sub, SamplerParams& p, SamplingExtras& x) {
  sub->add_option("--typical", p.typical_p, "Locally typical sampling, mass kept (1: off)");
  sub->add_option("--top-nsigma", p.top_n_sigma,
                  "Keep logits within N standard deviations of the top one (<= 0: off)");
  sub->add_option("--xtc-probability", p.xtc_probability,
                  "XTC: how often the most likely ids are excluded (0: off)");
  sub->add_option("--xtc-threshold", p.xtc_threshold,
                  "XTC: ids with at least this probability are excluded but the least of them");
  sub->add_option("--dynatemp-range", p.dynatemp_range,
                  "Dynamic temperature: temp +- range by the entropy (0: off)");
  sub->add_option("--dynatemp-exp", p.dynatemp_exponent, "Dynamic temperature exponent");
  sub->add_option("--min-keep", p.min_keep, "Ids top-p, min-p, typical and XTC always keep");
  sub->add_option("--dry-multiplier", p.dry_multiplier,
                  "DRY: penalty for extending a repetition (0: off; 0.8 is usual)");
  sub->add_option("--dry-base", p.dry_base, "DRY: penalty growth per repeated token");
  sub->add_option("--dry-allowed-length", p.dry_allowed_length, "DRY: repeats this long are free");
  sub->add_option("--dry-penalty-last-n", p.dry_penalty_last_n,
                  "DRY: tokens looked back on (-1: all, 0: off)");
  sub->add_option_function<std::vector<std::string>>(
      "--dry-sequence-breaker",
      [&p](const std::vector<std::string>& v) {
        p.dry_sequence_breakers.clear();  // given ones replace the defaults ("none": no breaker)
        for (const auto& s : v)
          if (s != "none") p.dry_sequence_breakers.push_back(s);
      },
      "DRY: a repetition never reaches back across this text (repeatable; default \\n : \" *; "
      "'none': no breakers)");
  sub->add_option("--mirostat", p.mirostat, "Mirostat 1 or 2 instead of the chain (0: off)");
  sub->add_option("--mirostat-lr", p.mirostat_eta, "Mirostat learning rate (eta)");
  sub->add_option("--mirostat-ent", p.mirostat_tau, "Mirostat target entropy (tau)");
  auto* names = sub->add_option_function<std::string>(
      "--samplers", as_flag_error([&p](const std::string& s) { p.order = parse_sampler_order(s); }),
      "Chain order, ';'-separated (default: penalties;dry;top_n_sigma;top_k;typ_p;temperature;"
      "top_p;min_p;xtc; llama.cpp's puts temperature last)");
  sub->add_option_function<std::string>(
         "--sampling-seq",
         as_flag_error([&p](const std::string& s) { p.order = parse_sampler_order(s); }),
         "Chain order as letters (e d s k y t p m x, e.g. edskytpmx)")
      ->excludes(names);
  sub->add_option_function<std::vector<std::string>>(
      "-l,--logit-bias", as_flag_error([&p](const std::vector<std::string>& v) {
        for (const auto& s : v) p.logit_bias.push_back(parse_bias_flag(s));
      }),
      "Add BIAS to a token's logit: ID+BIAS or ID-BIAS (ID-inf bans it; repeatable)");
  sub->add_flag("--ignore-eos", x.ignore_eos,
                "Never end the text (the end-of-text ids are banned)");
}

void LookupOptions::validate() const {
  require(ngram_min <= ngram_max, ErrorCode::InvalidArgument,
          "--lookup-ngram-min {} exceeds --lookup-ngram-max {}", ngram_min, ngram_max);
}

CLI::Option* add_lookup_flags(CLI::App* sub, LookupOptions& o, const char* what) {
  auto* lookup =
      sub->add_option(
             "--lookup", o.n,
             fmt::format("Prompt-lookup decoding: guess up to N tokens by finding the text's "
                         "last tokens earlier in the prompt or reply, and check them in one "
                         "call (the same text, faster where the reply repeats its context: "
                         "quotes, edits, summaries){}; 0: off",
                         what))
          ->check(CLI::Range(0, 64));
  sub->add_option("--lookup-ngram-min", o.ngram_min,
                  "--lookup: the fewest last tokens matched to make a guess")
      ->check(CLI::Range(1, NgramDrafter::kMaxNgram));
  sub->add_option("--lookup-ngram-max", o.ngram_max,
                  "--lookup: the most last tokens matched (the longest match is used)")
      ->check(CLI::Range(1, NgramDrafter::kMaxNgram));
  return lookup;
}

}  // namespace vkr::cli
