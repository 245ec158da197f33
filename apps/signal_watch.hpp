// signal_watch.hpp: SIGINT / SIGTERM taken by a thread of their own (sigwait), so the reaction
// runs in ordinary thread context: stopping a server, setting a flag workers poll, printing
// (none of which a signal handler may do). Used by `serve` and `quantize`.
#pragma once

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <thread>

namespace vkr::cli {

class SignalWatch {
 public:
  // Runs `on_signal(name, number, ending)` on the watch thread for the first SIGINT / SIGTERM;
  // `ending` turns true when the watch is being destroyed (a handler that loops polls it).
  using Handler = std::function<void(const char*, int, const std::atomic<bool>&)>;

  // Blocks the two signals in the calling thread; threads started afterwards inherit the mask,
  // so make the watch before any other thread exists (the driver's, the HTTP server's).
  explicit SignalWatch(Handler on_signal) : on_signal_(std::move(on_signal)) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (!ending_) on_signal_(sig == SIGINT ? "SIGINT" : "SIGTERM", sig, ending_);
    });
  }
  ~SignalWatch() {
    ending_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes the sigwait if it still waits
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

 private:
  Handler on_signal_;
  sigset_t set_{};
  sigset_t old_{};
  std::atomic<bool> ending_{false};
  std::thread thread_;
};

}  // namespace vkr::cli
