// cmd_generate.cpp: `vkrwkv generate`: prompt -> prefill -> sample/decode loop, streamed as UTF-8
// text; `--chat` runs an interactive chat with the model family's template. Speeds go to stderr.
// `--state-in` / `--state-out` start from / keep the recurrent state (RWKV's whole context is that
// fixed-size state, so a long prompt processed once can be continued any number of times).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "chat_template.hpp"
#include "generation.hpp"
#include "grammar.hpp"
#include "json_schema.hpp"
#include "model_draft.hpp"
#include "model_options.hpp"
#include "sampler.hpp"
#include "sampling_options.hpp"
#include "session.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct GenerateOptions {
  ModelOptions model;
  std::string prompt = "In the beginning";
  std::string prompt_file;          // -f: the prompt is this file's text
  std::string state_in, state_out;  // state files (StateStore::load_file / save_file)
  int n_predict = 128;
  bool chat = false;
  bool json = false;        // replies constrained to one JSON object
  std::string json_schema;  // ... matching the schema in this file
  std::string grammar, grammar_file;  // ... or to a GBNF grammar's texts
  std::string system;
  SamplerParams sampling;
  SamplingExtras sampling_extras;  // -l/--logit-bias, --ignore-eos
  LookupOptions lookup;
  std::string model_draft;  // speculative decoding with this draft model
  int draft_max = 4;        // its guesses per check
  float draft_p_min = 0.75f;  // ... ending at a token it gives less probability
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Stats {
  size_t prompt_tokens = 0, generated = 0;
  double prompt_s = 0, generate_s = 0;
  std::optional<Speculation> spec;  // with --lookup (its counts add up over chat turns)
  std::unique_ptr<Drafter> drafter;
  const char* what = "";  // "lookup" or "draft model", for the report
};

// Streams the generated text to stdout; see generation.hpp.
Generated print_generated(Session& session, const Tokenizer& tok, Sampler& sampler,
                          const std::vector<float>& logits, int n,
                          const std::vector<std::string>& stops, Stats& stats,
                          const ConstraintSpec& spec) {
  const auto start = Clock::now();
  const auto constraint = spec.make(tok);
  auto out = generate(
      session, tok, sampler, logits, n, stops,
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
      },
      constraint.get(), stats.spec ? &*stats.spec : nullptr);
  stats.generated += out.ids.size();
  stats.generate_s += seconds_since(start);
  return out;
}

// The ids slot 0's state has read, written with it by --state-out so that `serve` can restore
// the file into a cache slot and tell which prompts it continues. Unknown after a --state-in file
// that has none (written before state files kept them): then none are written.
struct SeenTokens {
  std::vector<int32_t> ids;
  bool known = true;
  void add(std::span<const int32_t> more) { ids.insert(ids.end(), more.begin(), more.end()); }
  std::span<const int32_t> to_save() const {
    return known ? std::span(ids) : std::span<const int32_t>();
  }
};

// With --lookup or --model-draft (`draft`, made for `target`), the drafter starts from what a
// --state-in file's state has read (when known).
Stats make_stats(const GenerateOptions& o, const SeenTokens& seen, Model* draft,
                 const Model& target) {
  Stats s;
  if (draft) {
    auto d = std::make_unique<ModelDrafter>(*draft, target);
    d->set_p_min(o.draft_p_min);
    s.drafter = std::move(d);
    s.spec = Speculation{s.drafter.get(), 1, o.draft_max};
    s.what = "draft model";
  } else if (o.lookup.n > 0) {
    s.drafter = std::make_unique<NgramDrafter>(o.lookup.ngram_min, o.lookup.ngram_max);
    s.spec = Speculation{s.drafter.get(), 1, o.lookup.n};
    s.what = "lookup";
  }
  if (s.drafter) s.drafter->add(seen.ids);
  return s;
}

