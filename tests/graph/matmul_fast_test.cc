// The fast fp32 MatMul (src/ops/matmul_ops.cc: B packed per batch into each thread's scratch, or
// once at load for a constant 2-D B) against a plain double-accumulating product, on random
// batched and broadcast shapes with odd M, K, N (vector tails, 1-row and vector operands, batch
// broadcast on either side, EfficientFormerV2's attention shapes), at 1-3 threads; and the fast
// Resize / effi.Resize at 2-3 threads against 1 thread (row splits; bitwise equal, each output
// row being computed the same way by whichever thread owns it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "graph_test_util.h"
#include "ops/op.h"

namespace effi::testing {
namespace {

#ifdef EFFI_TEST_MAX_THREADS
constexpr int kMaxThreads = EFFI_TEST_MAX_THREADS;
#else
constexpr int kMaxThreads = 3;
#endif

// numpy matmul of A and B (ranks >= 1, broadcast batch), accumulated in double.
Floats NaiveMatMul(const Shape& a0, const Floats& a, const Shape& b0, const Floats& b, Shape* out) {
  Shape as = a0, bs = b0;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const size_t rank = std::max(as.size(), bs.size());
  as.insert(as.begin(), rank - as.size(), 1);
  bs.insert(bs.begin(), rank - bs.size(), 1);
  Shape batch(rank - 2);
  for (size_t d = 0; d + 2 < rank; ++d) batch[d] = std::max(as[d], bs[d]);
  const int64_t nb = NumElements(batch);
  Floats y;
  for (int64_t i = 0; i < nb; ++i) {
    int64_t rem = i, ao = 0, bo = 0, astride = 1, bstride = 1;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      ao += (as[d] == 1 ? 0 : idx) * astride;
      bo += (bs[d] == 1 ? 0 : idx) * bstride;
      astride *= as[d];
      bstride *= bs[d];
    }
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) {
        double s = 0;
        for (int64_t q = 0; q < k; ++q)
          s += static_cast<double>(a[static_cast<size_t>((ao * m + r) * k + q)]) *
               b[static_cast<size_t>((bo * k + q) * n + c)];
        y.push_back(static_cast<float>(s));
      }
  }
  *out = batch;
  if (a0.size() > 1) out->push_back(m);
  if (b0.size() > 1) out->push_back(n);
  return y;
}

struct MatMulCase {
  Shape a, b;
  bool const_b = false;
};

