// multiple_choice.cpp: the host side of llama-perplexity's --multiple-choice score
// (multiple_choice.hpp).
#include "multiple_choice.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "byte_cursor.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

constexpr uint32_t kMaxAnswers = 100;  // llama-perplexity's limit

// The file's cursor; every error names the file, the task and the offset.
class Reader {
 public:
  Reader(std::string_view bytes, std::string_view name)
      : name_(name), in_(bytes, [this](size_t at, size_t need, size_t left, std::string_view what) {
          throw Error(
              ErrorCode::InvalidArgument,
              fmt::format("{}: {}{} at byte {} needs {} bytes, the file has {} left: "
                          "truncated, or not a multiple-choice file (llama-perplexity's "
                          "binary task format)?",
                          name_, task_ == kHeader ? "" : fmt::format("task {}: ", task_ + 1), what,
                          at, need, left));
        }) {}

  size_t pos() const { return in_.pos(); }
  void set_task(size_t task) { task_ = task; }
  uint32_t u32(std::string_view what) { return in_.read<uint32_t>(what); }
  std::string str(std::string_view what) { return std::string(in_.take(u32(what), what)); }

  MultipleChoiceAnswers answers(std::string_view set) {
    MultipleChoiceAnswers a;
    const size_t at = pos();
    const uint32_t n = u32(fmt::format("the {} answer count", set));
    require(n <= kMaxAnswers, ErrorCode::InvalidArgument,
            "{}: task {}: {} {} answers at byte {} (at most {}): not a multiple-choice file "
            "(llama-perplexity's binary task format)?",
            name_, task_ + 1, n, set, at, kMaxAnswers);
    for (uint32_t i = 0; i < n; ++i) a.answers.push_back(str(fmt::format("{} answer {}", set, i)));
    for (uint32_t i = 0; i < n; ++i) {
      a.labels.push_back(in_.read<int32_t>(fmt::format("{} label {}", set, i)));
    }
    return a;
  }

 private:
  static constexpr size_t kHeader = ~size_t{0};
  std::string_view name_;
  size_t task_ = kHeader;
  ByteCursor in_;
};

void check_task(const MultipleChoiceTask& t, size_t i, size_t at, std::string_view name) {
  const auto where = [&] { return fmt::format("{}: task {} (byte {})", name, i + 1, at); };
  require(!t.question.empty(), ErrorCode::InvalidArgument, "{}: empty question", where());
  require(!t.mc1.answers.empty(), ErrorCode::InvalidArgument, "{}: no answers", where());
  for (size_t a = 0; a < t.mc1.answers.size(); ++a) {
    require(!t.mc1.answers[a].empty(), ErrorCode::InvalidArgument, "{}: answer {} is empty",
            where(), a + 1);
  }
  require(std::ranges::count(t.mc1.labels, 1) >= 1, ErrorCode::InvalidArgument,
          "{}: no answer is labelled right (label 1)", where());
}

void put_u32(std::string& out, uint32_t v) { append_bytes(out, v); }

void put_str(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

void put_answers(std::string& out, const MultipleChoiceAnswers& a) {
  require(a.answers.size() == a.labels.size() && a.answers.size() <= kMaxAnswers,
          ErrorCode::InvalidArgument, "multiple choice: {} answers with {} labels (at most {})",
          a.answers.size(), a.labels.size(), kMaxAnswers);
  put_u32(out, static_cast<uint32_t>(a.answers.size()));
  for (const auto& s : a.answers) put_str(out, s);
  for (int32_t l : a.labels) put_u32(out, static_cast<uint32_t>(l));
}

}  // namespace

std::vector<MultipleChoiceTask> parse_multiple_choice(std::string_view bytes,
                                                      std::string_view name) {
  Reader in(bytes, name);
  const uint32_t n = in.u32("the task count");
  require(n > 0, ErrorCode::InvalidArgument, "{}: no tasks (the task count is 0)", name);
  std::vector<uint32_t> offsets;
  // Checked before the table is read so that a text file (whose first 4 bytes make a huge count)
  // is named as such rather than reported at its last byte.
  require(size_t{n} * 4 <= bytes.size() - 4, ErrorCode::InvalidArgument,
          "{}: {} tasks announced, but the file ({} bytes) cannot even hold their offsets: not a "
          "multiple-choice file (llama-perplexity's binary task format)?",
          name, n, bytes.size());
  for (uint32_t i = 0; i < n; ++i) offsets.push_back(in.u32("the task offsets"));
  std::vector<MultipleChoiceTask> tasks(n);
  for (uint32_t i = 0; i < n; ++i) {
    const size_t at = in.pos();
    require(offsets[i] == at, ErrorCode::InvalidArgument,
            "{}: the offsets table puts task {} at byte {}, but it starts at byte {} (a broken "
            "file: llama-perplexity would read another task when it draws this one)",
            name, i + 1, offsets[i], at);
    in.set_task(i);
    MultipleChoiceTask& t = tasks[i];
    t.question = in.str("the question");
    t.mc1 = in.answers("mc1");
    t.mc2 = in.answers("mc2");
    check_task(t, i, at, name);
  }
  return tasks;
}

std::string write_multiple_choice(const std::vector<MultipleChoiceTask>& tasks) {
  std::string body;
  std::vector<uint32_t> offsets;
  const size_t head = 4 + 4 * tasks.size();
  for (const auto& t : tasks) {
    offsets.push_back(static_cast<uint32_t>(head + body.size()));
    put_str(body, t.question);
    put_answers(body, t.mc1);
    put_answers(body, t.mc2);
  }
  require(head + body.size() <= UINT32_MAX, ErrorCode::InvalidArgument,
          "multiple choice: {} bytes of tasks, more than 32-bit offsets reach", head + body.size());
  std::string out;
  put_u32(out, static_cast<uint32_t>(tasks.size()));
  for (uint32_t o : offsets) put_u32(out, o);
  return out + body;
}

std::string multiple_choice_line(size_t n, size_t correct) {
  return fmt::format("{}\t{:.8f}", n,
                     100.0 * static_cast<double>(correct) / static_cast<double>(n));
}

std::string multiple_choice_final(size_t n, size_t correct, size_t answers) {
  // llama-perplexity's float arithmetic; one task gives a zero (not NaN) uncertainty.
  const auto line = [n](const char* what, float p) {
    const float sigma = n > 1 ? std::sqrt(p * (1 - p) / static_cast<float>(n - 1)) : 0.0f;
    return fmt::format("{}: {:.4f} +/- {:.4f}\n", what, 100.0f * p, 100.0f * sigma);
  };
  return line("Final result", static_cast<float>(correct) / static_cast<float>(n)) +
         line("Random chance", static_cast<float>(n) / static_cast<float>(answers));
}

}  // namespace vkr
