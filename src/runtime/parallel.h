// Intra-op scheduling shared by every op that splits its work across a session's threads: row
// splits, the 2-D split of a packed GEMM (generic over the packed-B type, so the fp32 GEMM and the
// int8 one share the split chooser and the driver) and the im2col + GEMM schedule of a KxK
// convolution (generic over the element type). Below the op layer: it knows kernels' packed
// operands but no graph.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace effi {

class ThreadPool;
namespace kernels {
class PackedB;
struct GemmEpilogue;
class PackedBQ8;
struct QGemmEpilogue;
}  // namespace kernels

struct ExecContext {
  ThreadPool* pool = nullptr;  // null: run on the calling thread
  int threads() const;
};

// Runs fn(task, thread_index) for task in [0, tasks) on the context's pool (or inline).
void ParallelFor(const ExecContext& ctx, int64_t tasks,
                 const std::function<void(int64_t, int)>& fn);

// [begin, end) of part i when `total` units are split into `parts` near-equal parts.
inline int64_t SplitBegin(int64_t total, int64_t parts, int64_t i) { return total * i / parts; }

// Splits rows [0, m) into tasks (multiples of `align` rows) for ctx's threads.
int64_t RowsPerTask(const ExecContext& ctx, int64_t m, int64_t align);
// Runs fn(r0, r1, thread_index) over rows [0, rows), split across ctx's threads when `parallel`:
// a multiple of the thread count of near-equal tasks (up to 4 per thread), so thread i's own tasks
// cover rows [rows * i / t, rows * (i + 1) / t) in every op, as the GEMM's balanced row splits do
// (the pool hands each thread its contiguous share first), and a core mostly reads rows it wrote.
// Fixed-size tasks did not: 7 tasks of 4 image rows gave one core 3/7 of a 28x28 token mixer and
// the other core the 56 token rows in between to fetch from its neighbour.
void ParallelRows(const ExecContext& ctx, int64_t rows, bool parallel,
                  const std::function<void(int64_t, int64_t, int)>& fn);

// A 2-D split of an [m, n] GEMM output into tm x tn blocks: rows in units of 8, columns costed in
// units of nr (ParallelPackedGemm passes 2 vectors and then splits the columns by single vectors).
// Chosen so every thread gets the same work and blocks stay efficient: large M splits M (blocks of
// <= ~256 rows so the A slice stays in L2), small M (a 7x7 stage has 49 rows) splits N, so each
// thread also streams only its share of the weights.
struct GemmSplit {
  int64_t tm = 1, tn = 1;
  int64_t tasks() const { return tm * tn; }
};
GemmSplit ChooseGemmSplit(int threads, int64_t m, int64_t n, int64_t k, int64_t nr);

// Output rows [0, m) x columns [0, b.n()) of a GEMM against a packed B (kernels::PackedB or
// kernels::PackedBQ8: both have n(), k(), lanes(), units(), unit_begin()), split across ctx's
// threads by ChooseGemmSplit; block(r0, r1, n0, n1) computes one block (n0 a multiple of lanes()).
// The int8 GEMM's register tiles have the same rows (8 / 6) and its int32 lanes the same width as
// the fp32 GEMM's, so the split tuned for fp32 fits it.
template <class Packed, class Block>
void ParallelPackedGemm(const ExecContext& ctx, int64_t m, const Packed& b, const Block& block) {
  if (m <= 0 || b.n() <= 0) return;
  // The cost model keeps its 2-vector column granularity (the splits it was tuned with; with 1
  // vector it took column splits for L1's stage-2 fc2, 196x224x896, measured slower: +0.15 ms at
  // 2 threads with the token mixers after it); the columns are then split in units of one vector,
  // so a thread's share may start inside a packed panel.
  const GemmSplit s = ChooseGemmSplit(ctx.threads(), m, b.n(), b.k(), 2 * b.lanes());
  const int64_t mu = (m + 7) / 8, np = b.units();
  ParallelFor(ctx, s.tasks(), [&](int64_t task, int) {
    const int64_t i = task / s.tn, j = task % s.tn;
    // Rows split in 8-row units. Splitting L1's 196 rows evenly (98 + 98, 14 tiles of 7 rows on
    // each core) instead of 96 + 100 (12 tiles of 8; 12 plus a 4-row tile) measured slower
    // (stage-2 fc1 +2 % at 2 threads): a 7-row tile costs about as much as an 8-row one.
    const int64_t r0 = SplitBegin(mu, s.tm, i) * 8,
                  r1 = std::min(m, SplitBegin(mu, s.tm, i + 1) * 8);
    const int64_t p0 = SplitBegin(np, s.tn, j), p1 = SplitBegin(np, s.tn, j + 1);
    block(r0, r1, b.unit_begin(p0), b.unit_begin(p1));
  });
}

