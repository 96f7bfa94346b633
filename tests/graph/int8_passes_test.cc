// The int8 execution path from QDQ graphs: fuse_qdq (QuantizeLinear -> DequantizeLinear pairs to
// effi.FakeQuant), fuse_int8 (FakeQuant -> effi.Linear / effi.Conv on an int8 weight grid: the
// int8 GEMM, quantizing its float input itself) and the quantized attention. Each fused graph is
// checked against the unoptimised QDQ graph, which runs QuantizeLinear / DequantizeLinear and the
// float op on the reference semantics: one quantized op alone agrees to float rounding (1e-5);
// chains may differ by one quantization step where a float rounding difference crosses a rounding
// tie of the next QuantizeLinear, hence their looser bound. Where the passes must not fire (weights
// off the grid, mismatched pairs) the FakeQuant stays and the results still agree. ONNX Runtime's
// layout, a Q/DQ pair on each op's output too (fuse_int8_output), fuses with what follows it
// (bias Add, activation, layer scale, residual) into the op's epilogue. Hostile effi attributes
// in a model file are one error naming the node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "graph/passes/passes.h"
#include "graph_test_util.h"
#include "kernels/quant.h"

namespace effi::testing {
namespace {

const std::vector<PassFn> kPipeline = {
    passes::FuseQdq,  passes::FuseLinear,     passes::ToChannelsLast, passes::FuseAttention,
    passes::FuseInt8, passes::FuseInt8Output, passes::FuseEpilogue,   passes::ChainInt8};

template <class T>
int Typed(Builder& b, const std::string& name, const std::vector<T>& v, Shape shape) {
  auto t = MakeTensor(std::is_same_v<T, uint8_t> ? DType::kU8 : DType::kI8, std::move(shape));
  std::memcpy(t->mutable_data(), v.data(), v.size() * sizeof(T));
  return b.g.AddConstant(name, t);
}

// x -> QuantizeLinear -> DequantizeLinear with (scale, zero point of type T).
template <class T>
int Qdq(Builder& b, int x, float scale, T zp) {
  const std::string tag = std::to_string(b.g.nodes.size());
  const int s = b.Scalar("s" + tag, scale);
  const int z = Typed<T>(b, "z" + tag, {zp}, {});
  return b.Op("DequantizeLinear", {b.Op("QuantizeLinear", {x, s, z}), s, z});
}

// Symmetric per-channel int8 weights as quantizers write them, DequantizeLinear'd on `axis`:
// random q in [-127, 127] with max |q| = 127 in every channel, random scales.
int GridWeights(Builder& b, const std::string& name, Shape shape, int axis, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> qd(-127, 127);
  std::uniform_real_distribution<float> sd(0.002f, 0.05f);
  const int64_t channels = shape[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<int8_t> q(static_cast<size_t>(NumElements(shape)));
  for (auto& v : q) v = static_cast<int8_t>(qd(rng));
  // One element per channel at +-127 (index of channel c's first element).
  for (int64_t c = 0; c < channels; ++c) q[static_cast<size_t>(c * inner)] = c % 2 ? 127 : -127;
  Floats scales(static_cast<size_t>(channels));
  for (float& s : scales) s = sd(rng);
  return b.Op("DequantizeLinear",
              {Typed<int8_t>(b, name, q, shape), b.Const(name + "_scale", {channels}, scales),
               Typed<int8_t>(b, name + "_zp", std::vector<int8_t>(channels, 0), {channels})},
              {{"axis", int64_t{axis}}});
}

bool AllInt8(const Graph& g, const std::string& op, int expected) {
  int n = 0;
  for (const Node& node : g.nodes)
    if (!node.dead && node.IsEffi(op.c_str())) {
      if (!node.Has("x_scale")) return false;
      ++n;
    }
  return n == expected;
}

TEST(FuseInt8, LinearWithBiasRunsInt8) {
  Builder b;
  const int x = b.Input("x", {23, 37});  // M, K with tails of every tile
  const int mm =
      b.Op("MatMul", {Qdq<uint8_t>(b, x, 0.03f, 121), GridWeights(b, "w", {37, 19}, 1, 1)});
  b.Output(b.Op("Add", {mm, b.Random("bias", {19})}));
  const Graph g = CheckPasses(b.g, kPipeline, 0 /* fuse_epilogue: nothing after */, 1e-5);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:1 ");
  EXPECT_TRUE(AllInt8(g, "Linear", 1));
}

TEST(FuseInt8, Int8ActivationsAreU8WithZeroPointPlus128) {
  Builder b;
  const int x = b.Input("x", {9, 40});
  b.Output(b.Op("MatMul", {Qdq<int8_t>(b, x, 0.02f, -5), GridWeights(b, "w", {40, 33}, 1, 2)}));
  const Graph g = CheckPasses(b.g, kPipeline, 0, 1e-5);
  const Node* lin = FindNode(g, "effi.Linear");
  ASSERT_NE(lin, nullptr);
  EXPECT_EQ(lin->GetInt("x_zero_point", -1), 123);
}

TEST(FuseInt8, ConvolutionsRunInt8InNhwc) {
  for (const bool pointwise : {false, true}) {
    Builder b;
    const int x = b.Input("x", {1, 8, 11, 13});
    const Shape ws = pointwise ? Shape{21, 8, 1, 1} : Shape{21, 8, 3, 3};
    std::map<std::string, AttrValue> attrs;
    if (!pointwise)
      attrs = {{"pads", std::vector<int64_t>{1, 0, 1, 2}}, {"strides", std::vector<int64_t>{2, 1}}};
    const int conv = b.Op(
        "Conv",
        {Qdq<uint8_t>(b, x, 0.025f, 100), GridWeights(b, "w", ws, 0, 3), b.Random("bias", {21})},
        attrs);
    b.Output(b.Op("Relu", {conv}));
    const Graph g = CheckPasses(b.g, kPipeline, 0 /* chain_int8: nothing to chain */, 1e-5);
    EXPECT_TRUE(AllInt8(g, "Conv", 1)) << HistogramStr(g);
    EXPECT_EQ(Count(g, "effi.FakeQuant"), 0) << HistogramStr(g);
  }
}

// The stem over RGB (<= 4 channels: effi.Conv reads NCHW) stays on the fp32 direct kernel,
// measured faster than int8 im2col there (fuse_int8.cc); its FakeQuant runs as an op.
TEST(FuseInt8, NchwInputStemStaysFloat) {
  Builder b;
  const int x = b.Input("x", {2, 3, 29, 41});
  b.Output(
      b.Op("Conv",
           {Qdq<uint8_t>(b, x, 0.02f, 117), GridWeights(b, "w", {24, 3, 3, 3}, 0, 11),
            b.Random("bias", {24})},
           {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
  const Graph g = CheckPasses(b.g, kPipeline, 0, 1e-5);
  const Node* conv = FindNode(g, "effi.Conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->GetInt("nchw_input", 0), 1);
  EXPECT_FALSE(conv->Has("x_scale"));
  EXPECT_EQ(Count(g, "effi.FakeQuant"), 1) << HistogramStr(g);
}

// conv3x3 -> Relu -> Q/DQ -> conv1x1 + residual: the chain every EfficientFormer block is.
TEST(FuseInt8, ChainWithResidualRunsInt8) {
  Builder b;
  const int x = b.Input("x", {1, 16, 9, 9});
  const int c1 =
      b.Op("Relu", {b.Op("Conv",
                         {Qdq<uint8_t>(b, x, 0.03f, 128),
                          GridWeights(b, "w1", {24, 16, 3, 3}, 0, 4), b.Random("b1", {24})},
                         {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})});
  const int c2 =
      b.Op("Conv", {Qdq<uint8_t>(b, c1, 0.02f, 0), GridWeights(b, "w2", {16, 24, 1, 1}, 0, 5)});
  b.Output(b.Op("Add", {c2, x}));
  const Graph g = CheckPasses(b.g, kPipeline, 1 /* chain_int8 */, 2e-2);
  EXPECT_TRUE(AllInt8(g, "Conv", 2)) << HistogramStr(g);
  // The 3x3 conv hands the 1x1 one its u8 output: no float tensor, no quantizing pass between.
  int u8_out = 0, u8_in = 0;
  for (const Node& n : g.nodes) {
    if (n.dead || !n.IsEffi("Conv")) continue;
    if (n.Has("out_scale")) {
      ++u8_out;
      EXPECT_FLOAT_EQ(n.GetFloat("out_scale", 0), 0.02f);
      EXPECT_EQ(g.values[n.outputs[0]].dtype, DType::kU8);
    }
    u8_in += n.GetInt("x_u8", 0) != 0;
  }
  EXPECT_EQ(u8_out, 1);
  EXPECT_EQ(u8_in, 1);
}

// The same chain with the 3x3 conv's output also read by a float op: it stays float.
TEST(ChainInt8, NotWhenAFloatOpReadsTheOutputToo) {
  Builder b;
  const int x = b.Input("x", {1, 8, 6, 6});
  const int c1 =
      b.Op("Conv", {Qdq<uint8_t>(b, x, 0.03f, 128), GridWeights(b, "w1", {8, 8, 1, 1}, 0, 6)});
  const int c2 =
      b.Op("Conv", {Qdq<uint8_t>(b, c1, 0.02f, 128), GridWeights(b, "w2", {8, 8, 1, 1}, 0, 7)});
  b.Output(b.Op("Add", {c2, c1}));
  const Graph g = CheckPasses(b.g, kPipeline, 0, 2e-2);
  EXPECT_TRUE(AllInt8(g, "Conv", 2)) << HistogramStr(g);
  for (const Node& n : g.nodes) EXPECT_FALSE(n.Has("out_scale") || n.Has("x_u8")) << n.name;
}

// The distilled model's two heads, (head(x) + head_dist(x)) / 2, on a fake-quantized x: both
// int8 (merge_heads leaves them: their mean is off the grid).
TEST(FuseInt8, QdqHeadsStayTwoInt8Linears) {
  Builder b;
  const int x = Qdq<uint8_t>(b, b.Input("x", {1, 48}), 0.05f, 120);
  const int h1 = b.Op("MatMul", {x, GridWeights(b, "w1", {48, 10}, 1, 21)});
  const int h2 = b.Op("MatMul", {x, GridWeights(b, "w2", {48, 10}, 1, 22)});
  b.Output(b.Op("Div", {b.Op("Add", {h1, h2}), b.Scalar("two", 2.0f)}));
  std::vector<PassFn> fns = kPipeline;
  fns.insert(fns.begin() + 2, passes::MergeHeads);
  const Graph g = CheckPasses(b.g, fns, 0, 1e-5);
  EXPECT_TRUE(AllInt8(g, "Linear", 2)) << HistogramStr(g);
}

TEST(FuseInt8, NotForWeightsOffTheGrid) {
  Builder b;
  const int x = b.Input("x", {5, 12});
  b.Output(b.Op("MatMul", {Qdq<uint8_t>(b, x, 0.03f, 128), b.Random("w", {12, 7})}));
  const Graph g = CheckPasses(b.g, kPipeline, 0, 1e-5);
  EXPECT_EQ(HistogramStr(g), "effi.FakeQuant:1 effi.Linear:1 ");
  EXPECT_FALSE(FindNode(g, "effi.Linear")->Has("x_scale"));
}

TEST(FuseQdq, NotForAPairWithDifferentScales) {
  Builder b;
  const int x = b.Input("x", {4, 6});
  const int z = Typed<uint8_t>(b, "z", {128}, {});
  const int q = b.Op("QuantizeLinear", {x, b.Scalar("s1", 0.1f), z});
  b.Output(b.Op("DequantizeLinear", {q, b.Scalar("s2", 0.2f), z}));
  const Graph g = CheckPasses(b.g, {passes::FuseQdq}, 0, 0);
  EXPECT_EQ(HistogramStr(g), "DequantizeLinear:1 QuantizeLinear:1 ");
}

// A QDQ model's attention: q, k^T, the probabilities and v each fake-quantized; with
// `output_pairs` (ONNX Runtime's layout) also both MatMuls' outputs: the raw scores (before the
// scale and a position bias) and the result. Returns the fused graph's effi.Attention's attrs.
std::map<std::string, AttrValue> FusedQuantizedAttention(bool output_pairs) {
  Builder b;
  const Shape s{1, 2, 7, 4};
  const int q = Qdq<uint8_t>(b, b.Input("q", s), 0.02f, 128);
  const int kt = Qdq<uint8_t>(
      b, b.Op("Transpose", {b.Input("k", s)}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}}), 0.025f,
      127);
  const int v = Qdq<uint8_t>(b, b.Input("v", s), 0.03f, 129);
  int logits = b.Op("MatMul", {q, kt});
  if (output_pairs) logits = Qdq<uint8_t>(b, logits, 0.01f, 126);
  logits = b.Op("Mul", {logits, b.Scalar("scale", 0.5f)});
  if (output_pairs) logits = b.Op("Add", {logits, b.Random("bias", {1, 2, 7, 7})});
  const int probs =
      Qdq<uint8_t>(b, b.Op("Softmax", {logits}, {{"axis", int64_t{-1}}}), 1.0f / 255, 0);
  int out = b.Op("MatMul", {probs, v});
  if (output_pairs) out = Qdq<uint8_t>(b, out, 0.004f, 125);
  b.Output(out);
  const Graph g = CheckPasses(b.g, kPipeline, kUnchecked, 2e-2);
  EXPECT_EQ(Count(g, "effi.FakeQuant"), 3) << HistogramStr(g);  // q, k (before the transpose), v
  EXPECT_EQ(Count(g, "Transpose"), 0) << HistogramStr(g);
  const Node* a = FindNode(g, "effi.Attention");
  EXPECT_NE(a, nullptr) << HistogramStr(g);
  return a ? a->attrs : std::map<std::string, AttrValue>{};
}

TEST(FuseAttention, QuantizedAttentionFuses) {
  const auto attrs = FusedQuantizedAttention(false);
  ASSERT_TRUE(attrs.count("p_scale"));
  EXPECT_FLOAT_EQ(std::get<float>(attrs.at("p_scale")), 1.0f / 255);
  EXPECT_FALSE(attrs.count("s_scale") || attrs.count("o_scale"));
}

TEST(FuseAttention, OutputPairsOfBothMatMulsFuse) {
  const auto attrs = FusedQuantizedAttention(true);
  ASSERT_TRUE(attrs.count("s_scale") && attrs.count("o_scale"));
  EXPECT_FLOAT_EQ(std::get<float>(attrs.at("s_scale")), 0.01f);
  EXPECT_EQ(std::get<int64_t>(attrs.at("s_zero_point")), 126);
  EXPECT_FLOAT_EQ(std::get<float>(attrs.at("o_scale")), 0.004f);
  EXPECT_EQ(std::get<int64_t>(attrs.at("o_zero_point")), 125);
}

// ONNX Runtime's QDQ layout: conv -> Q/DQ -> layer scale Mul -> residual Add (every
// EfficientFormer block's fc2). The pair, the per-channel Mul (no longer foldable into the weights:
// the rounding sits between) and the Add all become the int8 conv's epilogue.
TEST(FuseInt8Output, ConvOutputPairLayerScaleAndResidualFuse) {
  Builder b;
  // The block's input comes from a previous conv (so it is NHWC, as in a model).
  const int x = b.Op("Conv", {Qdq<uint8_t>(b, b.Input("x", {1, 12, 7, 9}), 0.03f, 128),
                              GridWeights(b, "w0", {12, 12, 1, 1}, 0, 30)});
  const int conv = b.Op("Conv", {Qdq<uint8_t>(b, x, 0.1f, 128),
                                 GridWeights(b, "w", {12, 12, 1, 1}, 0, 31), b.Random("b", {12})});
  const int ls = b.Op("Mul", {Qdq<uint8_t>(b, conv, 0.5f, 131), b.Random("ls", {1, 12, 1, 1})});
  b.Output(b.Op("Add", {x, ls}));
  const Graph g = CheckPasses(b.g, kPipeline, 0 /* chain_int8: x has a float reader */, 2e-2);
  EXPECT_EQ(HistogramStr(g), "Transpose:2 effi.Conv:2 ") << HistogramStr(g);
  const Node* c = nullptr;
  for (const Node& n : g.nodes)
    if (!n.dead && n.Has("y_scale")) c = &n;
  ASSERT_NE(c, nullptr);
  EXPECT_FLOAT_EQ(c->GetFloat("y_scale", 0.0f), 0.5f);
  EXPECT_EQ(c->GetInt("y_zero_point", -1), 131);
  EXPECT_TRUE(c->HasInput(5) && c->HasInput(3) && !c->HasInput(4));
}

// MatMul -> Q/DQ -> bias Add -> Relu -> Q/DQ -> MatMul -> Q/DQ -> bias Add: the bias comes after
// the rounding (post_bias), and the first op still hands the second its u8 output.
TEST(FuseInt8Output, MatMulOutputPairsTakeBiasAndActivationAndChain) {
  Builder b;
  const int x = b.Input("x", {23, 37});
  const int m1 =
      b.Op("MatMul", {Qdq<uint8_t>(b, x, 0.03f, 121), GridWeights(b, "w1", {37, 29}, 1, 32)});
  const int h = b.Op("Relu", {b.Op("Add", {b.Random("b1", {29}), Qdq<uint8_t>(b, m1, 0.2f, 125)})});
  const int m2 =
      b.Op("MatMul", {Qdq<uint8_t>(b, h, 0.1f, 0), GridWeights(b, "w2", {29, 19}, 1, 33)});
  b.Output(b.Op("Add", {Qdq<uint8_t>(b, m2, 0.3f, 127), b.Random("b2", {19})}));
  const Graph g = CheckPasses(b.g, kPipeline, 1 /* chain_int8 */, 2e-2);
  EXPECT_EQ(HistogramStr(g), "effi.Linear:2 ");
  int chained = 0;
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    EXPECT_TRUE(n.Has("y_scale") && n.HasInput(4) && !n.HasInput(2)) << n.name;
    chained += n.Has("out_scale");
  }
  EXPECT_EQ(chained, 1);
}

// A float op's output pair stays a FakeQuant, and an int8 op whose output has another reader
// keeps the pair apart too (the other reader sees the rounded values).
TEST(FuseInt8Output, NotWhenTheOutputHasAnotherReader) {
  Builder b;
  const int x = b.Input("x", {5, 16});
  const int mm =
      b.Op("MatMul", {Qdq<uint8_t>(b, x, 0.03f, 128), GridWeights(b, "w", {16, 16}, 1, 34)});
  b.Output(Qdq<uint8_t>(b, mm, 0.2f, 128));
  b.Output(b.Op("Relu", {mm}));
  const Graph g = CheckPasses(b.g, kPipeline, 0, 1e-5);
  EXPECT_FALSE(FindNode(g, "effi.Linear")->Has("y_scale"));
  EXPECT_EQ(Count(g, "effi.FakeQuant"), 1) << HistogramStr(g);
}

// A QDQ model's weights stay int8 behind their float values (TensorData::FromInt8) through the
// folds and re-layouts; their floats, when something reads them, are DequantizeLinear's bits.
TEST(Int8Weights, FromInt8MaterializesDequantizeLinearBits) {
  const Shape shape{5, 3, 2, 2};
  auto q = MakeTensor(DType::kI8, shape);
  std::mt19937 rng(3);
  for (int64_t i = 0; i < q->elements(); ++i)
    q->mutable_as<int8_t>()[i] = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  const std::vector<float> scale = {0.013f, 0.2f, 1e-3f};
  for (const int axis : {1, -1}) {  // -1: one scale for the tensor
    const std::vector<float> sc = axis < 0 ? std::vector<float>{0.07f} : scale;
    const ConstTensor t = TensorData::FromInt8({q, sc, std::max(axis, 0)});
    ASSERT_NE(t->int8_source(), nullptr);
    kernels::QuantAxis ax{5, 3, 4};
    if (axis < 0) ax = {1, 1, q->elements()};
    std::vector<float> want(static_cast<size_t>(q->elements()));
    kernels::ref::dequantize_linear<int8_t>(ax, q->as<int8_t>(), sc.data(), nullptr, want.data());
    EXPECT_EQ(std::memcmp(t->as<float>(), want.data(), want.size() * sizeof(float)), 0) << axis;
    // A reshape keeps the scale axis where its dim and the product before it survive ...
    const ConstTensor kept = Reshaped(t, {5, 3, 4});
    ASSERT_NE(kept->int8_source(), nullptr);
    EXPECT_EQ(kept->int8_source()->axis, axis < 0 ? 0 : 1);
    // ... else it is a plain view of the floats.
    const ConstTensor flat = Reshaped(t, {15, 4});
    EXPECT_EQ(flat->int8_source() != nullptr, axis < 0);
    EXPECT_EQ(std::memcmp(flat->as<float>(), want.data(), want.size() * sizeof(float)), 0);
  }
}

// Through fold_layer_scale and channels_last (a 3x3 conv's OIHW -> OHWI) the weights of a QDQ
// conv stay int8-backed, and the int8 op's result is the QDQ graph's.
TEST(Int8Weights, StayInt8ThroughLayerScaleAndNhwc) {
  Builder b;
  const int x = b.Input("x", {1, 6, 8, 8});
  const int conv = b.Op("Conv",
                        {Qdq<uint8_t>(b, x, 0.03f, 128), GridWeights(b, "w", {10, 6, 3, 3}, 0, 41),
                         b.Random("b", {10})},
                        {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.Output(b.Op("Mul", {conv, b.Random("ls", {1, 10, 1, 1})}));
  std::vector<PassFn> fns = kPipeline;
  fns.insert(fns.begin() + 2, passes::FoldLayerScale);
  const Graph g = CheckPasses(b.g, fns, 0, 1e-5);
  const Node* c = FindNode(g, "effi.Conv");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Has("x_scale"));
  const ConstTensor& w = g.values[c->inputs[1]].constant;
  ASSERT_NE(w->int8_source(), nullptr);
  EXPECT_EQ(w->shape(), (Shape{10, 3, 3, 6}));
  EXPECT_EQ(w->int8_source()->axis, 0);
}

// Folding keeps only symmetric int8 weights int8-backed: a non-zero zero point or a -128 (outside
// the kernels' [-127, 127]) leaves plain floats / a float op, with the same results.
TEST(Int8Weights, OnlySymmetricInt8WeightsAreKeptAsInt8) {
  for (const int variant : {0, 1}) {
    Builder b;
    const int x = b.Input("x", {4, 6});
    std::vector<int8_t> q(6 * 5, 3), zp(5, 0);
    q[7] = -128;
    if (variant == 0) {
      q[7] = 5;
      zp[2] = 1;
    }
    const int w = b.Op("DequantizeLinear",
                       {Typed<int8_t>(b, "q", q, {6, 5}), b.Const("s", {5}, Floats(5, 0.1f)),
                        Typed<int8_t>(b, "zp", zp, {5})},
                       {{"axis", int64_t{1}}});
    b.Output(b.Op("MatMul", {Qdq<uint8_t>(b, x, 0.03f, 128), w}));
    const Graph g = CheckPasses(b.g, kPipeline, 0, 1e-5);
    const Node* lin = FindNode(g, "effi.Linear");
    ASSERT_NE(lin, nullptr);
    EXPECT_EQ(g.values[lin->inputs[1]].constant->int8_source() != nullptr, variant == 1);
    EXPECT_FALSE(lin->Has("x_scale")) << variant;
  }
}

// Model files may hold effi ops with any attributes.
TEST(Int8Hostile, BadAttributesAreOneErrorNamingTheNode) {
  auto linear = [](std::map<std::string, AttrValue> attrs, bool grid) {
    Builder b;
    const int x = b.Input("x", {3, 8});
    int w = b.Random("w", {8, 4});
    if (grid) {
      Builder tmp;  // fold a grid weight into a constant
      tmp.Output(GridWeights(tmp, "g", {8, 4}, 1, 9));
      Graph f = Prepared(tmp.g);
      w = b.g.AddConstant("w_grid", f.values[f.outputs[0]].constant);
    }
    b.Output(b.Op("Linear", {x, w}, std::move(attrs), kEffiDomain));
    return b;
  };
  struct Case {
    std::map<std::string, AttrValue> attrs;
    bool grid;
    const char* needle;
  };
  const Case cases[] = {
      {{{"x_scale", 0.1f}, {"x_zero_point", int64_t{3}}}, false, "int8 grid"},
      {{{"x_scale", 0.1f}, {"x_zero_point", int64_t{300}}}, true, "[0, 255]"},
      {{{"x_scale", -1.0f}, {"x_zero_point", int64_t{3}}}, true, "positive and finite"},
      {{{"x_scale", std::numeric_limits<float>::quiet_NaN()}, {"x_zero_point", int64_t{3}}},
       true,
       "positive and finite"},
      {{{"x_zero_point", int64_t{3}}}, true, "positive and finite"},
      {{{"x_scale", 0.1f},
        {"x_zero_point", int64_t{3}},
        {"out_scale", 0.5f},
        {"out_zero_point", int64_t{-1}}},
       true,
       "[0, 255]"},
      {{{"out_scale", 0.5f}, {"out_zero_point", int64_t{1}}}, true, "x_scale"},
      {{{"x_scale", 0.1f}, {"x_zero_point", int64_t{3}}, {"x_u8", int64_t{1}}},
       true,
       "x_u8 says uint8"},
      {{{"x_scale", 0.1f}, {"x_zero_point", int64_t{3}}, {"y_scale", 0.0f}},
       true,
       "positive and finite"},
      {{{"y_scale", 0.5f}, {"y_zero_point", int64_t{1}}}, true, "x_scale"},
  };
  for (const Case& c : cases) {
    Builder b = linear(c.attrs, c.grid);
    const std::string node = b.g.nodes.back().name;
    ExpectError([&] { runtime::Plan::Build(Prepared(b.g)); }, ErrorCode::kInvalidModel,
                {"'" + node + "'", c.needle});
  }
  // Inputs 4 / 5 (post_bias / post_scale): only on an int8 op, [N] each.
  for (const bool int8 : {false, true}) {
    Builder b;
    const int x = b.Input("x", {3, 8});
    std::map<std::string, AttrValue> attrs;
    if (int8) attrs = {{"x_scale", 0.1f}, {"x_zero_point", int64_t{3}}};
    b.Output(b.Op("Linear", {x, b.Random("w", {8, 4}), -1, -1, b.Random("pb", {int8 ? 5 : 4})},
                  std::move(attrs), kEffiDomain));
    const std::string node = b.g.nodes.back().name;
    ExpectError([&] { runtime::Plan::Build(Prepared(b.g)); }, ErrorCode::kInvalidModel,
                {"'" + node + "'", int8 ? "input 4 must be [4]" : "need an int8 op"});
  }
  Builder fq;
  fq.Output(fq.Op("FakeQuant", {fq.Input("x", {4})},
                  {{"scale", 0.5f}, {"zero_point", int64_t{256}}}, kEffiDomain));
  ExpectError([&] { Prepared(fq.g); }, ErrorCode::kInvalidModel, {"FakeQuant", "[0, 255]"});
  Builder at;
  const Shape s{1, 1, 3, 2};
  at.Output(at.Op("Attention", {at.Input("q", s), at.Input("k", s), at.Input("v", s)},
                  {{"scale", 1.0f}, {"p_scale", 0.0f}, {"p_zero_point", int64_t{0}}}, kEffiDomain));
  ExpectError([&] { runtime::Plan::Build(Prepared(at.g)); }, ErrorCode::kInvalidModel,
              {"Attention", "p_scale"});
}

}  // namespace
}  // namespace effi::testing
