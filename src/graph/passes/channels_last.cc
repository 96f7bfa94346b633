// Pass: effi's internal activation layout is channels-last (NHWC): the packed GEMM then treats a
// 1x1 conv as a plain [N*H*W, C] x [C, O] product and per-channel work is contiguous. Each 4-D
// Conv / AveragePool / GlobalAveragePool / spatial Resize becomes its effi NHWC op between two
// Transposes; then the NHWC->NCHW transposes are pushed down through elementwise ops (constants
// re-laid-out) until they meet and cancel the next NCHW->NHWC one. Left over: one transpose at the
// model input and the timm "Flat" (flatten(2).transpose(1,2)), which on NHWC data is a free
// reshape.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"
#include "ops/op.h"

namespace effi::passes {
namespace {

// OIHW conv weights as OHWI (the NHWC convolution's layout), element type T.
template <class T>
ConstTensor ToOhwi(const TensorData& w) {
  const Shape& ws = w.shape();
  auto t = MakeUninitializedTensor(w.dtype(), {ws[0], ws[2], ws[3], ws[1]});
  const T* src = w.as<T>();
  T* dst = t->mutable_as<T>();
  for (int64_t o = 0; o < ws[0]; ++o)
    for (int64_t c = 0; c < ws[1]; ++c)
      for (int64_t y = 0; y < ws[2]; ++y)
        for (int64_t x = 0; x < ws[3]; ++x)
          dst[((o * ws[2] + y) * ws[3] + x) * ws[1] + c] =
              src[((o * ws[1] + c) * ws[2] + y) * ws[3] + x];
  return t;
}

const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
const std::vector<int64_t> kToNchw{0, 3, 1, 2};

bool IsTranspose(const Node* n, const std::vector<int64_t>& perm) {
  return n && n->Is("Transpose") && n->GetInts("perm", {}) == perm;
}

bool IsElementwise(const Node& n) {
  static const char* kOps[] = {"Add", "Sub", "Mul", "Div",     "Pow",  "Relu", "Erf", "Sqrt",
                               "Neg", "Abs", "Exp", "Sigmoid", "Tanh", "Clip", "Max", "Min"};
  if (n.IsEffi("Gelu") || n.IsEffi("FakeQuant")) return true;
  if (!n.domain.empty()) return false;
  for (const char* op : kOps)
    if (n.op == op) return true;
  return false;
}

// Step 1: rewrite each NCHW op to its NHWC version between transposes.
int ConvertOps(Graph& g) {
  int count = 0;
  const size_t n0 = g.nodes.size();
  for (size_t i = 0; i < n0; ++i) {
    Node n = g.nodes[i];  // copy: AddNode may reallocate
    if (n.dead) continue;
    const bool conv = n.Is("Conv"), pool = n.Is("AveragePool"), gap = n.Is("GlobalAveragePool");
    std::map<std::string, AttrValue> attrs;
    // EfficientFormerV2's 2x upsampling of the stride-2 attention's output.
    const bool resize = n.Is("Resize") && ops::NhwcResizeAttrs(n, g, &attrs);
    if (!conv && !pool && !gap && !resize) continue;
    const Shape xs = g.values[n.inputs[0]].shape;
    if (xs.size() != 4) continue;
    std::vector<int> inputs;
    const Shape ys = g.values[n.outputs[0]].shape;
    auto explicit_pads = [&](int64_t kh, int64_t kw, int64_t dh, int64_t dw) {
      // Recover the pads the shape inference resolved (auto_pad / ceil_mode included).
      auto s = n.GetInts("strides", {1, 1});
      std::vector<int64_t> p = n.GetInts("pads", {0, 0, 0, 0});
      const std::string ap = n.GetString("auto_pad", "NOTSET");
      for (int d = 0; d < 2; ++d) {
        const int64_t in = xs[2 + d], out = ys[2 + d], k = d ? kw : kh, dil = d ? dw : dh;
        const int64_t need = std::max<int64_t>(0, (out - 1) * s[d] + dil * (k - 1) + 1 - in);
        if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
          p[d] = ap == "SAME_UPPER" ? need / 2 : need - need / 2;
          p[d + 2] = need - p[d];
        } else if (ap == "VALID") {
          p[d] = p[d + 2] = 0;
        } else {
          p[d + 2] = std::max(p[d + 2], need - p[d]);  // ceil_mode extends the end pad
        }
      }
      return p;
    };
    if (conv) {
      if (!IsConst(g, n.inputs[1]) || (n.HasInput(2) && !IsConst(g, n.inputs[2]))) continue;
      const TensorData& w = *g.values[n.inputs[1]].constant;
      const Shape& ws = w.shape();
      auto dil = n.GetInts("dilations", {1, 1});
      ConstTensor ohwi;
      if (ws[2] == 1 && ws[3] == 1) {
        // 1x1 kernels: OIHW and OHWI are the same bytes; share them.
        ohwi = Reshaped(g.values[n.inputs[1]].constant, {ws[0], 1, 1, ws[1]});
      } else if (const Int8Source* src = w.int8_source();
                 src && (src->scale.size() == 1 || src->axis == 0)) {
        // int8 weights re-laid out as int8 (their scales stay per output channel).
        ohwi = TensorData::FromInt8({ToOhwi<int8_t>(*src->q), src->scale, 0});
      } else {
        ohwi = ToOhwi<float>(w);
      }
      attrs = {{"strides", n.GetInts("strides", {1, 1})},
               {"dilations", dil},
               {"pads", explicit_pads(ws[2], ws[3], dil[0], dil[1])},
               {"group", n.GetInt("group", 1)}};
      inputs = {-1, AddConst(g, g.values[n.inputs[1]].name + "_ohwi", ohwi)};
      if (n.HasInput(2)) inputs.push_back(n.inputs[2]);
    } else if (pool) {
      if (n.Has("dilations") && n.GetInts("dilations", {}) != std::vector<int64_t>{1, 1}) continue;
      auto k = n.GetInts("kernel_shape", {});
      attrs = {{"kernel_shape", k},
               {"strides", n.GetInts("strides", {1, 1})},
               {"pads", explicit_pads(k[0], k[1], 1, 1)},
               {"count_include_pad", n.GetInt("count_include_pad", 0)}};
      // ceil_mode windows past the input+pads are never counted; widening the end pad would count
      // them under count_include_pad=1, so leave those to the NCHW op.
      if (n.GetInt("ceil_mode", 0) && n.GetInt("count_include_pad", 0)) continue;
      inputs = {-1};
    } else {
      inputs = {-1};
    }
    // A conv over few channels (the stem conv over RGB) reads NCHW directly: its kernel runs
    // vectors along pixels, so the input transpose would only cost time (L1: 0.05 ms).
    if (conv && ops::PreferNchwInputConv(n, g)) {
      attrs["nchw_input"] = int64_t{1};
      inputs[0] = n.inputs[0];
    } else {
      inputs[0] =
          AddNode1(g, n.name + "_to_nhwc", "", "Transpose", {n.inputs[0]}, {{"perm", kToNhwc}});
    }
    const int y = AddNode1(g, n.name + "_nhwc", kEffiDomain,
                           conv     ? "Conv"
                           : pool   ? "AvgPool"
                           : resize ? "Resize"
                                    : "GlobalAvgPool",
                           inputs, attrs);
    g.nodes.back().name = n.name;
    g.nodes[i].dead = true;
    AddTransposeTo(g, n.name + "_to_nchw", y, n.outputs[0], kToNchw);
    ++count;
  }
  return count;
}

// Re-lays out a constant for use under an NHWC elementwise op: right-align to 4-D, transpose.
int ConstToNhwc(Graph& g, int v) {
  const TensorData& t = *g.values[v].constant;
  if (t.elements() == 1) return v;  // scalars broadcast the same either way
  Shape s = t.shape();
  if (s.size() > 4) return -1;
  while (s.size() < 4) s.insert(s.begin(), 1);
  Shape out{s[0], s[2], s[3], s[1]};
  auto nt = MakeTensor(t.dtype(), out);
  const size_t es = DTypeSize(t.dtype());
  const char* src = static_cast<const char*>(t.data());
  char* dst = static_cast<char*>(nt->mutable_data());
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w)
          std::memcpy(dst + (((a * s[2] + h) * s[3] + w) * s[1] + c) * es,
                      src + (((a * s[1] + c) * s[2] + h) * s[3] + w) * es, es);
  return AddConst(g, g.values[v].name + "_nhwc", nt);
}

