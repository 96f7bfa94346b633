// Intra-op threading of the GEMM-based ops: effi.Linear, effi.Conv (pointwise, whole-im2col for
// small M, chunked im2col for large M) and effi.Attention run with 1, 2 and 3 threads on shapes
// that exercise the 2-D GEMM split (small M, N not a multiple of the panel width) and must match
// the reference kernels. Also ParallelGemm directly over many (m, n) and the split chooser's shape,
// ParallelRows' task boundaries, the row-split ops (token mixer, LayerNorm, softmax, transpose,
// broadcast add) at 1-4 threads, and the reductions' row-sum fast path against the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "graph_test_util.h"
#include "kernels/gemm.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"
#include "runtime/thread_pool.h"

namespace effi {
namespace {

using testing::Builder;
using testing::Floats;
namespace ref = kernels::ref;

Floats RandomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Floats v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void ExpectClose(const Floats& got, const Floats& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > 1e-4f + 1e-4f * std::fabs(want[i]) && ++bad <= 5)
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << " want " << want[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

using testing::RunNode;

TEST(ParallelOps, LinearMatchesReference) {
  struct Case {
    int64_t m, k, n;
    int act;
    bool res;
  };
  for (const Case& c :
       {Case{49, 100, 200, 2, true}, Case{196, 64, 72, 1, false}, Case{3, 40, 1000, 0, true},
        Case{1, 17, 33, 0, false}, Case{600, 48, 192, 2, true}, Case{49, 448, 31, 0, false}}) {
    SCOPED_TRACE(::testing::Message() << "m=" << c.m << " k=" << c.k << " n=" << c.n);
    Builder b;
    const int x = b.Input("x", {c.m, c.k});
    const int w = b.Random("w", {c.k, c.n});
    const int bias = b.Random("b", {c.n});
    std::vector<int> ins{x, w, bias};
    if (c.res) ins.push_back(b.Input("r", {c.m, c.n}));
    b.Output(b.Op("Linear", ins, {{"activation", AttrValue(int64_t{c.act})}}, kEffiDomain));
    const Floats xv = RandomVec(static_cast<size_t>(c.m * c.k), 1),
                 rv = RandomVec(static_cast<size_t>(c.m * c.n), 2);
    const float* wv = b.g.values[w].constant->as<float>();
    const float* bv = b.g.values[bias].constant->as<float>();
    Floats want(static_cast<size_t>(c.m * c.n));
    ref::gemm_f32(false, false, c.m, c.n, c.k, 1.0f, xv.data(), c.k, wv, c.n, 0.0f, want.data(),
                  c.n);
    ref::epilogue_f32(c.m, c.n, bv, static_cast<ref::Activation>(c.act),
                      c.res ? rv.data() : nullptr, want.data());
    for (int t : {1, 2, 3}) {
      std::vector<const Floats*> in{&xv};
      if (c.res) in.push_back(&rv);
      ExpectClose(RunNode(b.g, in, t), want, "threads=" + std::to_string(t));
    }
  }
}

struct ConvCase {
  int64_t h, w, cin, cout, k, stride, pad, dil;
  bool res;
};

TEST(ParallelOps, NhwcConvMatchesReference) {
  const ConvCase cases[] = {
      {7, 7, 64, 90, 1, 1, 0, 1, true},      // pointwise, M = 49
      {14, 14, 40, 70, 3, 2, 1, 1, true},    // 3x3 s2 downsample, M = 49: whole im2col, N split
      {14, 14, 24, 100, 3, 1, 1, 1, false},  // M = 196, whole im2col
      {9, 11, 5, 37, 3, 1, 2, 2, false},     // dilation 2
      {64, 70, 3, 24, 3, 2, 1, 1, false},    // stem-like c_in = 3 (whole im2col)
      {130, 130, 16, 20, 3, 1, 1, 1, true},  // M = 16900 x K = 144: chunked im2col
      {100, 96, 8, 45, 5, 2, 2, 1, false},   // chunked, 5x5 stride 2, taps cut at both edges
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.h << "x" << c.w << "x" << c.cin << " -> " << c.cout << " k" << c.k << " s"
                 << c.stride << " p" << c.pad << " d" << c.dil);
    Builder b;
    const int x = b.Input("x", {1, c.h, c.w, c.cin});
    const int w = b.Random("w", {c.cout, c.k, c.k, c.cin});
    const int bias = b.Random("b", {c.cout});
    ref::Conv2dParams p{1,   c.cin,    c.h,      c.w,   c.cout, 0,     0,     c.k,
                        c.k, c.stride, c.stride, c.pad, c.pad,  c.dil, c.dil, 1};
    p.h_out = (c.h + 2 * c.pad - c.dil * (c.k - 1) - 1) / c.stride + 1;
    p.w_out = (c.w + 2 * c.pad - c.dil * (c.k - 1) - 1) / c.stride + 1;
    const int64_t out_elems = p.h_out * p.w_out * c.cout;
    std::vector<int> ins{x, w, bias};
    if (c.res) ins.push_back(b.Input("r", {1, p.h_out, p.w_out, c.cout}));
    b.Output(b.Op("Conv", ins,
                  {{"strides", AttrValue(std::vector<int64_t>{c.stride, c.stride})},
                   {"pads", AttrValue(std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad})},
                   {"dilations", AttrValue(std::vector<int64_t>{c.dil, c.dil})},
                   {"activation", AttrValue(int64_t{1})}},
                  kEffiDomain));
    const Floats xv = RandomVec(static_cast<size_t>(c.h * c.w * c.cin), 3);
    const Floats rv = RandomVec(static_cast<size_t>(out_elems), 4);
    Floats want(static_cast<size_t>(out_elems));
    ref::conv2d_nhwc_f32(p, xv.data(), b.g.values[w].constant->as<float>(), nullptr, want.data());
    ref::epilogue_f32(p.h_out * p.w_out, c.cout, b.g.values[bias].constant->as<float>(),
                      ref::Activation::kRelu, c.res ? rv.data() : nullptr, want.data());
    for (int t : {1, 2, 3}) {
      std::vector<const Floats*> in{&xv};
      if (c.res) in.push_back(&rv);
      ExpectClose(RunNode(b.g, in, t), want, "threads=" + std::to_string(t));
    }
  }
}

TEST(ParallelOps, AttentionMatchesReference) {
  const int64_t B = 1, H = 3, N = 49, D = 16, Dv = 40;
  Builder b;
  const int q = b.Input("q", {B, H, N, D});
  const int k = b.Input("k", {B, H, N, D});
  const int v = b.Input("v", {B, H, N, Dv});
  const int bias = b.Random("bias", {H, N, N});
  b.Output(b.Op("Attention", {q, k, v, bias}, {{"scale", AttrValue(0.25f)}}, kEffiDomain));
  const Floats qv = RandomVec(static_cast<size_t>(B * H * N * D), 5),
               kv = RandomVec(static_cast<size_t>(B * H * N * D), 6),
               vv = RandomVec(static_cast<size_t>(B * H * N * Dv), 7);
  const float* bv = b.g.values[bias].constant->as<float>();
  Floats want(static_cast<size_t>(B * H * N * Dv)), s(static_cast<size_t>(N * N));
  for (int64_t h = 0; h < B * H; ++h) {
    ref::gemm_f32(false, true, N, N, D, 0.25f, qv.data() + h * N * D, D, kv.data() + h * N * D, D,
                  0.0f, s.data(), N);
    for (int64_t i = 0; i < N * N; ++i) s[static_cast<size_t>(i)] += bv[(h % H) * N * N + i];
    ref::softmax_f32(N, N, 1, s.data(), s.data());
    ref::gemm_f32(false, false, N, Dv, N, 1.0f, s.data(), N, vv.data() + h * N * Dv, Dv, 0.0f,
                  want.data() + h * N * Dv, Dv);
  }
  for (int t : {1, 2, 3})
    ExpectClose(RunNode(b.g, {&qv, &kv, &vv}, t), want, "threads=" + std::to_string(t));
}

// effi.PackedAttention reads head h's q, k, v as strided column blocks of X [B,N,H,2Dk+Dv] and
// writes out[b, n, h, :]: checked against the reference on copies of those blocks, batch 2.
TEST(ParallelOps, PackedAttentionMatchesReference) {
  const int64_t B = 2, H = 3, N = 49, D = 16, Dv = 40, C = 2 * D + Dv;
  Builder b;
  const int x = b.Input("x", {B, N, H, C});
  const int bias = b.Random("bias", {H, N, N});
  b.Output(b.Op("PackedAttention", {x, bias},
                {{"key_dim", AttrValue(D)}, {"scale", AttrValue(0.25f)}}, kEffiDomain));
  const Floats xv = RandomVec(static_cast<size_t>(B * N * H * C), 5);
  const float* bv = b.g.values[bias].constant->as<float>();
  Floats want(static_cast<size_t>(B * N * H * Dv)), s(static_cast<size_t>(N * N));
  Floats q(static_cast<size_t>(N * D)), k(q.size()), v(static_cast<size_t>(N * Dv)), o(v.size());
  for (int64_t bb = 0; bb < B; ++bb)
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t n = 0; n < N; ++n) {
        const float* row = xv.data() + ((bb * N + n) * H + h) * C;
        std::copy(row, row + D, q.begin() + n * D);
        std::copy(row + D, row + 2 * D, k.begin() + n * D);
        std::copy(row + 2 * D, row + C, v.begin() + n * Dv);
      }
      ref::gemm_f32(false, true, N, N, D, 0.25f, q.data(), D, k.data(), D, 0.0f, s.data(), N);
      for (int64_t i = 0; i < N * N; ++i) s[static_cast<size_t>(i)] += bv[h * N * N + i];
      ref::softmax_f32(N, N, 1, s.data(), s.data());
      ref::gemm_f32(false, false, N, Dv, N, 1.0f, s.data(), N, v.data(), Dv, 0.0f, o.data(), Dv);
      for (int64_t n = 0; n < N; ++n)
        std::copy(o.begin() + n * Dv, o.begin() + (n + 1) * Dv,
                  want.begin() + ((bb * N + n) * H + h) * Dv);
    }
  for (int t : {1, 2, 3}) ExpectClose(RunNode(b.g, {&xv}, t), want, "threads=" + std::to_string(t));
}

