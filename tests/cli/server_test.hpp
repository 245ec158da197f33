// server_test.hpp: the fixture of the `vkrwkv serve` tests (test_server*.cpp): a Server on the
// bundled model on a free port, a client, and a Session's own greedy text to compare with.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "default_model_test.hpp"
#include "server.hpp"
#include "session.hpp"
#include "tokenizer.hpp"

namespace vkr::test {

using cli::ServeOptions;
using cli::Server;
using nlohmann::json;

// A server with options of its own (an API key, CORS origins) on a free port, serving until the
// end of its scope; `client` talks to it.
struct OwnServer {
  OwnServer(Model& model, ServeOptions o) : server(model, quiet_any_port(std::move(o))) {
    const int port = server.bind();
    thread = std::thread([this] { server.listen(); });
    client = std::make_unique<httplib::Client>("127.0.0.1", port);
    // listen() is serving once /health answers (the socket queues connections before that).
    for (int i = 0; i < 100 && !client->Get("/health"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~OwnServer() {
    server.stop();
    thread.join();
  }
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;
  static ServeOptions quiet_any_port(ServeOptions o) {
    o.port = 0;
    o.log = false;
    return o;
  }

  Server server;
  std::thread thread;
  std::unique_ptr<httplib::Client> client;
};

class ServerTest : public DefaultModelTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    ServeOptions o;
    o.port = 0;
    o.log = false;
    o.defaults.max_tokens = 8;
    server_ = std::make_unique<Server>(model(), o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(std::chrono::seconds(60));
    // listen() is serving once /health answers (the socket queues connections before that).
    for (int i = 0; i < 100 && !client_->Get("/health"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void TearDown() override {
    if (server_) {
      server_->stop();
      thread_.join();
    }
    GpuTest::TearDown();
  }

  // POSTs `body`; returns (status, parsed body).
  std::pair<int, json> post(const std::string& path, const json& body) {
    auto res = client_->Post(path.c_str(), body.dump(), "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body)};
  }

  // The text of a streamed request: the pieces joined; `events` gets every parsed event.
  std::string stream(const std::string& path, json body, std::vector<json>& events) {
    body["stream"] = true;
    auto res = client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    std::string text;
    size_t at = 0;
    bool done = false;
    while ((at = res->body.find("data: ", at)) != std::string::npos) {
      const size_t end = res->body.find("\n\n", at);
      const std::string data = res->body.substr(at + 6, end - at - 6);
      at = end;
      if (data == "[DONE]") {
        done = true;
        continue;
      }
      events.push_back(json::parse(data));
      const auto& c = events.back()["choices"][0];
      if (c.contains("text")) text += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content") &&
          !c["delta"]["content"].is_null()) {  // null beside tool_calls
        text += c["delta"]["content"].get<std::string>();
      }
    }
    EXPECT_TRUE(done) << "no [DONE] at the end of the stream";
    return text;
  }

  // Greedy text after `prompt`, by a Session of its own (no server, no kept state).
  std::string greedy(const std::string& prompt, int n) {
    const Tokenizer& tok = *model().tokenizer();
    Session s(model(), 1);
    const auto ids = tok.encode(prompt, true);
    const auto logits = s.eval(0, ids);
    int32_t id =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    std::vector<int32_t> out;
    for (int i = 0; i < n && !tok.is_eog(id); ++i) {
      out.push_back(id);
      if (i + 1 < n) {
        const int32_t next[] = {id};
        id = s.eval_argmax(0, next);
      }
    }
    return tok.decode(out);
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace vkr::test
