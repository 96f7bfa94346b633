// A small fork-join thread pool for intra-op parallelism: the calling thread works too, workers
// spin briefly before sleeping (an op boundary costs ~1 us instead of a futex wake-up, measured
// as 5-8 us per op on this 2-core VM), and nothing is oversubscribed: a session with N threads
// owns N-1 workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace effi {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(task, thread_index) for task in [0, tasks); thread_index in [0, size()). Blocks until
  // all tasks are done. The first exception thrown by a task is rethrown here.
  void ParallelFor(int64_t tasks, const std::function<void(int64_t, int)>& fn);

 private:
  void WorkerLoop(int index);
  void RunTasks(int thread_index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  std::exception_ptr error_;
  std::mutex error_mu_;
};

}  // namespace effi
