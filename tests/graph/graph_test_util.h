// Pass-test helpers: a small builder for IR graphs, single-pass application the way Optimize does
// it, op histograms, and a runner that compiles a graph into a Plan and executes it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "ops/op.h"
#include "runtime/plan.h"
#include "runtime/thread_pool.h"

namespace effi::testing {

using Floats = std::vector<float>;

class Builder {
 public:
  explicit Builder(int64_t opset = 13) : rng_(1234) { g.opset = opset; }

  int Input(const std::string& name, Shape shape) {
    const int v = g.AddValue(name, DType::kF32);
    g.values[v].shape = std::move(shape);
    g.values[v].has_shape = true;
    g.inputs.push_back(v);
    return v;
  }
  int Const(const std::string& name, Shape shape, const Floats& values) {
    return g.AddConstant(name, MakeFloatTensor(values, std::move(shape)));
  }
  int Ints(const std::string& name, const std::vector<int64_t>& values, Shape shape) {
    return g.AddConstant(name, MakeInt64Tensor(values, std::move(shape)));
  }
  int Scalar(const std::string& name, float v) { return Const(name, {}, {v}); }
  // Constant with N(mean, stddev) entries.
  int Random(const std::string& name, Shape shape, float mean = 0.0f, float stddev = 1.0f) {
    return Const(name, shape, RandomFloats(NumElements(shape), mean, stddev));
  }
  Floats RandomFloats(int64_t n, float mean = 0.0f, float stddev = 1.0f) {
    std::normal_distribution<float> dist(mean, stddev);
    Floats v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng_);
    return v;
  }
  // Appends a node with one output named after it; returns the output value.
  int Op(const std::string& op, std::vector<int> inputs,
         std::map<std::string, AttrValue> attrs = {}, const std::string& domain = "") {
    const std::string name = op + "_" + std::to_string(g.nodes.size());
    const int out = g.AddValue(name + "_out");
    Node n;
    n.name = name;
    n.domain = domain;
    n.op = op;
    n.inputs = std::move(inputs);
    n.outputs = {out};
    n.attrs = std::move(attrs);
    g.AddNode(std::move(n));
    return out;
  }
  void Output(int v) { g.outputs.push_back(v); }

  Graph g;

 private:
  std::mt19937 rng_;
};

// Binds declared shapes and runs the mandatory inference + folding (what every pass starts from).
inline Graph Prepared(const Graph& src) {
  Graph g = src;
  g.TopoSort();
  passes::BindInputShapes(g, {});
  passes::InferShapesAndFold(g);
  return g;
}

using PassFn = int (*)(Graph&);

inline constexpr int kAnyRewrites = -1;
inline constexpr int kUnchecked = -2;

// Applies `fns` in order with the clean-up Optimize does after each; returns the rewrite count of
// the last one.
inline int ApplyPasses(Graph& g, const std::vector<PassFn>& fns) {
  int n = 0;
  for (PassFn fn : fns) {
    n = fn(g);
    if (n > 0) {
      g.RemoveDeadNodes();
      g.TopoSort();
      passes::InferShapesAndFold(g);
    }
  }
  return n;
}

// Op histogram of live nodes, keys "Op" or "domain.Op".
inline std::map<std::string, int> Histogram(const Graph& g) {
  std::map<std::string, int> h;
  for (const Node& n : g.nodes)
    if (!n.dead) h[n.domain.empty() ? n.op : n.domain + "." + n.op]++;
  return h;
}

inline int Count(const Graph& g, const std::string& key) {
  auto h = Histogram(g);
  return h.count(key) ? h[key] : 0;
}

inline std::string HistogramStr(const Graph& g) {
  std::string s;
  for (const auto& [k, v] : Histogram(g)) s += k + ":" + std::to_string(v) + " ";
  return s;
}

inline const Node* FindNode(const Graph& g, const std::string& key) {
  for (const Node& n : g.nodes)
    if (!n.dead && (n.domain.empty() ? n.op : n.domain + "." + n.op) == key) return &n;
  return nullptr;
}

