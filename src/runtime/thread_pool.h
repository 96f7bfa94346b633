// A small fork-join thread pool for intra-op parallelism: the calling thread works too, workers
// spin briefly (~0.4 ms) before sleeping (an op boundary costs ~0.5 us instead of a futex wake-up,
// measured as 5-8 us per op on this 2-core VM, 50-80 us when the machine is busy), and nothing is
// oversubscribed: a session with N threads owns N-1 workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
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

  // job_ = generation << 16 | open << 15 | joined workers. A worker takes part in a ParallelFor
  // only by joining it while it is open; the caller closes it once every task is claimed and then
  // waits only for the workers that joined. A worker that was not scheduled in time (a busy
  // machine) is not waited for, and it can never run tasks of a finished or later job.
  static constexpr uint64_t kOpen = uint64_t{1} << 15, kJoinedMask = kOpen - 1;
  static constexpr int kGenShift = 16;

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> job_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  // Task claiming with affinity: thread i owns the contiguous range [lo, hi) packed in ranges_[i]
  // (hi << 32 | lo) and takes it from the front; when done it steals from the back of the others.
  // Ops split rows in task order, so consecutive ops give each core the same rows and it reads
  // mostly what it wrote itself: on this VM a row block written by the other core costs ~4 GB/s
  // to read back (measured: a 175 KB token mixer 5 us on 1 thread, 27 us after a 2-thread GEMM
  // with first-come task claiming).
  struct alignas(64) Range {
    std::atomic<uint64_t> v{0};
  };
  std::unique_ptr<Range[]> ranges_;
  // Takes the next task of thread i's range from the front (its owner) or the back (a thief);
  // -1 when the range is empty.
  int64_t Claim(int i, bool front);
  std::atomic<int> finished_{0};
  std::exception_ptr error_;
  std::mutex error_mu_;
};

}  // namespace effi
