// Resize and Pad (src/ops/resize_pad_ops.cc, src/kernels/ref/resize_pad.cc) against small
// independent implementations written here per output element, on random odd shapes: Resize in
// every mode, coordinate mode and nearest rounding (clamping the coordinate, as ONNX Runtime does,
// where the kernel clamps the indices), Pad in every mode with mirrored indices found by repeated
// folding (the kernel takes them modulo the period), negative pads, axes, the opset-2 attribute
// form and a constant_value fed at run time; then hostile operands, each one error naming the node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "graph_test_util.h"
#include "ops/op.h"

namespace effi::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- Resize: the independent implementation ----

struct ResizeCase {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  Shape in;
  std::vector<float> scales;   // or
  std::vector<int64_t> sizes;  // (one of the two)
  std::vector<float> roi;      // tf_crop_and_resize
  float extrapolation = 0.0f;
};

// Source coordinate, written from the ONNX spec's formulas.
double SpecCoord(const ResizeCase& c, int64_t x, int64_t in, int64_t out, double scale, double len,
                 double r0, double r1) {
  const double xd = static_cast<double>(x);
  if (c.coord == "half_pixel") return (xd + 0.5) / scale - 0.5;
  if (c.coord == "pytorch_half_pixel") return len > 1 ? (xd + 0.5) / scale - 0.5 : 0.0;
  if (c.coord == "align_corners") return len == 1 ? 0.0 : xd * (in - 1) / (len - 1);
  if (c.coord == "asymmetric") return xd / scale;
  if (c.coord == "tf_half_pixel_for_nn") return (xd + 0.5) / scale;
  if (c.coord == "half_pixel_symmetric") {
    const double adj = out / len;
    return in / 2.0 * (1 - adj) + (xd + 0.5) / scale - 0.5;
  }
  // tf_crop_and_resize
  return out > 1 ? r0 * (in - 1) + xd * (r1 - r0) * (in - 1) / (out - 1) : (r0 + r1) / 2 * (in - 1);
}

int64_t NearestIndex(const std::string& mode, double c, int64_t in) {
  double r;
  if (mode == "floor") {
    r = std::floor(c);
  } else if (mode == "ceil") {
    r = std::ceil(c);
  } else if (c - std::floor(c) == 0.5) {
    r = mode == "round_prefer_floor" ? std::floor(c) : std::ceil(c);
  } else {
    r = std::round(c);
  }
  return static_cast<int64_t>(std::clamp(r, 0.0, static_cast<double>(in - 1)));
}

// Resize of a 4-D tensor whose first two axes keep their length (scale 1).
Floats ExpectedResize(const ResizeCase& c, const Floats& x, Shape* out_shape) {
  const int64_t n = c.in[0], ch = c.in[1], h = c.in[2], w = c.in[3];
  int64_t out[2];
  double scale[2], len[2];
  for (int a = 0; a < 2; ++a) {
    const int64_t in = c.in[2 + a];
    if (!c.sizes.empty()) {
      out[a] = c.sizes[2 + a];
      scale[a] = static_cast<double>(out[a]) / in;
      len[a] = static_cast<double>(out[a]);
    } else {
      scale[a] = c.scales[2 + a];
      len[a] = in * scale[a];
      out[a] = static_cast<int64_t>(std::floor(len[a]));
    }
  }
  *out_shape = {n, ch, out[0], out[1]};
  const bool crop = c.coord == "tf_crop_and_resize";
  Floats y;
  // The first two axes keep their length, but the coordinate mode still maps them: under
  // tf_half_pixel_for_nn with ceil-ward rounding index k reads k + 1 (clamped), as ONNX's
  // reference does on every axis. (Linear mode refuses that coordinate mode.)
  auto same_length = [&](int64_t k, int64_t in) {
    if (c.mode != "nearest") return k;
    return NearestIndex(c.nearest, SpecCoord(c, k, in, in, 1.0, static_cast<double>(in), 0, 1), in);
  };
  for (int64_t b = 0; b < n * ch; ++b)
    for (int64_t i = 0; i < out[0]; ++i)
      for (int64_t j = 0; j < out[1]; ++j) {
        const double cy =
            SpecCoord(c, i, h, out[0], scale[0], len[0], crop ? c.roi[2] : 0, crop ? c.roi[6] : 1);
        const double cx =
            SpecCoord(c, j, w, out[1], scale[1], len[1], crop ? c.roi[3] : 0, crop ? c.roi[7] : 1);
        const float* plane =
            x.data() + (same_length(b / ch, n) * ch + same_length(b % ch, ch)) * h * w;
        if (crop && (cy < 0 || cy > h - 1 || cx < 0 || cx > w - 1)) {
          y.push_back(c.extrapolation);
        } else if (c.mode == "nearest") {
          y.push_back(plane[NearestIndex(c.nearest, cy, h) * w + NearestIndex(c.nearest, cx, w)]);
        } else {
          // Bilinear on the clamped coordinate.
          const double yy = std::clamp(cy, 0.0, h - 1.0), xx = std::clamp(cx, 0.0, w - 1.0);
          const int64_t y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx);
          const int64_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
          const double wy = yy - y0, wx = xx - x0;
          const double top = plane[y0 * w + x0] * (1 - wx) + plane[y0 * w + x1] * wx;
          const double bot = plane[y1 * w + x0] * (1 - wx) + plane[y1 * w + x1] * wx;
          y.push_back(static_cast<float>(top * (1 - wy) + bot * wy));
        }
      }
  return y;
}