// Every row exactly once, and at t threads the boundaries include rows * i / t, so thread i's own
// share is the same rows in every op (what keeps a core reading rows it wrote).
TEST(ParallelOps, ParallelRowsCoversEachRowOnceOnTheSharedBoundaries) {
  for (int t : {1, 2, 3, 4}) {
    std::unique_ptr<ThreadPool> pool;
    ops::ExecContext ctx;
    if (t > 1) {
      pool = std::make_unique<ThreadPool>(t);
      ctx.pool = pool.get();
    }
    for (int64_t rows : {1, 2, 3, 5, 7, 14, 28, 49, 56, 112, 1001}) {
      for (bool parallel : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "t=" << t << " rows=" << rows << " " << parallel);
        std::vector<int> hits(static_cast<size_t>(rows), 0);
        std::vector<std::pair<int64_t, int64_t>> ranges;
        std::mutex mu;
        ops::ParallelRows(ctx, rows, parallel, [&](int64_t r0, int64_t r1, int thread) {
          std::lock_guard<std::mutex> lock(mu);
          EXPECT_LT(r0, r1);
          EXPECT_GE(thread, 0);
          EXPECT_LT(thread, t);
          ranges.push_back({r0, r1});
          for (int64_t r = r0; r < r1; ++r) ++hits[static_cast<size_t>(r)];
        });
        for (int h : hits) EXPECT_EQ(h, 1);
        if (!parallel || t == 1) {
          EXPECT_EQ(ranges.size(), 1u);
          continue;
        }
        if (rows < t) continue;
        EXPECT_EQ(ranges.size() % static_cast<size_t>(t), 0u);
        for (int i = 1; i < t; ++i) {
          const int64_t b = rows * i / t;
          EXPECT_TRUE(std::any_of(ranges.begin(), ranges.end(),
                                  [&](const auto& r) { return r.first == b; }))
              << "no task starts at " << b;
        }
      }
    }
  }
}

