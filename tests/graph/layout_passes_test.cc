// Unit tests for channels_last (NCHW ops -> effi NHWC ops, transposes sunk and cancelled) and
// fuse_epilogue (activation / residual Add folded into effi.Conv and effi.Linear).
#include <gtest/gtest.h>

#include "graph_test_util.h"

namespace effi::testing {
namespace {

using passes::FuseEpilogue;
using passes::FuseGelu;
using passes::FuseLinear;
using passes::ToChannelsLast;

std::map<std::string, AttrValue> Pads1() { return {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}; }

// ---- channels_last ----

// An EfficientFormer-like stem + block: Conv/Relu, 1x1 Conv with residual, pooling mixer,
// layer scale, global pooling.
TEST(ChannelsLast, ConvertsAndCancelsTransposes) {
  Builder b;
  const int x = b.Input("x", {1, 3, 8, 8});
  const int r =
      b.Op("Relu", {b.Op("Conv", {x, b.Random("w1", {8, 3, 3, 3}), b.Random("b1", {8})}, Pads1())});
  const int c2 = b.Op("Conv", {r, b.Random("w2", {8, 8, 1, 1}), b.Random("b2", {8})});
  const int a = b.Op("Add", {c2, r});
  const int p = b.Op("AveragePool", {a},
                     {{"kernel_shape", std::vector<int64_t>{3, 3}},
                      {"strides", std::vector<int64_t>{1, 1}},
                      {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const int s = b.Op("Sub", {p, a});
  const int m = b.Op("Mul", {s, b.Random("ls", {8, 1, 1})});
  const int dw = b.Op("Conv", {m, b.Random("w3", {8, 1, 3, 3})},
                      {{"group", int64_t{8}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.Output(b.Op("GlobalAveragePool", {b.Op("Add", {dw, a})}));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, kAnyRewrites);
  EXPECT_EQ(Count(g, "Conv"), 0) << HistogramStr(g);
  EXPECT_EQ(Count(g, "AveragePool"), 0);
  EXPECT_EQ(Count(g, "GlobalAveragePool"), 0);
  EXPECT_EQ(Count(g, "effi.Conv"), 3);
  EXPECT_EQ(Count(g, "effi.AvgPool"), 1);
  EXPECT_EQ(Count(g, "effi.GlobalAvgPool"), 1);
  // No transpose is left: the 3-channel first conv reads the NCHW input itself (nchw_input) and
  // [1,8,1,1] NHWC->NCHW only moves size-1 dims.
  EXPECT_EQ(Count(g, "Transpose"), 0) << HistogramStr(g);
}

// Few input channels (<= 4, the stem conv over RGB): effi.Conv reads NCHW, no input transpose;
// more channels keep the transpose and the GEMM path. CheckPasses runs both graphs and compares.
TEST(ChannelsLast, FewChannelConvReadsNchwInput) {
  for (int64_t c : {3, 8}) {
    Builder b;
    const int x = b.Input("x", {1, c, 9, 11});
    b.Output(b.Op(
        "Conv", {x, b.Random("w", {5, c, 3, 3}), b.Random("b", {5})},
        {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
    Graph g = CheckPasses(b.g, {ToChannelsLast}, kAnyRewrites);
    ASSERT_EQ(Count(g, "effi.Conv"), 1);
    for (const Node& n : g.nodes) {
      if (n.IsEffi("Conv")) {
        EXPECT_EQ(n.GetInt("nchw_input", 0), c == 3 ? 1 : 0) << c;
      }
    }
    // The output NHWC->NCHW transpose stays; the input one only with 8 channels.
    EXPECT_EQ(Count(g, "Transpose"), c == 3 ? 1 : 2) << HistogramStr(g);
  }
}

// timm's Flat (flatten(2).transpose(1,2)) after a conv becomes a reshape of the NHWC tensor.
TEST(ChannelsLast, FlatBecomesReshape) {
  Builder b;
  const int x = b.Input("x", {2, 3, 4, 4});
  const int c = b.Op("Conv", {x, b.Random("w", {6, 3, 3, 3}), b.Random("b", {6})}, Pads1());
  const int flat = b.Op("Reshape", {c, b.Ints("shape", {2, 6, 16}, {3})});
  b.Output(b.Op("Transpose", {flat}, {{"perm", std::vector<int64_t>{0, 2, 1}}}));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, kAnyRewrites);
  EXPECT_EQ(Count(g, "effi.Conv"), 1);
  // The 3-channel conv reads NCHW directly: no transpose left at all.
  EXPECT_EQ(Count(g, "Transpose"), 0) << HistogramStr(g);
}

TEST(ChannelsLast, LeavesConv1dAlone) {
  Builder b;
  b.Output(b.Op("Conv", {b.Input("x", {1, 3, 16}), b.Random("w", {4, 3, 3}), b.Random("b", {4})},
                {{"pads", std::vector<int64_t>{1, 1}}}));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, 0);
  EXPECT_EQ(HistogramStr(g), "Conv:1 ");
}

TEST(ChannelsLast, LeavesRuntimeWeightConvAlone) {
  Builder b;
  b.Output(b.Op("Conv", {b.Input("x", {1, 3, 8, 8}), b.Input("w", {4, 3, 3, 3})}, Pads1()));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, 0);
  EXPECT_EQ(HistogramStr(g), "Conv:1 ");
}

TEST(ChannelsLast, LeavesCeilModeCountIncludePadPoolAlone) {
  Builder b;
  b.Output(b.Op("AveragePool", {b.Input("x", {1, 3, 7, 7})},
                {{"kernel_shape", std::vector<int64_t>{2, 2}},
                 {"strides", std::vector<int64_t>{2, 2}},
                 {"ceil_mode", int64_t{1}},
                 {"count_include_pad", int64_t{1}}}));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, 0);
  EXPECT_EQ(HistogramStr(g), "AveragePool:1 ");
}

TEST(ChannelsLast, CeilModePoolWithoutPadCountingConverts) {
  Builder b;
  b.Output(b.Op("AveragePool", {b.Input("x", {1, 3, 7, 7})},
                {{"kernel_shape", std::vector<int64_t>{2, 2}},
                 {"strides", std::vector<int64_t>{2, 2}},
                 {"ceil_mode", int64_t{1}}}));
  Graph g = CheckPasses(b.g, {ToChannelsLast}, kAnyRewrites);
  EXPECT_EQ(Count(g, "effi.AvgPool"), 1);
}

// ---- fuse_epilogue ----

// x [4,8] -> MatMul/Add (effi.Linear after fuse_linear) -> ...
struct LinearGraph {
  Builder b;
  int x, lin;
  LinearGraph() {
    x = b.Input("x", {4, 8});
    lin = b.Op("Add", {b.Op("MatMul", {x, b.Random("w", {8, 8})}), b.Random("bias", {8})});
  }
};

TEST(FuseEpilogue, ReluThenResidualIntoLinear) {
  LinearGraph m;
  m.b.Output(m.b.Op("Add", {m.b.Op("Relu", {m.lin}), m.x}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, FuseEpilogue}, 2);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
  const Node* lin = FindNode(g, "effi.Linear");
  EXPECT_EQ(lin->GetInt("activation", 0), 1);
  EXPECT_TRUE(lin->HasInput(3));
}

TEST(FuseEpilogue, GeluIntoLinear) {
  LinearGraph m;
  const int x = m.lin;
  const int onep = m.b.Op(
      "Add", {m.b.Op("Erf", {m.b.Op("Div", {x, m.b.Scalar("sqrt2", static_cast<float>(M_SQRT2))})}),
              m.b.Scalar("one", 1.0f)});
  m.b.Output(m.b.Op("Mul", {m.b.Op("Mul", {x, onep}), m.b.Scalar("half", 0.5f)}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, FuseGelu, FuseEpilogue}, 1);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
  EXPECT_EQ(FindNode(g, "effi.Linear")->GetInt("activation", 0), 2);
}

TEST(FuseEpilogue, ReluAndResidualIntoNhwcConv) {
  Builder b;
  const int x = b.Input("x", {1, 3, 6, 6});
  const int a = b.Op("Conv", {x, b.Random("w0", {4, 3, 1, 1})});
  const int c = b.Op("Conv", {a, b.Random("w", {4, 4, 3, 3}), b.Random("b", {4})}, Pads1());
  b.Output(b.Op("Add", {a, b.Op("Relu", {c})}));
  Graph g = CheckPasses(b.g, {ToChannelsLast, FuseEpilogue}, 2);
  EXPECT_EQ(Count(g, "effi.Conv"), 2);
  EXPECT_EQ(Count(g, "Add"), 0);
  EXPECT_EQ(Count(g, "Relu"), 0);
  for (const Node& n : g.nodes)
    if (n.IsEffi("Conv") && n.HasInput(3)) {
      EXPECT_EQ(n.GetInt("activation", 0), 1);
    }
}

// y + f(y): the residual depends on the op's own output, so it cannot be an input of the op.
TEST(FuseEpilogue, NotForResidualComputedFromTheOutput) {
  LinearGraph m;
  m.b.Output(m.b.Op("Add", {m.lin, m.b.Op("Neg", {m.lin})}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, FuseEpilogue}, 0);
  EXPECT_EQ(HistogramStr(g), "Add:1 Neg:1 effi.Linear:1 ");
}

// A residual produced after the op in the node order (independent of it): whether or not the pass
// fuses it, the result must be right.
TEST(FuseEpilogue, ResidualProducedLaterStaysCorrect) {
  LinearGraph m;
  const int late = m.b.Op("Neg", {m.b.Input("x2", {4, 8})});
  m.b.Output(m.b.Op("Add", {m.lin, late}));
  Graph base = Prepared(m.b.g);
  Graph g = base;
  ApplyPasses(g, {FuseLinear, FuseEpilogue});
  const auto in = RandomInputs(base);
  EXPECT_LE(RelDiff(Execute(g, in)[0], Execute(base, in)[0]), 1e-5);
}

TEST(FuseEpilogue, NotForConstantOrBroadcastingAdd) {
  for (bool constant : {true, false}) {
    LinearGraph m;
    const int other = constant ? m.b.Random("c", {4, 8}) : m.b.Input("row", {8});
    m.b.Output(m.b.Op("Add", {m.lin, other}));
    Graph g = CheckPasses(m.b.g, {FuseLinear, FuseEpilogue}, 0);
    EXPECT_EQ(Count(g, "Add"), 1);
  }
}

TEST(FuseEpilogue, NotWhenOutputIsAlsoUsedElsewhere) {
  LinearGraph m;
  m.b.Output(m.b.Op("Relu", {m.lin}));
  m.b.Output(m.lin);
  Graph g = CheckPasses(m.b.g, {FuseLinear, FuseEpilogue}, 0);
  EXPECT_EQ(Count(g, "Relu"), 1);
}

// act(x*W + b) + r is what the fused op computes; an activation after the residual is not.
TEST(FuseEpilogue, NoActivationAfterResidual) {
  LinearGraph m;
  m.b.Output(m.b.Op("Relu", {m.b.Op("Add", {m.lin, m.x})}));
  Graph g = CheckPasses(m.b.g, {FuseLinear, FuseEpilogue}, 1);
  EXPECT_EQ(HistogramStr(g), "Relu:1 effi.Linear:1 ");
}

}  // namespace
}  // namespace effi::testing