// Builds X -> Resize (opset 13 form: X, roi, scales, sizes) and runs it on `x`.
Floats RunResize(const ResizeCase& c, const Floats& x, Shape* shape) {
  Builder b(13);
  const int in = b.Input("x", c.in);
  const int roi = c.roi.empty() ? -1 : b.Const("roi", {static_cast<int64_t>(c.roi.size())}, c.roi);
  const int scales =
      c.scales.empty() ? -1 : b.Const("scales", {static_cast<int64_t>(c.scales.size())}, c.scales);
  const int sizes =
      c.sizes.empty() ? -1 : b.Ints("sizes", c.sizes, {static_cast<int64_t>(c.sizes.size())});
  std::vector<int> inputs = {in, roi, scales};
  if (sizes >= 0) inputs.push_back(sizes);
  const int y = b.Op("Resize", inputs,
                     {{"mode", c.mode},
                      {"coordinate_transformation_mode", c.coord},
                      {"nearest_mode", c.nearest},
                      {"extrapolation_value", c.extrapolation}});
  b.Output(y);
  const Graph g = Prepared(b.g);
  *shape = g.values[g.outputs[0]].shape;
  return Execute(g, {{"x", x}})[0];
}

// The output of a random case over H and W: scales (even reps) or sizes (odd reps).
void RandomSpatialTarget(int rep, std::mt19937& rng, ResizeCase* c) {
  const std::vector<float> scale_choices = {2.0f, 0.5f, 1.5f, 3.0f, 0.6f, 1.0f, 0.34f, 2.5f};
  if (rep % 2 == 0) {
    c->scales = {1.0f, 1.0f, scale_choices[rng() % scale_choices.size()],
                 scale_choices[rng() % scale_choices.size()]};
    // floor(in * scale) may be 0 for a small axis: the output is then empty, which is legal, but
    // checks nothing here.
    if (std::floor(c->in[2] * c->scales[2]) < 1) c->scales[2] = 1.0f;
    if (std::floor(c->in[3] * c->scales[3]) < 1) c->scales[3] = 1.0f;
  } else {
    c->sizes = {c->in[0], c->in[1], 1 + static_cast<int64_t>(rng() % 9),
                1 + static_cast<int64_t>(rng() % 11)};
  }
}

TEST(Resize, EveryModeOnRandomOddShapes) {
  std::mt19937 rng(13);
  Builder data;
  const std::vector<std::string> coords = {
      "half_pixel",           "pytorch_half_pixel",   "align_corners",     "asymmetric",
      "tf_half_pixel_for_nn", "half_pixel_symmetric", "tf_crop_and_resize"};
  const std::vector<std::string> nearests = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                             "ceil"};
  int cases = 0;
  for (const std::string mode : {"nearest", "linear"})
    for (const std::string& coord : coords)
      for (int rep = 0; rep < 8; ++rep) {
        if (mode == "linear" && coord == "tf_half_pixel_for_nn") continue;  // refused
        ResizeCase c;
        c.mode = mode;
        c.coord = coord;
        c.nearest = nearests[static_cast<size_t>(rep) % nearests.size()];
        c.in = {1 + rep % 2, 1 + rep % 3, 1 + 2 * static_cast<int64_t>(rng() % 5),
                1 + 2 * static_cast<int64_t>(rng() % 6)};
        RandomSpatialTarget(rep, rng, &c);
        if (coord == "tf_crop_and_resize") {
          // A window partly outside the input on one axis, so extrapolation is exercised.
          c.roi = {0, 0, 0.2f, -0.3f, 1, 1, 0.9f, 1.25f};
          c.extrapolation = 7.5f;
          if (c.sizes.empty()) c.sizes = {c.in[0], c.in[1], 3, 5}, c.scales.clear();
        }
        const Floats x = data.RandomFloats(NumElements(c.in));
        Shape want_shape, got_shape;
        const Floats want = ExpectedResize(c, x, &want_shape);
        const Floats got = RunResize(c, x, &got_shape);
        SCOPED_TRACE(mode + " " + coord + " " + c.nearest + " in " + ShapeStr(c.in) + " out " +
                     ShapeStr(want_shape));
        ASSERT_EQ(got_shape, want_shape);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-5f * (1 + std::fabs(want[i]))) << "element " << i;
        ++cases;
      }
  EXPECT_EQ(cases, (2 * 7 - 1) * 8);
}

