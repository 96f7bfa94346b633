// Fork-join pool: each ParallelFor is a job with a generation number; each thread first runs its
// own contiguous share of the tasks (data affinity across ops), then steals from the others' backs
// so uneven tasks and a busy core still balance. Workers join an open job (see job_ in the
// header); the caller runs tasks too, closes the job when all are claimed and waits only for the
// workers that joined, so a descheduled worker never delays an op it took no part in.
#include "runtime/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EFFI_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define EFFI_PAUSE() asm volatile("yield")
#else
#define EFFI_PAUSE() ((void)0)
#endif

namespace effi {

ThreadPool::ThreadPool(int threads)
    : ranges_(new Range[static_cast<size_t>(std::max(threads, 1))]) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.fetch_add(uint64_t{1} << kGenShift);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
constexpr uint64_t Pack(uint64_t lo, uint64_t hi) { return hi << 32 | lo; }
}  // namespace

int64_t ThreadPool::Claim(int i, bool front) {
  std::atomic<uint64_t>& r = ranges_[static_cast<size_t>(i)].v;
  uint64_t v = r.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t lo = v & 0xffffffffu, hi = v >> 32;
    if (lo >= hi) return -1;
    const uint64_t next = front ? Pack(lo + 1, hi) : Pack(lo, hi - 1);
    if (r.compare_exchange_weak(v, next, std::memory_order_acq_rel, std::memory_order_acquire))
      return static_cast<int64_t>(front ? lo : hi - 1);
  }
}

void ThreadPool::RunTasks(int thread_index) {
  const int n = size();
  auto run = [&](int64_t t) {
    try {
      (*fn_)(t, thread_index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (!error_) error_ = std::current_exception();
      for (int i = 0; i < n; ++i)
        ranges_[static_cast<size_t>(i)].v.store(0);  // nothing left to claim
    }
  };
  for (int64_t t; (t = Claim(thread_index, /*front=*/true)) >= 0;) run(t);
  for (int k = 1; k < n; ++k) {
    const int victim = (thread_index + k) % n;
    for (int64_t t; (t = Claim(victim, /*front=*/false)) >= 0;) run(t);
  }
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;  // last generation this worker looked at
  for (;;) {
    // Spin a little: the next op usually follows within microseconds.
    uint64_t j = job_.load(std::memory_order_acquire);
    for (int spin = 0; (j >> kGenShift) == seen && spin < 20000; ++spin) {
      EFFI_PAUSE();
      j = job_.load(std::memory_order_acquire);
    }
    if ((j >> kGenShift) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);  // seq_cst: pairs with the caller's publish-then-check
      cv_.wait(lock, [&] { return (job_.load() >> kGenShift) != seen; });
      sleepers_.fetch_sub(1);
      j = job_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = j >> kGenShift;
    // Join while the job is open and still this generation; otherwise skip it.
    bool joined = false;
    while ((j & kOpen) && (j >> kGenShift) == seen) {
      if (job_.compare_exchange_weak(j, j + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    RunTasks(index);
    finished_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::ParallelFor(int64_t tasks, const std::function<void(int64_t, int)>& fn) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  // No worker is inside a job here (the previous one waited for all that joined).
  if (tasks >
      int64_t{0x7fffffff}) {  // the packed ranges hold 32-bit indices; never seen in practice
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  fn_ = &fn;
  const int n = size();
  for (int i = 0; i < n; ++i)
    ranges_[static_cast<size_t>(i)].v.store(
        Pack(static_cast<uint64_t>(tasks * i / n), static_cast<uint64_t>(tasks * (i + 1) / n)),
        std::memory_order_relaxed);
  finished_.store(0, std::memory_order_relaxed);
  error_ = nullptr;
  const uint64_t gen = (job_.load(std::memory_order_relaxed) >> kGenShift) + 1;
  job_.store(gen << kGenShift | kOpen);  // seq_cst: publish, then look for sleepers
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }
  RunTasks(0);
  // Every task is claimed: close the job; late workers will skip it.
  const uint64_t closed = job_.fetch_and(~kOpen, std::memory_order_acq_rel);
  const int joined = static_cast<int>(closed & kJoinedMask);
  while (finished_.load(std::memory_order_acquire) != joined) EFFI_PAUSE();
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace effi