// Appends Transpose(y, to NCHW) writing `out` (an existing value whose old producer is dead).
void AddToNchw(Graph& g, int y, int out) {
  AddTransposeTo(g, g.values[y].name + "_to_nchw", y, out, kToNchw);
}

// Step 2: sink NHWC->NCHW transposes through elementwise ops. Returns rewrites made.
int SinkTransposes(Graph& g) {
  int count = 0;
  GraphIndex idx(g);
  const size_t n0 = g.nodes.size();
  for (size_t i = 0; i < n0; ++i) {
    if (g.nodes[i].dead || !IsElementwise(g.nodes[i])) continue;
    const Node& e = g.nodes[i];
    if (g.values[e.outputs[0]].shape.size() != 4) continue;
    bool any = false, ok = true;
    std::vector<int> new_inputs = e.inputs;
    for (size_t k = 0; k < e.inputs.size() && ok; ++k) {
      const int in = e.inputs[k];
      if (in < 0) continue;
      const Node* p = idx.Producer(in);
      if (IsTranspose(p, kToNchw)) {
        new_inputs[k] = p->inputs[0];
        any = true;
      } else if (IsConst(g, in)) {
        // handled below
      } else if (NumElements(g.values[in].shape) == 1) {
        // runtime scalar: broadcasts identically
      } else {
        ok = false;
      }
    }
    if (!ok || !any) continue;
    for (size_t k = 0; k < new_inputs.size(); ++k)
      if (new_inputs[k] >= 0 && IsConst(g, new_inputs[k])) {
        int c = ConstToNhwc(g, new_inputs[k]);
        if (c < 0) ok = false;
        new_inputs[k] = c;
      }
    if (!ok) continue;
    const int old_out = g.nodes[i].outputs[0];
    const int nhwc_out = g.AddValue(g.UniqueName(g.values[old_out].name + "_nhwc"));
    g.nodes[i].inputs = new_inputs;
    g.nodes[i].outputs = {nhwc_out};
    AddToNchw(g, nhwc_out, old_out);
    ++count;
    idx.Refresh();
  }
  return count;
}

