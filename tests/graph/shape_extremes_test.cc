// Shape inference and integer arithmetic at the int64 extremes (issue 15, classes 5 and 6a): no
// signed overflow, no float -> int UB, no SIGFPE. Every result is numpy's (computed by hand with
// Python integers / numpy) or, where ONNX and numpy are undefined, effi's documented choice; every
// overflowing size is one kInvalidModel error naming the node. Graphs of constants are folded at
// compile time by the same kernels the executor runs, so checking the folded constants checks both.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "effi/error.hpp"
#include "graph_test_util.h"
#include "ops/op.h"

namespace effi::testing {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

int Int32s(Builder& b, const std::string& name, const std::vector<int32_t>& v, Shape shape) {
  auto t = MakeTensor(DType::kI32, std::move(shape));
  std::memcpy(t->mutable_data(), v.data(), v.size() * sizeof(int32_t));
  return b.g.AddConstant(name, t);
}

// Folds the graph (all inputs constant) and returns output `v` as a constant.
ConstTensor Folded(Builder& b, int v) {
  b.Output(v);
  Graph g = Prepared(b.g);
  const int id = g.FindValue(b.g.values[v].name);
  EXPECT_GE(id, 0);
  EXPECT_TRUE(g.values[id].is_constant()) << "not folded";
  return g.values[id].constant;
}

template <typename T>
std::vector<T> Values(const ConstTensor& t) {
  return std::vector<T>(t->as<T>(), t->as<T>() + t->elements());
}

// ---- helpers in graph/tensor.h ----

TEST(CheckedArithmetic, DetectsOverflow) {
  int64_t r = 0;
  EXPECT_TRUE(CheckedAdd(kMax - 1, 1, &r));
  EXPECT_EQ(r, kMax);
  EXPECT_FALSE(CheckedAdd(kMax, 1, &r));
  EXPECT_FALSE(CheckedAdd(kMin, -1, &r));
  EXPECT_TRUE(CheckedMul(int64_t{1} << 31, int64_t{1} << 31, &r));
  EXPECT_EQ(r, int64_t{1} << 62);
  EXPECT_FALSE(CheckedMul(int64_t{1} << 32, int64_t{1} << 31, &r));
  EXPECT_FALSE(CheckedMul(kMin, -1, &r));
}

TEST(SaturatingFloatToInt, SaturatesAndMapsNaNToZero) {
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(1e30), kMax);
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(-1e30), kMin);
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(9223372036854775808.0), kMax);  // 2^63
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(-9223372036854775808.0), kMin);
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(9223372036854774784.0), 9223372036854774784);
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(std::nan("")), 0);
  EXPECT_EQ(SaturatingFloatToInt<int64_t>(-2.9), -2);
  EXPECT_EQ(SaturatingFloatToInt<int32_t>(2147483647.5), kMax32);
  EXPECT_EQ(SaturatingFloatToInt<int32_t>(-2147483648.9), kMin32);
  EXPECT_EQ(SaturatingFloatToInt<int8_t>(300.0), 127);
  EXPECT_EQ(SaturatingFloatToInt<uint8_t>(-0.5), 0);
  EXPECT_EQ(SaturatingFloatToInt<uint8_t>(255.9), 255);
  EXPECT_EQ(SaturatingFloatToInt<uint8_t>(256.0), 255);
}

// Shapes quoted in messages are bounded: a rank of millions (an Expand whose shape input holds
// millions of values, from fuzz_graph) once made a 131 MB error message.
TEST(ShapeStr, BoundsLongShapes) {
  EXPECT_EQ(ShapeStr({1, 3, 224, 224}), "[1,3,224,224]");
  EXPECT_EQ(ShapeStr({}), "[]");
  Shape huge(1000000, 7);
  huge.back() = 9;
  const std::string s = ShapeStr(huge);
  EXPECT_EQ(s, "[7,7,7,7,7,7,7,7,7,7,7,7,...,7,9] (rank 1000000)");
  try {
    NumElements(huge);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u);
  }
}

