// Pass: EfficientFormer's token mixer on NHWC data, x + ls * (AvgPool3x3(x) - x) (or without the
// layer scale), becomes one effi.PoolMixer: one read and one write of the activation instead of
// four ops and three temporaries (the mixer was ~30% of L1's time as separate ops).
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

int FusePoolMixer(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& pool = g.nodes[i];
    if (pool.dead || !pool.IsEffi("AvgPool")) continue;
    const auto k = pool.GetInts("kernel_shape", {});
    const int64_t ks = k.empty() ? 0 : k[0];
    if (k.size() != 2 || k[0] != k[1] || ks % 2 == 0 ||
        pool.GetInts("strides", {1, 1}) != std::vector<int64_t>{1, 1} ||
        pool.GetInts("pads", {}) != std::vector<int64_t>(4, ks / 2) ||
        pool.GetInt("count_include_pad", 0) != 0)
      continue;
    const int x = pool.inputs[0];
    Node* sub = idx.SoleConsumer(pool.outputs[0]);
    if (!sub || !sub->Is("Sub") || sub->inputs[0] != pool.outputs[0] || sub->inputs[1] != x)
      continue;
    const Shape xs = g.values[x].shape;
    if (xs.size() != 4) continue;
    int scale = -1;
    int mixed = sub->outputs[0];
    std::vector<Node*> absorbed{sub};
    Node* next = idx.SoleConsumer(mixed);
    if (next && next->Is("Mul")) {
      const int s = OtherInput(*next, mixed);
      auto ls = PerChannelConst(g, s, 4, 3, xs[3]);
      if (!ls || g.values[next->outputs[0]].shape != xs) continue;
      scale = AddConst(g, "pool_mixer_scale", MakeFloatTensor(*ls, {xs[3]}));
      absorbed.push_back(next);
      mixed = next->outputs[0];
      next = idx.SoleConsumer(mixed);
    }
    if (!next || !next->Is("Add") || OtherInput(*next, mixed) != x ||
        g.values[next->outputs[0]].shape != xs)
      continue;
    absorbed.push_back(next);
    const int out = next->outputs[0];
    for (Node* n : absorbed) n->dead = true;
    pool.op = "PoolMixer";
    pool.inputs = scale >= 0 ? std::vector<int>{x, scale} : std::vector<int>{x};
    pool.outputs = {out};
    pool.attrs = {{"pool_size", ks}};
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