// timm's V2 export: bilinear 2x, half_pixel, sizes from an opset-11 export with an empty scales.
TEST(Resize, Opset11EmptyScalesWithSizes) {
  Builder b(11);
  const int x = b.Input("x", {1, 3, 7, 5});
  const int roi = b.Const("roi", {0}, {});
  const int scales = b.Const("scales", {0}, {});
  const int sizes = b.Ints("sizes", {1, 3, 14, 10}, {4});
  const int y = b.Op("Resize", {x, roi, scales, sizes},
                     {{"mode", std::string("linear")},
                      {"coordinate_transformation_mode", std::string("half_pixel")}});
  b.Output(y);
  const Graph g = Prepared(b.g);
  const Floats in = b.RandomFloats(105);
  ResizeCase c;
  c.mode = "linear";
  c.in = {1, 3, 7, 5};
  c.sizes = {1, 3, 14, 10};
  Shape shape;
  const Floats want = ExpectedResize(c, in, &shape);
  EXPECT_EQ(g.values[g.outputs[0]].shape, shape);
  EXPECT_LT(RelDiff(Execute(g, {{"x", in}})[0], want), 1e-6);
}

// Opset 10: (X, scales), asymmetric; nearest floors when upsampling, ceils when downsampling.
TEST(Resize, Opset10Form) {
  Builder b(10);
  const int x = b.Input("x", {1, 1, 2, 6});
  const int y = b.Op("Resize", {x, b.Const("s", {4}, {1, 1, 2, 0.5f})});
  b.Output(y);
  const Graph g = Prepared(b.g);
  ASSERT_EQ(g.values[g.outputs[0]].shape, (Shape{1, 1, 4, 3}));
  // Rows: 0, 0, 1, 1 (floor of i / 2); columns: 0, 2, 4 (i / 0.5 is integral).
  const Floats out = Execute(g, {{"x", {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}}})[0];
  EXPECT_EQ(out, (Floats{0, 2, 4, 0, 2, 4, 10, 12, 14, 10, 12, 14}));
}

// Opset 18: axes and keep_aspect_ratio_policy.
TEST(Resize, AxesAndAspectRatioPolicy) {
  for (const auto& [policy, want] :
       std::vector<std::pair<std::string, Shape>>{{"stretch", {1, 2, 8, 9}},
                                                  {"not_larger", {1, 2, 8, 6}},
                                                  {"not_smaller", {1, 2, 12, 9}}}) {
    Builder b(18);
    const int x = b.Input("x", {1, 2, 4, 3});
    const int y =
        b.Op("Resize", {x, -1, -1, b.Ints("sizes", {9, 8}, {2})},
             {{"axes", std::vector<int64_t>{3, -2}}, {"keep_aspect_ratio_policy", policy}});
    b.Output(y);
    const Graph g = Prepared(b.g);
    EXPECT_EQ(g.values[g.outputs[0]].shape, want) << policy;
  }
}

// ---- Pad: the independent implementation ----

int64_t Mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

// y[o] for every output multi-index o, as bytes of `es`: the crops first (ONNX Runtime's order),
// then the padding of what is left.
std::vector<unsigned char> ExpectedPad(const std::string& mode, const Shape& in,
                                       const std::vector<int64_t>& pads, const Shape& out,
                                       const std::vector<unsigned char>& x,
                                       const std::vector<unsigned char>& value, size_t es) {
  const size_t r = in.size();
  std::vector<unsigned char> y;
  std::vector<int64_t> o(r, 0);
  const int64_t total = NumElements(out);
  for (int64_t k = 0; k < total; ++k) {
    int64_t off = 0;
    bool constant = false;
    for (size_t d = 0; d < r; ++d) {
      const int64_t lo = std::max<int64_t>(0, -pads[d]);
      const int64_t n = in[d] - lo - std::max<int64_t>(0, -pads[d + r]);
      int64_t i = o[d] - std::max<int64_t>(0, pads[d]);
      if (i < 0 || i >= n) {
        if (mode == "constant") constant = true;
        if (mode == "edge") i = i < 0 ? 0 : n - 1;
        if (mode == "reflect") i = Mirror(i, n);
        if (mode == "wrap")
          while (i < 0 || i >= n) i += i < 0 ? n : -n;
      }
      off = off * in[d] + lo + i;
    }
    const unsigned char* src = constant ? value.data() : x.data() + off * es;
    y.insert(y.end(), src, src + es);
    for (size_t d = r; d-- > 0;) {
      if (++o[d] < out[d]) break;
      o[d] = 0;
    }
  }
  return y;
}

template <class T>
DType TypeOf() {
  if constexpr (std::is_same_v<T, float>) return DType::kF32;
  if constexpr (std::is_same_v<T, int64_t>) return DType::kI64;
  return DType::kI32;
}

