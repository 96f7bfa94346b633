// Pass: the opset<17 LayerNorm decomposition torch exports,
//   m = ReduceMean(x,-1); d = x - m; v = ReduceMean(d^2,-1); y = d / sqrt(v + eps) [* gamma + beta]
// becomes one LayerNormalization(axis=-1) (one pass over the row instead of seven).
#include <cmath>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

// ReduceMean over exactly the last axis with keepdims=1 (attribute or constant input axes).
bool IsLastAxisMean(const Graph& g, const Node* n) {
  if (!n || !n->Is("ReduceMean") || n->GetInt("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes;
  if (n->HasInput(1)) {
    if (!IsConst(g, n->inputs[1])) return false;
    axes = g.values[n->inputs[1]].constant->ToInt64Vector();
  } else {
    axes = n->GetInts("axes", {});
  }
  const int64_t rank = static_cast<int64_t>(g.values[n->inputs[0]].shape.size());
  return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

}  // namespace

int FuseLayerNorm(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& div = g.nodes[i];
    if (div.dead || !div.Is("Div")) continue;
    Node* sub = idx.Producer(div.inputs[0]);
    Node* sqrt = idx.Producer(div.inputs[1]);
    if (!sub || !sub->Is("Sub") || !sqrt || !sqrt->Is("Sqrt")) continue;
    Node* mean = idx.Producer(sub->inputs[1]);
    const int x = sub->inputs[0];
    if (!IsLastAxisMean(g, mean) || mean->inputs[0] != x) continue;
    Node* add_eps = idx.Producer(sqrt->inputs[0]);
    if (!add_eps || !add_eps->Is("Add")) continue;
    Node* var = idx.Producer(add_eps->inputs[0]);
    auto eps = ScalarConst(g, add_eps->inputs[1]);
    if (!eps) {
      var = idx.Producer(add_eps->inputs[1]);
      eps = ScalarConst(g, add_eps->inputs[0]);
    }
    if (!eps || !IsLastAxisMean(g, var)) continue;
    Node* sq = idx.Producer(var->inputs[0]);
    if (!sq) continue;
    bool square = false;
    if (sq->Is("Pow")) {
      auto e = ScalarConst(g, sq->inputs[1]);
      square = e && *e == 2.0f && sq->inputs[0] == sub->outputs[0];
    } else if (sq->Is("Mul")) {
      square = sq->inputs[0] == sub->outputs[0] && sq->inputs[1] == sub->outputs[0];
    }
    if (!square) continue;
    // Intermediates must have no other uses: d feeds the square and the Div only (Mul(d, d) lists
    // the square twice among d's consumers, so count consumer nodes, not edges).
    const int sq_index = idx.ProducerIndex(sq->outputs[0]), div_index = static_cast<int>(i);
    bool d_private = !g.IsGraphOutput(sub->outputs[0]);
    for (int c : idx.Consumers(sub->outputs[0]))
      d_private = d_private && (c == sq_index || c == div_index);
    if (!d_private || !idx.SingleUse(mean->outputs[0]) || !idx.SingleUse(sq->outputs[0]) ||
        !idx.SingleUse(var->outputs[0]) || !idx.SingleUse(add_eps->outputs[0]) ||
        !idx.SingleUse(sqrt->outputs[0]))
      continue;
    const Shape xs = g.values[x].shape;
    const int64_t cols = xs.empty() ? 1 : xs.back();
    const int rank = static_cast<int>(xs.size());
    int out = div.outputs[0];
    std::vector<int> inputs{x, -1, -1};
    std::vector<Node*> absorbed;
    // Optional affine: Mul(gamma) then Add(beta), per last-axis channel.
    if (Node* mul = idx.SoleConsumer(out); mul && mul->Is("Mul")) {
      int gv = OtherInput(*mul, out);
      if (auto gamma = PerChannelConst(g, gv, rank, rank - 1, cols);
          gamma && g.values[mul->outputs[0]].shape == xs) {
        inputs[1] = AddConst(g, "ln_gamma", MakeFloatTensor(*gamma, {cols}));
        out = mul->outputs[0];
        absorbed.push_back(mul);
        if (Node* add = idx.SoleConsumer(out); add && add->Is("Add")) {
          int bv = OtherInput(*add, out);
          if (auto beta = PerChannelConst(g, bv, rank, rank - 1, cols);
              beta && g.values[add->outputs[0]].shape == xs) {
            inputs[2] = AddConst(g, "ln_beta", MakeFloatTensor(*beta, {cols}));
            out = add->outputs[0];
            absorbed.push_back(add);
          }
        }
      }
    }
    if (inputs[1] < 0)
      inputs[1] = AddConst(g, "ln_gamma", MakeFloatTensor(std::vector<float>(cols, 1.0f), {cols}));
    if (inputs[2] < 0) inputs.resize(2);
    for (Node* n : {mean, sub, sq, var, add_eps, sqrt}) n->dead = true;
    for (Node* n : absorbed) n->dead = true;
    // Reuse the Div node as the fused op (keeps its place in the order).
    div.op = "LayerNormalization";
    div.inputs = inputs;
    div.outputs = {out};
    div.attrs = {{"axis", int64_t{-1}}, {"epsilon", *eps}};
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
