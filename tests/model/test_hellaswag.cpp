// test_hellaswag.cpp: the host side of llama-perplexity's HellaSwag score vs llama.cpp's
// (tests/data/llama_hellaswag): its task order, its printed lines, and the task file's errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "hellaswag.hpp"
#include "support/refmodels.hpp"
#include "vkr/error.hpp"

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