template <class T>
int Typed(Builder& b, const std::string& name, const std::vector<T>& v, Shape shape) {
  auto t = MakeTensor(TypeOf<T>(), std::move(shape));
  std::memcpy(t->mutable_data(), v.data(), v.size() * sizeof(T));
  return b.g.AddConstant(name, t);
}

template <class T>
std::vector<unsigned char> Bytes(const std::vector<T>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Pads constant data (the graph folds, running the kernel) and checks against ExpectedPad.
template <class T>
void CheckPad(const std::string& mode, const Shape& in, const std::vector<int64_t>& pads, T value,
              std::mt19937& rng) {
  const size_t r = in.size();
  std::vector<T> x(static_cast<size_t>(NumElements(in)));
  for (T& v : x) v = static_cast<T>(static_cast<int>(rng() % 2001) - 1000);
  Builder b(13);
  const int xin = Typed<T>(b, "x", x, in);
  const int y = b.Op("Pad",
                     {xin, b.Ints("pads", pads, {static_cast<int64_t>(pads.size())}),
                      Typed<T>(b, "v", {value}, {})},
                     {{"mode", mode}});
  b.Output(y);
  const Graph g = Prepared(b.g);
  const int id = g.FindValue(b.g.values[y].name);
  ASSERT_TRUE(id >= 0 && g.values[id].is_constant());
  Shape out(r);
  for (size_t d = 0; d < r; ++d) out[d] = in[d] + pads[d] + pads[d + r];
  ASSERT_EQ(g.values[id].shape, out) << mode;
  const auto want =
      ExpectedPad(mode, in, pads, out, Bytes(x), Bytes(std::vector<T>{value}), sizeof(T));
  const auto* p = static_cast<const unsigned char*>(g.values[id].constant->data());
  EXPECT_EQ(std::vector<unsigned char>(p, p + want.size()), want)
      << mode << " " << ShapeStr(in) << " pads " << ShapeStr(pads);
}

TEST(Pad, EveryModeAndTypeOnRandomOddShapes) {
  std::mt19937 rng(11);
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"})
    for (int rep = 0; rep < 12; ++rep) {
      const size_t r = 1 + static_cast<size_t>(rep) % 4;
      Shape in(r);
      for (int64_t& d : in) d = 1 + 2 * static_cast<int64_t>(rng() % 3);  // 1, 3, 5
      std::vector<int64_t> pads(2 * r);
      for (size_t i = 0; i < 2 * r; ++i) {
        const int64_t dim = in[i % r];
        // Pads past the axis length (reflect folds more than once) and crops down to empty.
        pads[i] = static_cast<int64_t>(rng() % static_cast<uint32_t>(2 * dim + 2)) - dim / 2;
      }
      // A crop of both ends removes at most the axis; only 'constant' pads an axis cropped empty.
      for (size_t d = 0; d < r; ++d) {
        const int64_t kept =
            in[d] + std::min<int64_t>(pads[d], 0) + std::min<int64_t>(pads[d + r], 0);
        if (kept < 0 || (kept == 0 && mode != "constant")) pads[d] = pads[d + r] = 0;
      }
      CheckPad<float>(mode, in, pads, 2.5f, rng);
      CheckPad<int64_t>(mode, in, pads, int64_t{-7}, rng);
      CheckPad<int32_t>(mode, in, pads, int32_t{9}, rng);
    }
}

// Opset 18's axes input; a constant_value fed at run time; opset 2's attribute form.
TEST(Pad, AxesRuntimeValueAndAttributeForm) {
  {
    Builder b(18);
    const int x = b.Input("x", {2, 3, 1});
    const int v = b.Input("v", {});
    const int y =
        b.Op("Pad", {x, b.Ints("pads", {1, -1, 2, 0}, {4}), v, b.Ints("axes", {-1, 1}, {2})});
    b.Output(y);
    const Graph g = Prepared(b.g);
    ASSERT_EQ(g.values[g.outputs[0]].shape, (Shape{2, 2, 4}));
    // Axis 1 loses its first row; axis 2 gets 1 value before and 2 after.
    EXPECT_EQ(Execute(g, {{"x", {1, 2, 3, 4, 5, 6}}, {"v", {-9}}})[0],
              (Floats{-9, 2, -9, -9, -9, 3, -9, -9, -9, 5, -9, -9, -9, 6, -9, -9}));
  }
  {
    Builder b(2);
    const int x = b.Input("x", {2, 2});
    const int y = b.Op(
        "Pad", {x}, {{"pads", std::vector<int64_t>{0, 1, 1, 0}}, {"mode", std::string("reflect")}});
    b.Output(y);
    const Graph g = Prepared(b.g);
    ASSERT_EQ(g.values[g.outputs[0]].shape, (Shape{3, 3}));
    EXPECT_EQ(Execute(g, {{"x", {1, 2, 3, 4}}})[0], (Floats{2, 1, 2, 4, 3, 4, 2, 1, 2}));
  }
}

// ---- hostile operands: one error naming the node ----

void ExpectResizeError(const Shape& in, const std::vector<float>& scales,
                       const std::vector<int64_t>& sizes, std::map<std::string, AttrValue> attrs,
                       ErrorCode code, const std::string& needle) {
  Builder b(13);
  const int x = b.Input("x", in);
  std::vector<int> inputs = {
      x, -1, scales.empty() ? -1 : b.Const("s", {static_cast<int64_t>(scales.size())}, scales)};
  if (!sizes.empty()) inputs.push_back(b.Ints("z", sizes, {static_cast<int64_t>(sizes.size())}));
  b.Output(b.Op("Resize", inputs, std::move(attrs)));
  SCOPED_TRACE(needle);
  ExpectError([&] { Prepared(b.g); }, code, {"Resize_0", needle});
}

TEST(Resize, HostileOperands) {
  const Shape in = {1, 1, 4, 4};
  const auto kInvalid = ErrorCode::kInvalidModel, kUnsup = ErrorCode::kUnsupported;
  for (float s : {0.0f, -2.0f, kNaN, kInf, -kInf})
    ExpectResizeError(in, {1, 1, s, 2}, {}, {}, kInvalid, "must be positive and finite");
  ExpectResizeError(in, {1, 1, 1e30f, 2}, {}, {}, kInvalid, "out of range");
  ExpectResizeError(in, {1, 1, 2}, {}, {}, kInvalid, "scales has 3 values");
  // Each axis within the limit, the tensor not: 2^16 x 2^16 = 2^32 elements.
  ExpectResizeError(in, {1, 1, 16384, 16384}, {}, {}, kInvalid, "output 0");
  ExpectResizeError(in, {}, {1, 1, -1, 4}, {}, kInvalid, "out of range");
  ExpectResizeError(in, {}, {1, 1, int64_t{1} << 40, 4}, {}, kInvalid, "out of range");
  ExpectResizeError(in, {}, {1, 1, 65536, 65536}, {}, kInvalid, "output 0");
  ExpectResizeError(in, {1, 1, 2, 2}, {1, 1, 8, 8}, {}, kInvalid, "exactly one");
  ExpectResizeError(in, {}, {}, {}, kInvalid, "exactly one");
  ExpectResizeError({0, 1, 4, 4}, {}, {2, 1, 4, 4}, {}, kInvalid, "empty");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"mode", std::string("cubic")}}, kUnsup, "cubic");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"mode", std::string("\x1b[2Jx")}}, kInvalid, "\\x1b");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"antialias", int64_t{1}}}, kUnsup, "antialias");
  ExpectResizeError(in, {1, 1, 2, 2}, {},
                    {{"mode", std::string("linear")},
                     {"coordinate_transformation_mode", std::string("tf_half_pixel_for_nn")}},
                    kUnsup, "tf_half_pixel_for_nn");
  ExpectResizeError(in, {1, 2, 2, 2}, {}, {{"mode", std::string("linear")}}, kUnsup,
                    "linear resize of axis 1");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"coordinate_transformation_mode", std::string("x")}},
                    kInvalid, "coordinate_transformation_mode");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"nearest_mode", std::string("x")}}, kInvalid,
                    "nearest_mode");
  ExpectResizeError(in, {1, 1, 2, 2}, {}, {{"axes", std::vector<int64_t>{0, 0, 1, 2}}}, kInvalid,
                    "repeated");
  {  // opset 10 has no roi/sizes inputs
    Builder b(10);
    const int x = b.Input("x", in);
    b.Output(b.Op("Resize", {x, b.Const("r", {0}, {}), b.Const("s", {4}, {1, 1, 2, 2})}));
    ExpectError([&] { Prepared(b.g); }, kInvalid, {"Resize_0", "takes 2 inputs"});
  }
  {  // scales computed at run time
    Builder b(13);
    const int x = b.Input("x", in);
    const int s = b.Input("s", {4});
    b.Output(b.Op("Resize", {x, -1, s}));
    ExpectError([&] { Prepared(b.g); }, kUnsup, {"Resize_0", "must be a constant"});
  }
}

