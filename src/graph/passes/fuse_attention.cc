// Pass: the attention core as torch exports timm's Attention,
//   Softmax(MatMul(q, Transpose(k, 0,1,3,2)) * scale + bias) @ v
// becomes effi.Attention(q, k, v, bias) with attr scale: per (batch, head) two small GEMMs and a
// row softmax without materialising k^T or the three [N, N] temporaries in the arena. When q, k, v
// are timm's head split of the qkv projection, Split(Transpose(X [B,N,H,C], 0,2,1,3)), and the
// output only goes through the head merge Transpose(0,2,1,3), it becomes effi.PackedAttention(X,
// bias) reading strided heads of X and writing [B,N,H,Dv]: three copies fewer per block (L1 at
// 2 threads: ~0.09 ms of Transpose/Split, which read rows the other core had written).
// In a QDQ model the two MatMuls' inputs are fake-quantized (effi.FakeQuant, fuse_qdq): q, k and v
// keep theirs as separate ops (k's moved before the transpose), the probabilities' runs inside
// the fused op (attrs p_scale, p_zero_point), as do those ONNX Runtime's layout puts on the two
// MatMuls' outputs (raw scores: s_scale / s_zero_point; output: o_scale / o_zero_point); the
// products themselves run in float on those values (0.2 % of L1's MACs, where ONNX Runtime runs
// them in int8).
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

namespace {

// effi.Attention `a` -> effi.PackedAttention when its q, k, v are the three outputs of
// Split(Transpose(X, 0,2,1,3), axis 3) used nowhere else and its output's sole consumer is
// Transpose(0,2,1,3). Returns whether it rewrote.
bool AbsorbHeadLayout(Graph& g, GraphIndex& idx, Node& a) {
  const int q = a.inputs[0], k = a.inputs[1], v = a.inputs[2];
  Node* split = idx.Producer(q);
  if (!split || !split->Is("Split") || split->outputs != std::vector<int>{q, k, v}) return false;
  if (!idx.SingleUse(q) || !idx.SingleUse(k) || !idx.SingleUse(v)) return false;
  const int t = split->inputs[0];
  const Shape ts = g.values[t].shape;
  const int64_t axis = split->GetInt("axis", 0);
  if (ts.size() != 4 || (axis != 3 && axis != -1)) return false;
  const int64_t dk = g.values[q].shape[3], dv = g.values[v].shape[3];
  if (g.values[k].shape[3] != dk || 2 * dk + dv != ts[3]) return false;
  Node* head_split = idx.Producer(t);
  if (!head_split || !head_split->Is("Transpose") || !idx.SingleUse(t) ||
      head_split->GetInts("perm", {}) != std::vector<int64_t>{0, 2, 1, 3})
    return false;
  Node* head_merge = idx.SoleConsumer(a.outputs[0]);
  if (!head_merge || !head_merge->Is("Transpose") ||
      head_merge->GetInts("perm", {}) != std::vector<int64_t>{0, 2, 1, 3})
    return false;
  const int bias = a.inputs.size() > 3 ? a.inputs[3] : -1;
  a.op = "PackedAttention";
  a.inputs = {head_split->inputs[0]};
  if (bias >= 0) a.inputs.push_back(bias);
  a.outputs = {head_merge->outputs[0]};
  a.attrs["key_dim"] = dk;  // scale and the probabilities' quantization stay
  split->dead = head_split->dead = head_merge->dead = true;
  return true;
}

}  // namespace

