// Intra-op scheduling (see parallel.h). The split chooser's constants were measured on L1's GEMM
// shapes on the 2-core dev VM; each is explained where it is used.
#include "runtime/parallel.h"

#include <array>
#include <iterator>

#include "kernels/gemm.h"
#include "kernels/qgemm.h"
#include "runtime/thread_pool.h"

namespace effi {

int ExecContext::threads() const { return pool ? pool->size() : 1; }

void ParallelFor(const ExecContext& ctx, int64_t tasks,
                 const std::function<void(int64_t, int)>& fn) {
  if (ctx.pool && tasks > 1) {
    ctx.pool->ParallelFor(tasks, fn);
  } else {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
  }
}

int64_t RowsPerTask(const ExecContext& ctx, int64_t m, int64_t align) {
  const int t = ctx.threads();
  if (t <= 1) return std::max<int64_t>(m, 1);
  // ~4 tasks per thread balance uneven cores without making tiles too short.
  int64_t rows = (m + 4 * t - 1) / (4 * t);
  rows = std::max<int64_t>(rows, 2 * align);
  return (rows + align - 1) / align * align;
}

void ParallelRows(const ExecContext& ctx, int64_t rows, bool parallel,
                  const std::function<void(int64_t, int64_t, int)>& fn) {
  if (rows <= 0) return;
  const int64_t t = ctx.threads();
  if (!parallel || t <= 1 || rows < 2) {
    fn(0, rows, 0);
    return;
  }
  const int64_t tasks = std::min(rows, t * std::clamp<int64_t>(rows / (2 * t), 1, 4));
  ParallelFor(ctx, tasks, [&](int64_t j, int thread) {
    fn(SplitBegin(rows, tasks, j), SplitBegin(rows, tasks, j + 1), thread);
  });
}

namespace {

GemmSplit ComputeGemmSplit(int threads, int64_t m, int64_t n, int64_t k, int64_t nr) {
  GemmSplit best;
  if (m <= 0 || n <= 0) return best;
  const int64_t t = std::max(threads, 1);
  const int64_t mu = (m + 7) / 8, np = (n + nr - 1) / nr;
  // Cost model in multiply-adds per thread: the largest block's padded work, plus streaming its
  // B columns (reused only `rows` times: worth ~16 rows of compute) and its A rows, plus a fixed
  // cost per task. Blocks over 256 rows lose the L2 residency of the A slice. A column split also
  // leaves each output row half in each core's cache, and the row-split op that usually follows
  // (the next GEMM at >= 196 rows, the token mixer) fetches the other half from the other core at
  // ~4-7 GB/s: kRemote multiply-adds per output element of a column split. It turns L1's stage-2
  // fc1 (196x896x224) into a row split like its fc2 (2 threads: fc2 -0.05 ms and mixers -0.02 ms
  // over the stage, fc1 +0.01 ms, measured); the 49-row stage keeps its column splits.
  constexpr double kStream = 16.0, kTaskCost = 30000.0, kMaxRows = 256.0, kRemote = 32.0;
  double best_cost = 0;
  bool have = false;
  for (int64_t tn = 1; tn <= std::min<int64_t>(np, 4 * t); ++tn) {
    const double cols = static_cast<double>((np + tn - 1) / tn * nr);
    for (int64_t tm = 1; tm <= std::min<int64_t>(mu, 64 * t); ++tm) {
      const double rows =
          std::min<double>(static_cast<double>((mu + tm - 1) / tm * 8), static_cast<double>(m));
      double block =
          static_cast<double>(std::max<int64_t>(k, 1)) * ((rows + kStream) * cols + kStream * rows);
      if (rows > kMaxRows) block *= 1.15;
      const int64_t tasks = tm * tn;
      double cost =
          static_cast<double>((tasks + t - 1) / t) * block + kTaskCost * static_cast<double>(tasks);
      if (tn > 1)
        cost += kRemote * static_cast<double>(m * n) * static_cast<double>(t - 1) /
                static_cast<double>(t);
      if (!have || cost < best_cost) best_cost = cost, best = {tm, tn}, have = true;
    }
  }
  return best;
}

}  // namespace

GemmSplit ChooseGemmSplit(int threads, int64_t m, int64_t n, int64_t k, int64_t nr) {
  // The search costs ~1 us at 1 thread and ~3 us at 2 (measured) and runs on every GEMM call, ~40
  // per L1 inference (~0.13 ms at 2 threads): memoised per calling thread in a small direct-mapped
  // table (the result is a pure function of the arguments).
  struct Entry {
    int64_t key[5] = {-1, -1, -1, -1, -1};
    GemmSplit split;
  };
  thread_local std::array<Entry, 64> cache;
  const int64_t key[5] = {threads, m, n, k, nr};
  uint64_t h = 1469598103934665603ull;
  for (int64_t v : key) h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
  Entry& e = cache[h % cache.size()];
  if (!std::equal(std::begin(key), std::end(key), std::begin(e.key))) {
    e.split = ComputeGemmSplit(threads, m, n, k, nr);
    std::copy(std::begin(key), std::end(key), std::begin(e.key));
  }
  return e.split;
}

void ParallelGemm(const ExecContext& ctx, int64_t m, const float* a, int64_t lda,
                  const kernels::PackedB& b, float* c, int64_t ldc,
                  const kernels::GemmEpilogue& ep) {
  ParallelPackedGemm(ctx, m, b, [&](int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    kernels::GemmPacked(r0, r1, n0, n1, a, lda, b, c, ldc, ep);
  });
}

namespace {

// One driver for the three output types of the int8 GEMM.
template <class C, class... Epilogue>
void RunParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                      int32_t a_zero_point, const kernels::PackedBQ8& b, C* c, int64_t ldc,
                      const Epilogue&... ep) {
  ParallelPackedGemm(ctx, m, b, [&](int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    kernels::QGemmPacked(r0, r1, n0, n1, a, lda, a_zero_point, b, c, ldc, ep...);
  });
}

}  // namespace

void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, float* c, int64_t ldc,
                   const kernels::QGemmEpilogue& ep) {
  RunParallelQGemm(ctx, m, a, lda, a_zero_point, b, c, ldc, ep);
}

void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, uint8_t* c, int64_t ldc,
                   const kernels::QGemmEpilogue& ep) {
  RunParallelQGemm(ctx, m, a, lda, a_zero_point, b, c, ldc, ep);
}

void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, int32_t* c, int64_t ldc) {
  RunParallelQGemm(ctx, m, a, lda, a_zero_point, b, c, ldc);
}

Im2colGemmPlan PlanIm2colGemm(int64_t m, int64_t kdim, size_t elem_bytes) {
  auto round64 = [](size_t bytes) { return (bytes + 63) / 64 * 64; };
  Im2colGemmPlan plan;
  plan.m = m, plan.kdim = kdim, plan.elem_bytes = elem_bytes;
  const size_t whole_bytes = static_cast<size_t>(m * kdim) * elem_bytes;
  plan.whole = whole_bytes <= Im2colGemmPlan::kWholeBytes;
  if (plan.whole)
    plan.scratch_shared = round64(whole_bytes);
  else
    plan.scratch_per_thread =
        round64(static_cast<size_t>(Im2colGemmPlan::kChunkRows * kdim) * elem_bytes);
  return plan;
}

}  // namespace effi
