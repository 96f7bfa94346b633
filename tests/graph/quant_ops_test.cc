// The ONNX quantization ops (src/ops/quant_ops.cc) on what the conformance data does not cover:
// round-half-even ties where float32 and float64 division disagree, saturation at both ends for
// u8 and s8, NaN/inf inputs, per-axis parameters on axis 1 of a 4-D tensor, s8 x s8 and u8 x s8
// integer products against the float reference kernels, QLinearConv with groups, strides, pads,
// dilations, per-channel weights and bias, and hostile parameters (each one error naming the
// node). Graphs of constants are folded by the same kernels the executor runs; tests with fed
// inputs run through a Plan.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "graph_test_util.h"
#include "kernels/quant.h"
#include "kernels/ref/ref_kernels.h"

namespace effi::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <class T>
DType TypeOf() {
  if constexpr (std::is_same_v<T, float>) return DType::kF32;
  if constexpr (std::is_same_v<T, uint8_t>) return DType::kU8;
  if constexpr (std::is_same_v<T, int8_t>) return DType::kI8;
  return DType::kI32;
}

template <class T>
int Typed(Builder& b, const std::string& name, const std::vector<T>& v, Shape shape) {
  auto t = MakeTensor(TypeOf<T>(), std::move(shape));
  EXPECT_EQ(t->elements(), static_cast<int64_t>(v.size()));
  std::memcpy(t->mutable_data(), v.data(), v.size() * sizeof(T));
  return b.g.AddConstant(name, t);
}

template <class T>
int TypedInput(Builder& b, const std::string& name, Shape shape) {
  const int v = b.Input(name, std::move(shape));
  b.g.values[v].dtype = TypeOf<T>();
  return v;
}

// Folds the graph (all inputs constant) and returns output `v`'s values.
template <class T>
std::vector<T> Folded(Builder& b, int v) {
  b.Output(v);
  Graph g = Prepared(b.g);
  const int id = g.FindValue(b.g.values[v].name);
  EXPECT_TRUE(id >= 0 && g.values[id].is_constant()) << "not folded";
  if (id < 0 || !g.values[id].is_constant()) return {};
  const ConstTensor& t = g.values[id].constant;
  EXPECT_EQ(t->dtype(), TypeOf<T>());
  return std::vector<T>(t->as<T>(), t->as<T>() + t->elements());
}

// Compiles the graph (outputs `outs`) and runs it with `inputs` (raw pointers in the graph's
// input order); returns output 0's bytes as T.
template <class T>
std::vector<T> RunFed(Builder& b, int out, const std::vector<const void*>& inputs) {
  b.Output(out);
  auto plan = runtime::Plan::Build(Prepared(b.g));
  std::vector<uint8_t> arena(plan->arena_bytes() + 128), scratch(plan->scratch_bytes(1) + 128);
  auto align = [](uint8_t* p) {
    return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
  };
  uint8_t* a = align(arena.data());
  plan->Execute(ops::ExecContext{}, a, align(scratch.data()), nullptr, inputs.data());
  const Graph& pg = plan->graph();
  const int id = pg.outputs[0];
  EXPECT_EQ(pg.values[id].dtype, TypeOf<T>());
  const auto* p = static_cast<const T*>(plan->ValuePtr(a, id, inputs.data()));
  return std::vector<T>(p, p + NumElements(pg.values[id].shape));
}

// Compiling a graph whose only node is invalid: the error must name that node.
void ExpectGraphError(Builder& b, int out, ErrorCode code, const std::string& needle) {
  b.Output(out);
  const std::string node = b.g.nodes.back().name;
  ExpectError([&] { Prepared(b.g); }, code, {"'" + node + "'", needle});
}

template <class T>
std::vector<T> Quantize(const std::vector<float>& x, float scale, T zp, Shape shape = {}) {
  Builder b;
  if (shape.empty()) shape = {static_cast<int64_t>(x.size())};
  const int q = b.Op("QuantizeLinear",
                     {b.Const("x", shape, x), b.Scalar("s", scale), Typed<T>(b, "zp", {zp}, {})});
  return Folded<T>(b, q);
}

