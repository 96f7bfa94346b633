// The NHWC depthwise convolution against ref::conv2d_nhwc_f32 + ref::epilogue_f32 on every
// compiled target: channel tails (c % lanes = 1, 3, 4, ...), odd and tiny images (smaller than the
// kernel), strides 1-3, asymmetric pads, pads wider than the kernel, dilation 2, non-3x3 kernels,
// every activation with and without bias and residual, row ranges split at odd points, and NaN/inf
// inputs propagating as in the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/dwconv.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ForEachTarget;
using testing_util::Random;

struct Case {
  int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

ref::Conv2dParams Params(const Case& cs) {
  ref::Conv2dParams p{cs.n,  cs.c,  cs.h,  cs.w,  cs.c,  0,     0,     cs.kh,
                      cs.kw, cs.sh, cs.sw, cs.pt, cs.pl, cs.dh, cs.dw, cs.c};
  p.h_out = (cs.h + cs.pt + cs.pb - cs.dh * (cs.kh - 1) - 1) / cs.sh + 1;
  p.w_out = (cs.w + cs.pl + cs.pr - cs.dw * (cs.kw - 1) - 1) / cs.sw + 1;
  return p;
}

size_t Count(int64_t v) { return static_cast<size_t>(v); }

std::vector<float> Abs(std::vector<float> v) {
  for (float& e : v) e = std::fabs(e);
  return v;
}

// Per element: NaN where the reference has NaN, the same infinity, else within the float
// summation error bound. The kernel sums the taps in float (FMA, row-major tap order, from zero),
// the reference in double rounded once, so the difference is at most ~taps * 2^-24 * sum|w x|
// (|a| below: the reference run on |x|, |w|, |bias|, plus |residual|); x1.2 covers GELU's slope
// (<= 1.13), +2 taps the bias and residual adds, and 2e-7 * max(1, |a|) the vectorised GELU's
// approximation error (1.6e-7 * max(1, |x|), kernels/hwy/vec_math-inl.h). A dropped, repeated
// or misplaced tap moves an output by ~|w x| ~ 0.5, far outside this bound.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<float>& absum, int64_t taps, const std::string& what) {
  testing_util::ExpectWithin(
      got, want,
      [&](size_t i) {
        const double a = absum[i];
        return 1.2 * static_cast<double>(taps + 2) * std::ldexp(a, -24) + 2e-7 * std::max(1.0, a);
      },
      what);
}

// Runs every activation x bias x residual combination of one geometry on the active target,
// computing the rows in three ranges split at odd points, and checks against the reference.
void CheckCase(const Case& cs, std::vector<float> x, std::mt19937& rng) {
  const ref::Conv2dParams p = Params(cs);
  ASSERT_TRUE(DepthwiseConvSupported(p));
  const size_t out_n = Count(p.n * p.h_out * p.w_out * p.c_out);
  const int64_t taps = p.kh * p.kw;
  const auto w = Random(Count(p.c_out * taps), rng, 0.5f);  // OHWI with I = 1
  const auto bias = Random(Count(p.c_out), rng);
  auto res = Random(out_n, rng);
  if (out_n > 7) res[7] = std::numeric_limits<float>::quiet_NaN();  // a NaN residual propagates
  const auto packed = PackDepthwiseWeights(p, w.data());
  ASSERT_EQ(packed.size(), Count(taps * DepthwisePackedStride(p.c_out)));
  // |sum| bound for the tolerance: the reference on |x|, |w| (+ |bias|, |residual| below).
  std::vector<float> absum(out_n);
  ref::conv2d_nhwc_f32(p, Abs(x).data(), Abs(w).data(), nullptr, absum.data());
  const int64_t rows = p.n * p.h_out;
  // Thread-like splits: [0, 1), [1, s), [s, rows) with s odd and inside the second image when
  // there are two.
  const int64_t s1 = std::min<int64_t>(1, rows), s2 = std::max(s1, std::min(rows, rows / 2 + 1));
  for (int act = 0; act < 3; ++act) {
    for (const bool with_bias : {false, true}) {
      for (const bool with_res : {false, true}) {
        const auto a = static_cast<ref::Activation>(act);
        const float* b = with_bias ? bias.data() : nullptr;
        const float* r = with_res ? res.data() : nullptr;
        std::vector<float> want(out_n);
        ref::conv2d_nhwc_f32(p, x.data(), w.data(), nullptr, want.data());
        ref::epilogue_f32(p.n * p.h_out * p.w_out, p.c_out, b, a, r, want.data());
        std::vector<float> bound = absum;
        for (size_t i = 0; i < out_n; ++i)
          bound[i] += (b ? std::fabs(b[i % Count(p.c_out)]) : 0.0f) + (r ? std::fabs(r[i]) : 0.0f);
        // Guard floats after the output catch writes past its end.
        constexpr float kGuard = 12345.0f;
        std::vector<float> got(out_n + 64, kGuard);
        for (const auto& [r0, r1] : {std::pair{int64_t{0}, s1}, {s1, s2}, {s2, rows}})
          DepthwiseConvF32(p, x.data(), packed.data(), b, a, r, r0, r1, got.data());
        for (size_t i = out_n; i < got.size(); ++i) ASSERT_EQ(got[i], kGuard) << "overrun";
        got.resize(out_n);
        ExpectClose(got, want, bound, taps,
                    "act " + std::to_string(act) + " bias " + std::to_string(with_bias) +
                        " residual " + std::to_string(with_res));
      }
    }
  }
}