void ExpectPadError(const Shape& in, const std::vector<int64_t>& pads, const std::string& mode,
                    ErrorCode code, const std::string& needle, int value_type_mismatch = 0) {
  Builder b(13);
  const int x = b.Input("x", in);
  std::vector<int> inputs = {x, b.Ints("p", pads, {static_cast<int64_t>(pads.size())})};
  if (value_type_mismatch) inputs.push_back(b.Ints("v", {1}, {}));
  b.Output(b.Op("Pad", inputs, {{"mode", mode}}));
  SCOPED_TRACE(needle);
  ExpectError([&] { Prepared(b.g); }, code, {"Pad_0", needle});
}

TEST(Pad, HostileOperands) {
  const auto kInvalid = ErrorCode::kInvalidModel;
  const int64_t kMin = std::numeric_limits<int64_t>::min(),
                kMax = std::numeric_limits<int64_t>::max();
  ExpectPadError({2, 3}, {0, 1, 0}, "constant", kInvalid, "pads has 3 values");
  ExpectPadError({2, 3}, {0, kMax, 0, 0}, "constant", kInvalid, "out of range");
  ExpectPadError({2, 3}, {0, kMin, 0, 0}, "constant", kInvalid, "out of range");
  ExpectPadError({2, 3}, {0, int64_t{1} << 31, 0, int64_t{1} << 31}, "constant", kInvalid,
                 "output 0");
  ExpectPadError({2, 3}, {0, -4, 0, 0}, "constant", kInvalid, "out of range");
  ExpectPadError({2, 3}, {0, -2, 0, -2}, "constant", kInvalid, "crop more");
  ExpectPadError({2, 3}, {0, -3, 0, 1}, "edge", kInvalid, "empty after cropping");
  ExpectPadError({2, 0}, {0, 1, 0, 0}, "reflect", kInvalid, "empty");
  ExpectPadError({2, 0}, {0, 1, 0, 0}, "wrap", kInvalid, "empty");
  ExpectPadError({2, 3}, {0, 1, 0, 0}, "mirror", kInvalid, "unknown mode");
  ExpectPadError({2, 3}, {0, 1, 0, 0}, "constant", kInvalid, "constant_value has type", 1);
  {  // pads computed at run time
    Builder b(13);
    const int x = b.Input("x", {2, 3});
    const int p = b.Input("p", {4});
    b.g.values[p].dtype = DType::kI64;
    b.Output(b.Op("Pad", {x, p}));
    ExpectError([&] { Prepared(b.g); }, ErrorCode::kUnsupported, {"Pad_0", "must be a constant"});
  }
  {  // opset 2: a fractional value for an integer tensor
    Builder b(2);
    auto t = MakeTensor(DType::kI64, {2});
    std::memset(t->mutable_data(), 0, 16);
    const int x = b.g.AddConstant("x", t);
    b.Output(b.Op("Pad", {x}, {{"pads", std::vector<int64_t>{1, 1}}, {"value", 0.5f}}));
    ExpectError([&] { Prepared(b.g); }, kInvalid, {"Pad_0", "does not fit"});
  }
}