// ---- QuantizeLinear ----

TEST(QuantizeLinear, RoundsHalfToEven) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 0.49999997f};
  EXPECT_EQ(Quantize<int8_t>(x, 1.0f, 0), (std::vector<int8_t>{0, 2, 2, 0, -2, -2, 4, 0}));
  EXPECT_EQ(Quantize<uint8_t>(x, 1.0f, 128),
            (std::vector<uint8_t>{128, 130, 130, 128, 126, 126, 132, 128}));
}

TEST(QuantizeLinear, DividesInFloat32) {
  // 0.35f / 0.1f and 0.45f / 0.1f are exactly 3.5 and 4.5 in float32 (ties: 4 and 4), but
  // 3.4999999 and 4.5000001 in float64 (3 and 5): ONNX and ONNX Runtime divide in float32.
  EXPECT_EQ(Quantize<uint8_t>({0.35f, 0.45f}, 0.1f, 0), (std::vector<uint8_t>{4, 4}));
  EXPECT_EQ(Quantize<int8_t>({-0.35f, -0.45f}, 0.1f, 0), (std::vector<int8_t>{-4, -4}));
}

TEST(QuantizeLinear, SaturatesAtBothEnds) {
  const std::vector<float> x = {-1000.0f, 1000.0f, -kInf, kInf, kNaN, 244.6f, 245.5f, -138.5f};
  // u8, zero point 10: below 0 -> 0, above 255 -> 255; NaN -> the zero point (effi's choice).
  EXPECT_EQ(Quantize<uint8_t>(x, 1.0f, 10),
            (std::vector<uint8_t>{0, 255, 0, 255, 10, 255, 255, 0}));
  EXPECT_EQ(Quantize<uint8_t>({244.4f, -10.5f, -9.5f}, 1.0f, 10),
            (std::vector<uint8_t>{254, 0, 0}));
  // s8, zero point -10: [-128, 127].
  EXPECT_EQ(Quantize<int8_t>(x, 1.0f, -10),
            (std::vector<int8_t>{-128, 127, -128, 127, -10, 127, 127, -128}));
  EXPECT_EQ(Quantize<int8_t>({136.4f, -117.5f, -118.5f}, 1.0f, -10),
            (std::vector<int8_t>{126, -128, -128}));
}

TEST(QuantizeLinear, SaturateAttributeConcernsOnlyFloat8) {
  Builder b;
  const int q = b.Op(
      "QuantizeLinear",
      {b.Const("x", {2}, {-300.0f, 300.0f}), b.Scalar("s", 1), Typed<int8_t>(b, "zp", {0}, {})},
      {{"saturate", int64_t{0}}});
  EXPECT_EQ(Folded<int8_t>(b, q), (std::vector<int8_t>{-128, 127}));
}

TEST(QuantizeLinear, DefaultsToUint8WithoutZeroPoint) {
  Builder b;
  const int q =
      b.Op("QuantizeLinear", {b.Const("x", {3}, {-1.0f, 1.0f, 300.0f}), b.Scalar("s", 1)});
  EXPECT_EQ(Folded<uint8_t>(b, q), (std::vector<uint8_t>{0, 1, 255}));
}