const Case kCases[] = {
    // n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw
    {1, 16, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   // V2's 3x3 stride 1, c a multiple of 16
    {1, 17, 8, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   // tail of 1 (16, 8, 4 lanes)
    {1, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     // stride 2, c below one vector
    {1, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // one channel
    {2, 33, 12, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  // batch 2, stride 2, tail 1
    {1, 100, 6, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // tail 4 (16/8 lanes); 19 = 8 + 8 + 2 + 1 px
    {1, 32, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  // V2's strided attention downsample, small
    {1, 48, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    // the 7x7 stage, small
    {1, 8, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // image smaller than the kernel
    {1, 5, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // 1x1 image: only the centre tap
    {1, 4, 2, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},     // 5x5 over a 2x3 image
    {1, 20, 10, 13, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},  // stride 3 (no register tile)
    {1, 12, 9, 10, 3, 3, 1, 2, 0, 1, 2, 0, 1, 1},   // asymmetric pads, stride_h 1 / stride_w 2
    {1, 9, 8, 11, 3, 3, 2, 1, 2, 0, 0, 2, 1, 1},    // the other asymmetry
    {1, 24, 11, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},  // dilation 2
    {1, 19, 9, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},    // 5x5, tail 3
    {1, 7, 8, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},     // 1x1 depthwise (a per-channel scale)
    {1, 9, 7, 12, 2, 4, 1, 1, 0, 1, 1, 2, 1, 1},    // 2x4 kernel
    {1, 16, 5, 30, 3, 3, 1, 1, 3, 3, 3, 3, 1, 1},   // pads >= kernel: windows all padding
    {1, 35, 6, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   // tail 3 in the 8-pixel tiles
    {2, 11, 5, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   // stride 2 tiles with a tail
    {1, 6, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},     // dilation_h 2 only: keeps the tile
    {1, 10, 6, 15, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1},   // no padding: every pixel interior
    {1, 35, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    // 7 wide: left edge tile + 2 + border, tail 3
    {1, 19, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    // 5 wide: one edge tile + a border pixel
};

TEST(OptDwConv, MatchesReferenceOnRandomShapes) {
  std::mt19937 rng(13);
  ForEachTarget([&](const std::string&) {
    for (const Case& cs : kCases) {
      SCOPED_TRACE(::testing::Message()
                   << "c " << cs.c << " h " << cs.h << " w " << cs.w << " k " << cs.kh << "x"
                   << cs.kw << " s " << cs.sh << "," << cs.sw << " d " << cs.dh << "," << cs.dw);
      CheckCase(cs, Random(Count(cs.n * cs.h * cs.w * cs.c), rng), rng);
    }
  });
}

// Non-finite inputs: an inf multiplied into a window gives +-inf (or NaN where +inf and -inf
// meet), a NaN gives NaN, and the activations keep both (ReLU(NaN) = NaN, GELU(-inf) = NaN) as the
// reference does. Placed in the interior, on the border columns and in a channel tail.
TEST(OptDwConv, NonFiniteInputsPropagateLikeTheReference) {
  const float kInf = std::numeric_limits<float>::infinity();
  const float kNaN = std::numeric_limits<float>::quiet_NaN();
  const Case cases[] = {{1, 19, 6, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
                        {1, 19, 6, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}};
  std::mt19937 rng(5);
  ForEachTarget([&](const std::string&) {
    for (const Case& cs : cases) {
      auto x = Random(Count(cs.n * cs.h * cs.w * cs.c), rng);
      auto at = [&](int64_t iy, int64_t ix, int64_t ch) -> float& {
        return x[Count((iy * cs.w + ix) * cs.c + ch)];
      };
      at(2, 7, 3) = kInf;     // interior, a full vector's lane
      at(2, 8, 3) = -kInf;    // next to it: both in some windows -> NaN
      at(4, 0, 18) = kNaN;    // left border column, the channel tail
      at(0, 19, 17) = -kInf;  // top-right corner, the tail
      at(5, 12, 0) = kNaN;    // bottom row
      CheckCase(cs, x, rng);
    }
  });
}

TEST(OptDwConv, SupportedGeometriesAndName) {
  ref::Conv2dParams p{1, 8, 6, 6, 8, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 8};
  EXPECT_TRUE(DepthwiseConvSupported(p));
  auto q = p;
  q.groups = 4;  // grouped, not depthwise: the reference path
  EXPECT_FALSE(DepthwiseConvSupported(q));
  q = p;
  q.c_out = 16;  // channel multiplier 2
  EXPECT_FALSE(DepthwiseConvSupported(q));
  q = p;
  q.pad_left = -1;
  EXPECT_FALSE(DepthwiseConvSupported(q));
  q = p;
  q.dil_w = 0;
  EXPECT_FALSE(DepthwiseConvSupported(q));
  EXPECT_EQ(DepthwisePackedStride(1), 16);
  EXPECT_EQ(DepthwisePackedStride(16), 16);
  EXPECT_EQ(DepthwisePackedStride(33), 48);
  ForEachTarget([](const std::string& target) {
    const std::string name = DepthwiseConvKernelName();
    EXPECT_EQ(name.rfind("dwconv_f32_3x3_", 0), 0u) << name;
    EXPECT_NE(name.find("__" + target), std::string::npos) << name;
  });
}

}  // namespace
}  // namespace effi::kernels