// ---- effi.Resize (NHWC) ----

// One graph, two outputs from the same NHWC input x: Transpose -> ONNX Resize -> Transpose (the
// layout before the channels_last pass) and effi.Resize with the attributes NhwcResizeAttrs gives
// for that Resize. Both run the fast kernels, whose linear arithmetic is the reference's (double,
// same order), so the outputs must be bitwise equal, not merely close. Returns false when
// NhwcResizeAttrs refuses the node.
bool CheckEffiResizeAgainstOnnx(const ResizeCase& c, int64_t opset = 13) {
  const Shape nhwc = {c.in[0], c.in[2], c.in[3], c.in[1]};
  Builder b(opset);
  const int x = b.Input("x", nhwc);
  const int t = b.Op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 3, 1, 2}}});
  std::vector<int> inputs = {t};
  if (opset > 10)
    inputs.push_back(c.roi.empty() ? -1
                                   : b.Const("roi", {static_cast<int64_t>(c.roi.size())}, c.roi));
  inputs.push_back(
      c.scales.empty() ? -1 : b.Const("scales", {static_cast<int64_t>(c.scales.size())}, c.scales));
  if (!c.sizes.empty())
    inputs.push_back(b.Ints("sizes", c.sizes, {static_cast<int64_t>(c.sizes.size())}));
  std::map<std::string, AttrValue> attrs = {{"mode", c.mode}};
  if (opset > 10) {
    attrs["coordinate_transformation_mode"] = c.coord;
    attrs["nearest_mode"] = c.nearest;
  }
  const int r = b.Op("Resize", inputs, attrs);
  b.Output(b.Op("Transpose", {r}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}}));
  Graph g = Prepared(b.g);
  const Node* resize = FindNode(g, "Resize");
  EXPECT_NE(resize, nullptr);
  std::map<std::string, AttrValue> effi_attrs;
  if (!ops::NhwcResizeAttrs(*resize, g, &effi_attrs)) return false;
  Node n;
  n.name = "EffiResize";
  n.domain = kEffiDomain;
  n.op = "Resize";
  n.inputs = {x};
  n.outputs = {g.AddValue("effi_out")};
  n.attrs = effi_attrs;
  g.AddNode(n);
  g.outputs.push_back(n.outputs[0]);
  g = Prepared(g);
  EXPECT_EQ(Count(g, "effi.Resize"), 1);
  const auto out = Execute(g, RandomInputs(g));
  EXPECT_FALSE(out[0].empty());
  EXPECT_EQ(g.values[g.outputs[0]].shape, g.values[g.outputs[1]].shape);
  EXPECT_EQ(out[0].size(), out[1].size());
  int bad = 0;
  for (size_t i = 0; i < std::min(out[0].size(), out[1].size()); ++i)
    if (std::memcmp(&out[0][i], &out[1][i], sizeof(float)) != 0 && ++bad <= 3)
      ADD_FAILURE() << "element " << i << ": effi.Resize " << out[1][i] << ", ONNX " << out[0][i];
  EXPECT_EQ(bad, 0);
  return true;
}

