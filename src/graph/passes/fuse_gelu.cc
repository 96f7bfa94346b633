// Pass: exact GELU as torch exports it — x * 0.5 * (1 + erf(x / sqrt(2))) in either
// multiplication order, with Div by sqrt(2) or Mul by 1/sqrt(2) — becomes effi.Gelu.
#include <cmath>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

bool Near(std::optional<float> v, double want) {
  return v && std::fabs(*v - want) < 1e-4 * std::fabs(want);
}

}  // namespace

int FuseGelu(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& erf = g.nodes[i];
    if (erf.dead || !erf.Is("Erf")) continue;
    Node* scale = idx.Producer(erf.inputs[0]);
    if (!scale || !idx.SingleUse(erf.inputs[0])) continue;
    int x = scale->inputs[0];
    if (!((scale->Is("Div") && Near(ScalarConst(g, scale->inputs[1]), std::sqrt(2.0))) ||
          (scale->Is("Mul") && Near(ScalarConst(g, scale->inputs[1]), 1.0 / std::sqrt(2.0)))))
      continue;
    Node* add1 = idx.SoleConsumer(erf.outputs[0]);
    if (!add1 || !add1->Is("Add") || !Near(ScalarConst(g, OtherInput(*add1, erf.outputs[0])), 1.0))
      continue;
    Node* m1 = idx.SoleConsumer(add1->outputs[0]);
    if (!m1 || !m1->Is("Mul")) continue;
    int other = OtherInput(*m1, add1->outputs[0]);
    Node* last = nullptr;
    Node* half = nullptr;
    if (other == x) {
      // (x * (1+erf)) * 0.5
      last = idx.SoleConsumer(m1->outputs[0]);
      if (!last || !last->Is("Mul") ||
          !Near(ScalarConst(g, OtherInput(*last, m1->outputs[0])), 0.5))
        continue;
    } else {
      // (x * 0.5) * (1+erf)
      half = idx.Producer(other);
      if (!half || !half->Is("Mul") || !idx.SingleUse(other) || OtherInput(*half, x) == x ||
          (half->inputs[0] != x && half->inputs[1] != x) ||
          !Near(ScalarConst(g, OtherInput(*half, x)), 0.5))
        continue;
      last = m1;
    }
    if (g.values[last->outputs[0]].shape != g.values[x].shape) continue;
    const int out = last->outputs[0];
    for (Node* n : {scale, add1, m1, last, half})
      if (n) n->dead = true;
    erf.domain = kEffiDomain;
    erf.op = "Gelu";
    erf.inputs = {x};
    erf.outputs = {out};
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
