// Pass: EfficientFormerV2's attention core as torch exports timm's Attention2d (with "talking
// heads") and Attention2dDownsample, on NCHW maps q4 [B,H*D,Hq,Wq], k4 [B,H*D,Hk,Wk],
// v4 [B,H*Dv,Hk,Wk]:
//   s = MatMul(Transpose(Reshape(q4, [B,H,D,N]), 0,1,3,2), Reshape(k4, [B,H,D,M])) [* scale]
//       [+ bias]
//   p = [Conv1x1 across heads](Softmax([Conv1x1 across heads](s), last axis))
//   y = Reshape(Transpose(MatMul(p, Transpose(Reshape(v4, [B,H,Dv,M]), 0,1,3,2)), 0,1,3,2),
//               [B,H*Dv,Hq,Wq])
// becomes y = Transpose(effi.Attention2d(Transpose(q4), Transpose(k4), Transpose(v4), bias, mix1,
// mix1_bias, mix2, mix2_bias), to NCHW): heads are channel slices of the channels-last maps, so
// the op reads q, k, v in place and writes its output in place, and the transposes around it
// cancel against channels_last's. It runs before channels_last so that pass sees NHWC-ready
// inputs. Unfused, V2-S0 ran 5 attention blocks as 10 MatMuls, 8 head-mixing convolutions on
// [B,49,49,8] maps and ~40 transposes.
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

const std::vector<int64_t> kSwapLast{0, 1, 3, 2};

bool IsSwapLast(const Node* n) {
  return n && n->Is("Transpose") && n->GetInts("perm", {}) == kSwapLast;
}

// The 4-D NCHW map x4 a Reshape `r` splits as [B, heads, C/heads, H*W]; -1 when it is not that.
int HeadSplitSource(const Graph& g, const Node* r) {
  if (!r || !r->Is("Reshape")) return -1;
  const Shape& xs = g.values[r->inputs[0]].shape;
  const Shape& ys = g.values[r->outputs[0]].shape;
  if (xs.size() != 4 || ys.size() != 4 || ys[0] != xs[0] || ys[1] * ys[2] != xs[1] ||
      ys[3] != xs[2] * xs[3])
    return -1;
  return r->inputs[0];
}

