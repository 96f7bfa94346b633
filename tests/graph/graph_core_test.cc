// Unit tests for the mandatory graph machinery: topological sort and its errors, dead-node removal,
// input-shape binding, constant folding of torch's Shape->Gather->Unsqueeze->Concat->Reshape
// chains, PassOptions parsing and the Optimize pipeline report.
#include <gtest/gtest.h>

#include "effi/error.hpp"
#include "graph_test_util.h"

namespace effi::testing {
namespace {

using passes::PassOptions;

// ---- TopoSort ----

TEST(TopoSort, OrdersOutOfOrderNodes) {
  Builder b;
  const int x = b.Input("x", {4});
  // Node 0 consumes the output of node 1.
  const int late = b.g.AddValue("late");
  const int y = b.Op("Neg", {late});
  Node relu;
  relu.name = "relu";
  relu.op = "Relu";
  relu.inputs = {x};
  relu.outputs = {late};
  b.g.AddNode(relu);
  b.Output(y);
  b.g.TopoSort();
  ASSERT_EQ(b.g.nodes.size(), 2u);
  EXPECT_EQ(b.g.nodes[0].op, "Relu");
  EXPECT_EQ(b.g.nodes[1].op, "Neg");
}

TEST(TopoSort, RejectsCycle) {
  Builder b;
  const int x = b.Input("x", {4});
  const int a = b.g.AddValue("a"), c = b.g.AddValue("c");
  Node n1, n2;
  n1.name = "first", n1.op = "Add", n1.inputs = {x, c}, n1.outputs = {a};
  n2.name = "second", n2.op = "Relu", n2.inputs = {a}, n2.outputs = {c};
  b.g.AddNode(n1);
  b.g.AddNode(n2);
  b.Output(c);
  ExpectError([&] { b.g.TopoSort(); }, ErrorCode::kInvalidModel, {"cycle"});
}

TEST(TopoSort, RejectsValueProducedTwice) {
  Builder b;
  const int x = b.Input("x", {4});
  const int y = b.Op("Relu", {x});
  Node dup;
  dup.name = "dup", dup.op = "Neg", dup.inputs = {x}, dup.outputs = {y};
  b.g.AddNode(dup);
  b.Output(y);
  ExpectError([&] { b.g.TopoSort(); }, ErrorCode::kInvalidModel, {"produced more than once"});
}

TEST(TopoSort, RejectsInputNeverProduced) {
  Builder b;
  const int ghost = b.g.AddValue("ghost");
  b.Output(b.Op("Relu", {ghost}));
  ExpectError([&] { b.g.TopoSort(); }, ErrorCode::kInvalidModel, {"'ghost'"});
}

// ---- RemoveDeadNodes ----

TEST(RemoveDeadNodes, DropsUnusedBranchesAndTheirWeights) {
  Builder b;
  const int x = b.Input("x", {2, 3});
  const int w = b.Random("unused_w", {3, 3});
  b.Op("MatMul", {x, w});                // result unused
  const int flagged = b.Op("Neg", {x});  // used, but flagged dead below
  b.Output(b.Op("Relu", {x}));
  b.Output(flagged);
  b.g.nodes[1].dead = true;
  b.g.outputs.pop_back();
  b.g.RemoveDeadNodes();
  EXPECT_EQ(HistogramStr(b.g), "Relu:1 ");
  EXPECT_FALSE(b.g.values[w].is_constant()) << "weights of removed nodes are freed";
  EXPECT_EQ(b.g.values[x].name, "x");  // value ids stay stable
}

TEST(RemoveDeadNodes, KeepsMultiOutputNodesWithOneUsedOutput) {
  Builder b;
  const int x = b.Input("x", {6});
  const int s0 = b.g.AddValue("s0"), s1 = b.g.AddValue("s1");
  Node split;
  split.name = "split", split.op = "Split", split.inputs = {x}, split.outputs = {s0, s1};
  split.attrs = {{"axis", int64_t{0}}};
  b.g.AddNode(split);
  b.Output(b.Op("Relu", {s1}));
  Graph g = Prepared(b.g);
  EXPECT_EQ(HistogramStr(g), "Relu:1 Split:1 ");
  const auto out = Execute(g, {{"x", {1, 2, 3, -4, 5, -6}}});
  EXPECT_EQ(out[0], (Floats{0, 5, 0}));
}

// ---- Plan::Execute with inputs read in place ----

// Session::Run passes the caller's input buffers instead of copying them into the arena: kernels
// and views of an input (a Reshape) read the caller's buffer, an output that is a view of the
// input is read from it too, and the buffer is never written.
TEST(PlanExecute, ReadsBoundInputsAndTheirViewsInPlace) {
  Builder b;
  const int x = b.Input("x", {2, 3});
  const int flat = b.Op("Reshape", {x, b.Ints("shape", {6}, {1})});
  b.Output(b.Op("Relu", {flat}));
  b.Output(flat);
  Graph g = Prepared(b.g);
  auto plan = runtime::Plan::Build(g);
  const Floats in = {1, -2, 3, -4, 5, -6};
  Floats caller = in;
  // The arena's copy of x is left as garbage: every read must come from `caller`.
  std::vector<uint8_t> arena(plan->arena_bytes() + 128, 0xff), scratch(plan->scratch_bytes(1) + 64);
  uint8_t* a = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64);
  const void* bound[] = {caller.data()};
  plan->Execute(ops::ExecContext{}, a, scratch.data(), nullptr, bound);
  const Graph& pg = plan->graph();
  ASSERT_EQ(pg.outputs.size(), 2u);
  const auto* relu = static_cast<const float*>(plan->ValuePtr(a, pg.outputs[0], bound));
  const auto* view = static_cast<const float*>(plan->ValuePtr(a, pg.outputs[1], bound));
  EXPECT_EQ(Floats(relu, relu + 6), (Floats{1, 0, 3, 0, 5, 0}));
  EXPECT_EQ(view, caller.data());
  EXPECT_EQ(caller, in);
  // Without bound inputs the same plan reads the arena copy.
  std::memcpy(a + plan->offset(pg.inputs[0]), in.data(), in.size() * sizeof(float));
  plan->Execute(ops::ExecContext{}, a, scratch.data());
  relu = static_cast<const float*>(plan->ValuePtr(a, pg.outputs[0]));
  EXPECT_EQ(Floats(relu, relu + 6), (Floats{1, 0, 3, 0, 5, 0}));
}

// ---- BindInputShapes ----

TEST(BindInputShapes, SymbolicDimsDefaultToOneOrTakeTheGivenShape) {
  Builder b;
  const int x = b.Input("x", {-1, 3});
  b.Output(b.Op("Relu", {x}));
  Graph g1 = b.g;
  passes::BindInputShapes(g1, {});
  EXPECT_EQ(g1.values[x].shape, (Shape{1, 3}));
  Graph g5 = b.g;
  passes::BindInputShapes(g5, {{"x", {5, 3}}});
  EXPECT_EQ(g5.values[x].shape, (Shape{5, 3}));
}

TEST(BindInputShapes, RejectsContradictions) {
  Builder b;
  b.Output(b.Op("Relu", {b.Input("x", {-1, 3})}));
  Graph g = b.g;
  ExpectError(
      [&] {
        passes::BindInputShapes(g, {{"x", {2, 4}}});
      },
      ErrorCode::kInvalidArgument, {"'x'"});
  ExpectError(
      [&] {
        passes::BindInputShapes(g, {{"x", {2, 3, 1}}});
      },
      ErrorCode::kInvalidArgument, {"rank"});
  ExpectError(
      [&] {
        passes::BindInputShapes(g, {{"y", {2, 3}}});
      },
      ErrorCode::kInvalidArgument, {"'y'"});
  ExpectError(
      [&] {
        passes::BindInputShapes(g, {{"x", {int64_t{1} << 40, 3}}});
      },
      ErrorCode::kInvalidModel, {""});
}

// ---- constant folding ----

// torch's dynamic reshape target: Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]) with x's batch
// bound at compile time folds to a constant, leaving one Reshape.
TEST(ConstantFolding, ShapeGatherUnsqueezeConcatReshape) {
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE(batch);
    Builder b;
    const int x = b.Input("x", {-1, 4, 6});
    const int shape = b.Op("Shape", {x});
    const int n = b.Op("Gather", {shape, b.Ints("zero", {0}, {})}, {{"axis", int64_t{0}}});
    const int n1 = b.Op("Unsqueeze", {n, b.Ints("axes", {0}, {1})});
    const int target = b.Op("Concat", {n1, b.Ints("rest", {-1}, {1})}, {{"axis", int64_t{0}}});
    const int y = b.Op("Reshape", {x, target});
    b.Output(y);
    Graph g = b.g;
    g.TopoSort();
    passes::BindInputShapes(g, {{"x", {batch, 4, 6}}});
    passes::InferShapesAndFold(g);
    EXPECT_EQ(HistogramStr(g), "Reshape:1 ");
    const Node* r = FindNode(g, "Reshape");
    ASSERT_TRUE(g.values[r->inputs[1]].is_constant());
    EXPECT_EQ(g.values[r->inputs[1]].constant->ToInt64Vector(), (std::vector<int64_t>{batch, -1}));
    EXPECT_EQ(g.values[y].shape, (Shape{batch, 24}));
    const auto in = RandomInputs(g);
    EXPECT_EQ(Execute(g, in)[0], in.at("x"));
  }
}