// x [2, 3, 2, 2] with per-channel parameters on axis 1: every element by the scalar formula.
TEST(QuantizeLinear, PerAxisOnAxis1Of4D) {
  const Shape shape{2, 3, 2, 2};
  std::vector<float> x(24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 7.25f - 80.0f;
  const std::vector<float> scales = {0.5f, 2.0f, 4.0f};
  const std::vector<int8_t> zps = {0, 10, -5};
  for (int64_t axis : {1, -3}) {
    Builder b;
    const int q =
        b.Op("QuantizeLinear",
             {b.Const("x", shape, x), b.Const("s", {3}, scales), Typed<int8_t>(b, "zp", zps, {3})},
             {{"axis", axis}});
    const std::vector<int8_t> got = Folded<int8_t>(b, q);
    ASSERT_EQ(got.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t c = (i / 4) % 3;
      EXPECT_EQ(got[i], Quantize<int8_t>({x[i]}, scales[c], zps[c])[0]) << i << " axis " << axis;
    }
    // DequantizeLinear on the same axis gives back (q - zp) * scale.
    Builder d;
    const int y = d.Op("DequantizeLinear",
                       {Typed<int8_t>(d, "q", got, shape), d.Const("s", {3}, scales),
                        Typed<int8_t>(d, "zp", zps, {3})},
                       {{"axis", axis}});
    const std::vector<float> back = Folded<float>(d, y);
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t c = (i / 4) % 3;
      EXPECT_EQ(back[i], static_cast<float>(got[i] - zps[c]) * scales[c]) << i;
    }
  }
}

// ---- DequantizeLinear ----

TEST(DequantizeLinear, Uint8Int8Int32) {
  {
    Builder b;
    const int y =
        b.Op("DequantizeLinear", {Typed<uint8_t>(b, "x", {0, 128, 255}, {3}), b.Scalar("s", 0.5f),
                                  Typed<uint8_t>(b, "zp", {128}, {})});
    EXPECT_EQ(Folded<float>(b, y), (std::vector<float>{-64.0f, 0.0f, 63.5f}));
  }
  {
    Builder b;
    const int y =
        b.Op("DequantizeLinear", {Typed<int8_t>(b, "x", {-128, 0, 127}, {3}), b.Scalar("s", 2.0f),
                                  Typed<int8_t>(b, "zp", {-128}, {})});
    EXPECT_EQ(Folded<float>(b, y), (std::vector<float>{0.0f, 256.0f, 510.0f}));
  }
  {
    // int32 (a quantized bias): the difference is exact in int64 before the one rounding.
    constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
    constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
    Builder b;
    const int y =
        b.Op("DequantizeLinear", {Typed<int32_t>(b, "x", {kMin, -3, kMax}, {3}),
                                  b.Scalar("s", 0.25f), Typed<int32_t>(b, "zp", {-1}, {})});
    EXPECT_EQ(Folded<float>(b, y),
              (std::vector<float>{static_cast<float>(int64_t{kMin} + 1) * 0.25f, -0.5f,
                                  static_cast<float>(int64_t{kMax} + 1) * 0.25f}));
  }
}

// ---- DynamicQuantizeLinear ----

TEST(DynamicQuantizeLinear, AllZerosAndNaN) {
  for (const std::vector<float>& x :
       {std::vector<float>{0, 0, 0}, std::vector<float>{0, kNaN, 0}}) {
    Builder b;
    Node n;
    n.name = "dq";
    n.op = "DynamicQuantizeLinear";
    n.inputs = {b.Const("x", {3}, x)};
    n.outputs = {b.g.AddValue("y"), b.g.AddValue("scale"), b.g.AddValue("zp")};
    b.g.AddNode(n);
    for (int o : n.outputs) b.Output(o);
    Graph g = Prepared(b.g);
    // ONNX Runtime's rule for an empty range: scale 1, zero point 0 (ONNX's would divide by 0).
    EXPECT_EQ(g.values[g.FindValue("scale")].constant->as<float>()[0], 1.0f);
    EXPECT_EQ(g.values[g.FindValue("zp")].constant->as<uint8_t>()[0], 0);
    const uint8_t* y = g.values[g.FindValue("y")].constant->as<uint8_t>();
    EXPECT_EQ(std::vector<uint8_t>(y, y + 3), (std::vector<uint8_t>{0, 0, 0}));
  }
}

// ---- integer products ----

// Values of x minus its zero point as floats (exact), for the float reference kernels.
template <class T>
std::vector<float> Centered(const std::vector<T>& x, int32_t zp) {
  std::vector<float> v;
  for (T e : x) v.push_back(static_cast<float>(int32_t{e} - zp));
  return v;
}

