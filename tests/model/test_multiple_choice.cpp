// test_multiple_choice.cpp: the host side of llama-perplexity's --multiple-choice score: the
// binary task file (read, written, malformed), the task order and the printed lines vs llama.cpp's
// (tests/data/llama_multiple_choice).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "multiple_choice.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"
#include "winogrande.hpp"

namespace vkr::test {
namespace {

const std::filesystem::path kDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_multiple_choice";

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<MultipleChoiceTask> two_tasks() {
  return {
      {"Question: Who built the ark?\nAnswer:",
       {{"Noah", "Moses", "Abraham"}, {1, 0, 0}},
       {{"Noah", "Noah's sons"}, {1, 1}}},
      {"Question: How many days did it rain?\nAnswer:", {{"forty", "seven"}, {1, 0}}, {{}, {}}}};
}

std::string error_of(std::string_view bytes) {
  try {
    parse_multiple_choice(bytes, "t.bin");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void put_u32_at(std::string& s, size_t at, uint32_t v) { std::memcpy(s.data() + at, &v, 4); }

// The reference file (written by llama_multiple_choice_refs.py) reads back as the manifest's
// tasks and is written back byte for byte.
TEST(MultipleChoice, ReadsAndWritesLlamaPerplexitysFormat) {
  const Json m = read_json(kDir / "manifest.json");
  const std::string bytes = read_bytes(kDir / "tasks.bin");
  const auto tasks = parse_multiple_choice(bytes, "tasks.bin");
  ASSERT_EQ(tasks.size(), m.at("n_task").get<size_t>());
  const Json& run = m.at("runs").at(0);
  for (const Json& t : run.at("tasks")) {
    const auto& task = tasks.at(t.at("file_task_index").get<size_t>());
    EXPECT_EQ(task.question, t.at("question").get<std::string>());
    EXPECT_EQ(task.mc1.answers, t.at("answers").get<std::vector<std::string>>());
    EXPECT_EQ(task.mc1.labels, t.at("labels").get<std::vector<int32_t>>());
  }
  EXPECT_EQ(write_multiple_choice(tasks), bytes);
}

TEST(MultipleChoice, RoundTripsAndKeepsMc2) {
  const auto tasks = two_tasks();
  const auto back = parse_multiple_choice(write_multiple_choice(tasks), "t.bin");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].question, tasks[0].question);
  EXPECT_EQ(back[0].mc1.answers, tasks[0].mc1.answers);
  EXPECT_EQ(back[0].mc2.labels, (std::vector<int32_t>{1, 1}));
  EXPECT_TRUE(back[1].mc2.answers.empty());
  // Bytes after the last task are ignored, as llama-perplexity ignores them.
  EXPECT_EQ(parse_multiple_choice(write_multiple_choice(tasks) + "xyz", "t.bin").size(), 2u);
}

TEST(MultipleChoice, NamesMalformedFiles) {
  const std::string good = write_multiple_choice(two_tasks());
  EXPECT_NE(error_of("").find("t.bin: the task count at byte 0 needs 4 bytes"), std::string::npos)
      << error_of("");
  EXPECT_NE(error_of(std::string(4, '\0')).find("no tasks"), std::string::npos);
  // A text file: its first four bytes announce ~1.8e9 tasks.
  const std::string text = "Cooking: a man fills a pot.\n1\na\nb\nc\nd\n";
  EXPECT_NE(error_of(text).find("cannot even hold their offsets: not a multiple-choice file"),
            std::string::npos)
      << error_of(text);
  // Cut inside the second task's answers.
  const std::string cut = good.substr(0, good.size() - 10);
  EXPECT_NE(error_of(cut).find("task 2: "), std::string::npos) << error_of(cut);
  EXPECT_NE(error_of(cut).find("truncated"), std::string::npos) << error_of(cut);
  // A wrong offset for task 2.
  std::string moved = good;
  put_u32_at(moved, 8, 7);
  EXPECT_NE(error_of(moved).find("puts task 2 at byte 7, but it starts at byte"), std::string::npos)
      << error_of(moved);
  // More than 100 answers.
  std::string many = good;
  const size_t mc1 = 12 + 4 + two_tasks()[0].question.size();
  put_u32_at(many, mc1, 5000);
  EXPECT_NE(error_of(many).find("task 1: 5000 mc1 answers at byte"), std::string::npos)
      << error_of(many);
  auto bad = [](auto edit) {
    auto tasks = two_tasks();
    edit(tasks);
    return error_of(write_multiple_choice(tasks));
  };
  EXPECT_NE(bad([](auto& t) { t[1].question.clear(); }).find("task 2 (byte "), std::string::npos);
  EXPECT_NE(bad([](auto& t) { t[1].question.clear(); }).find("empty question"), std::string::npos);
  EXPECT_NE(bad([](auto& t) { t[0].mc1.answers[2].clear(); }).find("answer 3 is empty"),
            std::string::npos);
  EXPECT_NE(bad([](auto& t) { t[0].mc1 = {}; }).find("no answers"), std::string::npos);
  EXPECT_NE(bad([](auto& t) {
              t[1].mc1.labels = {0, 0};
            }).find("no answer is labelled right"),
            std::string::npos);
}

// --multiple-choice-tasks N draws as --winogrande-tasks does (llama-perplexity's float draw).
TEST(MultipleChoice, TaskOrderIsLlamaPerplexitys) {
  const Json m = read_json(kDir / "manifest.json");
  const size_t n = m.at("n_task");
  std::vector<size_t> all;
  for (const Json& t : m.at("runs").at(0).at("tasks")) all.push_back(t.at("file_task_index"));
  EXPECT_EQ(winogrande_order(n, 0), all);
  const Json& sub = m.at("run_multiple_choice_tasks_4");
  EXPECT_EQ(winogrande_order(n, 4),
            sub.at("selection_order_file_task_indices").get<std::vector<size_t>>());
}

// The per-task lines and the final block (llama-perplexity prints it to stderr, after every run:
// its "fewer than 100 tasks" guard compares with the task count it has just overwritten), from
// the manifest's right / wrong flags; also for the --multiple-choice-tasks 4 run.
TEST(MultipleChoice, LinesAreLlamaPerplexitys) {
  const Json m = read_json(kDir / "manifest.json");
  std::vector<Json> runs = m.at("runs");
  runs.push_back(m.at("run_multiple_choice_tasks_4"));
  for (const Json& run : runs) {
    size_t correct = 0, n = 0, answers = 0;
    for (const Json& task : run.at("tasks")) {
      correct += task.at("correct").get<bool>() ? 1 : 0;
      answers += task.at("answers").size();
      EXPECT_EQ(multiple_choice_line(++n, correct), task.at("line").get<std::string>())
          << run.at("model") << " task " << n;
    }
    std::string want;
    for (const Json& l : run.at("final_lines_stderr")) want += l.get<std::string>() + "\n";
    EXPECT_EQ(multiple_choice_final(n, correct, answers), want) << run.at("model");
  }
  // One task: llama-perplexity divides by zero there ("+/- -nan", "+/- inf"); no uncertainty.
  EXPECT_EQ(multiple_choice_final(1, 1, 8),
            "Final result: 100.0000 +/- 0.0000\nRandom chance: 12.5000 +/- 0.0000\n");
}

}  // namespace
}  // namespace vkr::test