TEST(ConstantFolding, AllConstantSubgraphBecomesAConstant) {
  Builder b;
  const int c = b.Op("Mul", {b.Op("Add", {b.Const("a", {2}, {1, 2}), b.Const("b", {2}, {3, 4})}),
                             b.Scalar("k", 2.0f)});
  b.Output(b.Op("Add", {b.Input("x", {2}), c}));
  Graph g = Prepared(b.g);
  EXPECT_EQ(HistogramStr(g), "Add:1 ");
  ASSERT_TRUE(g.values[c].is_constant());
  EXPECT_EQ(g.values[c].constant->ToFloatVector(), (Floats{8, 12}));
  EXPECT_EQ(Execute(g, {{"x", {1, 1}}})[0], (Floats{9, 13}));
}

TEST(ConstantFolding, IsIdempotent) {
  Builder b;
  b.Output(b.Op("Relu", {b.Op("Add", {b.Input("x", {3}), b.Const("a", {3}, {1, -2, 3})})}));
  Graph g = Prepared(b.g);
  const std::string before = HistogramStr(g);
  passes::InferShapesAndFold(g);
  EXPECT_EQ(HistogramStr(g), before);
}

TEST(ShapeInference, ReportsNodeOnInconsistentShapes) {
  Builder b;
  b.Output(b.Op("MatMul", {b.Input("x", {2, 3}), b.Random("w", {4, 5})}));
  Graph g = b.g;
  ExpectError([&] { Prepared(g); }, ErrorCode::kInvalidModel, {"MatMul"});
  Builder b2;
  b2.Output(b2.Op("Add", {b2.Input("x", {2, 3}), b2.Input("y", {4})}));
  ExpectError([&] { Prepared(b2.g); }, ErrorCode::kInvalidModel, {"broadcast"});
}

