// The chat template (apps/chat_template.hpp) vs Qwen2.5-Instruct's own Jinja template run by
// Jinja2 as Hugging Face transformers runs it (tests/data/chat_template, made by
// model/tools/chat_template_refs.py from the template in ../shared's vocab-qwen2.gguf): plain
// turns with the template's default system message, tools listed in the system turn, earlier
// calls, results grouped in user turns. Also the default-system extraction, Python-style JSON,
// and the RWKV World format's refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat_template.hpp"
#include "gguf.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using cli::ChatMessage;
using cli::ChatTemplate;
using nlohmann::ordered_json;

std::string qwen_template() {
  const auto f =
      gguf::File::open(std::string(VKR_SHARED_DIR) + "/refmodels/tokenizer/vocab-qwen2.gguf");
  const auto t = f.get_string("tokenizer.chat_template");
  EXPECT_TRUE(t.has_value());
  return t ? std::string(*t) : std::string();
}

std::vector<ChatMessage> messages_of(const ordered_json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list) {
    ChatMessage cm{m["role"].get<std::string>(), m["content"].get<std::string>(), {}};
    if (m.contains("tool_calls")) {
      for (const auto& c : m["tool_calls"]) {
        cm.tool_calls.push_back(
            {c["function"]["name"].get<std::string>(), c["function"]["arguments"]});
      }
    }
    out.push_back(std::move(cm));
  }
  return out;
}

TEST(ChatTemplate, MatchesQwenTemplateRunByJinja) {
  std::ifstream in(std::filesystem::path(VKR_SOURCE_DIR) /
                   "tests/data/chat_template/qwen25_cases.json");
  ASSERT_TRUE(in) << "tests/data/chat_template/qwen25_cases.json";
  const auto doc = ordered_json::parse(in);
  const ChatTemplate tmpl(Arch::QRwkv6, qwen_template());
  ASSERT_GE(doc["cases"].size(), 8u);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::shared_ptr<const ToolSet> tools;
    if (!c["tools"].is_null()) tools = ToolSet::parse(c["tools"]);
    EXPECT_EQ(tmpl.prompt(messages_of(c["messages"]), tools.get()),
              c["expected"].get<std::string>());
  }
}

TEST(ChatTemplate, DefaultSystemComesFromTheModelsTemplate) {
  EXPECT_EQ(ChatTemplate::default_system_of(qwen_template()),
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(ChatTemplate::default_system_of(
                "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"),
            "");
  EXPECT_EQ(ChatTemplate::default_system_of(""), "");
  // Without a template in the file: plain ChatML, no system message added.
  const ChatTemplate bare(Arch::QRwkv6);
  EXPECT_EQ(bare.prompt({{"user", "Hi", {}}}),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(bare.default_system_message(), "");
  // ... and with tools, their list opens the system turn.
  const auto tools =
      ToolSet::parse(ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])"));
  const std::string p = bare.prompt({{"user", "Hi", {}}}, tools.get());
  EXPECT_EQ(p.rfind("<|im_start|>system\n# Tools\n\n", 0), 0u) << p;
  EXPECT_NE(p.find("\n{\"type\": \"function\", \"function\": {\"name\": \"f\"}}\n</tools>"),
            std::string::npos)
      << p;
}

TEST(ChatTemplate, PythonJson) {
  EXPECT_EQ(cli::python_json(ordered_json::parse(
                R"({"b": [1, 2.5, 1e-05, -0.0, true, null, "é\n\"\u0001"], "a": {}, "c": []})")),
            "{\"b\": [1, 2.5, 1e-05, -0.0, true, null, \"é\\n\\\"\\u0001\"], \"a\": {}, "
            "\"c\": []}");
}

TEST(ChatTemplate, RwkvWorldHasNoToolCalls) {
  const ChatTemplate world(Arch::Rwkv6, qwen_template());  // a template is ignored there
  EXPECT_FALSE(world.has_tool_calls());
  EXPECT_EQ(world.default_system_message(), "");
  EXPECT_EQ(world.prompt({{"user", "Hi", {}}}), "User: Hi\n\nAssistant:");
  const auto tools =
      ToolSet::parse(ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])"));
  EXPECT_THROW(world.prompt({{"user", "Hi", {}}}, tools.get()), Error);
  EXPECT_THROW(world.prompt({{"tool", "42", {}}}), Error);
  EXPECT_THROW(world.message({"assistant", "", {{"f", ordered_json::object()}}}), Error);
  EXPECT_THROW(world.message({"robot", "x", {}}), Error);
}

}  // namespace
}  // namespace vkr
