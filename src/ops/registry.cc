// Op registry: built once from the per-family registration functions (explicit calls, not static
// initialisers, so nothing is dropped when linking the static library).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iterator>
#include <mutex>

#include "kernels/gemm.h"
#include "ops/op.h"
#include "runtime/thread_pool.h"

namespace effi::ops {
namespace {

class FnKernel final : public Kernel {
 public:
  FnKernel(RunFn fn, size_t shared, size_t per_thread)
      : fn_(std::move(fn)), scratch_(shared), per_thread_(per_thread) {}
  size_t ScratchShared() const override { return scratch_; }
  size_t ScratchPerThread() const override { return per_thread_; }
  void Run(const ExecContext& ctx, const void* const* in, void* const* out,
           void* scratch) const override {
    fn_(ctx, in, out, scratch);
  }

 private:
  RunFn fn_;
  size_t scratch_;
  size_t per_thread_;
};

const std::vector<OpSchema>& Registry() {
  static const std::vector<OpSchema> reg = [] {
    std::vector<OpSchema> r;
    RegisterElementwiseOps(r);
    RegisterConvPoolOps(r);
    RegisterMatMulOps(r);
    RegisterNormOps(r);
    RegisterReduceOps(r);
    RegisterShapeOps(r);
    RegisterQuantOps(r);
    return r;
  }();
  return reg;
}

}  // namespace

std::unique_ptr<Kernel> MakeKernel(RunFn fn, size_t scratch_shared, size_t scratch_per_thread) {
  return std::make_unique<FnKernel>(std::move(fn), (scratch_shared + 63) / 64 * 64,
                                    (scratch_per_thread + 63) / 64 * 64);
}

std::unique_ptr<Kernel> Prepacked(std::unique_ptr<Kernel> kernel, std::vector<int> inputs) {
  kernel->set_prepacked_inputs(std::move(inputs));
  return kernel;
}

bool UseReferenceKernels() {
  static const bool ref = [] {
    const char* e = std::getenv("EFFI_KERNELS");
    return e && std::string(e) == "ref";
  }();
  return ref;
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
    kernels::GemmPacked(r0, r1, b.unit_begin(p0), b.unit_begin(p1), a, lda, b, c, ldc, ep);
  });
}

int ExecContext::threads() const { return pool ? pool->size() : 1; }

void ParallelFor(const ExecContext& ctx, int64_t tasks,
                 const std::function<void(int64_t, int)>& fn) {
  if (ctx.pool && tasks > 1) {
    ctx.pool->ParallelFor(tasks, fn);
  } else {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
  }
}

const OpSchema* FindOp(const std::string& domain, const std::string& op) {
  for (const OpSchema& s : Registry())
    if (s.domain == domain && s.op == op) return &s;
  return nullptr;
}

std::vector<const OpSchema*> AllOps() {
  std::vector<const OpSchema*> v;
  for (const OpSchema& s : Registry()) v.push_back(&s);
  return v;
}

const OpSchema& CheckNode(const Node& n) {
  const OpSchema* s = FindOp(n.domain, n.op);
  if (!s)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("unsupported op: node '{}' has op type '{}' in domain '{}'", n.name,
                            n.op, n.domain.empty() ? "ai.onnx" : n.domain));
  int ni = static_cast<int>(n.inputs.size()), no = static_cast<int>(n.outputs.size());
  if (ni < s->min_inputs || ni > s->max_inputs)
    Fail(n, fmt::format("has {} inputs, expected {}..{}", ni, s->min_inputs, s->max_inputs));
  if (no < s->min_outputs || no > s->max_outputs)
    Fail(n, fmt::format("has {} outputs, expected {}..{}", no, s->min_outputs, s->max_outputs));
  for (int i = 0; i < s->min_inputs && i < ni; ++i)
    if (n.inputs[i] < 0) Fail(n, fmt::format("required input {} is missing", i));
  for (const auto& [key, v] : n.attrs) {
    if (std::find(s->attrs.begin(), s->attrs.end(), key) == s->attrs.end())
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("{}: unsupported attribute '{}'", n.Describe(), key));
  }
  return *s;
}

const Value& In(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) Fail(n, fmt::format("input {} is missing", i));
  return g.values[n.inputs[i]];
}

Value& Out(Graph& g, const Node& n, size_t i) { return g.values[n.outputs[i]]; }

void SetOut(Graph& g, const Node& n, size_t i, DType dt, Shape shape) {
  if (i >= n.outputs.size() || n.outputs[i] < 0) return;
  NumElements(shape, fmt::format("output {} of {}", i, n.Describe()).c_str());
  Value& v = g.values[n.outputs[i]];
  v.dtype = dt;
  v.shape = std::move(shape);
  v.has_shape = true;
}

int64_t NormAxis(const Node& n, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    Fail(n, fmt::format("axis {} out of range for rank {}", axis, rank));
  return axis < 0 ? axis + rank : axis;
}

Shape BroadcastShapes(const Node& n, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      Fail(n, fmt::format("cannot broadcast shapes {} and {}", ShapeStr(a), ShapeStr(b)));
  }
  return out;
}

std::vector<int64_t> ConstInts(const Graph& g, const Node& n, size_t i, const char* what) {
  const Value& v = In(g, n, i);
  if (!v.is_constant())
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: {} (input {}) must be a constant or computable from shapes",
                            n.Describe(), what, i));
  if (v.dtype != DType::kI64 && v.dtype != DType::kI32)
    Fail(n, fmt::format("{} must be int64", what));
  return v.constant->ToInt64Vector();
}

void Fail(const Node& n, const std::string& msg) {
  throw Error(ErrorCode::kInvalidModel, fmt::format("{}: {}", n.Describe(), msg));
}
void Unsupported(const Node& n, const std::string& msg) {
  throw Error(ErrorCode::kUnsupported, fmt::format("{}: {}", n.Describe(), msg));
}
void RequireFloat(const Graph& g, const Node& n, size_t i) {
  const Value& v = In(g, n, i);
  if (v.dtype != DType::kF32)
    Unsupported(
        n, fmt::format("input {} has type {}, only float32 is supported", i, DTypeName(v.dtype)));
}

}  // namespace effi::ops