// The ops that split rows with ParallelRows give the same result at 1-4 threads (shapes with tails:
// 7 and 13 rows of odd widths, and L1's 14x14x224 token mixer).
TEST(ParallelOps, RowSplitOpsMatchOneThread) {
  struct Case {
    std::string name;
    std::function<int(Builder&, int)> build;  // returns the output given input x
    Shape x;
  };
  const std::vector<Case> cases = {
      {"PoolMixer",
       [](Builder& b, int x) {
         return b.Op("PoolMixer", {x, b.Random("s", {224})}, {}, kEffiDomain);
       },
       {1, 14, 14, 224}},
      {"PoolMixer tail",
       [](Builder& b, int x) { return b.Op("PoolMixer", {x}, {}, kEffiDomain); },
       {1, 13, 7, 72}},
      {"LayerNorm",
       [](Builder& b, int x) {
         return b.Op("LayerNormalization", {x, b.Random("g", {448}), b.Random("be", {448})},
                     {{"axis", AttrValue(int64_t{-1})}});
       },
       {1, 49, 448}},
      {"Softmax",
       [](Builder& b, int x) {
         return b.Op("Softmax", {x}, {{"axis", AttrValue(int64_t{-1})}});
       },
       {3, 13, 2049}},
      {"Transpose",
       [](Builder& b, int x) {
         return b.Op("Transpose", {x}, {{"perm", AttrValue(std::vector<int64_t>{0, 2, 1})}});
       },
       {13, 97, 67}},
      {"Add",
       [](Builder& b, int x) {
         return b.Op("Add", {x, b.Random("r", {1, 1, 301})});
       },
       {1, 229, 301}},
  };
  for (const Case& c : cases) {
    Builder b(17);
    const int x = b.Input("x", c.x);
    b.Output(c.build(b, x));
    const Floats xv = RandomVec(static_cast<size_t>(NumElements(c.x)), 11);
    const Floats want = RunNode(b.g, {&xv}, 1);
    for (int t : {2, 3, 4})
      ExpectClose(RunNode(b.g, {&xv}, t), want, c.name + " threads=" + std::to_string(t));
  }
}