// Runs a printed token the model has not seen yet (generate_tokens' return) through slot 0.
void feed(Session& session, std::optional<int32_t> id, SeenTokens& seen) {
  if (!id) return;
  const int32_t ids[] = {*id};
  session.eval_argmax(0, ids);
  seen.add(ids);
}

// The prompt file's text; "-" reads standard input.
std::string read_prompt_file(const std::string& path) {
  std::ifstream file;
  if (path != "-") file.open(path, std::ios::binary);
  std::istream& in = path == "-" ? std::cin : file;
  require(static_cast<bool>(in), ErrorCode::Io, "{}: cannot open prompt file", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  require(!in.bad(), ErrorCode::Io, "{}: read failed", path);
  require(!text.empty(), ErrorCode::InvalidArgument, "{}: the prompt file is empty",
          path == "-" ? "standard input" : path);
  return text;
}

std::vector<float> prefill(Session& session, const Tokenizer& tok, Sampler& sampler,
                           const std::string& text, Stats& stats, SeenTokens& seen) {
  auto ids = tok.encode(text, /*parse_special=*/true);
  require(!ids.empty(), ErrorCode::InvalidArgument, "the prompt is empty after tokenization");
  for (int32_t id : ids) sampler.accept(id);
  const auto start = Clock::now();
  auto logits = session.eval(0, ids);
  seen.add(ids);
  if (stats.spec) stats.spec->drafter->add(ids);
  stats.prompt_s += seconds_since(start);
  stats.prompt_tokens += ids.size();
  return logits;
}

void print_stats(const Stats& s) {
  auto rate = [](size_t n, double t) { return t > 0 ? static_cast<double>(n) / t : 0.0; };
  fmt::print(stderr,
             "\nprompt: {} tokens in {:.2f} s ({:.1f} tok/s); generation: {} tokens in "
             "{:.2f} s ({:.1f} tok/s)\n",
             s.prompt_tokens, s.prompt_s, rate(s.prompt_tokens, s.prompt_s), s.generated,
             s.generate_s, rate(s.generated, s.generate_s));
  if (s.spec) {
    const auto& p = *s.spec;
    fmt::print(
        stderr, "{}: {} of {} guessed tokens kept ({:.0f}%) in {} checks\n", s.what, p.accepted,
        p.drafted,
        p.drafted ? 100.0 * static_cast<double>(p.accepted) / static_cast<double>(p.drafted) : 0.0,
        p.checks);
  }
}

// The compiled --json-schema file (null without one); errors name the file.
std::shared_ptr<const JsonSchema> load_schema(const std::string& path) {
  if (path.empty()) return nullptr;
  std::ifstream in(path, std::ios::binary);
  require(in.good(), ErrorCode::Io, "{}: cannot open the JSON schema file", path);
  nlohmann::ordered_json schema;
  try {
    schema = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(ErrorCode::InvalidArgument, fmt::format("{}: not JSON: {}", path, e.what()));
  }
  try {
    return JsonSchema::compile(schema);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, fmt::format("{}: {}", path, e.message()));
  }
}

// The compiled --grammar text or --grammar-file (null without one); errors name the option.
std::shared_ptr<const Grammar> load_grammar(const GenerateOptions& o) {
  if (!o.grammar_file.empty()) {
    std::ifstream in(o.grammar_file, std::ios::binary);
    require(in.good(), ErrorCode::Io, "{}: cannot open the grammar file", o.grammar_file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      return Grammar::parse(text);
    } catch (const Error& e) {
      throw Error(ErrorCode::InvalidArgument, fmt::format("{}: {}", o.grammar_file, e.message()));
    }
  }
  if (o.grammar.empty()) return nullptr;
  try {
    return Grammar::parse(o.grammar);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, fmt::format("--grammar: {}", e.message()));
  }
}

