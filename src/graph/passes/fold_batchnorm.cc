// Pass: BatchNormalization directly after a Conv (sole consumer, constant params) is folded into
// the Conv's weights and bias: w' = w * g/sqrt(v+eps), b' = (b - m) * g/sqrt(v+eps) + beta.
#include <cmath>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

int FoldBatchNorm(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.dead || !bn.Is("BatchNormalization") || bn.outputs.size() != 1) continue;
    Node* conv = idx.Producer(bn.inputs[0]);
    if (!conv || !conv->Is("Conv") || !idx.SingleUse(bn.inputs[0]) || !IsConst(g, conv->inputs[1]))
      continue;
    if (conv->HasInput(2) && !IsConst(g, conv->inputs[2])) continue;
    bool params_const = true;
    for (int k = 1; k < 5; ++k) params_const &= IsConst(g, bn.inputs[k]);
    if (!params_const) continue;
    const TensorData& w = *g.values[conv->inputs[1]].constant;
    const int64_t c_out = w.shape()[0], per = w.elements() / c_out;
    const float eps = bn.GetFloat("epsilon", 1e-5f);
    auto p = [&](int k) { return g.values[bn.inputs[k]].constant->as<float>(); };
    auto nw = MakeTensor(DType::kF32, w.shape());
    auto nb = MakeTensor(DType::kF32, {c_out});
    const float* b = conv->HasInput(2) ? g.values[conv->inputs[2]].constant->as<float>() : nullptr;
    for (int64_t o = 0; o < c_out; ++o) {
      // Same formula and float order as ONNX Runtime's fusion, so results agree to rounding.
      const float scale = p(1)[o] / std::sqrt(p(4)[o] + eps);
      for (int64_t j = 0; j < per; ++j)
        nw->mutable_as<float>()[o * per + j] = w.as<float>()[o * per + j] * scale;
      nb->mutable_as<float>()[o] = ((b ? b[o] : 0.0f) - p(3)[o]) * scale + p(2)[o];
    }
    conv->inputs.resize(3);
    conv->inputs[1] = AddConst(g, g.values[conv->inputs[1]].name + "_bn", nw);
    conv->inputs[2] = AddConst(g, g.values[bn.outputs[0]].name + "_bias", nb);
    conv->outputs[0] = bn.outputs[0];
    bn.dead = true;
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