TEST(EffiResize, EqualsTransposedOnnxResize) {
  std::mt19937 rng(17);
  const std::vector<std::string> coords = {"half_pixel",           "pytorch_half_pixel",
                                           "align_corners",        "asymmetric",
                                           "half_pixel_symmetric", "tf_half_pixel_for_nn"};
  // Ceil-ward nearest roundings shift tf_half_pixel_for_nn's same-length N and C axes (refused
  // below), so this loop pairs that mode with the floor-ward ones.
  const std::vector<std::string> nearests = {"round_prefer_floor", "floor", "round_prefer_ceil",
                                             "ceil"};
  int cases = 0;
  for (const std::string mode : {"nearest", "linear"})
    for (const std::string& coord : coords)
      for (int rep = 0; rep < 4; ++rep) {
        if (mode == "linear" && coord == "tf_half_pixel_for_nn") continue;
        ResizeCase c;
        c.mode = mode;
        c.coord = coord;
        c.nearest = nearests[static_cast<size_t>(rep) % (coord == "tf_half_pixel_for_nn" ? 2 : 4)];
        c.in = {1 + rep % 2, 1 + static_cast<int64_t>(rng() % 19),
                1 + static_cast<int64_t>(rng() % 7), 1 + static_cast<int64_t>(rng() % 8)};
        RandomSpatialTarget(rep, rng, &c);
        SCOPED_TRACE(mode + " " + coord + " " + c.nearest + " in " + ShapeStr(c.in));
        EXPECT_TRUE(CheckEffiResizeAgainstOnnx(c));
        ++cases;
      }
  EXPECT_EQ(cases, (2 * 6 - 1) * 4);
  // EfficientFormerV2's upsample: bilinear 2x half_pixel from an opset-11 export's sizes.
  ResizeCase v2;
  v2.mode = "linear";
  v2.in = {1, 33, 7, 7};
  v2.sizes = {1, 33, 14, 14};
  EXPECT_TRUE(CheckEffiResizeAgainstOnnx(v2, 11));
  // Opset 10 (X, scales): asymmetric linear converts.
  ResizeCase op10;
  op10.mode = "linear";
  op10.in = {1, 5, 3, 4};
  op10.scales = {1, 1, 2, 1.5f};
  EXPECT_TRUE(CheckEffiResizeAgainstOnnx(op10, 10));
}

// An axis over kernels::kMaxResizeTable outputs builds no tap tables: both ops run their
// reference paths (effi.Resize's: each (n, c) plane gathered, resized, scattered back).
TEST(EffiResize, OversizedAxisRunsOnTheReference) {
  ResizeCase c;
  c.mode = "linear";
  c.in = {1, 1, 3, 2};
  c.sizes = {1, 1, (int64_t{1} << 20) + 3, 1};
  EXPECT_TRUE(CheckEffiResizeAgainstOnnx(c));
}

// NhwcResizeAttrs says no where effi.Resize cannot compute what the ONNX node does.
TEST(EffiResize, AttrsRefusedWhereNotEquivalent) {
  ResizeCase c;
  c.in = {1, 3, 4, 5};
  c.scales = {1, 2, 2, 2};  // C resized
  EXPECT_FALSE(CheckEffiResizeAgainstOnnx(c));
  c.scales = {1, 1, 2, 2};
  c.coord = "tf_half_pixel_for_nn";  // with ceil: the same-length C axis reads channel k + 1
  c.nearest = "ceil";
  EXPECT_FALSE(CheckEffiResizeAgainstOnnx(c));
  c.nearest = "floor";
  EXPECT_TRUE(CheckEffiResizeAgainstOnnx(c));
  c.coord = "tf_crop_and_resize";
  c.roi = {0, 0, 0.1f, 0.2f, 1, 1, 0.9f, 1};
  EXPECT_FALSE(CheckEffiResizeAgainstOnnx(c));
  c = ResizeCase();
  c.in = {1, 3, 4, 5};
  c.scales = {1, 1, 2, 0.1f};  // an empty output: effi.Resize refuses zero sizes
  EXPECT_FALSE(CheckEffiResizeAgainstOnnx(c));
  c.scales = {1, 1, 2, 2};  // opset 10's nearest rule has no nearest_mode name
  EXPECT_FALSE(CheckEffiResizeAgainstOnnx(c, 10));
  {  // a keep_aspect_ratio_policy scale is no float scale consistent with the sizes
    Builder b(18);
    const int x = b.Input("x", {1, 2, 4, 3});
    b.Output(b.Op("Resize", {x, -1, -1, b.Ints("sizes", {9, 8}, {2})},
                  {{"axes", std::vector<int64_t>{2, 3}},
                   {"keep_aspect_ratio_policy", std::string("not_larger")}}));
    const Graph g = Prepared(b.g);
    std::map<std::string, AttrValue> attrs;
    EXPECT_FALSE(ops::NhwcResizeAttrs(*FindNode(g, "Resize"), g, &attrs));
    EXPECT_TRUE(attrs.empty());
  }
  {  // not a 4-D tensor, not a Resize
    Builder b(13);
    const int x = b.Input("x", {2, 4, 5});
    b.Output(b.Op("Resize", {x, -1, b.Const("s", {3}, {1, 2, 2})}));
    const Graph g = Prepared(b.g);
    std::map<std::string, AttrValue> attrs;
    EXPECT_FALSE(ops::NhwcResizeAttrs(*FindNode(g, "Resize"), g, &attrs));
    Node relu;
    relu.op = "Relu";
    EXPECT_FALSE(ops::NhwcResizeAttrs(relu, g, &attrs));
  }
}