template <class T>
std::vector<T> Pattern(size_t n, int seed) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(static_cast<int>((i * 37 + static_cast<size_t>(seed) * 11) % 256) -
                          (std::is_signed_v<T> ? 128 : 0));
  return v;
}

TEST(MatMulInteger, Int8TimesInt8AndUint8TimesInt8MatchFloatGemm) {
  const int64_t m = 5, k = 19, n = 7;
  const auto a8 = Pattern<int8_t>(m * k, 1), b8 = Pattern<int8_t>(k * n, 2);
  const auto au = Pattern<uint8_t>(m * k, 3);
  const std::vector<int8_t> bzp = {-3, 0, 5, 127, -128, 1, 2};  // per column
  auto check = [&](auto a, int32_t azp) {
    using TA = typename decltype(a)::value_type;
    Builder b;
    const int y =
        b.Op("MatMulInteger",
             {Typed<TA>(b, "a", a, {m, k}), Typed<int8_t>(b, "b", b8, {k, n}),
              Typed<TA>(b, "azp", {static_cast<TA>(azp)}, {}), Typed<int8_t>(b, "bzp", bzp, {n})});
    const std::vector<int32_t> got = Folded<int32_t>(b, y);
    std::vector<float> bc(static_cast<size_t>(k * n)), want(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < k * n; ++i) bc[i] = static_cast<float>(b8[i] - bzp[i % n]);
    const std::vector<float> ac = Centered(a, azp);
    kernels::ref::gemm_f32(false, false, m, n, k, 1.0f, ac.data(), k, bc.data(), n, 0.0f,
                           want.data(), n);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(static_cast<float>(got[i]), want[i]) << i;
  };
  check(a8, -7);
  check(au, 131);
}

TEST(QLinearConv, GroupsStridesPadsDilationsPerChannel) {
  // x [1, 4, 7, 6] u8, w [6, 2, 3, 2] s8 (group 2), strides (2, 1), dilations (1, 2), pads.
  const Shape xs{1, 4, 7, 6}, wsh{6, 2, 3, 2};
  const auto x = Pattern<uint8_t>(4 * 7 * 6, 5);
  const auto w = Pattern<int8_t>(6 * 2 * 3 * 2, 6);
  const std::vector<float> w_scale = {0.01f, 0.02f, 0.005f, 0.04f, 0.03f, 0.015f};
  const std::vector<int8_t> w_zp = {0, 0, 0, 0, 0, 0};
  const std::vector<int32_t> bias = {100, -200, 0, 5000, -7, 33};
  const float x_scale = 0.05f, y_scale = 0.75f;
  const uint8_t x_zp = 120, y_zp = 100;
  std::map<std::string, AttrValue> attrs = {{"group", int64_t{2}},
                                            {"strides", std::vector<int64_t>{2, 1}},
                                            {"dilations", std::vector<int64_t>{1, 2}},
                                            {"pads", std::vector<int64_t>{1, 0, 2, 3}}};
  Builder b;
  const int y = b.Op(
      "QLinearConv",
      {Typed<uint8_t>(b, "x", x, xs), b.Scalar("xs", x_scale), Typed<uint8_t>(b, "xzp", {x_zp}, {}),
       Typed<int8_t>(b, "w", w, wsh), b.Const("ws", {6}, w_scale),
       Typed<int8_t>(b, "wzp", w_zp, {6}), b.Scalar("ys", y_scale),
       Typed<uint8_t>(b, "yzp", {y_zp}, {}), Typed<int32_t>(b, "bias", bias, {6})},
      attrs);
  const std::vector<uint8_t> got = Folded<uint8_t>(b, y);
  // The float reference conv on centered values gives the exact integer sums (double accumulate).
  kernels::ref::Conv2dParams p{1, 4, 7, 6, 6, 0, 0, 3, 2, 2, 1, 1, 0, 1, 2, 2};
  p.h_out = (7 + 1 + 2 - 3) / 2 + 1;
  p.w_out = (6 + 0 + 3 - (2 * (2 - 1) + 1)) / 1 + 1;
  ASSERT_EQ(static_cast<int64_t>(got.size()), 6 * p.h_out * p.w_out);
  const std::vector<float> xc = Centered(x, x_zp), wc = Centered(w, 0);
  std::vector<float> acc(got.size());
  kernels::ref::conv2d_nchw_f32(p, xc.data(), wc.data(), nullptr, acc.data());
  for (size_t i = 0; i < got.size(); ++i) {
    const size_t c = i / static_cast<size_t>(p.h_out * p.w_out);
    const float mult = x_scale * w_scale[c] / y_scale;
    const double v =
        std::nearbyint(static_cast<float>(acc[i] + static_cast<float>(bias[c])) * mult);
    EXPECT_EQ(got[i], static_cast<uint8_t>(std::clamp(v + y_zp, 0.0, 255.0))) << i;
  }
}

