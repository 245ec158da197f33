// scheduler_slots.cpp: the kept states as numbered cache slots (Scheduler::cache_slots() and the
// file operations; see scheduler.hpp). The Session belongs to the scheduler's thread, so every
// operation is a task that thread runs between two steps: a save never sees a state half
// written by a decode step, and a restore lands before the next prompt looks for a kept state.
#include <fmt/format.h>

#include <algorithm>

#include "scheduler.hpp"
#include "vkr/error.hpp"

namespace vkr::cli {

void Scheduler::on_loop(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  auto done = packaged.get_future();
  {
    std::lock_guard lk(mu_);
    require(!stop_, ErrorCode::Io, "the server is shutting down");
    tasks_.push_back(std::move(packaged));
  }
  cv_.notify_all();
  try {
    done.get();
  } catch (const std::future_error&) {  // dropped unrun by a stopping scheduler
    throw Error(ErrorCode::Io, "the server is shutting down");
  }
}

void Scheduler::run_tasks() {
  std::deque<std::packaged_task<void()>> tasks;
  {
    std::lock_guard lk(mu_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) t();  // a task's exception goes to its caller through the future
}

Scheduler::Kept& Scheduler::kept_slot(uint32_t id) {
  require(!kept_.empty(), ErrorCode::InvalidArgument,
          "slot {}: this server keeps no cache slots (serve --cache-states 0)", id);
  require(id < kept_.size(), ErrorCode::InvalidArgument,
          "slot {}: this server keeps {} cache slots, 0 to {} (serve --cache-states)", id,
          kept_.size(), static_cast<int64_t>(kept_.size()) - 1);
  return kept_[id];
}

std::vector<Scheduler::CacheSlot> Scheduler::cache_slots() {
  std::vector<CacheSlot> out;
  on_loop([&] {
    for (uint32_t i = 0; i < kept_.size(); ++i) {
      const Kept& k = kept_[i];
      out.push_back({i, k.tokens, k.top >= 0, pinned(i)});
    }
  });
  return out;
}

size_t Scheduler::save_slot(uint32_t id, const std::filesystem::path& path) {
  size_t n = 0;
  on_loop([&] {
    const Kept& k = kept_slot(id);
    require(!k.tokens.empty(), ErrorCode::InvalidArgument,
            "slot {} holds no state (no request has ended in it, or it was erased)", id);
    session_.state().save_file(k.slot, path, k.tokens);
    n = k.tokens.size();
  });
  return n;
}

size_t Scheduler::restore_slot(uint32_t id, const std::filesystem::path& path) {
  size_t n = 0;
  on_loop([&] {
    Kept& k = kept_slot(id);
    // Read into the scratch state first: a refused file leaves the slot as it was. The run
    // slots are the scratch: one that is free now (the task runs between steps, so nothing
    // is using it); with every one busy, the file is read straight into the kept slot.
    const auto free_run = std::find(runs_.begin(), runs_.end(), nullptr);
    const bool scratch = free_run != runs_.end();
    const uint32_t into = scratch ? static_cast<uint32_t>(free_run - runs_.begin()) : k.slot;
    std::vector<int32_t> tokens;
    try {
      tokens = session_.state().load_file(into, path);
    } catch (...) {
      if (!scratch) k = Kept{k.slot, {}, 0};  // its state is unknown now
      throw;
    }
    if (tokens.empty()) {
      if (!scratch) k = Kept{k.slot, {}, 0};
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("{}: the state file records no tokens (written by vkrwkv before "
                              "state files kept them): the server matches prompts by the "
                              "tokens a state has read",
                              path.string()));
    }
    if (scratch) session_.state().copy(into, k.slot);
    k = Kept{k.slot, std::move(tokens), ++clock_};
    n = k.tokens.size();
  });
  return n;
}

size_t Scheduler::erase_slot(uint32_t id) {
  size_t n = 0;
  on_loop([&] {
    Kept& k = kept_slot(id);
    n = k.tokens.size();
    k = Kept{k.slot, {}, 0};
  });
  return n;
}

}  // namespace vkr::cli
