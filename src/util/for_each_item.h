// Runs a job over numbered items on a few threads with a deterministic error: the library's
// evaluation (api/eval.cc) and the CLI's classify share it; and the default thread count.
// Header-only so that any layer (and the CLI) can use it without a link dependency (effi_util has
// no thread library).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace effi::util {

// The bound of every threads option (SessionOptions, the CLI's --threads, Evaluate, Quantize).
inline constexpr int kMaxThreads = 256;
// What a threads option of 0 (or not given) means: the CPU count, in 1..kMaxThreads.
inline int DefaultThreads() {
  return static_cast<int>(
      std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(kMaxThreads)));
}

// Runs body(i, worker) for every item i < count on `workers` threads (the calling thread is
// worker 0), after init(worker) on each thread (per-thread sessions). Items are handed out in
// order; after a failure no later item starts, and the exception of the lowest failing index is
// rethrown once every thread has stopped, so the error reported does not depend on scheduling.
// report(done) runs on the calling thread after each of its items (progress); it must not throw
// (the other workers would be left unjoined: std::terminate), so a caller whose callback may
// throw catches it there and makes body throw instead (api/eval.cc does).
inline void ForEachItem(size_t count, size_t workers,
                        const std::function<void(size_t worker)>& init,
                        const std::function<void(size_t item, size_t worker)>& body,
                        const std::function<void(size_t done)>& report = {}) {
  std::atomic<size_t> next{0}, done{0}, error_index{count};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto fail = [&](size_t i) {
    const std::lock_guard<std::mutex> lock(error_mutex);
    if (!error || i < error_index) {
      error = std::current_exception();
      error_index = i;
    }
  };
  auto worker = [&](size_t w) {
    try {
      if (init) init(w);
    } catch (...) {
      fail(0);
      return;
    }
    for (size_t i; (i = next++) < std::min<size_t>(count, error_index);) {
      try {
        body(i, w);
      } catch (...) {
        fail(i);
      }
      const size_t finished = ++done;
      if (w == 0 && report) report(finished);
    }
  };
  workers = std::clamp<size_t>(workers, 1, std::max<size_t>(count, 1));
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(worker, w);
  worker(0);
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace effi::util