// Step 2b: per-channel ops on a transposed NHWC map, rewritten to read the map itself:
// inference BatchNormalization becomes Mul + Add by [C] constants (elementwise, so the transpose
// sinks on through them; EfficientFormerV2's head norm), and a reduction over H and W reduces axes
// 1 and 2 of the NHWC map (its head's spatial mean). Returns rewrites made.
int ConvertChannelOps(Graph& g) {
  int count = 0;
  GraphIndex idx(g);
  const size_t n0 = g.nodes.size();
  for (size_t i = 0; i < n0; ++i) {
    if (g.nodes[i].dead) continue;
    const Node n = g.nodes[i];  // copy: AddNode may reallocate
    const Node* t = idx.Producer(n.inputs[0]);
    if (!IsTranspose(t, kToNchw) || g.values[n.inputs[0]].shape.size() != 4) continue;
    const int src = t->inputs[0];
    const int64_t c = g.values[src].shape[3];
    if (n.Is("BatchNormalization")) {
      if (n.outputs.size() != 1 || n.GetInt("training_mode", 0) != 0) continue;
      bool ok = n.inputs.size() == 5;
      for (size_t k = 1; ok && k < 5; ++k)
        ok = IsConst(g, n.inputs[k]) && g.values[n.inputs[k]].constant->dtype() == DType::kF32 &&
             g.values[n.inputs[k]].shape == Shape{c};
      if (!ok) continue;
      auto f = [&](size_t k) { return g.values[n.inputs[k]].constant->as<float>(); };
      const float eps = n.GetFloat("epsilon", 1e-5f);
      std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
      for (int64_t j = 0; j < c; ++j) {
        scale[j] = f(1)[j] / std::sqrt(f(4)[j] + eps);
        shift[j] = f(2)[j] - f(3)[j] * scale[j];
      }
      const int sc = AddConst(g, n.name + "_scale", MakeFloatTensor(scale, {c}));
      const int sh = AddConst(g, n.name + "_shift", MakeFloatTensor(shift, {c}));
      const int mul = AddNode1(g, n.name + "_mul", "", "Mul", {src, sc});
      const int add = AddNode1(g, n.name + "_add", "", "Add", {mul, sh});
      g.nodes[i].dead = true;
      AddToNchw(g, add, n.outputs[0]);
      ++count;
      continue;
    }
    const bool reduce =
        n.Is("ReduceMean") || n.Is("ReduceSum") || n.Is("ReduceMax") || n.Is("ReduceMin");
    if (!reduce || n.outputs.size() != 1) continue;
    if (n.HasInput(1) && !IsConst(g, n.inputs[1])) continue;
    std::vector<int64_t> axes =
        n.HasInput(1) ? ops::ConstInts(g, n, 1, "axes") : n.GetInts("axes", {});
    for (int64_t& a : axes)
      if (a < 0) a += 4;
    std::sort(axes.begin(), axes.end());
    if (axes != std::vector<int64_t>{2, 3}) continue;
    Node r = n;
    r.name = n.name + "_nhwc";
    r.inputs[0] = src;
    if (n.HasInput(1))
      r.inputs[1] = AddConst(g, n.name + "_axes", MakeInt64Tensor({1, 2}, {2}));
    else
      r.attrs["axes"] = std::vector<int64_t>{1, 2};
    const bool keep = n.GetInt("keepdims", 1) != 0;
    g.nodes[i].dead = true;
    if (keep) {
      r.outputs = {g.AddValue(g.UniqueName(g.values[n.outputs[0]].name + "_nhwc"))};
      const int y = r.outputs[0];
      g.AddNode(std::move(r));
      AddToNchw(g, y, n.outputs[0]);
    } else {
      g.AddNode(std::move(r));  // [N, C] either way
    }
    ++count;
  }
  return count;
}

