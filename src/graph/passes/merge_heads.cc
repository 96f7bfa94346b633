// Pass: the distilled EfficientFormer's two classifier heads, (head(x) + head_dist(x)) / 2, become
// one effi.Linear with averaged weights — exact up to rounding, half the head cost. Not for the
// heads of a QDQ model (see below).
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

int MergeHeads(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& scale = g.nodes[i];
    if (scale.dead || !(scale.Is("Div") || scale.Is("Mul"))) continue;
    auto c = ScalarConst(g, scale.inputs[1]);
    if (!c || (scale.Is("Div") ? *c != 2.0f : *c != 0.5f)) continue;
    Node* add = idx.Producer(scale.inputs[0]);
    if (!add || !add->Is("Add") || !idx.SingleUse(scale.inputs[0])) continue;
    Node* h1 = idx.Producer(add->inputs[0]);
    Node* h2 = idx.Producer(add->inputs[1]);
    if (!h1 || !h2 || h1 == h2 || !h1->IsEffi("Linear") || !h2->IsEffi("Linear")) continue;
    if (!idx.SingleUse(add->inputs[0]) || !idx.SingleUse(add->inputs[1])) continue;
    if (h1->inputs[0] != h2->inputs[0] || h1->inputs.size() > 3 || h2->inputs.size() > 3) continue;
    if (h1->GetInt("activation", 0) || h2->GetInt("activation", 0)) continue;
    // QDQ heads (input fake-quantized) stay two: each runs on the int8 GEMM, where their mean,
    // off the int8 grid, would run in float on 4x the weight bytes (L1: 1.8 MB, 0.10 ms against
    // 0.05 ms for the two int8 heads).
    const Node* in = idx.Producer(h1->inputs[0]);
    if (in && in->IsEffi("FakeQuant")) continue;
    const TensorData& w1 = *g.values[h1->inputs[1]].constant;
    const TensorData& w2 = *g.values[h2->inputs[1]].constant;
    if (w1.shape() != w2.shape()) continue;
    const int64_t nn = w1.shape()[1];
    auto w = MakeTensor(DType::kF32, w1.shape());
    for (int64_t j = 0; j < w1.elements(); ++j)
      w->mutable_as<float>()[j] = 0.5f * (w1.as<float>()[j] + w2.as<float>()[j]);
    auto b = MakeTensor(DType::kF32, {nn});
    for (int64_t j = 0; j < nn; ++j) {
      float b1 = h1->HasInput(2) ? g.values[h1->inputs[2]].constant->as<float>()[j] : 0.0f;
      float b2 = h2->HasInput(2) ? g.values[h2->inputs[2]].constant->as<float>()[j] : 0.0f;
      b->mutable_as<float>()[j] = 0.5f * (b1 + b2);
    }
    h1->inputs = {h1->inputs[0], AddConst(g, "merged_head_weight", w),
                  AddConst(g, "merged_head_bias", b)};
    h1->outputs[0] = scale.outputs[0];
    h2->dead = true;
    add->dead = true;
    scale.dead = true;
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