// A shape-like input with more values than any real rank is refused before any shape arithmetic.
TEST(ShapeInputs, HoldAtMost1024Values) {
  Builder b;
  const int x = b.Input("x", {1});
  const int shape = b.Ints("shape", std::vector<int64_t>(2000, 1), {2000});
  b.Output(b.Op("Expand", {x, shape}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kUnsupported, {"node 'Expand", "2000 values"});
}

TEST(NumElements, BoundsTheNonZeroDimsOfAnEmptyShape) {
  EXPECT_EQ(NumElements({0, 1 << 20, 1 << 10}), 0);
  const int64_t big = int64_t{1} << 31;
  EXPECT_EQ(NumElements({0, big}), 0);
  ExpectError(
      [&] {
        NumElements({0, big, big, big}, "thing");
      },
      ErrorCode::kInvalidModel, {"thing", "too large"});
  ExpectError(
      [&] {
        NumElements({0, int64_t{1} << 62, int64_t{1} << 62});
      },
      ErrorCode::kInvalidModel, {"too large"});
}

TEST(ToInt64Vector, FloatFollowsTheCastRule) {
  auto t = MakeFloatTensor({1e30f, -1e30f, kNaN, kInf, -kInf, 2.9f, -2.9f}, {7});
  EXPECT_EQ(t->ToInt64Vector(), (std::vector<int64_t>{kMax, kMin, 0, kMax, kMin, 2, -2}));
}

// ---- integer elementwise ----

TEST(IntUnary, NegAndAbsWrapAtInt64Min) {
  for (const char* op : {"Neg", "Abs"}) {
    Builder b;
    const int x = b.Ints("x", {kMin, -5, 7, kMax}, {4});
    const auto y = Values<int64_t>(Folded(b, b.Op(op, {x})));
    if (std::string(op) == "Neg")
      EXPECT_EQ(y, (std::vector<int64_t>{kMin, 5, -7, -kMax}));
    else
      EXPECT_EQ(y, (std::vector<int64_t>{kMin, 5, 7, kMax}));
  }
}

TEST(IntUnary, NegAndAbsWrapAtInt32Min) {
  Builder b;
  const int x = Int32s(b, "x", {kMin32, -5, 7, kMax32}, {4});
  const int neg = b.Op("Neg", {x});
  b.Output(neg);
  const auto abs = Folded(b, b.Op("Abs", {x}));
  EXPECT_EQ(abs->dtype(), DType::kI32);
  EXPECT_EQ(Values<int32_t>(abs), (std::vector<int32_t>{kMin32, 5, 7, kMax32}));
  Graph g = Prepared(b.g);
  EXPECT_EQ(Values<int32_t>(g.values[g.FindValue(b.g.values[neg].name)].constant),
            (std::vector<int32_t>{kMin32, 5, -7, -kMax32}));
}

// Add/Sub/Mul wrap modulo 2^64 (numpy); Div truncates toward zero (C, ONNX Runtime), x / 0 == 0
// and INT64_MIN / -1 == INT64_MIN (ONNX leaves both undefined; see ref_kernels.h).
TEST(IntBinary, WrapsAndNeverTraps) {
  const std::vector<int64_t> a{kMax, kMin, int64_t{1} << 32, -7, 7, kMin};
  const std::vector<int64_t> bv{1, 1, int64_t{1} << 32, 2, 0, -1};
  const std::map<std::string, std::vector<int64_t>> want{
      {"Add", {kMin, kMin + 1, int64_t{1} << 33, -5, 7, kMax}},
      {"Sub", {kMax - 1, kMax, 0, -9, 7, kMin + 1}},
      {"Mul", {kMax, kMin, 0, -14, 0, kMin}},
      {"Div", {kMax, kMin, 1, -3, 0, kMin}},
      {"Max", {kMax, 1, int64_t{1} << 32, 2, 7, -1}},
      {"Min", {1, kMin, int64_t{1} << 32, -7, 0, kMin}},
  };
  for (const auto& [op, expected] : want) {
    Builder b;
    const int x = b.Ints("a", a, {6}), y = b.Ints("b", bv, {6});
    EXPECT_EQ(Values<int64_t>(Folded(b, b.Op(op, {x, y}))), expected) << op;
  }
}

TEST(IntBinary, Int32DivisionEdgeCases) {
  Builder b;
  const int x = Int32s(b, "a", {kMin32, 5, kMax32, kMin32}, {4});
  const int y = Int32s(b, "b", {-1, 0, 1, 1}, {4});
  const int add = b.Op("Add", {x, y});
  b.Output(add);
  EXPECT_EQ(Values<int32_t>(Folded(b, b.Op("Div", {x, y}))),
            (std::vector<int32_t>{kMin32, 0, kMax32, kMin32}));
  Graph g = Prepared(b.g);
  EXPECT_EQ(Values<int32_t>(g.values[g.FindValue(b.g.values[add].name)].constant),
            (std::vector<int32_t>{kMax32, 5, kMin32, kMin32 + 1}));
}

TEST(IntBinary, PowWrapsAndSumWraps) {
  Builder b;
  const int base = b.Ints("base", {3, 2, -3, 2, 1, -1}, {6});
  const int exp = b.Ints("exp", {40, 64, 41, -1, -5, -5}, {6});
  // numpy: np.int64(3) ** 40 etc. (2 ** -1 truncates to 0 in ONNX's integer Pow).
  EXPECT_EQ(Values<int64_t>(Folded(b, b.Op("Pow", {base, exp}))),
            (std::vector<int64_t>{-6289078614652622815, 0, 420491770248316829, 0, 1, -1}));
  Builder s;
  const int m = s.Ints("m", {kMax}, {1}), t = s.Ints("t", {3}, {1});
  // np.sum of [INT64_MAX, INT64_MAX, 3] == 1.
  EXPECT_EQ(Values<int64_t>(Folded(s, s.Op("Sum", {m, m, t}))), (std::vector<int64_t>{1}));
}

// ---- Cast ----

TEST(Cast, FloatToIntSaturatesNaNIsZero) {
  const Floats src{1e30f, -1e30f, kNaN, kInf, -kInf, 2.9f, -2.9f, 300.0f};
  struct Want {
    int64_t to;
    std::vector<int64_t> values;
  };
  for (const Want& w : std::vector<Want>{
           {7, {kMax, kMin, 0, kMax, kMin, 2, -2, 300}},
           {6, {kMax32, kMin32, 0, kMax32, kMin32, 2, -2, 300}},
           {3, {127, -128, 0, 127, -128, 2, -2, 127}},
           {2, {255, 0, 0, 255, 0, 2, 0, 255}},
           {9, {1, 1, 1, 1, 1, 1, 1, 1}},  // numpy: NaN and nonzero -> True
       }) {
    Builder b;
    const int x = b.Const("x", {8}, src);
    const ConstTensor y = Folded(b, b.Op("Cast", {x}, {{"to", w.to}}));
    std::vector<int64_t> got;
    for (int64_t i = 0; i < y->elements(); ++i) {
      switch (y->dtype()) {
        case DType::kI64:
          got.push_back(y->as<int64_t>()[i]);
          break;
        case DType::kI32:
          got.push_back(y->as<int32_t>()[i]);
          break;
        case DType::kI8:
          got.push_back(y->as<int8_t>()[i]);
          break;
        default:
          got.push_back(y->as<uint8_t>()[i]);
          break;
      }
    }
    EXPECT_EQ(got, w.values) << "to " << w.to;
  }
}

TEST(Cast, IntToIntWrapsLikeNumpy) {
  Builder b;
  const int x = b.Ints("x", {300, (int64_t{1} << 32) + 5, -1}, {3});
  const int i8 = b.Op("Cast", {x}, {{"to", int64_t{3}}});
  const int i32 = b.Op("Cast", {x}, {{"to", int64_t{6}}});
  b.Output(i8);
  const ConstTensor u8 = Folded(b, b.Op("Cast", {x}, {{"to", int64_t{2}}}));
  EXPECT_EQ(Values<uint8_t>(u8), (std::vector<uint8_t>{44, 5, 255}));
  b.Output(i32);
  Graph g = Prepared(b.g);
  EXPECT_EQ(Values<int8_t>(g.values[g.FindValue(b.g.values[i8].name)].constant),
            (std::vector<int8_t>{44, 5, -1}));
  EXPECT_EQ(Values<int32_t>(g.values[g.FindValue(b.g.values[i32].name)].constant),
            (std::vector<int32_t>{300, 5, -1}));
}

// ---- Slice ----

struct SliceCase {
  int64_t start, end, step;
  Floats rows;  // first column of each selected row of arange(15).reshape(3, 5)
};

TEST(Slice, ClampsLikeOnnxAtTheExtremes) {
  // Expected values: numpy's x[start:end:step] with Python integers.
  for (const SliceCase& c : std::vector<SliceCase>{
           {0, 3, kMax, {0}},
           {kMax, kMin, -1, {10, 5, 0}},
           {-1, kMin, kMin, {10}},
           {kMin, kMax, 1, {0, 5, 10}},
           {kMin, kMin, 1, {}},
           {kMax, kMax, -1, {}},
           {kMax, kMin, -2, {10, 0}},
           {1, kMax, kMin, {}},
           {kMin, kMax, kMax, {0}},
           {-2, -1, kMax, {5}},
           {kMax, -4, -1, {10, 5, 0}},
       }) {
    Builder b;
    Floats data(15);
    for (int i = 0; i < 15; ++i) data[i] = static_cast<float>(i);
    const int x = b.Const("x", {3, 5}, data);
    const int st = b.Ints("starts", {c.start}, {1}), en = b.Ints("ends", {c.end}, {1});
    const int ax = b.Ints("axes", {0}, {1}), sp = b.Ints("steps", {c.step}, {1});
    const ConstTensor y = Folded(b, b.Op("Slice", {x, st, en, ax, sp}));
    const std::string what = "[" + std::to_string(c.start) + ":" + std::to_string(c.end) + ":" +
                             std::to_string(c.step) + "]";
    ASSERT_EQ(y->shape(), (Shape{static_cast<int64_t>(c.rows.size()), 5})) << what;
    for (size_t r = 0; r < c.rows.size(); ++r)
      for (int j = 0; j < 5; ++j)
        EXPECT_EQ(y->as<float>()[r * 5 + j], c.rows[r] + static_cast<float>(j)) << what;
  }
}

TEST(Slice, NegativeStepOnAnEmptyAxis) {
  Builder b;
  const int x = b.Input("x", {0, 5});
  const int st = b.Ints("starts", {kMax}, {1}), en = b.Ints("ends", {kMin}, {1});
  const int ax = b.Ints("axes", {0}, {1}), sp = b.Ints("steps", {-1}, {1});
  const int y = b.Op("Slice", {x, st, en, ax, sp});
  b.Output(y);
  Graph g = Prepared(b.g);
  EXPECT_EQ(g.values[g.FindValue(b.g.values[y].name)].shape, (Shape{0, 5}));
}

TEST(Slice, StepZeroIsAnError) {
  Builder b;
  const int x = b.Input("x", {3, 5});
  const int st = b.Ints("starts", {0}, {1}), en = b.Ints("ends", {3}, {1});
  const int ax = b.Ints("axes", {1}, {1}), sp = b.Ints("steps", {0}, {1});
  b.Output(b.Op("Slice", {x, st, en, ax, sp}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Slice_0'", "step 0"});
}

// ---- Range ----

TEST(Range, IntegerCountIsExact) {
  struct Case {
    int64_t start, limit, delta;
    std::vector<int64_t> values;
  };
  for (const Case& c : std::vector<Case>{
           // ONNX: max(ceil((limit - start) / delta), 0) elements: 3 here (a double quotient,
           // as numpy's arange uses, rounds (2^64 - 1) / (2^63 - 1) to 2).
           {kMin, kMax, kMax, {kMin, -1, kMax - 1}},
           {kMax, kMin, kMin, {kMax, -1}},
           {kMin, kMin + 3, kMax, {kMin}},
           {0, 10, 3, {0, 3, 6, 9}},
           {10, 0, -3, {10, 7, 4, 1}},
           {5, 5, 1, {}},
           {0, 5, -1, {}},
           {kMax - 2, kMax, 1, {kMax - 2, kMax - 1}},
       }) {
    Builder b;
    const int s = b.Ints("s", {c.start}, {}), l = b.Ints("l", {c.limit}, {}),
              d = b.Ints("d", {c.delta}, {});
    const ConstTensor y = Folded(b, b.Op("Range", {s, l, d}));
    EXPECT_EQ(Values<int64_t>(y), c.values) << c.start << " " << c.limit << " " << c.delta;
  }
}

TEST(Range, Int32Extremes) {
  Builder b;
  const int s = Int32s(b, "s", {kMin32}, {}), l = Int32s(b, "l", {kMax32}, {}),
            d = Int32s(b, "d", {kMax32}, {});
  EXPECT_EQ(Values<int32_t>(Folded(b, b.Op("Range", {s, l, d}))),
            (std::vector<int32_t>{kMin32, -1, kMax32 - 1}));
}

TEST(Range, FloatStaysFloatMath) {
  Builder b;
  const int s = b.Scalar("s", 1.0f), l = b.Scalar("l", 2.0f), d = b.Scalar("d", 0.3f);
  const ConstTensor y = Folded(b, b.Op("Range", {s, l, d}));
  ASSERT_EQ(y->elements(), 4);  // ceil(1 / 0.3f)
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y->as<float>()[i], 1.0f + static_cast<float>(i) * 0.3f);
  Builder e;
  const int es = e.Scalar("s", 0.0f), el = e.Scalar("l", -kInf), ed = e.Scalar("d", 1.0f);
  EXPECT_EQ(Folded(e, e.Op("Range", {es, el, ed}))->elements(), 0);
}

TEST(Range, TooManyElementsIsAnError) {
  struct Case {
    int64_t start, limit, delta;
  };
  for (const Case& c :
       std::vector<Case>{{kMin, kMax, 1}, {kMax, kMin, -1}, {0, int64_t{1} << 40, 1}}) {
    Builder b;
    const int s = b.Ints("s", {c.start}, {}), l = b.Ints("l", {c.limit}, {}),
              d = b.Ints("d", {c.delta}, {});
    b.Output(b.Op("Range", {s, l, d}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Range_0'", "elements"});
  }
  for (float limit : {kInf, kNaN}) {
    Builder b;
    const int s = b.Scalar("s", 0.0f), l = b.Scalar("l", limit), d = b.Scalar("d", 1.0f);
    b.Output(b.Op("Range", {s, l, d}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Range_0'", "elements"});
  }
}

// ---- Split / Tile / Flatten / Softmax / Gather / Conv / pools: overflowing sizes ----

TEST(Split, SizesWhoseSumOverflowsAreAnError) {
  for (const std::vector<int64_t>& sizes :
       {std::vector<int64_t>{kMax, 2}, std::vector<int64_t>{kMax, kMax}}) {
    Builder b;
    const int x = b.Input("x", {4});
    const int sz = b.Ints("split", sizes, {2});
    Node n;
    n.name = "split";
    n.op = "Split";
    n.inputs = {x, sz};
    n.outputs = {b.g.AddValue("a"), b.g.AddValue("b")};
    b.g.AddNode(n);
    b.Output(n.outputs[0]);
    b.Output(n.outputs[1]);
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'split'", "overflow"});
  }
}

TEST(Tile, RepeatsWhoseProductOverflowsAreAnError) {
  Builder b;
  const int x = b.Input("x", {2, 3});
  b.Output(b.Op("Tile", {x, b.Ints("r", {int64_t{1} << 62, 1}, {2})}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Tile_0'", "overflow"});
  Builder big;
  const int y = big.Input("x", {2, 3});
  big.Output(big.Op("Tile", {y, big.Ints("r", {int64_t{1} << 40, 1}, {2})}));
  ExpectError([&] { Prepared(big.g); }, ErrorCode::kInvalidModel, {"'Tile_0'", "too large"});
}

TEST(Tile, ZeroDimTimesHugeRepeatIsEmpty) {
  Builder b;
  const int x = b.Input("x", {0, 3});
  const int y = b.Op("Tile", {x, b.Ints("r", {kMax, 2}, {2})});
  b.Output(y);
  Graph g = Prepared(b.g);
  EXPECT_EQ(g.values[g.FindValue(b.g.values[y].name)].shape, (Shape{0, 6}));
}

// A declared input may have a 0 dim beside dims whose product overflows int64.
TEST(DeclaredShapes, ProductsOfHugeDimsAreErrorsNamingTheNode) {
  const int64_t big = int64_t{1} << 31;
  {
    Builder b;
    b.Output(b.Op("Flatten", {b.Input("x", {0, big, big, big})}, {{"axis", int64_t{1}}}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Flatten_0'", "too large"});
  }
  {
    Builder b(11);  // opset < 13: Softmax coerces to 2-D (products of dims)
    b.Output(b.Op("Softmax", {b.Input("x", {0, big, big, big})}, {{"axis", int64_t{0}}}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Softmax_0'", "too large"});
  }
  {
    Builder b;
    b.Output(b.Op("Reshape", {b.Input("x", {0, big, big, big}), b.Ints("s", {0, -1}, {2})}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Reshape_0'", "too large"});
  }
  {
    Builder b;
    const int s = b.Ints("s", {0}, {1}), e = b.Ints("e", {1}, {1});
    b.Output(b.Op("Slice", {b.Input("x", {0, big, big, big}), s, e}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Slice_0'", "too large"});
  }
  // Ops whose output drops input dims (reduced axes, a contracted K): the output shape is small.
  for (const char* op : {"ReduceSum", "ArgMax", "GlobalAveragePool"}) {
    Builder b;
    b.Output(b.Op(op, {b.Input("x", {1, big, big, big})}, {{"keepdims", int64_t{0}}}));
    if (std::string(op) == "GlobalAveragePool") b.g.nodes.back().attrs.clear();
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel,
                {std::string("'") + op + "_0'", "too large"});
  }
  {
    Builder b;
    b.Output(b.Op("Gemm", {b.Input("a", {1, big * 4}), b.Input("b", {big * 4, 1})}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Gemm_0'", "too large"});
  }
}

TEST(Gather, Int64MinIndexIsAnError) {
  Builder b;
  const int x = b.Const("t", {4}, {0, 1, 2, 3});
  b.Output(b.Op("Gather", {x, b.Ints("i", {kMin}, {1})}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Gather_0'", "out of range"});
}

TEST(Shape, ExtremeStartAndEndClamp) {
  Builder b;
  const int y = b.Op("Shape", {b.Input("x", {2, 3, 4})}, {{"start", kMin}, {"end", kMax}});
  EXPECT_EQ(Values<int64_t>(Folded(b, y)), (std::vector<int64_t>{2, 3, 4}));
}

TEST(Unsqueeze, Int64MinAxisIsAnError) {
  Builder b;
  b.Output(b.Op("Unsqueeze", {b.Input("x", {2}), b.Ints("a", {kMin}, {1})}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Unsqueeze_0'", "axis"});
}

TEST(Conv, HugeGroupIsAnErrorNotAnOverflow) {
  Builder b;
  const int x = b.Input("x", {1, 0, 4, 4});
  const int w = b.Const("w", {0, 2, 1, 1}, {});
  b.Output(b.Op("Conv", {x, w}, {{"group", kMax}}));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Conv_0'", "group"});
}

TEST(EffiConv, AttributesFromAFileAreValidated) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::vector<int64_t>>>{{"strides", {0, 0}},
                                                                 {"dilations", {kMax, 1}},
                                                                 {"pads", {-1, 0, 0, 0}},
                                                                 {"pads", {kMax, 0, kMax, 0}}}) {
    Builder b;
    const int x = b.Input("x", {1, 4, 4, 2});
    const int w = b.Random("w", {3, 1, 1, 2});
    b.Output(b.Op("Conv", {x, w}, {{key, value}}, kEffiDomain));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Conv_0'", "inconsistent"});
  }
  Builder b;
  const int x = b.Input("x", {1, 4, 4, 0});
  const int w = b.Const("w", {0, 1, 1, 2}, {});
  b.Output(b.Op("Conv", {x, w}, {{"group", kMax}}, kEffiDomain));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'Conv_0'", "inconsistent"});
}

TEST(EffiPackedAttention, HugeKeyDimIsAnError) {
  Builder b;
  b.Output(b.Op("PackedAttention", {b.Input("x", {1, 2, 2, 6})}, {{"key_dim", kMax}}, kEffiDomain));
  ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel, {"'PackedAttention_0'"});
}

// ---- 6a: pooling pads must be smaller than the kernel (ONNX Runtime's rule) ----

TEST(Pool, PadNotSmallerThanKernelIsAnError) {
  for (const char* op : {"MaxPool", "AveragePool"}) {
    for (const std::vector<int64_t>& pads :
         {std::vector<int64_t>{3, 0, 0, 0}, std::vector<int64_t>{0, 0, 0, 3}}) {
      Builder b;
      b.Output(b.Op(op, {b.Input("x", {1, 1, 4, 4})},
                    {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", pads}}));
      ExpectError([&] { Prepared(b.g); }, ErrorCode::kInvalidModel,
                  {std::string("'") + op + "_0'", "pad 3 >= kernel 2"});
    }
    Builder eq;  // pad == kernel: refused too
    eq.Output(
        eq.Op(op, {eq.Input("x", {1, 1, 5})},
              {{"kernel_shape", std::vector<int64_t>{2}}, {"pads", std::vector<int64_t>{2, 0}}}));
    ExpectError([&] { Prepared(eq.g); }, ErrorCode::kInvalidModel, {"pad 2 >= kernel 2"});
  }
  Builder nhwc;
  nhwc.Output(nhwc.Op(
      "AvgPool", {nhwc.Input("x", {1, 4, 4, 1})},
      {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"pads", std::vector<int64_t>{1, 1, 3, 1}}},
      kEffiDomain));
  ExpectError([&] { Prepared(nhwc.g); }, ErrorCode::kInvalidModel, {"pad 3 >= kernel 3"});
}

TEST(Pool, PadJustBelowKernelRuns) {
  // MaxPool k=2, pads 1: every window holds at least one input element (numpy-checked values).
  Builder b;
  const int x = b.Input("x", {1, 1, 2, 2});
  b.Output(b.Op(
      "MaxPool", {x},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  Graph g = Prepared(b.g);
  const auto y = Execute(g, {{"x", {1, 2, 3, 4}}});
  EXPECT_EQ(y[0], (Floats{1, 2, 2, 3, 4, 4, 3, 4, 4}));
}

// ---- Variadic ops with an empty output ----

// Max of [4], [4] and [0,3,4,4] is empty, but its first fold step ([4] with [4]) is not: the
// kernel must not compute intermediates into a scratch sized by the (empty) output (fuzz_graph
// found a 16-byte write past it). The scratch here is exactly what the kernel asked for, so ASan
// sees any write past it.
TEST(Variadic, EmptyOutputWithNonEmptyIntermediates) {
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) {
    Builder b;
    const int c = b.Const("c", {4}, {1, 2, 3, 4});
    const int x = b.Input("x", {0, 3, 4, 4});
    b.Output(b.Op(op, {c, c, x, x}));
    const Graph g = Prepared(b.g);
    const Node* node = nullptr;
    for (const Node& n : g.nodes)
      if (!n.dead) node = &n;
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(g.values[node->outputs[0]].shape, (Shape{0, 3, 4, 4}));
    auto kernel = ops::CheckNode(*node).create(*node, g);
    const float* cv = g.values[node->inputs[0]].constant->as<float>();
    const float dummy = 0.0f;
    const void* in[4] = {cv, cv, &dummy, &dummy};
    float out = -7.0f;
    void* outs[1] = {&out};
    auto scratch = std::make_unique<uint8_t[]>(kernel->ScratchBytes(1));
    kernel->Run(ops::ExecContext{}, in, outs, scratch.get());
    EXPECT_EQ(out, -7.0f) << op;
  }
}

// ---- effi's fused ops check their inputs like ONNX ops ----

// A model file may hold effi.Conv / effi.Linear nodes: non-float inputs and a bias of the wrong
// shape are errors naming the node (fuzz_graph: a bool effi.Conv input and a [2,3,4,5] bias were
// read as floats past their end).
TEST(EffiOps, RefuseNonFloatInputsAndWrongBias) {
  auto expect_error = [](Builder& b, int out, const char* what) {
    b.Output(out);
    try {
      Prepared(b.g);
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("node '"), std::string::npos) << e.what();
    }
  };
  {
    Builder b;
    const int x = b.Input("x", {2, 3, 4, 5});
    const int mask = b.Op("Less", {x, x});
    expect_error(b, b.Op("Conv", {mask, mask, x}, {}, kEffiDomain), "bool effi.Conv");
  }
  {
    Builder b;
    const int x = b.Input("x", {1, 4, 4, 3});
    const int w = b.Random("w", {8, 1, 1, 3});
    const int bias = b.Random("bias", {2, 3, 4, 5});
    expect_error(b, b.Op("Conv", {x, w, bias}, {}, kEffiDomain), "effi.Conv bias [2,3,4,5]");
  }
  {
    Builder b;
    const int x = b.Ints("x", {1, 2, 3, 4}, {2, 2});
    const int w = b.Random("w", {2, 3});
    expect_error(b, b.Op("Linear", {x, w}, {}, kEffiDomain), "int64 effi.Linear");
  }
}

}  // namespace
}  // namespace effi::testing