// ---- PassOptions ----

std::vector<bool> Flags(const PassOptions& o) {
  return {o.fold_batchnorm, o.fuse_linear, o.fold_layer_scale, o.merge_heads,
          o.fuse_layernorm, o.fuse_gelu,   o.channels_last,    o.fuse_epilogue};
}

TEST(PassOptions, Parse) {
  EXPECT_EQ(Flags(PassOptions::Parse("all")), std::vector<bool>(8, true));
  EXPECT_EQ(Flags(PassOptions::Parse("none")), std::vector<bool>(8, false));
  EXPECT_EQ(Flags(PassOptions::None()), std::vector<bool>(8, false));
  EXPECT_EQ(Flags(PassOptions()), std::vector<bool>(8, true));
  PassOptions no_gelu = PassOptions::Parse("all,-fuse_gelu");
  EXPECT_FALSE(no_gelu.fuse_gelu);
  EXPECT_TRUE(no_gelu.fuse_linear && no_gelu.channels_last && no_gelu.fuse_epilogue);
  PassOptions only_gelu = PassOptions::Parse("fuse_gelu");
  EXPECT_EQ(Flags(only_gelu),
            (std::vector<bool>{false, false, false, false, false, true, false, false}));
  PassOptions two = PassOptions::Parse("none,fold_batchnorm,channels_last");
  EXPECT_EQ(Flags(two), (std::vector<bool>{true, false, false, false, false, false, true, false}));
  EXPECT_EQ(two.ToString(), "fold_batchnorm,channels_last");
  EXPECT_EQ(PassOptions::None().ToString(), "none");
  for (const char* spec :
       {"all", "none", "all,-fuse_gelu", "fuse_gelu", "fold_batchnorm,fuse_epilogue"})
    EXPECT_EQ(Flags(PassOptions::Parse(PassOptions::Parse(spec).ToString())),
              Flags(PassOptions::Parse(spec)))
        << spec;
}

