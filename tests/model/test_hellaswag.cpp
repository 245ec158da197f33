// test_hellaswag.cpp: the host side of llama-perplexity's HellaSwag and Winogrande scores vs
// llama.cpp's (tests/data/llama_hellaswag, llama_winogrande): task orders, printed lines, the
// task files' parsing and errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "hellaswag.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"
#include "winogrande.hpp"

namespace vkr::test {
namespace {

const std::filesystem::path kDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_hellaswag";

TEST(Hellaswag, TaskOrderIsLlamaPerplexitys) {
  const Json m = read_json(kDir / "manifest.json");
  const auto& run = m.at("runs").at(0);
  EXPECT_EQ(hellaswag_order(12, 400),
            run.at("selection_order_file_task_indices").get<std::vector<size_t>>());
  // --hellaswag-tasks 5: the first five of the same order.
  EXPECT_EQ(hellaswag_order(12, 5), m.at("run_hellaswag_tasks_5")
                                        .at("selection_order_file_task_indices")
                                        .get<std::vector<size_t>>());
  // The real HellaSwag validation file has 10042 tasks (llama.cpp on libstdc++ starts so).
  const auto big = hellaswag_order(10042, 3);
  EXPECT_EQ(big, (std::vector<size_t>{4187, 10013, 7233}));
}

TEST(Hellaswag, LinesAreLlamaPerplexitys) {
  const Json m = read_json(kDir / "manifest.json");
  for (const Json& run : m.at("runs")) {
    size_t correct = 0, n = 0;
    for (const Json& task : run.at("tasks")) {
      correct += task.at("correct").get<bool>() ? 1 : 0;
      EXPECT_EQ(hellaswag_line(++n, correct), task.at("line").get<std::string>())
          << run.at("model") << " task " << n;
    }
  }
}

TEST(Hellaswag, ParsesTasksAndNamesBadLines) {
  const auto tasks = parse_hellaswag("ctx one\n2\na\nb\nc\nd\nctx two\n0\ne\nf\ng\nh\n", "t.txt");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].context, "ctx one");
  EXPECT_EQ(tasks[0].gold, 2);
  EXPECT_EQ(tasks[1].endings[3], "h");
  auto error_of = [](std::string_view text) -> std::string {
    try {
      parse_hellaswag(text, "t.txt");
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of("a\n1\nb\nc\nd\n").find("t.txt: 5 lines"), std::string::npos);
  EXPECT_NE(error_of("a\n7\nb\nc\nd\ne\n").find("t.txt:2: task 1's gold index is '7'"),
            std::string::npos);
  EXPECT_NE(error_of("").find("0 lines"), std::string::npos);
}

}  // namespace
}  // namespace vkr::test

namespace vkr::test {
namespace {

const std::filesystem::path kWinoDir =
    std::filesystem::path(VKR_SOURCE_DIR) / "tests" / "data" / "llama_winogrande";

TEST(Winogrande, TaskOrderIsLlamaPerplexitys) {
  EXPECT_EQ(winogrande_order(10, 0), (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(winogrande_order(10, 10), winogrande_order(10, 0));
  const Json m = read_json(kWinoDir / "manifest.json");
  EXPECT_EQ(winogrande_order(10, 4), m.at("run_winogrande_tasks_4")
                                         .at("selection_order_loaded_indices")
                                         .get<std::vector<size_t>>());
  // The real validation file's 1267 tasks (llama.cpp's order, checked with a g++ build).
  const auto big = winogrande_order(1267, 6);
  EXPECT_EQ(big, (std::vector<size_t>{528, 1262, 911, 1178, 0, 161}));
}

TEST(Winogrande, LinesAreLlamaPerplexitys) {
  const Json m = read_json(kWinoDir / "manifest.json");
  for (const Json& run : m.at("runs")) {
    size_t correct = 0, n = 0;
    for (const Json& task : run.at("tasks")) {
      correct += task.at("correct").get<bool>() ? 1 : 0;
      const Json& c = task.at("choices");
      EXPECT_EQ(winogrande_line(++n, correct, c.at(0).at("score").get<float>(),
                                c.at(1).at("score").get<float>(), task.at("chosen").get<int>(),
                                task.at("answer").get<int>()),
                task.at("line").get<std::string>())
          << run.at("model") << " task " << n;
    }
  }
  const Json& f = m.at("final_line_examples_n_ge_100");
  EXPECT_EQ(winogrande_final(120, 77), f.at("120 tasks, 77 correct").at(0).get<std::string>());
  EXPECT_EQ(winogrande_final(1267, 900), f.at("1267 tasks, 900 correct").at(0).get<std::string>());
}

TEST(Winogrande, ParsesLikeLlamaPerplexityAndListsSkippedLines) {
  const std::string text =
      "index,sentence,option1,option2,answer\n\n0,no blank here.,a,b,1\n1,The _ ran.,cat,dog,3\n"
      "2,The _ ran.,cat,dog, 2\r\n3,\"A, _ b.\",x,y,1\n4,The _ sat.,cat,dog,1";
  const WinograndeFile f = parse_winogrande(text, "w.csv");
  ASSERT_EQ(f.tasks.size(), 3u);  // llama-perplexity drops the last line (no newline); we keep it
  EXPECT_EQ(f.tasks[0].first, "The ");
  EXPECT_EQ(f.tasks[0].second, " ran.");
  EXPECT_EQ(f.tasks[0].answer, 2);
  EXPECT_EQ(f.tasks[1].first, "A, ");
  EXPECT_EQ(f.tasks[1].options[1], "y");
  EXPECT_EQ(f.tasks[2].options[0], "cat");
  ASSERT_EQ(f.skipped.size(), 3u);
  EXPECT_EQ(f.skipped[0], "line 1: answer 'answer' is not 1 or 2");
  EXPECT_EQ(f.skipped[1], "line 3: no '_' in the sentence");
  EXPECT_EQ(f.skipped[2], "line 4: answer '3' is not 1 or 2");
  EXPECT_THROW(parse_winogrande("a,b\n", "w.csv"), Error);
  const auto tasks = parse_winogrande(
      std::string(
          std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(kWinoDir / "tasks.csv")),
          {}),
      "tasks.csv");
  EXPECT_EQ(tasks.tasks.size(), 10u);
  EXPECT_TRUE(tasks.skipped.empty());
}

}  // namespace
}  // namespace vkr::test