TEST(ParallelOps, ParallelGemmAllShapes) {
  const int64_t k = 37;
  for (int t : {1, 2, 3}) {
    std::unique_ptr<ThreadPool> pool;
    ops::ExecContext ctx;
    if (t > 1) {
      pool = std::make_unique<ThreadPool>(t);
      ctx.pool = pool.get();
    }
    for (int64_t n : {1, 16, 33, 100, 448}) {
      const Floats w = RandomVec(static_cast<size_t>(k * n), 8),
                   bias = RandomVec(static_cast<size_t>(n), 9);
      const kernels::PackedB packed(w.data(), k, n, n);
      for (int64_t m : {1, 7, 8, 9, 49, 196, 301}) {
        SCOPED_TRACE(::testing::Message() << "t=" << t << " m=" << m << " n=" << n);
        const Floats a = RandomVec(static_cast<size_t>(m * k), 10),
                     r = RandomVec(static_cast<size_t>(m * n), 11);
        Floats want(static_cast<size_t>(m * n)), got(static_cast<size_t>(m * n), -7.0f);
        ref::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, w.data(), n, 0.0f, want.data(), n);
        ref::epilogue_f32(m, n, bias.data(), ref::Activation::kGelu, r.data(), want.data());
        kernels::GemmEpilogue ep{bias.data(), ref::Activation::kGelu, r.data(), n};
        ops::ParallelGemm(ctx, m, a.data(), k, packed, got.data(), n, ep);
        ExpectClose(got, want, "ParallelGemm");
      }
    }
  }
}