// ---- hostile parameters: one error naming the node ----

int QuantizeWithScale(Builder& b, const std::vector<float>& scale, Shape scale_shape,
                      Shape x_shape = {2, 3}) {
  return b.Op(
      "QuantizeLinear",
      {b.Const("x", x_shape, std::vector<float>(static_cast<size_t>(NumElements(x_shape)), 1.0f)),
       b.Const("s", std::move(scale_shape), scale)});
}

TEST(QuantOpsHostile, BadConstantScales) {
  for (float s : {0.0f, -1.0f, kNaN, kInf, -kInf}) {
    Builder b;
    ExpectGraphError(b, QuantizeWithScale(b, {s}, {}), ErrorCode::kInvalidModel,
                     "a scale must be positive and finite");
    Builder d;
    const int y = d.Op("DequantizeLinear",
                       {Typed<uint8_t>(d, "x", {1, 2, 3}, {3}), d.Const("s", {3}, {1.0f, s, 1.0f})},
                       {{"axis", int64_t{0}}});
    ExpectGraphError(d, y, ErrorCode::kInvalidModel, "x_scale[1]");
  }
}

TEST(QuantOpsHostile, BadFedScaleFailsTheRun) {
  for (float s : {0.0f, -2.0f, kNaN, kInf}) {
    Builder b;
    const int x = TypedInput<float>(b, "x", {3});
    const int scale = TypedInput<float>(b, "s", {});
    const int q = b.Op("QuantizeLinear", {x, scale, Typed<uint8_t>(b, "zp", {3}, {})});
    const std::vector<float> xv = {1, 2, 3};
    ExpectError(
        [&] {
          RunFed<uint8_t>(b, q, {xv.data(), &s});
        },
        ErrorCode::kInvalidArgument, {"QuantizeLinear", "y_scale[0]"});
  }
  // A good fed scale runs.
  Builder b;
  const int x = TypedInput<float>(b, "x", {3});
  const int scale = TypedInput<float>(b, "s", {});
  const int q = b.Op("QuantizeLinear", {x, scale, Typed<int8_t>(b, "zp", {-3}, {})});
  const std::vector<float> xv = {1, 2, 3};
  const float s = 2.0f;
  EXPECT_EQ(RunFed<int8_t>(b, q, {xv.data(), &s}), (std::vector<int8_t>{-3, -2, -1}));
}

TEST(QuantOpsHostile, PerAxisScaleLengthMismatch) {
  Builder b;
  const int q = b.Op("QuantizeLinear",
                     {b.Const("x", {2, 3}, std::vector<float>(6, 1.0f)),
                      b.Const("s", {2}, {1.0f, 1.0f})},  // axis 1 has 3 channels
                     {{"axis", int64_t{1}}});
  ExpectGraphError(b, q, ErrorCode::kInvalidModel, "[3] (axis 1");
  Builder c;
  ExpectGraphError(c, QuantizeWithScale(c, {1, 1, 1, 1, 1, 1}, {2, 3}), ErrorCode::kInvalidModel,
                   "must be a scalar");
  Builder d;
  const int q2 = d.Op(
      "QuantizeLinear",
      {d.Const("x", {2, 3}, std::vector<float>(6, 1.0f)), d.Const("s", {3}, {1.0f, 1.0f, 1.0f})},
      {{"axis", int64_t{2}}});
  ExpectGraphError(d, q2, ErrorCode::kInvalidModel, "axis 2 out of range");
}