// A 1x1 convolution across heads on [B,H,N,M] (timm's talking head): weight [H,H,1,1], bias [H]?
bool IsHeadMix(const Graph& g, const Node* c, int64_t heads) {
  if (!c || !c->Is("Conv") || c->inputs.size() < 2 || !IsConst(g, c->inputs[1])) return false;
  if (c->HasInput(2) && !IsConst(g, c->inputs[2])) return false;
  if (g.values[c->inputs[1]].shape != Shape{heads, heads, 1, 1}) return false;
  if (c->GetInt("group", 1) != 1) return false;
  const std::string ap = c->GetString("auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "VALID") return false;
  for (const char* a : {"strides", "dilations"})
    for (int64_t v : c->GetInts(a, {1, 1}))
      if (v != 1) return false;
  for (int64_t v : c->GetInts("pads", {0, 0, 0, 0}))
    if (v != 0) return false;
  return g.values[c->inputs[1]].constant->dtype() == DType::kF32;
}

// Walks back from the probabilities' MatMul `pv` and rewrites when the whole chain matches.
bool Fuse(Graph& g, GraphIndex& idx, Node& pv) {
  // Output side: MatMul -> Transpose(0,1,3,2) -> Reshape [B, H*Dv, Hq, Wq].
  Node* out_t = idx.SoleConsumer(pv.outputs[0]);
  if (!IsSwapLast(out_t)) return false;
  Node* out_r = idx.SoleConsumer(out_t->outputs[0]);
  if (!out_r || !out_r->Is("Reshape")) return false;
  // Values side: Transpose(Reshape(v4)).
  Node* vt = idx.Producer(pv.inputs[1]);
  if (!IsSwapLast(vt) || !idx.SingleUse(pv.inputs[1])) return false;
  Node* vr = idx.Producer(vt->inputs[0]);
  const int v4 = HeadSplitSource(g, vr);
  if (v4 < 0 || !idx.SingleUse(vt->inputs[0])) return false;
  // Probabilities: [mix2](Softmax([mix1](s))).
  const Shape ps = g.values[pv.inputs[0]].shape;
  if (ps.size() != 4) return false;
  const int64_t heads = ps[1], n = ps[2], m = ps[3];
  std::vector<Node*> chain;  // matched nodes to remove (besides the ends)
  int cur = pv.inputs[0];
  auto step = [&](Node* p) {
    chain.push_back(p);
    cur = p->inputs[0];
  };
  Node* mix2 = idx.Producer(cur);
  if (IsHeadMix(g, mix2, heads) && idx.SingleUse(cur))
    step(mix2);
  else
    mix2 = nullptr;
  Node* sm = idx.Producer(cur);
  if (!sm || !sm->Is("Softmax") || !idx.SingleUse(cur)) return false;
  const int64_t axis = sm->GetInt("axis", g.opset >= 13 ? -1 : 1);
  if (axis != 3 && axis != -1) return false;
  step(sm);
  Node* mix1 = idx.Producer(cur);
  if (IsHeadMix(g, mix1, heads) && idx.SingleUse(cur))
    step(mix1);
  else
    mix1 = nullptr;
  // [+ bias] [* scale], each with a constant on either side.
  int bias = -1;
  float scale = 1.0f;
  if (Node* add = idx.Producer(cur); add && add->Is("Add") && idx.SingleUse(cur)) {
    const int c = IsConst(g, add->inputs[1]) ? add->inputs[1] : add->inputs[0];
    const int x = OtherInput(*add, c);
    const Shape& cs = g.values[c].shape;
    const bool hnm = cs == Shape{heads, n, m} || cs == Shape{1, heads, n, m};
    if (!IsConst(g, c) || !hnm || g.values[c].constant->dtype() != DType::kF32) return false;
    bias = c;
    step(add);
    cur = x;
  }
  if (Node* mul = idx.Producer(cur); mul && mul->Is("Mul") && idx.SingleUse(cur)) {
    const int c = IsConst(g, mul->inputs[1]) ? mul->inputs[1] : mul->inputs[0];
    const std::optional<float> s = ScalarConst(g, c);
    if (!s) return false;
    scale = *s;
    step(mul);
    cur = OtherInput(*mul, c);
  }
  Node* qk = idx.Producer(cur);
  if (!qk || !qk->Is("MatMul") || !idx.SingleUse(cur)) return false;
  Node* qt = idx.Producer(qk->inputs[0]);
  if (!IsSwapLast(qt) || !idx.SingleUse(qk->inputs[0])) return false;
  Node* qr = idx.Producer(qt->inputs[0]);
  Node* kr = idx.Producer(qk->inputs[1]);
  const int q4 = HeadSplitSource(g, qr), k4 = HeadSplitSource(g, kr);
  if (q4 < 0 || k4 < 0 || !idx.SingleUse(qt->inputs[0]) || !idx.SingleUse(qk->inputs[1]))
    return false;
  // Shapes: heads split the same way everywhere, spatial sizes as the scores say.
  const Shape &qs = g.values[q4].shape, &ks = g.values[k4].shape, &vs = g.values[v4].shape;
  const Shape& ys = g.values[out_r->outputs[0]].shape;
  const Shape& qrs = g.values[qr->outputs[0]].shape;
  const Shape& vrs = g.values[vr->outputs[0]].shape;
  if (qrs[1] != heads || g.values[kr->outputs[0]].shape[1] != heads || vrs[1] != heads ||
      qs[2] * qs[3] != n || ks[2] * ks[3] != m || vs[2] != ks[2] || vs[3] != ks[3] ||
      ks[1] != qs[1] || ys != Shape{qs[0], vs[1], qs[2], qs[3]})
    return false;
  // Rewrite. Everything needed is read before the matched nodes die and nodes are added
  // (AddNode may reallocate g.nodes and so move what the pointers above point at).
  const std::string name = pv.name, back_name = out_r->name + "_to_nchw";
  const int y_value = out_r->outputs[0];
  auto mix_inputs = [&](const Node* c) {
    return c ? std::vector<int>{c->inputs[1], c->HasInput(2) ? c->inputs[2] : -1}
             : std::vector<int>{-1, -1};
  };
  const std::vector<int> m1 = mix_inputs(mix1), m2 = mix_inputs(mix2);
  for (Node* d : chain) d->dead = true;
  for (Node* d : {&pv, out_t, out_r, vt, vr, qk, qt, qr, kr}) d->dead = true;
  const std::vector<int64_t> to_nhwc{0, 2, 3, 1}, to_nchw{0, 3, 1, 2};
  auto nhwc = [&](int x) {
    return AddNode1(g, g.values[x].name + "_nhwc", "", "Transpose", {x}, {{"perm", to_nhwc}});
  };
  std::vector<int> inputs{nhwc(q4), nhwc(k4), nhwc(v4), -1, -1, -1, -1, -1};
  if (bias >= 0)
    inputs[3] =
        AddConst(g, g.values[bias].name + "_hnm", Reshaped(g.values[bias].constant, {heads, n, m}));
  auto mix = [&](const std::vector<int>& wb, size_t slot) {
    if (wb[0] < 0) return;
    inputs[slot] = AddConst(g, g.values[wb[0]].name + "_hh",
                            Reshaped(g.values[wb[0]].constant, {heads, heads}));
    inputs[slot + 1] = wb[1];
  };
  mix(m1, 4);
  mix(m2, 6);
  while (!inputs.empty() && inputs.back() < 0) inputs.pop_back();
  const int y = AddNode1(g, name + "_attention2d", kEffiDomain, "Attention2d", inputs,
                         {{"heads", heads}, {"scale", scale}});
  AddTransposeTo(g, back_name, y, y_value, to_nchw);
  return true;
}

}  // namespace

int FuseAttention2d(Graph& g) {
  int count = 0;
  GraphIndex idx(g);
  const size_t n0 = g.nodes.size();
  for (size_t i = 0; i < n0; ++i) {
    if (g.nodes[i].dead || !g.nodes[i].Is("MatMul")) continue;
    if (g.values[g.nodes[i].outputs[0]].shape.size() != 4) continue;
    if (!Fuse(g, idx, g.nodes[i])) continue;
    ++count;
    idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
