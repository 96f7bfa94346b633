// Unit tests for the weight-folding passes: fold_batchnorm, fuse_linear, fold_layer_scale and
// merge_heads. Each checks that the rewrite happens, that results are unchanged, and that it does
// not fire where it would be wrong.
#include <gtest/gtest.h>

#include "graph_test_util.h"

namespace effi::testing {
namespace {

using passes::FoldBatchNorm;
using passes::FoldLayerScale;
using passes::FuseLinear;
using passes::MergeHeads;

std::map<std::string, AttrValue> Pads1() { return {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}; }

// ---- fold_batchnorm ----

// Conv -> BatchNormalization with positive variances.
struct ConvBn {
  Builder b;
  int x, conv, bn;
  explicit ConvBn(bool conv_bias = true, bool const_mean = true) {
    x = b.Input("x", {1, 3, 8, 8});
    std::vector<int> in{x, b.Random("w", {4, 3, 3, 3})};
    if (conv_bias) in.push_back(b.Random("cb", {4}));
    conv = b.Op("Conv", in, Pads1());
    Floats var = b.RandomFloats(4);
    for (float& v : var) v = std::fabs(v) + 0.5f;
    const int mean = const_mean ? b.Random("mean", {4}) : b.Input("mean_in", {4});
    bn = b.Op("BatchNormalization",
              {conv, b.Random("gamma", {4}), b.Random("beta", {4}), mean, b.Const("var", {4}, var)},
              {{"epsilon", 1e-3f}});
    b.Output(bn);
  }
};

TEST(FoldBatchNorm, FoldsIntoConv) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "conv with bias" : "conv without bias");
    ConvBn m(bias);
    Graph g = CheckPasses(m.b.g, {FoldBatchNorm}, 1);
    EXPECT_EQ(Count(g, "BatchNormalization"), 0);
    EXPECT_EQ(Count(g, "Conv"), 1);
    EXPECT_EQ(FindNode(g, "Conv")->inputs.size(), 3u);  // bias added when there was none
  }
}

TEST(FoldBatchNorm, NotWhenConvOutputHasTwoConsumers) {
  ConvBn m;
  m.b.Output(m.b.Op("Relu", {m.conv}));
  Graph g = CheckPasses(m.b.g, {FoldBatchNorm}, 0);
  EXPECT_EQ(Count(g, "BatchNormalization"), 1);
}

TEST(FoldBatchNorm, NotWhenConvOutputIsGraphOutput) {
  ConvBn m;
  m.b.Output(m.conv);
  Graph g = CheckPasses(m.b.g, {FoldBatchNorm}, 0);
  EXPECT_EQ(Count(g, "BatchNormalization"), 1);
}

TEST(FoldBatchNorm, NotWhenStatisticsAreRuntimeValues) {
  ConvBn m(true, /*const_mean=*/false);
  Graph g = CheckPasses(m.b.g, {FoldBatchNorm}, 0);
  EXPECT_EQ(Count(g, "BatchNormalization"), 1);
}

TEST(FoldBatchNorm, NotAfterANonConv) {
  Builder b;
  const int x = b.Input("x", {1, 4, 5, 5});
  Floats var(4, 2.0f);
  b.Output(b.Op("BatchNormalization", {b.Op("Relu", {x}), b.Random("g", {4}), b.Random("b", {4}),
                                       b.Random("m", {4}), b.Const("v", {4}, var)}));
  Graph g = CheckPasses(b.g, {FoldBatchNorm}, 0);
  EXPECT_EQ(Count(g, "BatchNormalization"), 1);
}

// ---- fuse_linear ----

TEST(FuseLinear, MatMulPlusBias) {
  for (bool bias_first : {false, true}) {
    Builder b;
    const int x = b.Input("x", {2, 5, 8});
    const int mm = b.Op("MatMul", {x, b.Random("w", {8, 6})});
    const int bias = b.Random("bias", {6});
    b.Output(b.Op("Add", bias_first ? std::vector<int>{bias, mm} : std::vector<int>{mm, bias}));
    Graph g = CheckPasses(b.g, {FuseLinear}, 1);
    EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
    EXPECT_EQ(FindNode(g, "effi.Linear")->inputs.size(), 3u);
  }
}

