// ThreadPool: every task runs exactly once per ParallelFor, back to back and after the workers
// went to sleep, with tiny and uneven tasks (late workers skip closed jobs), and the first
// exception is rethrown.
#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace effi {
namespace {

TEST(ThreadPool, EveryTaskOnceManyJobs) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    for (int iter = 0; iter < 3000; ++iter) {
      const int64_t tasks = 1 + iter % 64;
      for (auto& h : hits) h.store(0);
      pool.ParallelFor(tasks, [&](int64_t t, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        if (iter % 7 == 0 && t == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        hits[static_cast<size_t>(t)].fetch_add(1);
      });
      for (int64_t t = 0; t < 64; ++t)
        ASSERT_EQ(hits[static_cast<size_t>(t)].load(), t < tasks ? 1 : 0) << iter;
      if (iter % 500 == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(3));  // workers sleep
    }
  }
}

TEST(ThreadPool, RethrowsFirstException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.ParallelFor(16,
                                [](int64_t t, int) {
                                  if (t == 5) throw std::runtime_error("task 5");
                                }),
               std::runtime_error);
  std::atomic<int> n{0};
  pool.ParallelFor(10, [&](int64_t, int) { n.fetch_add(1); });
  EXPECT_EQ(n.load(), 10);
}

}  // namespace
}  // namespace effi
