// Fast Resize kernels (kernels/resize.h) against ref::resize_f32 on every compiled target: NCHW
// and NHWC, nearest (every rounding) and linear, every coordinate mode the fast kernels take,
// upsampling and downsampling, 1x1 planes, odd channel counts (vector tails), scales and sizes
// geometry, row splits, and inf / NaN inputs. The kernels compute linear taps in double in the
// reference's order (W first, then H, rounded to float once), so the results must be EQUAL to
// the reference bit for bit (NaN matching NaN), not merely close.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/ref/ref_kernels.h"
#include "kernels/resize.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

namespace ref = effi::kernels::ref;
using testing_util::ForEachTarget;
using testing_util::Random;

// Bitwise equality, NaN equal to NaN.
void ExpectSame(const std::vector<float>& got, const std::vector<float>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const bool same = std::isnan(want[i]) ? std::isnan(got[i])
                                          : std::memcmp(&got[i], &want[i], sizeof(float)) == 0;
    if (!same && ++bad <= 5)
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << " want " << want[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

// An axis of length `in` resized by scale s (ONNX `scales`: out = floor(in * s), length_resized
// = in * s) or to `out` (ONNX `sizes`: scale out / in, length_resized = out).
ref::ResizeAxis ScaledAxis(int64_t in, float s) {
  ref::ResizeAxis a;
  a.in = in;
  a.scale = s;
  a.resized_length = static_cast<double>(in) * a.scale;
  a.out = static_cast<int64_t>(std::floor(a.resized_length));
  return a;
}
ref::ResizeAxis SizedAxis(int64_t in, int64_t out) {
  ref::ResizeAxis a;
  a.in = in;
  a.out = out;
  a.scale = static_cast<double>(out) / static_cast<double>(in);
  a.resized_length = static_cast<double>(out);
  return a;
}
ref::ResizeAxis Same(int64_t n) { return SizedAxis(n, n); }

struct Case {
  ref::ResizeParams p;  // axes H, W only
  int64_t n = 1, c = 1;
  std::string name;
};

// ref::resize_f32 of each [h][w] plane of x [n][c][h][w] (the kernels' semantics: N and C
// untouched, whatever a coordinate mode would do to a same-length axis).
std::vector<float> RefNchw(const Case& k, const std::vector<float>& x) {
  const int64_t in = k.p.axes[0].in * k.p.axes[1].in, out = k.p.axes[0].out * k.p.axes[1].out;
  std::vector<float> y(static_cast<size_t>(k.n * k.c * out));
  for (int64_t p = 0; p < k.n * k.c; ++p)
    ref::resize_f32(k.p, x.data() + p * in, y.data() + p * out);
  return y;
}

// [n][a][b][c] <-> [n][c][a][b]
std::vector<float> ToNhwc(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> y(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < h * w; ++i) y[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
  return y;
}

// Runs the NCHW kernel over its rows in `parts` pieces (task boundaries inside planes).
std::vector<float> FastNchw(const ResizePlan& plan, int64_t planes, const std::vector<float>& x,
                            int parts) {
  std::vector<float> y(static_cast<size_t>(planes * plan.h.out * plan.w.out), -7.0f);
  std::vector<double> scratch(ResizeNchwScratchBytes(plan) / sizeof(double) + 8);
  const int64_t rows = planes * plan.h.out;
  for (int i = 0; i < parts; ++i)
    ResizeNchwF32(plan, x.data(), y.data(), rows * i / parts, rows * (i + 1) / parts,
                  scratch.data());
  return y;
}

std::vector<float> FastNhwc(const ResizePlan& plan, int64_t n, int64_t c,
                            const std::vector<float>& x, int parts) {
  std::vector<float> y(static_cast<size_t>(n * plan.h.out * plan.w.out * c), -7.0f);
  const int64_t rows = n * plan.h.out;
  for (int i = 0; i < parts; ++i)
    ResizeNhwcF32(plan, c, x.data(), y.data(), rows * i / parts, rows * (i + 1) / parts);
  return y;
}

// Checks one case on every target in both layouts; x has n * c * h * w values.
void CheckCase(const Case& k, const std::vector<float>& x) {
  const int64_t h = k.p.axes[0].in, w = k.p.axes[1].in;
  const int64_t oh = k.p.axes[0].out, ow = k.p.axes[1].out;
  const std::vector<float> want = RefNchw(k, x);
  const std::vector<float> want_nhwc = ToNhwc(want, k.n, k.c, oh, ow);
  const std::vector<float> x_nhwc = ToNhwc(x, k.n, k.c, h, w);
  const std::optional<ResizePlan> plan = PlanResize(k.p, k.p.axes[0], k.p.axes[1]);
  ASSERT_TRUE(plan.has_value()) << k.name;
  ForEachTarget([&](const std::string& target) {
    for (int parts : {1, 3}) {
      const std::string what = k.name + " parts " + std::to_string(parts) + " " + target;
      ExpectSame(FastNchw(*plan, k.n * k.c, x, parts), want, "NCHW " + what);
      ExpectSame(FastNhwc(*plan, k.n, k.c, x_nhwc, parts), want_nhwc, "NHWC " + what);
    }
  });
}

const char* kCoordNames[] = {"half_pixel",    "half_pixel_symmetric", "pytorch_half_pixel",
                             "align_corners", "asymmetric",           "tf_half_pixel_for_nn"};
const ref::ResizeCoord kCoords[] = {
    ref::ResizeCoord::kHalfPixel,        ref::ResizeCoord::kHalfPixelSymmetric,
    ref::ResizeCoord::kPytorchHalfPixel, ref::ResizeCoord::kAlignCorners,
    ref::ResizeCoord::kAsymmetric,       ref::ResizeCoord::kTfHalfPixelForNn};
const ref::ResizeNearest kNearests[] = {
    ref::ResizeNearest::kRoundPreferFloor, ref::ResizeNearest::kRoundPreferCeil,
    ref::ResizeNearest::kFloor, ref::ResizeNearest::kCeil, ref::ResizeNearest::kSimple};

TEST(OptResize, EqualsReferenceOnRandomShapes) {
  std::mt19937 rng(1313);
  const float scales[] = {2.0f, 0.5f, 1.5f, 3.0f, 0.6f, 1.0f, 0.34f, 2.5f, 1.7f};
  int cases = 0;
  for (int linear = 0; linear < 2; ++linear)
    for (size_t ci = 0; ci < std::size(kCoords); ++ci)
      for (int rep = 0; rep < 6; ++rep) {
        if (linear && kCoords[ci] == ref::ResizeCoord::kTfHalfPixelForNn) continue;
        Case k;
        k.p.linear = linear;
        k.p.coord = kCoords[ci];
        k.p.nearest = kNearests[static_cast<size_t>(rep) % std::size(kNearests)];
        // Odd channel counts around the vector widths (4, 8, 16 floats), 1x1 and 1xW planes.
        k.n = 1 + rep % 2;
        k.c = 1 + static_cast<int64_t>(rng() % 19);
        const int64_t h = rep == 0 ? 1 : 1 + static_cast<int64_t>(rng() % 9);
        const int64_t w = rep == 0 ? 1 : 1 + static_cast<int64_t>(rng() % 11);
        for (int a = 0; a < 2; ++a) {
          const int64_t in = a == 0 ? h : w;
          if (rep % 2 == 0) {
            float s = scales[rng() % std::size(scales)];
            if (std::floor(static_cast<double>(in) * s) < 1) s = 1.0f;
            k.p.axes.push_back(ScaledAxis(in, s));
          } else {
            k.p.axes.push_back(SizedAxis(in, 1 + static_cast<int64_t>(rng() % 17)));
          }
        }
        k.name = std::string(linear ? "linear " : "nearest ") + kCoordNames[ci] + " rep " +
                 std::to_string(rep) + " n " + std::to_string(k.n) + " c " + std::to_string(k.c) +
                 " " + std::to_string(h) + "x" + std::to_string(w) + " -> " +
                 std::to_string(k.p.axes[0].out) + "x" + std::to_string(k.p.axes[1].out);
        SCOPED_TRACE(k.name);
        CheckCase(k, Random(static_cast<size_t>(k.n * k.c * h * w), rng));
        ++cases;
      }
  EXPECT_EQ(cases, (2 * 6 - 1) * 6);
}

// EfficientFormerV2's case (bilinear 2x, half_pixel, 7x7 -> 14x14) with channel counts on both
// sides of the vector widths, and its inverse.
TEST(OptResize, BilinearTwiceAndHalf) {
  std::mt19937 rng(7);
  for (int64_t c : {1, 7, 8, 17, 33})
    for (bool up : {true, false}) {
      Case k;
      k.p.linear = true;
      k.n = 1;
      k.c = c;
      k.p.axes = up ? std::vector<ref::ResizeAxis>{SizedAxis(7, 14), SizedAxis(7, 14)}
                    : std::vector<ref::ResizeAxis>{SizedAxis(14, 7), SizedAxis(14, 7)};
      k.name = (up ? "up c " : "down c ") + std::to_string(c);
      SCOPED_TRACE(k.name);
      CheckCase(k, Random(static_cast<size_t>(c * 196), rng));
    }
}

// inf and NaN inputs: where the reference does not interpolate along an axis (weight 0) it never
// reads the other neighbour, so an inf there must not turn the output into NaN (0 * inf).
TEST(OptResize, NonFiniteInputs) {
  std::mt19937 rng(11);
  const float kInf = std::numeric_limits<float>::infinity();
  for (bool linear : {true, false})
    for (const ref::ResizeAxis& ax : {SizedAxis(5, 10), SizedAxis(5, 5), ScaledAxis(6, 0.5f)}) {
      Case k;
      k.p.linear = linear;
      k.p.coord = ref::ResizeCoord::kHalfPixel;
      k.n = 1;
      k.c = 9;
      k.p.axes = {ax, SizedAxis(4, 7)};
      std::vector<float> x = Random(static_cast<size_t>(k.c * ax.in * 4), rng);
      for (size_t i = 0; i < x.size(); i += 7) x[i] = i % 2 ? kInf : -kInf;
      x[3] = std::numeric_limits<float>::quiet_NaN();
      k.name = std::string(linear ? "linear" : "nearest") + " h " + std::to_string(ax.in) + " -> " +
               std::to_string(ax.out);
      SCOPED_TRACE(k.name);
      CheckCase(k, x);
    }
}

TEST(OptResize, IdentityAxesAndUnsupportedModes) {
  ref::ResizeParams p;
  p.coord = ref::ResizeCoord::kHalfPixel;
  EXPECT_TRUE(ResizeAxisIsIdentity(p, Same(5)));
  EXPECT_TRUE(ResizeAxisIsIdentity(p, Same(1)));
  EXPECT_FALSE(ResizeAxisIsIdentity(p, SizedAxis(5, 6)));
  EXPECT_FALSE(ResizeAxisIsIdentity(p, ScaledAxis(5, 1.1f)));  // 5 outputs, but shifted taps
  // tf_half_pixel_for_nn reads x + 0.5: ceil-ward rounding shifts a same-length axis by one.
  p.coord = ref::ResizeCoord::kTfHalfPixelForNn;
  p.nearest = ref::ResizeNearest::kRoundPreferFloor;
  EXPECT_TRUE(ResizeAxisIsIdentity(p, Same(5)));
  p.nearest = ref::ResizeNearest::kCeil;
  EXPECT_FALSE(ResizeAxisIsIdentity(p, Same(5)));
  EXPECT_TRUE(ResizeAxisIsIdentity(p, Same(1)));
  // tf_crop_and_resize (roi, extrapolation) stays on the reference, as do empty axes.
  p.coord = ref::ResizeCoord::kTfCropAndResize;
  EXPECT_FALSE(PlanResize(p, SizedAxis(4, 8), SizedAxis(4, 8)).has_value());
  EXPECT_FALSE(ResizeAxisIsIdentity(p, Same(5)));
  p.coord = ref::ResizeCoord::kHalfPixel;
  EXPECT_FALSE(PlanResize(p, SizedAxis(4, 0), SizedAxis(4, 8)).has_value());
  EXPECT_FALSE(PlanResize(p, SizedAxis(4, kMaxResizeTable + 1), SizedAxis(4, 8)).has_value());
  EXPECT_TRUE(PlanResize(p, SizedAxis(4, 8), SizedAxis(4, 8)).has_value());
}

}  // namespace
}  // namespace effi::kernels
