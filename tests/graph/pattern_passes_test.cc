// Unit tests for the pattern-matching passes fuse_layernorm, fuse_gelu and fuse_attention: the
// decompositions torch exports are fused in every supported form, and look-alikes with other
// constants, axes or extra uses of intermediates are left alone.
#include <gtest/gtest.h>

#include <cmath>

#include "graph_test_util.h"

namespace effi::testing {
namespace {

using passes::FuseAttention;
using passes::FuseGelu;
using passes::FuseLayerNorm;

// ---- fuse_layernorm ----

struct LnOptions {
  std::vector<int64_t> mean_axes{-1};
  bool square_by_mul = false;
  bool eps_first = false;
  float exponent = 2.0f;
  bool affine = true;
  Shape gamma_shape{8};
};

// x [2,4,8] -> the opset-11 LayerNorm decomposition; returns the builder with `d` (x - mean) kept.
struct LayerNormGraph {
  Builder b;
  int x, d, out;
  explicit LayerNormGraph(const LnOptions& o = {}) {
    x = b.Input("x", {2, 4, 8});
    const auto mean_attrs =
        std::map<std::string, AttrValue>{{"axes", o.mean_axes}, {"keepdims", int64_t{1}}};
    const int m = b.Op("ReduceMean", {x}, mean_attrs);
    d = b.Op("Sub", {x, m});
    const int sq =
        o.square_by_mul ? b.Op("Mul", {d, d}) : b.Op("Pow", {d, b.Scalar("two", o.exponent)});
    const int v = b.Op("ReduceMean", {sq}, mean_attrs);
    const int eps = b.Scalar("eps", 1e-5f);
    const int e = b.Op("Add", o.eps_first ? std::vector<int>{eps, v} : std::vector<int>{v, eps});
    out = b.Op("Div", {d, b.Op("Sqrt", {e})});
    if (o.affine) {
      out = b.Op("Mul", {out, b.Random("gamma", o.gamma_shape, 1.0f, 0.3f)});
      out = b.Op("Add", {out, b.Random("beta", {8})});
    }
  }
};

TEST(FuseLayerNorm, PowFormWithAffine) {
  LayerNormGraph m;
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 1);
  EXPECT_EQ(HistogramStr(g), "LayerNormalization:1 ");
  const Node* ln = FindNode(g, "LayerNormalization");
  EXPECT_EQ(ln->inputs.size(), 3u);
  EXPECT_FLOAT_EQ(ln->GetFloat("epsilon", 0), 1e-5f);
}

TEST(FuseLayerNorm, EpsFirstPositiveAxisNoAffine) {
  LnOptions o;
  o.eps_first = true;
  o.affine = false;
  o.mean_axes = {2};
  LayerNormGraph m(o);
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 1);
  EXPECT_EQ(HistogramStr(g), "LayerNormalization:1 ");
}

// Mul(d, d) as the square (d appears twice among its consumers' inputs) fuses too.
TEST(FuseLayerNorm, MulSquareForm) {
  LnOptions o;
  o.square_by_mul = true;
  LayerNormGraph m(o);
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 1);
  EXPECT_EQ(HistogramStr(g), "LayerNormalization:1 ");
}

TEST(FuseLayerNorm, MulSquareFormStaysCorrect) {
  LnOptions o;
  o.square_by_mul = true;
  LayerNormGraph m(o);
  m.b.Output(m.out);
  CheckPasses(m.b.g, {FuseLayerNorm}, kUnchecked);
}

TEST(FuseLayerNorm, KeepsAffineMulThatIsNotPerChannel) {
  LnOptions o;
  o.gamma_shape = {4, 8};
  LayerNormGraph m(o);
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 1);
  EXPECT_EQ(HistogramStr(g), "Add:1 LayerNormalization:1 Mul:1 ");
}

TEST(FuseLayerNorm, NotOverAnotherAxis) {
  LnOptions o;
  o.mean_axes = {1};
  LayerNormGraph m(o);
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 0);
  EXPECT_EQ(Count(g, "ReduceMean"), 2);
}

TEST(FuseLayerNorm, NotForOtherExponent) {
  LnOptions o;
  o.exponent = 3.0f;
  LayerNormGraph m(o);
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 0);
  EXPECT_EQ(Count(g, "LayerNormalization"), 0);
}

TEST(FuseLayerNorm, NotWhenCenteredValueHasAnotherUse) {
  LayerNormGraph m;
  m.b.Output(m.out);
  m.b.Output(m.b.Op("Relu", {m.d}));
  Graph g = CheckPasses(m.b.g, {FuseLayerNorm}, 0);
  EXPECT_EQ(Count(g, "LayerNormalization"), 0);
}

// ---- fuse_gelu ----

struct GeluOptions {
  bool half_first = false;     // (x*0.5)*(1+erf) instead of (x*(1+erf))*0.5
  bool mul_inv_sqrt2 = false;  // x * (1/sqrt2) instead of x / sqrt2
  float sqrt2 = static_cast<float>(M_SQRT2);
  float one = 1.0f;
  float half = 0.5f;
};

struct GeluGraph {
  Builder b;
  int x, erf, out;
  explicit GeluGraph(const GeluOptions& o = {}) {
    x = b.Input("x", {2, 4, 16});
    const int scaled = o.mul_inv_sqrt2 ? b.Op("Mul", {x, b.Scalar("inv_sqrt2", 1.0f / o.sqrt2)})
                                       : b.Op("Div", {x, b.Scalar("sqrt2", o.sqrt2)});
    erf = b.Op("Erf", {scaled});
    const int onep = b.Op("Add", {erf, b.Scalar("one", o.one)});
    if (o.half_first) {
      out = b.Op("Mul", {b.Op("Mul", {x, b.Scalar("half", o.half)}), onep});
    } else {
      out = b.Op("Mul", {b.Op("Mul", {x, onep}), b.Scalar("half", o.half)});
    }
  }
};