// Chat turns with the model family's template (chat_template.hpp).
void run_chat(Session& session, const Model& model, const GenerateOptions& o,
              const ConstraintSpec& spec, SeenTokens& seen, Stats stats) {
  const Tokenizer& tok = require_tokenizer(model);
  const ChatTemplate tmpl = ChatTemplate::of(model);
  Sampler sampler(o.sampling);
  std::string pending_text;
  // (with --state-in the state holds the conversation so far, its system message included)
  if (!o.system.empty()) {
    pending_text = tmpl.message({"system", o.system, {}});
  } else if (o.state_in.empty()) {
    pending_text = tmpl.default_system_message();
  }
  fmt::print(stderr, "chat with {} (empty line or Ctrl-D to quit)\n",
             model.file().path().filename().string());
  std::string line;
  while (true) {
    fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    pending_text += tmpl.message({"user", line}) + tmpl.assistant_prefix();
    auto logits = prefill(session, tok, sampler, pending_text, stats, seen);
    // The state then holds the whole reply; close the turn the way the template expects.
    const auto out =
        print_generated(session, tok, sampler, logits, o.n_predict, tmpl.stops(), stats, spec);
    seen.add(std::span(out.ids).first(out.fed()));
    feed(session, out.unfed(), seen);
    pending_text = tmpl.turn_end();
    std::printf("\n");
  }
  if (!o.state_out.empty()) {
    // Saved after a closed turn, so --state-in resumes the conversation at the next user turn.
    const auto close = tok.encode(pending_text, /*parse_special=*/true);
    if (!close.empty()) session.eval_argmax(0, close);
    seen.add(close);
    session.state().save_file(0, o.state_out, seen.to_save());
  }
  print_stats(stats);
}

}  // namespace