// C[0:m, :] = A * packed B with epilogue (kernels::GemmPacked), split by ParallelPackedGemm.
void ParallelGemm(const ExecContext& ctx, int64_t m, const float* a, int64_t lda,
                  const kernels::PackedB& b, float* c, int64_t ldc,
                  const kernels::GemmEpilogue& ep);
// The same for the int8 GEMM (kernels::QGemmPacked): u8 A with zero point a_zero_point; C float or
// u8 through the epilogue, or the raw int32 accumulators.
void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, float* c, int64_t ldc,
                   const kernels::QGemmEpilogue& ep);
void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, uint8_t* c, int64_t ldc,
                   const kernels::QGemmEpilogue& ep);
void ParallelQGemm(const ExecContext& ctx, int64_t m, const uint8_t* a, int64_t lda,
                   int32_t a_zero_point, const kernels::PackedBQ8& b, int32_t* c, int64_t ldc);

// How a KxK convolution lowered to im2col + GEMM (m output rows, kdim = kh * kw * c_in columns of
// elem_bytes each) is scheduled, and the scratch it needs.
//  - whole: small M (stage downsamples at 14x14 and 7x7): the whole im2col (<= 1 MB, stays in L2)
//    is built once, split by rows across threads, then one ParallelPackedGemm splits the product
//    in 2-D (with M = 49 each thread takes half the columns and so streams only half the weights).
//  - chunked: large M: im2col of a chunk of <= 96 rows per task into the thread's scratch, then
//    the GEMM of that chunk. The chunk (<= 96 x 2016 floats) stays in L2; 96 rows are a multiple
//    of both MR values (6, 8). The chunk count is a multiple of the thread count and chunks differ
//    by at most 8 rows.
struct Im2colGemmPlan {
  static constexpr size_t kWholeBytes = size_t{1} << 20;
  static constexpr int64_t kChunkRows = 96;
  int64_t m = 0, kdim = 0;
  size_t elem_bytes = 0;
  bool whole = false;
  // For Kernel::Scratch{Shared,PerThread}: already multiples of 64 bytes, as MakeKernel rounds
  // them, so the slice offsets below are the kernel's.
  size_t scratch_shared = 0, scratch_per_thread = 0;
};
Im2colGemmPlan PlanIm2colGemm(int64_t m, int64_t kdim, size_t elem_bytes);

// Runs the plan: im2col(m0, m1, col) writes rows [m0, m1) of the columns ([m1 - m0][kdim] T) to
// col; block(a, r0, r1, n0, n1) computes output rows [r0, r1) x columns [n0, n1) from A rows a
// (a[0] is row r0, row stride kdim). `scratch` is the kernel's (shared part, then one slice per
// thread, as Kernel::ScratchBytes lays it out).
template <class T, class Packed, class Im2col, class Block>
void ParallelIm2colGemm(const ExecContext& ctx, const Im2colGemmPlan& plan, const Packed& b,
                        void* scratch, const Im2col& im2col, const Block& block) {
  const int64_t m = plan.m, kdim = plan.kdim;
  if (plan.whole) {
    T* col = static_cast<T*>(scratch);
    const int64_t parts = std::min<int64_t>(ctx.threads(), m);
    ParallelFor(ctx, parts, [&](int64_t t, int) {
      const int64_t m0 = SplitBegin(m, parts, t), m1 = SplitBegin(m, parts, t + 1);
      im2col(m0, m1, col + m0 * kdim);
    });
    ParallelPackedGemm(ctx, m, b, [&](int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
      block(static_cast<const T*>(col + r0 * kdim), r0, r1, n0, n1);
    });
    return;
  }
  const int64_t units = (m + 7) / 8, t = ctx.threads();
  constexpr int64_t kChunkUnits = Im2colGemmPlan::kChunkRows / 8;
  const int64_t chunks = std::min(units, ((units + kChunkUnits - 1) / kChunkUnits + t - 1) / t * t);
  ParallelFor(ctx, chunks, [&](int64_t c, int thread) {
    const int64_t m0 = SplitBegin(units, chunks, c) * 8,
                  m1 = std::min(m, SplitBegin(units, chunks, c + 1) * 8);
    T* col = reinterpret_cast<T*>(static_cast<uint8_t*>(scratch) + plan.scratch_shared +
                                  plan.scratch_per_thread * static_cast<size_t>(thread));
    im2col(m0, m1, col);
    block(static_cast<const T*>(col), m0, m1, int64_t{0}, b.n());
  });
}

}  // namespace effi
