// Pass: activation and residual Add folded into the producing effi.Conv / effi.Linear, so the
// output is written once: y = act(x*W + b) + residual. Relu/effi.Gelu fuse when the op has no
// activation or residual yet; Add fuses when the other operand has the output's shape and is
// computed before the op (so no cycle can form).
// An int8 op whose output is fake-quantized (y_scale, fuse_int8_output) also takes what ONNX
// Runtime's QDQ layout leaves after that rounding and fold_layer_scale / fuse_linear could not fold
// into the weights: a per-channel constant Add (a MatMul's bias, post_bias, input 4) before the
// activation, and a per-channel constant Mul (the layer scale, post_scale, input 5) after it:
// y = act(FQ(x*W + b) + post_bias) * post_scale + residual.
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

// Input `slot` of op = a new [channels] constant from per-channel constant `c` of `next` (a
// binary Add / Mul of op's output), when it is one along op's last (channel) axis.
bool TakePerChannel(Graph& g, Node& op, const Node& next, int slot) {
  const int y = op.outputs[0], c = OtherInput(next, y);
  const Shape& ys = g.values[y].shape;
  if (c == y || !IsConst(g, c) || g.values[next.outputs[0]].shape != ys || ys.empty()) return false;
  const int rank = static_cast<int>(ys.size());
  auto v = PerChannelConst(g, c, rank, rank - 1, ys.back());
  if (!v) return false;
  op.inputs.resize(6, -1);
  op.inputs[slot] = AddConst(g, g.values[c].name + (slot == 4 ? "_post_bias" : "_post_scale"),
                             MakeFloatTensor(*v, {ys.back()}));
  return true;
}

}  // namespace

int FuseEpilogue(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].dead || !(g.nodes[i].IsEffi("Conv") || g.nodes[i].IsEffi("Linear"))) continue;
    for (;;) {
      Node& op = g.nodes[i];  // AddConst may grow g.nodes: re-addressed every step
      Node* next = idx.SoleConsumer(op.outputs[0]);
      if (!next) break;
      const bool has_res = op.HasInput(3), has_act = op.GetInt("activation", 0) != 0;
      const bool has_post_scale = op.HasInput(5), rounded = op.Has("y_scale");
      if ((next->Is("Relu") || next->IsEffi("Gelu")) && !has_act && !has_res && !has_post_scale) {
        op.attrs["activation"] = int64_t{next->Is("Relu") ? 1 : 2};
      } else if (next->Is("Add") && rounded && !op.HasInput(4) && !has_act && !has_post_scale &&
                 !has_res && TakePerChannel(g, op, *next, 4)) {
      } else if (next->Is("Mul") && rounded && !has_post_scale && !has_res &&
                 TakePerChannel(g, op, *next, 5)) {
      } else if (next->Is("Add") && !has_res) {
        const int r = OtherInput(*next, op.outputs[0]);
        if (r == op.outputs[0] || IsConst(g, r) ||
            g.values[r].shape != g.values[op.outputs[0]].shape)
          break;
        const int rp = idx.ProducerIndex(r);
        if (rp >= static_cast<int>(i)) break;  // would depend on our own output
        op.inputs.resize(std::max<size_t>(op.inputs.size(), 4), -1);
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