// Step 3: cancel Transpose pairs and turn size-1-only transposes and the Flat pattern into
// reshapes.
int Simplify(Graph& g) {
  int count = 0;
  GraphIndex idx(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& t = g.nodes[i];
    if (t.dead || !t.Is("Transpose")) continue;
    const Node* p = idx.Producer(t.inputs[0]);
    const auto perm = t.GetInts("perm", {});
    // NCHW->NHWC of NHWC->NCHW: identity.
    if (p && p->Is("Transpose") && perm == kToNhwc && p->GetInts("perm", {}) == kToNchw) {
      const int src = p->inputs[0];
      t.op = "Identity";
      t.attrs.clear();
      t.inputs = {src};
      ++count;
      continue;
    }
    // Flat: Transpose(0,2,1) of Reshape([N,C,HW]) of Transpose(0,3,1,2)(x NHWC) == Reshape(x,
    // [N,HW,C]).
    if (perm == std::vector<int64_t>{0, 2, 1} && p && p->Is("Reshape")) {
      const Node* pt = idx.Producer(p->inputs[0]);
      const Shape rs = g.values[p->outputs[0]].shape;
      if (IsTranspose(pt, kToNchw) && rs.size() == 3) {
        const Shape xs = g.values[pt->inputs[0]].shape;  // NHWC
        if (rs[0] == xs[0] && rs[1] == xs[3] && rs[2] == xs[1] * xs[2]) {
          const int shape =
              AddConst(g, "flat_shape", MakeInt64Tensor({xs[0], xs[1] * xs[2], xs[3]}, {3}));
          t.op = "Reshape";
          t.attrs.clear();
          t.inputs = {pt->inputs[0], shape};
          ++count;
          continue;
        }
      }
    }
    // A transpose that only moves size-1 dims is a reshape.
    const Shape xs = g.values[t.inputs[0]].shape;
    std::vector<int64_t> order;
    for (int64_t d : perm)
      if (xs[d] != 1) order.push_back(d);
    if (std::is_sorted(order.begin(), order.end()) && !perm.empty()) {
      const Shape ys = g.values[t.outputs[0]].shape;
      const int shape = AddConst(g, "t_shape",
                                 MakeInt64Tensor(std::vector<int64_t>(ys.begin(), ys.end()),
                                                 {static_cast<int64_t>(ys.size())}));
      t.op = "Reshape";
      t.attrs.clear();
      t.inputs = {t.inputs[0], shape};
      ++count;
    }
  }
  return count;
}

}  // namespace

int ToChannelsLast(Graph& g) {
  int count = ConvertOps(g);
  if (count == 0) return 0;
  g.TopoSort();
  InferShapesAndFold(g);
  // Sinking moves each transpose one op down per round; bounded by graph depth.
  // Each step needs the shapes the previous one changed, so each is followed by re-inference
  // (V2-L: ~40 ms per InferShapesAndFold), but only when it rewrote something.
  auto step = [&g](int rewrites) {
    if (rewrites > 0) {
      g.RemoveDeadNodes();
      g.TopoSort();
      InferShapesAndFold(g);
    }
    return rewrites;
  };
  for (int round = 0; round < 10000; ++round) {
    const int rewrites = step(SinkTransposes(g)) + step(Simplify(g)) + step(ConvertChannelOps(g));
    if (rewrites == 0) break;
    count += rewrites;
  }
  return count;
}

}  // namespace effi::passes