int FuseAttention(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& sm = g.nodes[i];
    if (sm.dead || !sm.Is("Softmax")) continue;
    const Shape ss = g.values[sm.inputs[0]].shape;
    if (ss.size() != 4) continue;
    const int64_t axis = sm.GetInt("axis", g.opset >= 13 ? -1 : 1);
    if (axis != 3 && axis != -1) continue;
    // Walk back: optional Add(bias), optional Mul/Div(scale), MatMul(q, kT).
    int cur = sm.inputs[0];
    int bias = -1;
    float scale = 1.0f;
    std::vector<Node*> absorbed;
    Node* p = idx.Producer(cur);
    if (p && p->Is("Add") && idx.SingleUse(cur)) {
      for (int side = 0; side < 2; ++side) {
        const int b = p->inputs[side];
        if (IsConst(g, b) && g.values[b].dtype == DType::kF32) {
          const Shape bs = g.values[b].shape;
          // Bias broadcast as [heads, N, N] or [1, heads, N, N] (or smaller broadcasts).
          if (bs.size() <= 4 && BroadcastOk(bs, ss)) {
            bias = b;
            cur = p->inputs[1 - side];
            absorbed.push_back(p);
            break;
          }
        }
      }
      p = idx.Producer(cur);
    }
    if (p && (p->Is("Mul") || p->Is("Div")) && idx.SingleUse(cur)) {
      auto c = ScalarConst(g, p->inputs[1]);
      int other = p->inputs[0];
      if (!c && p->Is("Mul")) {
        c = ScalarConst(g, p->inputs[0]);
        other = p->inputs[1];
      }
      if (c && *c != 0.0f) {
        scale = p->Is("Mul") ? *c : 1.0f / *c;
        cur = other;
        absorbed.push_back(p);
        p = idx.Producer(cur);
      }
    }
    // ONNX Runtime's QDQ layout fake-quantizes the scores right after the MatMul.
    Node* sfq = nullptr;
    if (p && p->IsEffi("FakeQuant") && idx.SingleUse(cur)) {
      sfq = p;
      absorbed.push_back(p);
      cur = p->inputs[0];
      p = idx.Producer(cur);
    }
    if (!p || !p->Is("MatMul") || !idx.SingleUse(cur)) continue;
    // In a QDQ model k^T is fake-quantized after the transpose: FakeQuant(Transpose(k)) is
    // Transpose(FakeQuant(k)), so the fused op gets a FakeQuant of k (added below).
    Node* kfq = idx.Producer(p->inputs[1]);
    if (kfq && !kfq->IsEffi("FakeQuant")) kfq = nullptr;
    Node* kt = idx.Producer(kfq ? kfq->inputs[0] : p->inputs[1]);
    if (!kt || !kt->Is("Transpose") || kt->GetInts("perm", {}) != std::vector<int64_t>{0, 1, 3, 2})
      continue;
    const int q = p->inputs[0];
    int k = kt->inputs[0];
    // ... and its probabilities after the softmax: that FakeQuant runs inside the fused kernel.
    int probs = sm.outputs[0];
    Node* pfq = idx.SoleConsumer(probs);
    if (pfq && pfq->IsEffi("FakeQuant")) {
      probs = pfq->outputs[0];
    } else {
      pfq = nullptr;
    }
    Node* pv = idx.SoleConsumer(probs);
    if (!pv || !pv->Is("MatMul") || pv->inputs[0] != probs) continue;
    // ... and its output (same layout).
    Node* ofq = idx.SoleConsumer(pv->outputs[0]);
    if (ofq && (!ofq->IsEffi("FakeQuant") || g.IsGraphOutput(pv->outputs[0]))) ofq = nullptr;
    const int v = pv->inputs[1];
    const Shape qs = g.values[q].shape, ks = g.values[k].shape, vs = g.values[v].shape;
    if (qs.size() != 4 || ks != qs || vs.size() != 4 || vs[0] != qs[0] || vs[1] != qs[1] ||
        vs[2] != ks[2])
      continue;
    // Bias must materialise as exactly [heads, N, N] per batch-broadcast; expand it now.
    int bias_full = -1;
    if (bias >= 0) {
      const TensorData& bt = *g.values[bias].constant;
      const int64_t h = ss[1], n = ss[2], m = ss[3];
      std::vector<int64_t> st(4);
      Shape b4 = bt.shape();
      while (b4.size() < 4) b4.insert(b4.begin(), 1);
      if (b4[0] != 1) continue;  // per-batch bias: leave unfused
      int64_t stride = 1;
      for (int d = 3; d >= 0; --d) {
        st[d] = b4[d] == 1 ? 0 : stride;
        stride *= b4[d];
      }
      std::vector<float> full(static_cast<size_t>(h * n * m));
      for (int64_t a = 0; a < h; ++a)
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < m; ++c)
            full[(a * n + r) * m + c] = bt.as<float>()[a * st[1] + r * st[2] + c * st[3]];
      bias_full = AddConst(g, "attention_bias", MakeFloatTensor(full, {h, n, m}));
    }
    for (Node* n : absorbed) n->dead = true;
    // k^T (and its FakeQuant) die unless used elsewhere; the head-split match needs k's only
    // consumer to be the fused op.
    if (!kfq && idx.SingleUse(p->inputs[1])) kt->dead = true;
    if (kfq && idx.SingleUse(p->inputs[1])) {
      kfq->dead = true;
      if (idx.SingleUse(kfq->inputs[0])) kt->dead = true;
    }
    p->dead = true;
    sm.dead = true;
    std::map<std::string, AttrValue> attrs = {{"scale", scale}};
    auto take = [&attrs](Node* fq, const char* prefix) {
      if (!fq) return;
      attrs[std::string(prefix) + "_scale"] = fq->GetFloat("scale", 0.0f);
      attrs[std::string(prefix) + "_zero_point"] = fq->GetInt("zero_point", 0);
      fq->dead = true;
    };
    take(sfq, "s");
    take(pfq, "p");
    take(ofq, "o");
    if (ofq) pv->outputs[0] = ofq->outputs[0];
    std::map<std::string, AttrValue> kfq_attrs;  // copied: appending below may move kfq
    if (kfq) kfq_attrs = kfq->attrs;
    // Reuse the second MatMul node as the fused op (keeps its place and output).
    pv->domain = kEffiDomain;
    pv->op = "Attention";
    pv->inputs = {q, k, v};
    if (bias_full >= 0) pv->inputs.push_back(bias_full);
    pv->attrs = attrs;
    const size_t fused = static_cast<size_t>(pv - g.nodes.data());
    if (kfq)  // appending may move g.nodes: the fused op is addressed by index from here
      g.nodes[fused].inputs[1] =
          AddNode1(g, g.values[k].name + "_fq", kEffiDomain, "FakeQuant", {k}, kfq_attrs);
    ++count;
    idx.Refresh();
    if (AbsorbHeadLayout(g, idx, g.nodes[fused])) idx.Refresh();
  }
  return count;
}

}  // namespace effi::passes
