// Planner tests: the static memory plan never lets two simultaneously live activations overlap
// (checked on hand-made graphs and on every tiny model's compiled plan, passes on and off), reuses
// memory, and places alias ops (Reshape, ...) in their input's buffer.
#include "runtime/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <numeric>
#include <string>
#include <vector>

#include "graph/passes/passes.h"
#include "onnx/onnx_import.h"
#include "ops/op.h"

namespace effi::runtime {
namespace {

const std::string kModels = EFFI_TEST_MODELS_DIR;

size_t Bytes(const Value& v) {
  return static_cast<size_t>(NumElements(v.shape)) * DTypeSize(v.dtype);
}

// Independent check of a plan: recomputes lifetimes and alias roots from the graph, then verifies
// bounds and pairwise disjointness of buffers whose lifetimes overlap. Returns the sum of root
// sizes.
size_t VerifyPlan(const Plan& plan) {
  const Graph& g = plan.graph();
  const size_t nv = g.values.size();
  const int nn = static_cast<int>(g.nodes.size());
  std::vector<int> root(nv);
  std::iota(root.begin(), root.end(), 0);
  for (const Node& n : g.nodes) {
    const ops::OpSchema* s = ops::FindOp(n.domain, n.op);
    EXPECT_NE(s, nullptr) << n.Describe();
    if (s && s->alias && !g.values[n.inputs[0]].is_constant())
      root[n.outputs[0]] = root[n.inputs[0]];
  }
  std::vector<int> first(nv, INT_MAX), last(nv, INT_MIN);
  auto touch = [&](int v, int step) {
    const int r = root[v];
    first[r] = std::min(first[r], step);
    last[r] = std::max(last[r], step);
  };
  for (int v : g.inputs) touch(v, -1);
  for (int i = 0; i < nn; ++i) {
    for (int v : g.nodes[i].inputs)
      if (v >= 0 && !g.values[v].is_constant()) touch(v, i);
    for (int v : g.nodes[i].outputs)
      if (v >= 0) touch(v, i);
  }
  for (int v : g.outputs)
    if (!g.values[v].is_constant()) touch(v, nn);
  struct Buf {
    int root;
    size_t off, size;
  };
  std::vector<Buf> bufs;
  size_t total = 0;
  for (size_t v = 0; v < nv; ++v) {
    const Value& val = g.values[v];
    if (val.is_constant() || first[root[v]] == INT_MAX) continue;
    EXPECT_GE(plan.offset(static_cast<int>(v)), 0) << val.name;
    if (plan.offset(static_cast<int>(v)) < 0) continue;
    const size_t off = static_cast<size_t>(plan.offset(static_cast<int>(v))), size = Bytes(val);
    EXPECT_LE(off + size, plan.arena_bytes()) << val.name;
    EXPECT_EQ(off % 64, 0u) << val.name;
    if (root[v] != static_cast<int>(v)) {
      EXPECT_EQ(plan.offset(static_cast<int>(v)), plan.offset(root[v])) << "alias " << val.name;
      continue;
    }
    bufs.push_back({static_cast<int>(v), off, size});
    total += size;
  }
  for (size_t a = 0; a < bufs.size(); ++a)
    for (size_t b = a + 1; b < bufs.size(); ++b) {
      const Buf &x = bufs[a], &y = bufs[b];
      const bool live_together = !(last[x.root] < first[y.root] || last[y.root] < first[x.root]);
      const bool overlap = x.size && y.size && x.off < y.off + y.size && y.off < x.off + x.size;
      EXPECT_FALSE(live_together && overlap)
          << g.values[x.root].name << " and " << g.values[y.root].name;
    }
  return total;
}

Graph Chain(int length, Shape shape) {
  Graph g;
  g.opset = 13;
  int v = g.AddValue("x", DType::kF32);
  g.values[v].shape = shape;
  g.values[v].has_shape = true;
  g.inputs.push_back(v);
  for (int i = 0; i < length; ++i) {
    const int out = g.AddValue("v" + std::to_string(i));
    Node n;
    n.name = "n" + std::to_string(i);
    n.op = i % 2 ? "Neg" : "Relu";
    n.inputs = {v};
    n.outputs = {out};
    g.AddNode(n);
    v = out;
  }
  g.outputs.push_back(v);
  return g;
}

TEST(Plan, ChainPingPongsBetweenTwoBuffers) {
  Graph g = Chain(6, {16, 16});
  passes::InferShapesAndFold(g);
  auto plan = Plan::Build(g);
  VerifyPlan(*plan);
  EXPECT_EQ(plan->arena_bytes(), 2u * 16 * 16 * 4);
}

TEST(Plan, AliasOpsShareTheirInputBuffer) {
  Graph g;
  g.opset = 13;
  const int x = g.AddValue("x", DType::kF32);
  g.values[x].shape = {2, 6};
  g.values[x].has_shape = true;
  g.inputs.push_back(x);
  const int r = g.AddValue("r"), shape = g.AddConstant("shape", MakeInt64Tensor({3, 4}, {2})),
            y = g.AddValue("y"), z = g.AddValue("z");
  Node relu, reshape, neg;
  relu.name = "relu", relu.op = "Relu", relu.inputs = {x}, relu.outputs = {r};
  reshape.name = "reshape", reshape.op = "Reshape", reshape.inputs = {r, shape},
  reshape.outputs = {y};
  neg.name = "neg", neg.op = "Neg", neg.inputs = {y}, neg.outputs = {z};
  g.AddNode(relu);
  g.AddNode(reshape);
  g.AddNode(neg);
  g.outputs = {z};
  passes::InferShapesAndFold(g);
  auto plan = Plan::Build(g);
  VerifyPlan(*plan);
  EXPECT_EQ(plan->offset(y), plan->offset(r));
  EXPECT_NE(plan->offset(z), plan->offset(r));
  EXPECT_EQ(plan->offset(shape), -1);  // constants live outside the arena
}

// Every tiny model, passes on and off, batch 1 and (dynamic models) batch 3.
class ModelPlan : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelPlan, NoLiveBuffersOverlap) {
  const Graph imported = onnx_io::ImportFile(kModels + "/" + GetParam() + ".onnx");
  const bool dynamic = std::string(GetParam()).find("dynbatch") != std::string::npos;
  for (const char* spec : {"all", "none"}) {
    for (int64_t batch : dynamic ? std::vector<int64_t>{1, 3} : std::vector<int64_t>{1}) {
      SCOPED_TRACE(std::string(spec) + " batch " + std::to_string(batch));
      auto plan =
          Compile(imported, {{"data", {batch, 3, 64, 64}}}, passes::PassOptions::Parse(spec));
      const size_t total = VerifyPlan(*plan);
      EXPECT_LT(plan->arena_bytes(), total / 2) << "buffers are reused";
      std::printf("[plan] %-20s passes=%-4s batch %ld: arena %zu bytes, %zu bytes without reuse\n",
                  GetParam(), spec, static_cast<long>(batch), plan->arena_bytes(), total);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelPlan,
                         ::testing::Values("tiny_op11", "tiny_op17", "tiny_dynbatch_op13",
                                           "tiny_dynbatch_op17", "tiny_folded_op11",
                                           "tiny_l7like_op11"),
                         [](const auto& info) { return std::string(info.param); });

TEST(ModelPlanL3, NoLiveBuffersOverlap) {
  const Graph imported = onnx_io::ImportFile(kModels + "/tiny_l3like_op11.onnx");
  for (const char* spec : {"all", "none"})
    VerifyPlan(*Compile(imported, {}, passes::PassOptions::Parse(spec)));
}

}  // namespace
}  // namespace effi::runtime