void ExpectEffiResizeError(const Shape& in, std::map<std::string, AttrValue> attrs, ErrorCode code,
                           const std::string& needle) {
  Builder b(13);
  const int x = b.Input("x", in);
  b.Output(b.Op("Resize", {x}, std::move(attrs), kEffiDomain));
  SCOPED_TRACE(needle);
  ExpectError([&] { Prepared(b.g); }, code, {"Resize_0", needle});
}

TEST(EffiResize, HostileAttributes) {
  const Shape in = {1, 4, 4, 3};
  const auto kInvalid = ErrorCode::kInvalidModel, kUnsup = ErrorCode::kUnsupported;
  using Ints = std::vector<int64_t>;
  using Fl = std::vector<float>;
  ExpectEffiResizeError(in, {}, kInvalid, "sizes must hold 2 values");
  ExpectEffiResizeError(in, {{"sizes", Ints{8}}}, kInvalid, "sizes must hold 2 values");
  ExpectEffiResizeError(in, {{"sizes", Ints{1, 8, 8, 3}}}, kInvalid, "sizes must hold 2 values");
  for (int64_t bad :
       {int64_t{0}, int64_t{-1}, int64_t{1} << 40, std::numeric_limits<int64_t>::min()})
    ExpectEffiResizeError(in, {{"sizes", Ints{8, bad}}}, kInvalid, "out of range");
  // Each axis within the limit, the tensor not: 2^16 x 2^16 pixels.
  ExpectEffiResizeError(in, {{"sizes", Ints{65536, 65536}}}, kInvalid, "output 0");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"scales", Fl{2}}}, kInvalid,
                        "scales must hold 2 values");
  for (float s : {0.0f, -2.0f, kNaN, kInf, -kInf})
    ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"scales", Fl{2, s}}}, kInvalid,
                          "must be positive and finite");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"scales", Fl{2, 3}}}, kInvalid,
                        "sizes says 8");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"scales", Fl{2, 1e-30f}}}, kInvalid,
                        "sizes says 8");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"scales", Fl{2, 3e38f}}}, kInvalid,
                        "sizes says 8");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"mode", std::string("cubic")}}, kUnsup,
                        "cubic");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"mode", std::string("\x1b[2Jx")}}, kInvalid,
                        "\\x1b");
  ExpectEffiResizeError(in,
                        {{"sizes", Ints{8, 8}},
                         {"coordinate_transformation_mode", std::string("tf_crop_and_resize")}},
                        kUnsup, "tf_crop_and_resize");
  ExpectEffiResizeError(in,
                        {{"sizes", Ints{8, 8}},
                         {"mode", std::string("linear")},
                         {"coordinate_transformation_mode", std::string("tf_half_pixel_for_nn")}},
                        kUnsup, "tf_half_pixel_for_nn");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"nearest_mode", std::string("simple")}},
                        kInvalid, "nearest_mode");
  ExpectEffiResizeError(in, {{"sizes", Ints{8, 8}}, {"axes", Ints{1, 2}}}, kUnsup,
                        "unsupported attribute 'axes'");
  ExpectEffiResizeError(in, {{"sizes", std::string("8x8")}}, kInvalid, "sizes");
  ExpectEffiResizeError({4, 4, 3}, {{"sizes", Ints{8, 8}}}, kInvalid, "needs X [N,H,W,C]");
  ExpectEffiResizeError({1, 0, 4, 3}, {{"sizes", Ints{8, 8}}}, kInvalid, "empty");
  {  // within every shape limit, but a 4 GiB output: refused by the memory plan, before any
     // kernel (and its tap tables) exists
    Builder b(13);
    const int x = b.Input("x", {1, 4, 4, 1});
    b.Output(b.Op("Resize", {x}, {{"sizes", Ints{int64_t{1} << 30, 1}}}, kEffiDomain));
    const Graph g = Prepared(b.g);
    ExpectError([&] { runtime::Plan::Build(g); }, kInvalid,
                {"running the model needs", "Resize_0"});
  }
}

}  // namespace
}  // namespace effi::testing
