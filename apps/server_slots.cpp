// server_slots.cpp: llama-server's slot routes over the scheduler's cache slots (the states of
// finished requests, `serve --cache-states` of them; scheduler.hpp):
//   GET  /slots: one entry per cache slot, with the count of tokens its state has read
//        ("?fail_on_no_slot=1": 503 while every request slot is busy, for load balancers)
//   POST /slots/N?action=save   {"filename"}: slot N's state and tokens to a state file in
//        --slot-save-path (the format `generate --state-out` writes)
//   POST /slots/N?action=restore {"filename"}: such a file into slot N; a prompt that starts with
//        its tokens then runs only the rest (a long document read once, asked about after a
//        restart)
//   POST /slots/N?action=erase: empties slot N
// RWKV's state is a fixed size, so a saved slot costs the same bytes (a few MiB for a 7B model)
// whether it read ten tokens or a book, unlike a transformer's KV cache.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "server_impl.hpp"
#include "server_native_api.hpp"

namespace vkr::cli {

using nlohmann::json;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t file_bytes(const std::filesystem::path& p) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

}  // namespace

void Server::Impl::slot_routes() {
  http.Get("/slots", [this](const httplib::Request& q, httplib::Response& res) {
    try {
      if (q.get_param_value("fail_on_no_slot") == "1" &&
          sched.stats().running >= sched.options().parallel) {
        send_json(res, 503, error_json("no slot available", "unavailable_error"));
        return;
      }
      const auto& d = opt.defaults;
      const json params =
          generation_settings_json(d.sampling, d.extras, d.max_tokens, {}, false, 0);
      json out = json::array();
      for (const auto& s : sched.cache_slots()) {
        out.push_back({{"id", s.id},
                       {"id_task", -1},
                       {"n_ctx", context_length()},
                       {"speculative", sched.options().speculative()},
                       {"is_processing", s.pinned},
                       {"n_tokens", s.tokens.size()},
                       {"checkpoint", s.checkpoint},
                       {"params", params},
                       {"next_token",
                        {{"has_next_token", s.pinned},
                         {"has_new_line", false},
                         {"n_remain", -1},
                         {"n_decoded", 0},
                         {"stopping_word", ""}}}});
      }
      send_json(res, 200, out);
    } catch (const Error& e) {
      send_error(res, e);
    }
  });
  http.Post(R"(/slots/(\d+))", [this](const httplib::Request& q, httplib::Response& res) {
    try {
      const std::string digits = q.matches[1];
      require(digits.size() <= 9, ErrorCode::InvalidArgument, "slot {}: no such slot", digits);
      const auto id = static_cast<uint32_t>(std::stoul(digits));
      const std::string action = q.get_param_value("action");
      if (action == "erase") {
        const size_t n = sched.erase_slot(id);
        send_json(res, 200, {{"id_slot", id}, {"n_erased", n}});
        return;
      }
      require(action == "save" || action == "restore", ErrorCode::InvalidArgument,
              "action '{}': give ?action=save, restore or erase", action);
      if (opt.slot_save_path.empty()) {
        send_json(res, 501,
                  error_json(fmt::format("slot {}: start the server with --slot-save-path DIR "
                                         "to save and restore slots",
                                         action),
                             "not_supported_error"));
        return;
      }
      const std::string name = parse_slot_filename(q.body);
      const auto path = std::filesystem::path(opt.slot_save_path) / name;
      const auto t0 = std::chrono::steady_clock::now();
      if (action == "save") {
        const size_t n = sched.save_slot(id, path);
        const double ms = ms_since(t0);
        if (opt.log) fmt::print(stderr, "slot {}: {} tokens saved to {}\n", id, n, path.string());
        send_json(res, 200,
                  {{"id_slot", id},
                   {"filename", name},
                   {"n_saved", n},
                   {"n_written", file_bytes(path)},
                   {"timings", {{"save_ms", ms}}}});
        return;
      }
      if (!std::filesystem::is_regular_file(path)) {
        send_json(res, 404,
                  error_json(fmt::format("filename: no file '{}' in {}", name, opt.slot_save_path),
                             "not_found_error"));
        return;
      }
      const size_t n = sched.restore_slot(id, path);
      const double ms = ms_since(t0);
      if (opt.log) {
        fmt::print(stderr, "slot {}: {} tokens restored from {}\n", id, n, path.string());
      }
      send_json(res, 200,
                {{"id_slot", id},
                 {"filename", name},
                 {"n_restored", n},
                 {"n_read", file_bytes(path)},
                 {"timings", {{"restore_ms", ms}}}});
    } catch (const Error& e) {
      // A file the server cannot use (another model's, corrupt) is the client's to fix.
      send_error(res, e.code() == ErrorCode::BadModelFile
                          ? Error(ErrorCode::InvalidArgument, e.message())
                          : e);
    }
  });
}

}  // namespace vkr::cli