Command add_generate(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt (or chat with --chat)");
  auto o = std::make_shared<GenerateOptions>();
  add_model_options(sub, common, o->model);
  auto* prompt =
      sub->add_option("-p,--prompt", o->prompt, "Prompt text (default: \"In the beginning\")");
  sub->add_option("-f,--prompt-file", o->prompt_file,
                  "Read the prompt from this file (-: standard input)")
      ->excludes(prompt);
  sub->add_option("--state-in", o->state_in,
                  "Start from this state file (written by --state-out for the same model)");
  sub->add_option("--state-out", o->state_out,
                  "Save the state after the prompt and the generated text (with --chat: after "
                  "the last turn) to this file");
  sub->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_flag("--chat", o->chat, "Interactive chat using the model's chat template");
  sub->add_option("--system", o->system, "System message for --chat");
  sub->add_flag("--json", o->json,
                "Constrain the output (each reply with --chat) to one JSON object, printed "
                "without the prompt; it ends when the object is complete");
  sub->add_option("--json-schema", o->json_schema,
                  "Like --json, one value matching the JSON schema in this file (any root: an "
                  "object, an array, an enum ...; the subset in "
                  "model/json_schema.hpp: types, properties, required, min/maxProperties, "
                  "items, prefixItems, "
                  "uniqueItems, min/maxItems, "
                  "min/maxLength, pattern, format, minimum/maximum, enum, const, anyOf, oneOf, "
                  "allOf, $ref, nullable)");
  auto* grammar = sub->add_option("--grammar", o->grammar,
                                  "Constrain the output (each reply with --chat) to the texts of "
                                  "this GBNF grammar (llama.cpp's format, from its rule root)");
  sub->add_option("--grammar-file", o->grammar_file, "Like --grammar, the grammar in this file")
      ->excludes(grammar);
  sub->add_option("--temp", o->sampling.temperature, "Temperature (<= 0: greedy)");
  sub->add_option("--top-k", o->sampling.top_k, "Top-k (0: off)");
  sub->add_option("--top-p", o->sampling.top_p, "Top-p (1: off)");
  sub->add_option("--min-p", o->sampling.min_p, "Min-p (0: off)");
  sub->add_option("--repeat-penalty", o->sampling.repetition_penalty,
                  "Repetition penalty (1: off)");
  sub->add_option("--presence-penalty", o->sampling.presence_penalty, "Presence penalty");
  sub->add_option("--frequency-penalty", o->sampling.frequency_penalty, "Frequency penalty");
  sub->add_option("--repeat-last-n", o->sampling.penalty_last_n, "Ids the penalties look back on");
  sub->add_option("--seed", o->sampling.seed, "Random seed (same seed, same output)");
  add_sampler_flags(sub, o->sampling, o->sampling_extras);
  auto* lookup = add_lookup_flags(sub, o->lookup, "");
  sub->add_option("--model-draft,--md", o->model_draft,
                  "Speculative decoding with this draft model (a small GGUF of the same "
                  "vocabulary, e.g. RWKV-6 World 1.6B for a 14B, or a low-bit copy): it guesses "
                  "--draft-max tokens greedily and the model checks them in one call (the same "
                  "text, faster where the draft is often right and a call of several tokens costs "
                  "about one: GPUs)")
      ->excludes(lookup);
  sub->add_option("--draft-max", o->draft_max, "--model-draft: tokens guessed per check")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--draft-p-min", o->draft_p_min,
                  "--model-draft: guessing stops at a token the draft model gives less "
                  "probability (0: always --draft-max tokens)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  return {sub, [&common, o] {
            validate(o->sampling);
            o->lookup.validate();
            if (!o->prompt_file.empty()) o->prompt = read_prompt_file(o->prompt_file);
            ConstraintSpec spec;  // read before the model loads
            spec.schema = load_schema(o->json_schema);
            spec.json = o->json || spec.schema;
            spec.grammar = load_grammar(*o);
            require(!(spec.json && spec.grammar), ErrorCode::InvalidArgument,
                    "--grammar / --grammar-file cannot be combined with --json / --json-schema");
            if (!o->state_out.empty()) {  // before the model loads, not after the generation
              const auto dir = std::filesystem::absolute(o->state_out).parent_path();
              require(std::filesystem::is_directory(dir), ErrorCode::Io,
                      "--state-out {}: directory {} does not exist", o->state_out, dir.string());
            }
            auto loaded = load_model(common, o->model);
            finalize_sampling(o->sampling, o->sampling_extras, require_tokenizer(*loaded.model));
            std::unique_ptr<Model> draft;  // on the (first) device of the model
            if (!o->model_draft.empty()) {
              LoadOptions lo;
              lo.max_tokens = o->model.max_tokens;
              draft = Model::load(*loaded.devices.front(), o->model_draft, lo);
            }
            // --lookup and --model-draft check their guesses in a second state slot
            const bool guesses = draft || o->lookup.n > 0;
            Session session(*loaded.model, guesses ? 2 : 1);
            SeenTokens seen;
            if (!o->state_in.empty()) {
              seen.ids = session.state().load_file(0, o->state_in);
              seen.known = !seen.ids.empty();
            }
            Stats stats = make_stats(*o, seen, draft.get(), *loaded.model);
            if (o->chat) {
              run_chat(session, *loaded.model, *o, spec, seen, std::move(stats));
              return 0;
            }
            const Tokenizer& tok = require_tokenizer(*loaded.model);
            Sampler sampler(o->sampling);
            auto logits = prefill(session, tok, sampler, o->prompt, stats, seen);
            // With --json stdout is the object alone (for a JSON reader), not prompt + object.
            if (!spec.json) std::fwrite(o->prompt.data(), 1, o->prompt.size(), stdout);
            const auto out =
                print_generated(session, tok, sampler, logits, o->n_predict, {}, stats, spec);
            std::printf("\n");
            if (!o->state_out.empty()) {
              seen.add(std::span(out.ids).first(out.fed()));
              feed(session, out.unfed(), seen);  // the state then holds exactly the printed text
              session.state().save_file(0, o->state_out, seen.to_save());
            }
            print_stats(stats);
            return 0;
          }};
}

}  // namespace vkr::cli