TEST(MatMulFast, MatchesNaiveOnBatchedAndBroadcastShapes) {
  const MatMulCase cases[] = {
      {{1, 8, 49, 16}, {1, 8, 16, 196}},  // EfficientFormerV2-S0's attention
      {{1, 8, 49, 196}, {1, 8, 196, 64}},
      {{1, 2, 49, 49}, {1, 2, 49, 128}},
      {{2, 3, 5, 7}, {2, 3, 7, 9}},
      {{3, 13, 17}, {17, 33}},        // B broadcast over A's batch (runtime)
      {{3, 13, 17}, {17, 33}, true},  // the same B constant: packed at load
      {{2, 1, 5, 7}, {1, 4, 7, 50}},  // both broadcast; N over a 48-wide panel
      {{5, 7}, {3, 7, 9}},            // A broadcast over B's batch
      {{1, 11}, {11, 1}},             // 1 x 1 output
      {{11}, {2, 11, 5}},             // vector A
      {{4, 11}, {11}},                // vector B
      {{4, 11}, {11}, true},
      {{1, 1, 3}, {1, 3, 17}},  // one row
      {{200, 9}, {9, 70}},      // tall A: row splits
      {{200, 9}, {9, 70}, true},
      {{2, 0, 5}, {2, 5, 3}},  // empty M
      {{2, 4, 0}, {2, 0, 3}},  // K = 0: zeros
  };
  Builder data;
  for (const MatMulCase& c : cases) {
    SCOPED_TRACE(ShapeStr(c.a) + " x " + ShapeStr(c.b) + (c.const_b ? " (constant B)" : ""));
    Builder b;
    const int a = b.Input("a", c.a);
    const Floats bv = data.RandomFloats(NumElements(c.b));
    const int bi = c.const_b ? b.Const("b", c.b, bv) : b.Input("b", c.b);
    b.Output(b.Op("MatMul", {a, bi}));
    const Graph g = Prepared(b.g);
    std::map<std::string, Floats> in = {{"a", data.RandomFloats(NumElements(c.a))}};
    if (!c.const_b) in["b"] = bv;
    Shape want_shape;
    const Floats want = NaiveMatMul(c.a, in["a"], c.b, bv, &want_shape);
    ASSERT_EQ(g.values[g.outputs[0]].shape, want_shape);
    // The fast path is what runs (unless EFFI_KERNELS=ref): a constant B is packed at load, a
    // runtime one in per-thread scratch.
    if (!ops::UseReferenceKernels() && NumElements(want_shape) > 0 && c.a.back() > 0) {
      const Node* mm = FindNode(g, "MatMul");
      auto kernel = ops::CheckNode(*mm).create(*mm, g);
      if (c.const_b)
        EXPECT_EQ(kernel->prepacked_inputs(), std::vector<int>{1});
      else
        EXPECT_GT(kernel->ScratchPerThread(), 0u);
    }
    std::vector<const Floats*> node_in = {&in["a"]};
    if (!c.const_b) node_in.push_back(&in["b"]);
    // Tolerance per element from sum_k |a b| (the naive product of the absolute values): float
    // sums in another order differ by up to ~K * 2^-24 of it (NEON's FMA order at K = 196 gave
    // 1.06e-5 on a result of 0.034); a wrong or missing term moves a result by ~|a b| ~ 1.
    auto absolute = [](Floats v) {
      for (float& x : v) x = std::fabs(x);
      return v;
    };
    Shape abs_shape;
    const Floats absum = NaiveMatMul(c.a, absolute(in["a"]), c.b, absolute(bv), &abs_shape);
    const int64_t k = c.a.back();
    for (int t = 1; t <= kMaxThreads; ++t) {
      const Floats got = RunNode(b.g, node_in, t);
      ASSERT_EQ(got.size(), want.size());
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const double tol = 2.0 * static_cast<double>(k + 1) * std::ldexp(absum[i], -24) + 1e-7;
        if (!(std::fabs(got[i] - want[i]) <= tol) && ++bad <= 3)
          ADD_FAILURE() << "threads " << t << " [" << i << "]: " << got[i] << " want " << want[i];
      }
      EXPECT_EQ(bad, 0) << "threads " << t;
    }
  }
}

// Resize (NCHW fast kernel) and effi.Resize (NHWC) split by rows at 2-3 threads: bitwise equal
// to 1 thread. Shapes large enough for the row split (>= 2^15 outputs), with odd planes.
TEST(MatMulFast, ResizeRowSplitsMatchOneThread) {
  std::vector<Builder> graphs;
  {
    Builder b(13);
    const int x = b.Input("x", {1, 67, 9, 11});
    b.Output(b.Op("Resize", {x, -1, -1, b.Ints("sizes", {1, 67, 19, 29}, {4})},
                  {{"mode", std::string("linear")}}));
    graphs.push_back(b);
  }
  {
    Builder b(13);
    const int x = b.Input("x", {2, 7, 9, 37});
    b.Output(b.Op("Resize", {x},
                  {{"mode", std::string("linear")},
                   {"coordinate_transformation_mode", std::string("align_corners")},
                   {"sizes", std::vector<int64_t>{15, 31}}},
                  kEffiDomain));
    graphs.push_back(b);
  }
  {
    Builder b(13);
    const int x = b.Input("x", {1, 40, 10, 10});
    b.Output(b.Op("Resize", {x, -1, b.Const("s", {4}, {1, 1, 3.5f, 2.5f})},
                  {{"mode", std::string("nearest")}}));
    graphs.push_back(b);
  }
  for (size_t i = 0; i < graphs.size(); ++i) {
    const Graph& g = graphs[i].g;
    const Floats x = graphs[i].RandomFloats(NumElements(g.values[g.inputs[0]].shape));
    const Floats one = RunNode(g, {&x}, 1);
    EXPECT_GE(one.size(), size_t{1} << 15) << "graph " << i;
    for (int t = 2; t <= kMaxThreads; ++t) {
      const Floats got = RunNode(g, {&x}, t);
      ASSERT_EQ(got.size(), one.size());
      EXPECT_EQ(std::memcmp(got.data(), one.data(), one.size() * sizeof(float)), 0)
          << "graph " << i << " threads " << t;
    }
  }
}

}  // namespace
}  // namespace effi::testing
