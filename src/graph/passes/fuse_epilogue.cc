// Pass: activation and residual Add folded into the producing effi.Conv / effi.Linear, so the
// output is written once: y = act(x*W + b) + residual. Relu/effi.Gelu fuse when the op has no
// activation or residual yet; Add fuses when the other operand has the output's shape and is
// computed before the op (so no cycle can form).
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

int FuseEpilogue(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& op = g.nodes[i];
    if (op.dead || !(op.IsEffi("Conv") || op.IsEffi("Linear"))) continue;
    for (;;) {
      Node* next = idx.SoleConsumer(op.outputs[0]);
      if (!next) break;
      const bool has_res = op.HasInput(3);
      if ((next->Is("Relu") || next->IsEffi("Gelu")) && op.GetInt("activation", 0) == 0 &&
          !has_res) {
        op.attrs["activation"] = int64_t{next->Is("Relu") ? 1 : 2};
      } else if (next->Is("Add") && !has_res) {
        const int r = OtherInput(*next, op.outputs[0]);
        if (r == op.outputs[0] || IsConst(g, r) ||
            g.values[r].shape != g.values[op.outputs[0]].shape)
          break;
        const int rp = idx.ProducerIndex(r);
        if (rp >= static_cast<int>(i)) break;  // would depend on our own output
        op.inputs.resize(4, -1);
        op.inputs[3] = r;
      } else {
        break;
      }
      op.outputs[0] = next->outputs[0];
      next->dead = true;
      ++count;
      idx.Refresh();
    }
  }
  return count;
}

}  // namespace effi::passes