TEST(QuantOpsHostile, ZeroPointOfAnotherTypeOrShape) {
  {  // DequantizeLinear: u8 data with an s8 zero point
    Builder b;
    const int y = b.Op("DequantizeLinear", {Typed<uint8_t>(b, "x", {1, 2}, {2}), b.Scalar("s", 1),
                                            Typed<int8_t>(b, "zp", {0}, {})});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "has type int8, unlike input 0 (uint8)");
  }
  {  // QuantizeLinear: an int32 zero point
    Builder b;
    const int y = b.Op("QuantizeLinear", {b.Const("x", {2}, {1, 2}), b.Scalar("s", 1),
                                          Typed<int32_t>(b, "zp", {0}, {})});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "y_zero_point has type int32");
  }
  {  // a per-channel zero point with a per-tensor scale
    Builder b;
    const int y =
        b.Op("QuantizeLinear", {b.Const("x", {2, 3}, std::vector<float>(6, 1.0f)), b.Scalar("s", 1),
                                Typed<uint8_t>(b, "zp", {1, 2, 3}, {3})});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "the zero point of y_scale has shape [3]");
  }
  {  // QLinearMatMul: b_zero_point s8 while b is u8
    Builder b;
    const int y = b.Op("QLinearMatMul",
                       {Typed<uint8_t>(b, "a", {1, 2}, {1, 2}), b.Scalar("as", 1),
                        Typed<uint8_t>(b, "azp", {0}, {}), Typed<uint8_t>(b, "b", {1, 2}, {2, 1}),
                        b.Scalar("bs", 1), Typed<int8_t>(b, "bzp", {0}, {}), b.Scalar("ys", 1),
                        Typed<uint8_t>(b, "yzp", {0}, {})});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "zero point has type int8, unlike input 3");
  }
}

TEST(QuantOpsHostile, IntegerKBeyondExactInt32) {
  const int64_t k = kernels::kMaxExactIntegerK + 1;  // 33026
  Builder b;
  const int a = TypedInput<uint8_t>(b, "a", {1, k});
  const int w = TypedInput<int8_t>(b, "w", {k, 1});
  ExpectGraphError(b, b.Op("MatMulInteger", {a, w}), ErrorCode::kUnsupported, "K = 33026");
  // The bound itself: 33025 * 255 * 255 fits int32, 33026 * 255 * 255 does not.
  EXPECT_LE(kernels::kMaxExactIntegerK * 255 * 255, std::numeric_limits<int32_t>::max());
  EXPECT_GT((kernels::kMaxExactIntegerK + 1) * 255 * 255, std::numeric_limits<int32_t>::max());
  // And a sum at the bound is exact: every product (-255) * (-255), i.e. u8 0 with zero point
  // 255 times s8 -128 with zero point 127.
  Builder c;
  const int64_t kk = kernels::kMaxExactIntegerK;
  const int y =
      c.Op("MatMulInteger",
           {Typed<uint8_t>(c, "a", std::vector<uint8_t>(static_cast<size_t>(kk), 0), {1, kk}),
            Typed<int8_t>(c, "w", std::vector<int8_t>(static_cast<size_t>(kk), -128), {kk, 1}),
            Typed<uint8_t>(c, "azp", {255}, {}), Typed<int8_t>(c, "wzp", {127}, {})});
  EXPECT_EQ(Folded<int32_t>(c, y), (std::vector<int32_t>{static_cast<int32_t>(kk * 65025)}));
}