TEST(FuseLinear, GemmWithTransBAlphaBeta) {
  Builder b;
  const int x = b.Input("x", {3, 8});
  b.Output(b.Op("Gemm", {x, b.Random("w", {6, 8}), b.Random("c", {6})},
                {{"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 1);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
}

TEST(FuseLinear, NotForRuntimeWeights) {
  Builder b;
  b.Output(b.Op("MatMul", {b.Input("x", {2, 5, 8}), b.Input("w", {8, 6})}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 0);
  EXPECT_EQ(HistogramStr(g), "MatMul:1 ");
}

TEST(FuseLinear, NotForGemmTransA) {
  Builder b;
  b.Output(b.Op("Gemm", {b.Input("x", {8, 3}), b.Random("w", {8, 6})}, {{"transA", int64_t{1}}}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 0);
  EXPECT_EQ(HistogramStr(g), "Gemm:1 ");
}

TEST(FuseLinear, NotForGemmWithMatrixC) {
  Builder b;
  b.Output(b.Op("Gemm", {b.Input("x", {3, 8}), b.Random("w", {8, 6}), b.Random("c", {3, 6})}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 0);
  EXPECT_EQ(HistogramStr(g), "Gemm:1 ");
}

TEST(FuseLinear, KeepsAddThatIsNotAPerColumnBias) {
  Builder b;
  const int mm = b.Op("MatMul", {b.Input("x", {2, 5, 8}), b.Random("w", {8, 6})});
  b.Output(b.Op("Add", {mm, b.Random("rowbias", {5, 6})}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 1);
  EXPECT_EQ(HistogramStr(g), "Add:1 effi.Linear:1 ");
}

TEST(FuseLinear, KeepsBiasAddWhenMatMulOutputIsShared) {
  Builder b;
  const int mm = b.Op("MatMul", {b.Input("x", {4, 8}), b.Random("w", {8, 6})});
  b.Output(b.Op("Add", {mm, b.Random("bias", {6})}));
  b.Output(b.Op("Relu", {mm}));
  Graph g = CheckPasses(b.g, {FuseLinear}, 1);
  EXPECT_EQ(HistogramStr(g), "Add:1 Relu:1 effi.Linear:1 ");
}

// ---- fold_layer_scale ----

struct ConvScale {
  Builder b;
  int x, conv;
  ConvScale() {
    x = b.Input("x", {1, 3, 8, 8});
    conv = b.Op("Conv", {x, b.Random("w", {4, 3, 3, 3}), b.Random("cb", {4})}, Pads1());
  }
};

TEST(FoldLayerScale, PerChannelMulAfterConv) {
  for (Shape s : {Shape{4, 1, 1}, Shape{1, 4, 1, 1}, Shape{1}}) {
    SCOPED_TRACE(ShapeStr(s));
    ConvScale m;
    m.b.Output(m.b.Op("Mul", {m.b.Random("ls", s, 0.5f, 0.2f), m.conv}));
    Graph g = CheckPasses(m.b.g, {FoldLayerScale}, 1);
    EXPECT_EQ(HistogramStr(g), "Conv:1 ");
  }
}

TEST(FoldLayerScale, PerColumnMulAfterLinear) {
  Builder b;
  const int mm = b.Op("MatMul", {b.Input("x", {2, 5, 8}), b.Random("w", {8, 6})});
  const int lin = b.Op("Add", {mm, b.Random("bias", {6})});
  b.Output(b.Op("Mul", {lin, b.Random("ls", {6})}));
  Graph g = CheckPasses(b.g, {FuseLinear, FoldLayerScale}, 1);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
}

TEST(FoldLayerScale, NotForSpatiallyVaryingScale) {
  for (Shape s : {Shape{1, 4, 8, 8}, Shape{1, 1, 8, 1}, Shape{8}}) {
    SCOPED_TRACE(ShapeStr(s));
    ConvScale m;
    m.b.Output(m.b.Op("Mul", {m.conv, m.b.Random("s", s)}));
    Graph g = CheckPasses(m.b.g, {FoldLayerScale}, 0);
    EXPECT_EQ(Count(g, "Mul"), 1);
  }
}

TEST(FoldLayerScale, NotWhenScaleBroadcastsTheOutputUp) {
  ConvScale m;
  m.b.Output(m.b.Op("Mul", {m.conv, m.b.Random("s", {2, 4, 1, 1})}));
  Graph g = CheckPasses(m.b.g, {FoldLayerScale}, 0);
  EXPECT_EQ(Count(g, "Mul"), 1);
}

TEST(FoldLayerScale, NotWhenConvOutputHasTwoConsumers) {
  ConvScale m;
  m.b.Output(m.b.Op("Mul", {m.conv, m.b.Random("s", {4, 1, 1})}));
  m.b.Output(m.b.Op("Relu", {m.conv}));
  Graph g = CheckPasses(m.b.g, {FoldLayerScale}, 0);
  EXPECT_EQ(Count(g, "Mul"), 1);
}

TEST(FoldLayerScale, NotForRuntimeScale) {
  ConvScale m;
  m.b.Output(m.b.Op("Mul", {m.conv, m.b.Input("s", {4, 1, 1})}));
  Graph g = CheckPasses(m.b.g, {FoldLayerScale}, 0);
  EXPECT_EQ(Count(g, "Mul"), 1);
}

// ---- merge_heads ----

// (head(x) + head_dist(x)) / 2 with two Gemm heads, as timm exports it.
struct Heads {
  Builder b;
  int x, h1, h2, sum;
  explicit Heads(bool same_input = true) {
    x = b.Input("x", {2, 16});
    const int x2 = same_input ? x : b.Input("x2", {2, 16});
    auto gemm = [&](int in, const char* w, const char* c) {
      return b.Op("Gemm", {in, b.Random(w, {10, 16}), b.Random(c, {10})}, {{"transB", int64_t{1}}});
    };
    h1 = gemm(x, "w1", "b1");
    h2 = gemm(x2, "w2", "b2");
    sum = b.Op("Add", {h1, h2});
  }
};

TEST(MergeHeads, DivByTwoAndMulByHalf) {
  for (bool div : {true, false}) {
    Heads m;
    m.b.Output(div ? m.b.Op("Div", {m.sum, m.b.Scalar("two", 2.0f)})
                   : m.b.Op("Mul", {m.sum, m.b.Scalar("half", 0.5f)}));
    Graph g = CheckPasses(m.b.g, {FuseLinear, MergeHeads}, 1);
    EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
  }
}

TEST(MergeHeads, NotForOtherScale) {
  Heads m;
  m.b.Output(m.b.Op("Div", {m.sum, m.b.Scalar("three", 3.0f)}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, MergeHeads}, 0);
  EXPECT_EQ(Count(g, "effi.Linear"), 2);
}

TEST(MergeHeads, NotForHeadsOnDifferentInputs) {
  Heads m(/*same_input=*/false);
  m.b.Output(m.b.Op("Div", {m.sum, m.b.Scalar("two", 2.0f)}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, MergeHeads}, 0);
  EXPECT_EQ(Count(g, "effi.Linear"), 2);
}

TEST(MergeHeads, NotWhenAHeadIsUsedElsewhere) {
  Heads m;
  m.b.Output(m.b.Op("Div", {m.sum, m.b.Scalar("two", 2.0f)}));
  m.b.Output(m.h2);
  Graph g = CheckPasses(m.b.g, {FuseLinear, MergeHeads}, 0);
  EXPECT_EQ(Count(g, "effi.Linear"), 2);
}

TEST(MergeHeads, NotForTheSameHeadTwice) {
  Builder b;
  const int h = b.Op("Gemm", {b.Input("x", {2, 16}), b.Random("w", {16, 10}), b.Random("c", {10})});
  b.Output(b.Op("Div", {b.Op("Add", {h, h}), b.Scalar("two", 2.0f)}));
  Graph g = CheckPasses(b.g, {FuseLinear, MergeHeads}, 0);
  EXPECT_EQ(Count(g, "effi.Linear"), 1);
}

}  // namespace
}  // namespace effi::testing
