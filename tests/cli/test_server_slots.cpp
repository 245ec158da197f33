// test_server_slots.cpp: llama-server's slot routes of `vkrwkv serve` (server_slots.cpp,
// scheduler_slots.cpp): a request pinned to a cache slot by id_slot, the slot saved to a file,
// erased, restored into another slot, and a prompt continuing it runs only its new tokens and
// writes what an uncached run writes; the file name checks; refused files leave the slot as it
// was; the errors of each route.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_native_api.hpp"
#include "server_test.hpp"
#include "vkr/error.hpp"

namespace vkr::test {
namespace {

std::string filename_error(const json& body) {
  try {
    cli::parse_slot_filename(body.dump());
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ServerSlotsApi, FileNames) {
  EXPECT_EQ(cli::parse_slot_filename(R"({"filename": "slot 1.bin"})"), "slot 1.bin");
  EXPECT_EQ(cli::parse_slot_filename(R"({"filename": ".hidden"})"), ".hidden");
  const std::pair<json, std::string> bad[] = {
      {json::object(), "field 'filename' must be a string"},
      {{{"filename", 7}}, "field 'filename' must be a string"},
      {{{"filename", ""}}, "must be 1 to 255 bytes"},
      {{{"filename", std::string(256, 'a')}}, "must be 1 to 255 bytes"},
      {{{"filename", "."}}, "'.' is not a file name"},
      {{{"filename", ".."}}, "'..' is not a file name"},
      {{{"filename", "../etc/passwd"}}, "holds a path separator"},
      {{{"filename", "/tmp/a"}}, "holds a path separator"},
      {{{"filename", "a\\b"}}, "holds a path separator"},
      {{{"filename", "a\nb"}}, "holds a control character"},
  };
  for (const auto& [body, message] : bad) {
    EXPECT_NE(filename_error(body).find(message), std::string::npos)
        << body.dump() << ": " << filename_error(body);
  }
}

class ServerSlots : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (IsSkipped()) return;
    // One directory per test and process: ctest runs these tests side by side.
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("vkr-test-slots-{}-{}",
                       ::testing::UnitTest::GetInstance()->current_test_info()->name(), getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ServeOptions o;
    o.scheduler.kept = 3;
    o.slot_save_path = dir_.string();
    own_ = std::make_unique<OwnServer>(model(), o);
    own_->client->set_read_timeout(std::chrono::seconds(60));
  }
  void TearDown() override {
    own_.reset();
    std::filesystem::remove_all(dir_);
    ServerTest::TearDown();
  }
  std::pair<int, json> call(const std::string& path, const json& body = json::object()) {
    auto res = own_->client->Post(path.c_str(), body.dump(), "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body)};
  }
  json slots() {
    auto res = own_->client->Get("/slots");
    EXPECT_TRUE(res && res->status == 200);
    return res ? json::parse(res->body) : json();
  }
  // Greedy ids after `prompt` (ids), with the slot to keep the final state in.
  json complete(const std::vector<int32_t>& prompt, int n, int id_slot = -1) {
    auto [status, a] = call("/completion", {{"prompt", prompt},
                                            {"n_predict", n},
                                            {"temperature", 0},
                                            {"return_tokens", true},
                                            {"id_slot", id_slot}});
    EXPECT_EQ(status, 200) << a.dump();
    return a;
  }

  std::filesystem::path dir_;
  std::unique_ptr<OwnServer> own_;
};

TEST_F(ServerSlots, SaveEraseRestoreContinuesTheText) {
  const auto prompt = tok().encode("In the beginning God created the heaven and the earth.", true);
  // The uncached reference: 10 greedy ids after the prompt.
  const auto all = complete(prompt, 10)["tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(all.size(), 10u);
  // 4 of them with the state pinned to slot 1: it holds the prompt and the first 3 (the 4th
  // was sampled, never run).
  const json a = complete(prompt, 4, 1);
  EXPECT_EQ(a["id_slot"], 1);
  EXPECT_EQ(a["tokens"].get<std::vector<int32_t>>(),
            std::vector<int32_t>(all.begin(), all.begin() + 4));
  json s = slots();
  ASSERT_EQ(s.size(), 3u);
  const size_t held = prompt.size() + 3;
  EXPECT_EQ(s[1]["id"], 1);
  EXPECT_EQ(s[1]["n_tokens"], held);
  EXPECT_FALSE(s[1]["is_processing"]);

  auto [st, saved] = call("/slots/1?action=save", {{"filename", "one.state"}});
  ASSERT_EQ(st, 200) << saved.dump();
  EXPECT_EQ(saved["id_slot"], 1);
  EXPECT_EQ(saved["filename"], "one.state");
  EXPECT_EQ(saved["n_saved"], held);
  EXPECT_EQ(saved["n_written"], std::filesystem::file_size(dir_ / "one.state"));
  EXPECT_TRUE(saved["timings"]["save_ms"].is_number());
  for (int i = 0; i < 3; ++i) {  // no kept state left to reuse
    auto [est, erased] = call(fmt::format("/slots/{}?action=erase", i));
    ASSERT_EQ(est, 200) << erased.dump();
    EXPECT_EQ(erased["id_slot"], i);
    if (i == 1) {
      EXPECT_EQ(erased["n_erased"], held);
    }
  }
  for (const auto& e : slots()) EXPECT_EQ(e["n_tokens"], 0) << e.dump();

  auto [rst, restored] = call("/slots/2?action=restore", {{"filename", "one.state"}});
  ASSERT_EQ(rst, 200) << restored.dump();
  EXPECT_EQ(restored["id_slot"], 2);
  EXPECT_EQ(restored["n_restored"], held);
  EXPECT_EQ(restored["n_read"], saved["n_written"]);
  EXPECT_EQ(slots()[2]["n_tokens"], held);

  // The prompt and the first 4 ids: only the 4th runs, and the rest is the uncached text.
  std::vector<int32_t> longer = prompt;
  longer.insert(longer.end(), all.begin(), all.begin() + 4);
  const json b = complete(longer, 6);
  EXPECT_EQ(b["tokens_cached"], held);
  EXPECT_EQ(b["timings"]["prompt_n"], 1);
  EXPECT_EQ(b["tokens"].get<std::vector<int32_t>>(),
            std::vector<int32_t>(all.begin() + 4, all.end()));

  // Refused files leave the slot as it was: junk, and a state file without its tokens (as
  // vkrwkv wrote them before).
  std::ofstream(dir_ / "junk.state") << "not a state";
  auto [jst, junk] = call("/slots/2?action=restore", {{"filename", "junk.state"}});
  EXPECT_EQ(jst, 400);
  EXPECT_NE(junk.dump().find("junk.state: not a vkrwkv state file"), std::string::npos)
      << junk.dump();
  {
    std::vector<char> bytes(std::filesystem::file_size(dir_ / "one.state"));
    std::ifstream(dir_ / "one.state", std::ios::binary).read(bytes.data(), bytes.size());
    bytes.resize(bytes.size() - 8 - 4 * held);  // the count and the ids
    const uint32_t v1 = 1;
    std::memcpy(bytes.data() + 8, &v1, sizeof v1);
    std::ofstream(dir_ / "old.state", std::ios::binary).write(bytes.data(), bytes.size());
  }
  auto [ost, old] = call("/slots/2?action=restore", {{"filename", "old.state"}});
  EXPECT_EQ(ost, 400);
  EXPECT_NE(old.dump().find("records no tokens"), std::string::npos) << old.dump();
  EXPECT_EQ(slots()[2]["n_tokens"], held);
}

// `vkrwkv generate --state-out` records the ids its state read: the server restores the file
// and a prompt that starts with the generated text runs only the rest, writing what it writes
// uncached.
TEST_F(ServerSlots, RestoresAStateWrittenByGenerate) {
  const auto file = dir_ / "generated.state";
  const std::string cmd = fmt::format(
      "\"{}\" generate -p \"In the beginning God created\" -n 5 --temp 0 --state-out \"{}\" "
      "2>/dev/null",
      VKR_CLI_PATH, file.string());
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  ASSERT_TRUE(pipe);
  std::string text;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) text.append(buf, n);
  ASSERT_EQ(pclose(pipe.release()), 0) << cmd;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t read = tok().encode(text, true).size();
  ASSERT_GT(read, 5u) << text;

  const json ask = {{"prompt", text + " and"}, {"n_predict", 6}, {"temperature", 0}};
  auto [st, uncached] = call("/completion", ask);
  ASSERT_EQ(st, 200) << uncached.dump();
  EXPECT_EQ(uncached["tokens_cached"], 0);
  for (int i = 0; i < 3; ++i) call(fmt::format("/slots/{}?action=erase", i));
  auto [rst, restored] = call("/slots/0?action=restore", {{"filename", "generated.state"}});
  ASSERT_EQ(rst, 200) << restored.dump();
  EXPECT_EQ(restored["n_restored"], read);  // the prompt and every printed token
  auto [cst, cached] = call("/completion", ask);
  ASSERT_EQ(cst, 200) << cached.dump();
  EXPECT_EQ(cached["tokens_cached"], read);
  EXPECT_EQ(cached["content"], uncached["content"]);
}

TEST_F(ServerSlots, Errors) {
  auto expect = [&](const std::string& path, const json& body, int status,
                    const std::string& needle) {
    auto [st, a] = call(path, body);
    EXPECT_EQ(st, status) << path << " " << a.dump();
    EXPECT_NE(a.dump().find(needle), std::string::npos) << path << " " << a.dump();
  };
  expect("/slots/3?action=erase", {}, 400, "slot 3: this server keeps 3 cache slots, 0 to 2");
  expect("/slots/99999999999?action=erase", {}, 400, "no such slot");
  expect("/slots/0?action=load", {}, 400, "action 'load': give ?action=save, restore or erase");
  expect("/slots/0", {}, 400, "action ''");
  expect("/slots/0?action=save", {{"filename", "a"}}, 400, "slot 0 holds no state");
  expect("/slots/0?action=save", {{"filename", "../a"}}, 400, "path separator");
  expect("/slots/0?action=restore", {{"filename", "none.state"}}, 404, "no file 'none.state' in");
  expect("/completion", {{"prompt", "In"}, {"id_slot", 3}}, 400,
         "id_slot 3: this server keeps 3 cache slots");
  expect("/v1/chat/completions",
         {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"id_slot", 7}}, 400, "id_slot 7");
  EXPECT_TRUE(std::filesystem::is_empty(dir_));  // nothing written by a refused request
  // A server without --slot-save-path lists its slots but writes no files.
  auto [st, a] = post("/slots/0?action=save", {{"filename", "a"}});
  EXPECT_EQ(st, 501);
  EXPECT_NE(a.dump().find("--slot-save-path"), std::string::npos) << a.dump();
  auto listed = client_->Get("/slots?fail_on_no_slot=1");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_EQ(json::parse(listed->body).size(), 8u);  // the default --cache-states
  // A server that keeps no states has no slots to name.
  ServeOptions none;
  none.scheduler.kept = 0;
  none.slot_save_path = dir_.string();
  OwnServer bare(model(), none);
  auto empty = bare.client->Get("/slots");
  ASSERT_TRUE(empty);
  EXPECT_EQ(json::parse(empty->body), json::array());
  auto erase = bare.client->Post("/slots/0?action=erase", "{}", "application/json");
  ASSERT_TRUE(erase);
  EXPECT_EQ(erase->status, 400);
  EXPECT_NE(erase->body.find("keeps no cache slots (serve --cache-states 0)"), std::string::npos)
      << erase->body;
}

}  // namespace
}  // namespace vkr::test