TEST(QuantOpsHostile, ConvBiasAndPerRowScales) {
  {  // QLinearConv with a float bias
    Builder b;
    const int y = b.Op("QLinearConv",
                       {Typed<uint8_t>(b, "x", {1, 2, 3, 4}, {1, 1, 2, 2}), b.Scalar("xs", 1),
                        Typed<uint8_t>(b, "xzp", {0}, {}), Typed<int8_t>(b, "w", {1}, {1, 1, 1, 1}),
                        b.Scalar("ws", 1), Typed<int8_t>(b, "wzp", {0}, {}), b.Scalar("ys", 1),
                        Typed<uint8_t>(b, "yzp", {0}, {}), b.Const("bias", {1}, {0.5f})});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "bias has type float32; it must be int32");
  }
  {  // QLinearMatMul with a per-row a_scale
    Builder b;
    const int y =
        b.Op("QLinearMatMul",
             {Typed<uint8_t>(b, "a", {1, 2, 3, 4}, {2, 2}), b.Const("as", {2}, {1, 1}),
              Typed<uint8_t>(b, "azp", {0, 0}, {2}), Typed<int8_t>(b, "b", {1, 2}, {2, 1}),
              b.Scalar("bs", 1), Typed<int8_t>(b, "bzp", {0}, {}), b.Scalar("ys", 1),
              Typed<uint8_t>(b, "yzp", {0}, {})});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "only a per-tensor (scalar) a_scale");
  }
  {  // QLinearConv with a w_scale of the wrong length
    Builder b;
    const int y =
        b.Op("QLinearConv",
             {Typed<uint8_t>(b, "x", {1, 2, 3, 4}, {1, 1, 2, 2}), b.Scalar("xs", 1),
              Typed<uint8_t>(b, "xzp", {0}, {}), Typed<int8_t>(b, "w", {1, 2}, {2, 1, 1, 1}),
              b.Const("ws", {3}, {1, 1, 1}), Typed<int8_t>(b, "wzp", {0}, {}), b.Scalar("ys", 1),
              Typed<uint8_t>(b, "yzp", {0}, {})});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "w_scale has shape [3]");
  }
}