TEST(FuseGelu, AllExportForms) {
  for (bool half_first : {false, true})
    for (bool mul : {false, true}) {
      SCOPED_TRACE(std::string(half_first ? "half first" : "half last") +
                   (mul ? ", mul 1/sqrt2" : ", div sqrt2"));
      GeluOptions o;
      o.half_first = half_first;
      o.mul_inv_sqrt2 = mul;
      GeluGraph m(o);
      m.b.Output(m.out);
      Graph g = CheckPasses(m.b.g, {FuseGelu}, 1);
      EXPECT_EQ(HistogramStr(g), "effi.Gelu:1 ");
    }
}

TEST(FuseGelu, NotWithWrongConstants) {
  GeluOptions wrong_sqrt2, wrong_one, wrong_half;
  wrong_sqrt2.sqrt2 = 2.0f;
  wrong_one.one = 0.9f;
  wrong_half.half = 0.6f;
  for (const GeluOptions& o : {wrong_sqrt2, wrong_one, wrong_half}) {
    GeluGraph m(o);
    m.b.Output(m.out);
    Graph g = CheckPasses(m.b.g, {FuseGelu}, 0);
    EXPECT_EQ(Count(g, "Erf"), 1);
  }
}

TEST(FuseGelu, NotWhenErfHasAnotherUse) {
  GeluGraph m;
  m.b.Output(m.out);
  m.b.Output(m.erf);
  Graph g = CheckPasses(m.b.g, {FuseGelu}, 0);
  EXPECT_EQ(Count(g, "Erf"), 1);
}

TEST(FuseGelu, NotWhenMultipliedByADifferentTensor) {
  Builder b;
  const int x = b.Input("x", {2, 16}), y = b.Input("y", {2, 16});
  const int onep =
      b.Op("Add", {b.Op("Erf", {b.Op("Div", {x, b.Scalar("sqrt2", static_cast<float>(M_SQRT2))})}),
                   b.Scalar("one", 1.0f)});
  b.Output(b.Op("Mul", {b.Op("Mul", {y, onep}), b.Scalar("half", 0.5f)}));
  Graph g = CheckPasses(b.g, {FuseGelu}, 0);
  EXPECT_EQ(Count(g, "Erf"), 1);
}

// ---- fuse_attention ----

// timm's Attention as torch exports it (opset 11): qkv [B,N,H*(2Dk+Dv)] -> Reshape [B,N,H,C] ->
// Transpose(0,2,1,3) -> Split(axis 3) -> q k^T * scale + bias -> Softmax -> @ v ->
// Transpose(0,2,1,3) -> Reshape [B,N,H*Dv].
struct AttentionGraph {
  static constexpr int64_t B = 1, N = 7, H = 3, Dk = 4, Dv = 8, C = 2 * Dk + Dv;
  Builder b{11};
  int x, q, k, v, attn, merged, out;
  AttentionGraph() {
    x = b.Input("x", {B, N, H * C});
    const int heads = b.Op("Reshape", {x, b.Ints("shape4", {B, N, H, C}, {4})});
    const int t = b.Op("Transpose", {heads}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    q = b.g.AddValue("q"), k = b.g.AddValue("k"), v = b.g.AddValue("v");
    Node split;
    split.name = "split", split.op = "Split", split.inputs = {t}, split.outputs = {q, k, v};
    split.attrs = {{"axis", int64_t{3}}, {"split", std::vector<int64_t>{Dk, Dk, Dv}}};
    b.g.AddNode(split);
    const int kt = b.Op("Transpose", {k}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    const int s = b.Op("Mul", {b.Op("MatMul", {q, kt}), b.Scalar("scale", 0.5f)});
    const int p =
        b.Op("Softmax", {b.Op("Add", {s, b.Random("bias", {1, H, N, N})})}, {{"axis", int64_t{3}}});
    attn = b.Op("MatMul", {p, v});
    merged = b.Op("Transpose", {attn}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    out = b.Op("Reshape", {merged, b.Ints("shape3", {B, N, H * Dv}, {3})});
  }
};

TEST(FuseAttention, AbsorbsTheHeadSplitAndMerge) {
  AttentionGraph m;
  m.b.Output(m.out);
  Graph g = CheckPasses(m.b.g, {FuseAttention}, 1);
  EXPECT_EQ(HistogramStr(g), "Reshape:2 effi.PackedAttention:1 ");
}

TEST(FuseAttention, KeepsTheHeadLayoutWhenAHeadTensorHasAnotherUse) {
  AttentionGraph m;  // v also leaves the graph: the split stays, q/k/v feed effi.Attention
  m.b.Output(m.out);
  m.b.Output(m.v);
  Graph g = CheckPasses(m.b.g, {FuseAttention}, 1);
  EXPECT_EQ(Count(g, "effi.Attention"), 1);
  EXPECT_EQ(Count(g, "Split"), 1);
  EXPECT_EQ(Count(g, "effi.PackedAttention"), 0);
}

TEST(FuseAttention, KeepsTheHeadLayoutWhenTheOutputIsNotMergedBack) {
  AttentionGraph m;  // the [B,H,N,Dv] attention output itself is a graph output
  m.b.Output(m.attn);
  Graph g = CheckPasses(m.b.g, {FuseAttention}, 1);
  EXPECT_EQ(Count(g, "effi.Attention"), 1);
  EXPECT_EQ(Count(g, "effi.PackedAttention"), 0);
}

}  // namespace
}  // namespace effi::testing