// Expects f() to throw an effi::Error with `code` whose message contains every needle.
template <typename F>
void ExpectError(F&& f, ErrorCode code, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needles[0] << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Compiles an already shape-inferred graph and runs it; float inputs by name, float outputs.
inline std::vector<Floats> Execute(const Graph& g, const std::map<std::string, Floats>& inputs) {
  auto plan = runtime::Plan::Build(g);
  const Graph& pg = plan->graph();
  std::vector<uint8_t> arena(plan->arena_bytes() + 128), scratch(plan->scratch_bytes(1) + 128);
  auto align = [](uint8_t* p) {
    return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
  };
  uint8_t* a = align(arena.data());
  for (int id : pg.inputs) {
    const Floats& data = inputs.at(pg.values[id].name);
    EXPECT_EQ(static_cast<int64_t>(data.size()), NumElements(pg.values[id].shape));
    if (plan->offset(id) >= 0)
      std::memcpy(a + plan->offset(id), data.data(), data.size() * sizeof(float));
  }
  plan->Execute(ops::ExecContext{}, a, align(scratch.data()));
  std::vector<Floats> outs;
  for (int id : pg.outputs) {
    const auto* p = static_cast<const float*>(plan->ValuePtr(a, id));
    outs.emplace_back(p, p + NumElements(pg.values[id].shape));
  }
  return outs;
}

// Max |a-b| relative to max |b| (0 when both are all zero).
inline double RelDiff(const Floats& a, const Floats& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::fabs(static_cast<double>(b[i])));
  }
  return m > 0 ? d / m : d;
}

// Random values for every graph input of `g`.
inline std::map<std::string, Floats> RandomInputs(const Graph& g, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::map<std::string, Floats> in;
  for (int id : g.inputs) {
    Floats v(static_cast<size_t>(NumElements(g.values[id].shape)));
    for (float& x : v) x = dist(rng);
    in[g.values[id].name] = v;
  }
  return in;
}

// The checks every pass test makes: the rewrite count of the last pass (kAnyRewrites: some;
// kUnchecked: not checked), and the rewritten graph computing the same outputs as the unoptimised
// one within `tol` relative. Returns the rewritten graph.
inline Graph CheckPasses(const Graph& src, const std::vector<PassFn>& fns, int expect_rewrites,
                         double tol = 1e-5) {
  const Graph base = Prepared(src);
  Graph opt = base;
  const int n = ApplyPasses(opt, fns);
  if (expect_rewrites >= 0) {
    EXPECT_EQ(n, expect_rewrites) << "histogram after: " << HistogramStr(opt);
  } else if (expect_rewrites == kAnyRewrites) {
    EXPECT_GT(n, 0) << "histogram after: " << HistogramStr(opt);
  }
  const auto in = RandomInputs(base);
  const auto want = Execute(base, in);
  const auto got = Execute(opt, in);
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    EXPECT_LE(RelDiff(got[i], want[i]), tol)
        << "output " << i << ", histogram after: " << HistogramStr(opt);
  return opt;
}

// Runs the (single) live node of `src` with `threads` threads; `inputs` holds data for the
// non-constant inputs in node input order. Returns output 0.
inline Floats RunNode(const Graph& src, const std::vector<const Floats*>& inputs, int threads) {
  const Graph g = Prepared(src);
  const Node* node = nullptr;
  for (const Node& n : g.nodes)
    if (!n.dead) node = &n;
  EXPECT_NE(node, nullptr);
  auto kernel = ops::CheckNode(*node).create(*node, g);
  // Absent optional inputs (also past the node's last input) are null, as the plan passes them.
  std::vector<const void*> in(static_cast<size_t>(ops::CheckNode(*node).max_inputs), nullptr);
  size_t next = 0;
  for (size_t i = 0; i < node->inputs.size(); ++i) {
    if (!node->HasInput(i)) continue;
    const Value& v = g.values[node->inputs[i]];
    in[i] = v.is_constant() ? static_cast<const void*>(v.constant->as<float>())
                            : inputs.at(next++)->data();
  }
  Floats out(static_cast<size_t>(NumElements(g.values[node->outputs[0]].shape)), -7.0f);
  void* outs[1] = {out.data()};
  std::vector<uint8_t> scratch(kernel->ScratchBytes(threads) + 64);
  void* s =
      reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
  std::unique_ptr<ThreadPool> pool;
  ExecContext ctx;
  if (threads > 1) {
    pool = std::make_unique<ThreadPool>(threads);
    ctx.pool = pool.get();
  }
  kernel->Run(ctx, in.data(), outs, s);
  return out;
}

}  // namespace effi::testing