TEST(QuantOpsHostile, UnsupportedTypesAttributesAndParameterShapes) {
  const std::vector<float> ones(6, 1.0f);
  {  // DequantizeLinear of float data
    Builder b;
    const int y = b.Op("DequantizeLinear", {b.Const("x", {2}, {1, 2}), b.Scalar("s", 1)});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "x has type float32");
  }
  {  // an int64 scale
    Builder b;
    const int y =
        b.Op("DequantizeLinear", {Typed<uint8_t>(b, "x", {1, 2}, {2}), b.Ints("s", {1}, {})});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "x_scale has type int64");
  }
  // QuantizeLinear attributes of later opsets that effi does not implement.
  const std::vector<std::pair<std::map<std::string, AttrValue>, std::string>> attrs = {
      {{{"block_size", int64_t{2}}}, "blocked quantization"},
      {{{"output_dtype", int64_t{17}}}, "output_dtype 17"}};
  for (const auto& [a, needle] : attrs) {
    Builder b;
    const int y = b.Op("QuantizeLinear", {b.Const("x", {2, 3}, ones), b.Scalar("s", 1)}, a);
    ExpectGraphError(b, y, ErrorCode::kUnsupported, needle);
  }
  {  // output_dtype int8 with a uint8 zero point
    Builder b;
    const int y =
        b.Op("QuantizeLinear",
             {b.Const("x", {2, 3}, ones), b.Scalar("s", 1), Typed<uint8_t>(b, "z", {0}, {})},
             {{"output_dtype", int64_t{3}}});
    ExpectGraphError(b, y, ErrorCode::kInvalidModel, "output_dtype int8 differs");
  }
  {  // MatMulInteger: a per-row a_zero_point, a b_zero_point of the wrong length
    Builder b;
    const int y = b.Op("MatMulInteger", {Typed<uint8_t>(b, "a", {1, 2, 3, 4}, {2, 2}),
                                         Typed<int8_t>(b, "w", {1, 2}, {2, 1}),
                                         Typed<uint8_t>(b, "azp", {0, 0}, {2})});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "a_zero_point of shape [2]");
    Builder c;
    const int y2 =
        c.Op("MatMulInteger",
             {Typed<uint8_t>(c, "a", {1, 2, 3, 4}, {2, 2}), Typed<int8_t>(c, "w", {1, 2}, {2, 1}),
              Typed<uint8_t>(c, "azp", {0}, {}), Typed<int8_t>(c, "wzp", {0, 0}, {2})});
    ExpectGraphError(c, y2, ErrorCode::kInvalidModel, "b_zero_point has shape [2]");
  }
  {  // ConvInteger: a per-channel x_zero_point, a w_zero_point of the wrong length
    Builder b;
    const int y = b.Op("ConvInteger", {Typed<uint8_t>(b, "x", {1, 2, 3, 4}, {1, 1, 2, 2}),
                                       Typed<int8_t>(b, "w", {1}, {1, 1, 1, 1}),
                                       Typed<uint8_t>(b, "xzp", {0, 0}, {2})});
    ExpectGraphError(b, y, ErrorCode::kUnsupported, "x_zero_point of shape [2]");
    Builder c;
    const int y2 = c.Op(
        "ConvInteger", {Typed<uint8_t>(c, "x", {1, 2, 3, 4}, {1, 1, 2, 2}),
                        Typed<int8_t>(c, "w", {1}, {1, 1, 1, 1}), Typed<uint8_t>(c, "xzp", {0}, {}),
                        Typed<int8_t>(c, "wzp", {0, 0, 0}, {3})});
    ExpectGraphError(c, y2, ErrorCode::kInvalidModel, "w_zero_point has shape [3]");
  }
  {  // ConvInteger with K = C * kh * kw over the exact bound: 2 * 129 * 129 = 33282
    Builder b;
    const int x = TypedInput<uint8_t>(b, "x", {1, 2, 129, 129});
    const int w = TypedInput<int8_t>(b, "w", {1, 2, 129, 129});
    ExpectGraphError(b, b.Op("ConvInteger", {x, w}), ErrorCode::kUnsupported, "K = 33282");
  }
}

TEST(QuantOpsHostile, MissingOutput) {
  // DynamicQuantizeLinear whose scale output is left unnamed: the kernel would write through null.
  Builder b;
  Node n;
  n.name = "dq";
  n.op = "DynamicQuantizeLinear";
  n.inputs = {b.Const("x", {2}, {1, 2})};
  n.outputs = {b.g.AddValue("y"), -1, b.g.AddValue("zp")};
  b.g.AddNode(n);
  b.Output(n.outputs[0]);
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'dq'", "output 1 is missing"});
}

TEST(QuantOpsHostile, BadFedScaleOfQLinearMatMulFailsTheRun) {
  for (float ys : {0.0f, kNaN, 1.0f}) {
    Builder b;
    const int a = TypedInput<uint8_t>(b, "a", {1, 2});
    const int y_scale = TypedInput<float>(b, "ys", {});
    const int y = b.Op("QLinearMatMul", {a, b.Scalar("as", 0.5f), Typed<uint8_t>(b, "azp", {1}, {}),
                                         Typed<int8_t>(b, "w", {3, -2}, {2, 1}),
                                         b.Scalar("ws", 0.25f), Typed<int8_t>(b, "wzp", {0}, {}),
                                         y_scale, Typed<uint8_t>(b, "yzp", {8}, {})});
    const std::vector<uint8_t> av = {5, 3};
    if (ys == 1.0f) {  // (4 * 3 + 2 * -2) * 0.5 * 0.25 = 1, + 8
      EXPECT_EQ(RunFed<uint8_t>(b, y, {av.data(), &ys}), (std::vector<uint8_t>{9}));
      continue;
    }
    ExpectError(
        [&] {
          RunFed<uint8_t>(b, y, {av.data(), &ys});
        },
        ErrorCode::kInvalidArgument, {"QLinearMatMul", "y_scale[0]"});
  }
}

}  // namespace
}  // namespace effi::testing