TEST(PassOptions, UnknownNameIsAnError) {
  ExpectError([] { PassOptions::Parse("fuse_everything"); }, ErrorCode::kInvalidArgument,
              {"fuse_everything"});
  ExpectError([] { PassOptions::Parse("all,-nope"); }, ErrorCode::kInvalidArgument, {"nope"});
  ExpectError([] { PassOptions::Parse("ALL"); }, ErrorCode::kInvalidArgument, {"ALL"});
}

TEST(Optimize, ReportsEnabledPassesInOrder) {
  Builder b;
  const int mm = b.Op("MatMul", {b.Input("x", {2, 8}), b.Random("w", {8, 4})});
  b.Output(b.Op("Relu", {b.Op("Add", {mm, b.Random("bias", {4})})}));
  Graph g = Prepared(b.g);
  const passes::PassReport all = passes::Optimize(g, PassOptions());
  std::vector<std::string> names;
  for (const auto& [name, n] : all.rewrites) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fuse_qdq", "fold_batchnorm", "fuse_linear",
                                             "fold_layer_scale", "merge_heads", "fuse_layernorm",
                                             "fuse_gelu", "fuse_attention2d", "channels_last",
                                             "fuse_pool_mixer", "fuse_attention", "fuse_int8",
                                             "fuse_int8_output", "fuse_epilogue", "chain_int8"}));
  EXPECT_EQ(all.rewrites[2].second, 1);   // fuse_linear
  EXPECT_EQ(all.rewrites[13].second, 1);  // fuse_epilogue
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
  Graph g2 = Prepared(b.g);
  EXPECT_TRUE(passes::Optimize(g2, PassOptions::None()).rewrites.empty());
  EXPECT_EQ(HistogramStr(g2), "Add:1 MatMul:1 Relu:1 ");
}

}  // namespace
// A node's name and op come from the model file: every message quoting them (Describe) escapes
// control characters (a newline could fake a second "effi: error:" line, ESC could drive the
// terminal) and bounds the length.
TEST(NodeDescribe, EscapesAndBoundsModelNames) {
  Node n;
  n.name = "conv\n\x1b[31meffi: error: fake" + std::string(5000, 'x');
  n.op = "Op\r";
  n.domain = "dom\x07";
  const std::string d = n.Describe();
  EXPECT_EQ(d.find('\n'), std::string::npos) << d;
  EXPECT_EQ(d.find('\x1b'), std::string::npos) << d;
  EXPECT_EQ(d.find('\r'), std::string::npos) << d;
  EXPECT_EQ(d.find('\x07'), std::string::npos) << d;
  EXPECT_NE(d.find("\\x0a"), std::string::npos) << d;
  EXPECT_LT(d.size(), 600u) << d;
}

}  // namespace effi::testing