TEST(ParallelOps, SplitChoice) {
  // Stage 3 of L1 (M = 49): two threads split N, each block the full 49 rows.
  ops::GemmSplit s = ops::ChooseGemmSplit(2, 49, 448, 2016, 32);
  EXPECT_EQ(s.tm, 1);
  EXPECT_EQ(s.tn, 2);
  // Stage 0 (M = 3136): split M into an even number of blocks of <= 256 rows.
  s = ops::ChooseGemmSplit(2, 3136, 192, 48, 32);
  EXPECT_EQ(s.tn, 1);
  EXPECT_EQ(s.tasks() % 2, 0);
  EXPECT_LE((3136 + s.tm - 1) / s.tm, 256);
  // One thread, small problem: one block.
  s = ops::ChooseGemmSplit(1, 49, 448, 448, 32);
  EXPECT_EQ(s.tasks(), 1);
  // Never more blocks than 8-row units x panels.
  s = ops::ChooseGemmSplit(3, 1, 16, 8, 32);
  EXPECT_EQ(s.tasks(), 1);
}

// ReduceMean / ReduceSum over one contiguous run of axes with >= 16 contiguous elements after it
// take a vectorised row-sum path (the model's final mean over tokens); other axis sets, ops and
// short inner extents the reference. Every case against ref::reduce_f32.
TEST(FastOps, ReduceRowSumsMatchReference) {
  struct Case {
    const char* op;
    Shape x;
    std::vector<int64_t> axes;
    int64_t keep;
  };
  const Case cases[] = {
      {"ReduceMean", {1, 49, 448}, {1}, 0},      // EfficientFormer's token mean
      {"ReduceMean", {2, 5, 3, 40}, {1, 2}, 1},  // two adjacent axes, batch 2
      {"ReduceSum", {3, 7, 17}, {-2}, 1},        // odd inner extent (vector tail)
      {"ReduceMean", {4, 300, 16}, {1}, 0},      // len above the fast path's cap: reference
      {"ReduceMean", {2, 3, 40}, {0, 2}, 1},     // not one run: reference
      {"ReduceMax", {1, 49, 64}, {1}, 0},        // not a sum: reference
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.op << " " << ShapeStr(c.x));
    Builder b;
    const int x = b.Input("x", c.x);
    b.Output(b.Op(c.op, {x}, {{"axes", AttrValue(c.axes)}, {"keepdims", AttrValue(c.keep)}}));
    const Floats xv = RandomVec(static_cast<size_t>(NumElements(c.x)), 12);
    bool mask[16] = {};
    for (int64_t a : c.axes) mask[a < 0 ? a + static_cast<int64_t>(c.x.size()) : a] = true;
    int64_t out = 1;
    for (size_t i = 0; i < c.x.size(); ++i) out *= mask[i] ? 1 : c.x[i];
    Floats want(static_cast<size_t>(out));
    ref::reduce_f32(std::string(c.op) == "ReduceSum"   ? ref::ReduceOp::kSum
                    : std::string(c.op) == "ReduceMax" ? ref::ReduceOp::kMax
                                                       : ref::ReduceOp::kMean,
                    static_cast<int>(c.x.size()), c.x.data(), mask, xv.data(), want.data());
    ExpectClose(RunNode(b.g, {&xv}, 1), want, c.op);
  }
}

}  // namespace
}  // namespace effi
