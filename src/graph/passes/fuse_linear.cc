// Pass: MatMul by a constant 2-D weight, optionally followed by Add of a constant [N] bias, and
// Gemm with constant B/C (transA=0) become effi.Linear(x, W[K,N], bias) — the op the packed GEMM,
// its epilogues and the int8 path are built around.
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

// Constant bias usable as [N]: shape [N] or [1,...,1,N].
ConstTensor AsBias(const Graph& g, int v, int64_t n) {
  if (!IsConst(g, v)) return nullptr;
  const ConstTensor& t = g.values[v].constant;
  if (t->dtype() != DType::kF32 || t->elements() != n || t->shape().empty() ||
      t->shape().back() != n)
    return nullptr;
  return t;
}

}  // namespace

int FuseLinear(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.dead) continue;
    if (n.Is("MatMul")) {
      const int w = n.inputs[1];
      if (!IsConst(g, w) || g.values[w].shape.size() != 2 || g.values[n.inputs[0]].shape.size() < 2)
        continue;
      const int64_t nn = g.values[w].shape[1];
      n.domain = kEffiDomain;
      n.op = "Linear";
      ++count;
      // Absorb a following bias Add.
      Node* add = idx.SoleConsumer(n.outputs[0]);
      if (add && add->Is("Add")) {
        int other = OtherInput(*add, n.outputs[0]);
        ConstTensor b = AsBias(g, other, nn);
        const Shape out_shape = g.values[add->outputs[0]].shape;
        if (b && out_shape == g.values[n.outputs[0]].shape) {
          auto flat = MakeTensor(DType::kF32, {nn});
          std::copy(b->as<float>(), b->as<float>() + nn, flat->mutable_as<float>());
          n.inputs.push_back(AddConst(g, g.values[other].name + "_bias", flat));
          n.outputs[0] = add->outputs[0];
          add->dead = true;
          idx.Refresh();
        }
      }
    } else if (n.Is("Gemm")) {
      if (n.GetInt("transA", 0) != 0 || !IsConst(g, n.inputs[1])) continue;
      const float alpha = n.GetFloat("alpha", 1.0f), beta = n.GetFloat("beta", 1.0f);
      const TensorData& b = *g.values[n.inputs[1]].constant;
      const bool tb = n.GetInt("transB", 0) != 0;
      const int64_t k = tb ? b.shape()[1] : b.shape()[0], nn = tb ? b.shape()[0] : b.shape()[1];
      ConstTensor c;
      if (n.HasInput(2)) {
        c = AsBias(g, n.inputs[2], nn);
        if (!c) continue;
      }
      auto w = MakeTensor(DType::kF32, {k, nn});
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < nn; ++j)
          w->mutable_as<float>()[kk * nn + j] =
              alpha * (tb ? b.as<float>()[j * k + kk] : b.as<float>()[kk * nn + j]);
      std::vector<int> inputs{n.inputs[0], AddConst(g, g.values[n.inputs[1]].name + "_kn", w)};
      if (c) {
        auto bias = MakeTensor(DType::kF32, {nn});
        for (int64_t j = 0; j < nn; ++j) bias->mutable_as<float>()[j] = beta * c->as<float>()[j];
        inputs.push_back(AddConst(g, g.values[n.inputs[2]].name + "_bias", bias));
      }
      n.inputs = inputs;
      n.attrs.clear();
      n.domain = kEffiDomain;
      n.op = "Linear";
      ++count;
    }
  }
  return count;
}

}  // namespace effi::passes
