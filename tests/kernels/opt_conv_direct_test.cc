// The direct small-c_in convolution (NCHW in, NHWC out) against the reference NCHW convolution on
// every compiled target: odd widths (pixel-tile tails), pads, strides 1 and 2, c_out not a
// multiple of 8 or 4, every epilogue activation.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/conv_direct.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ExpectNear;
using testing_util::ForEachTarget;
using testing_util::Random;

struct Case {
  int64_t n, c_in, h, w, c_out, kh, kw, sh, sw, pt, pl, pb, pr;
};

// NCHW reference output -> NHWC, with the epilogue.
std::vector<float> Reference(const ref::Conv2dParams& p, const std::vector<float>& x,
                             const std::vector<float>& oihw, const std::vector<float>& bias,
                             ref::Activation act) {
  std::vector<float> nchw(static_cast<size_t>(p.n * p.c_out * p.h_out * p.w_out));
  ref::conv2d_nchw_f32(p, x.data(), oihw.data(), nullptr, nchw.data());
  std::vector<float> y(nchw.size());
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t c = 0; c < p.c_out; ++c)
      for (int64_t i = 0; i < p.h_out * p.w_out; ++i)
        y[static_cast<size_t>((b * p.h_out * p.w_out + i) * p.c_out + c)] =
            nchw[static_cast<size_t>((b * p.c_out + c) * p.h_out * p.w_out + i)];
  ref::epilogue_f32(p.n * p.h_out * p.w_out, p.c_out, bias.data(), act, nullptr, y.data());
  return y;
}

TEST(OptConvDirect, MatchesReferenceOnRandomShapes) {
  const Case cases[] = {
      {1, 3, 224, 224, 24, 3, 3, 2, 2, 1, 1, 1, 1},  // EfficientFormer-L1 stem conv1
      {1, 3, 17, 23, 32, 3, 3, 2, 2, 1, 1, 1, 1},    // odd sizes, L3's 32 channels
      {2, 3, 29, 35, 13, 3, 3, 1, 1, 1, 1, 1, 1},    // stride 1, c_out 13, batch 2, chunks
      {1, 1, 8, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1},       // c_out < 4, width < one vector
      {1, 4, 15, 40, 8, 7, 7, 2, 2, 3, 3, 3, 3},     // ResNet-style 7x7 stem
      {1, 2, 6, 6, 5, 1, 1, 1, 1, 0, 0, 0, 0},       // 1x1
      {1, 3, 10, 11, 9, 3, 2, 3, 2, 0, 1, 2, 0},     // asymmetric pads, stride_h 3
      {1, 3, 4, 3, 4, 3, 3, 2, 2, 2, 2, 2, 2},       // pads larger than the window overlap
  };
  std::mt19937 rng(7);
  ForEachTarget([&](const std::string&) {
    for (const Case& cs : cases) {
      ref::Conv2dParams p{cs.n,  cs.c_in, cs.h,  cs.w,  cs.c_out, 0, 0, cs.kh,
                          cs.kw, cs.sh,   cs.sw, cs.pt, cs.pl,    1, 1, 1};
      p.h_out = (cs.h + cs.pt + cs.pb - cs.kh) / cs.sh + 1;
      p.w_out = (cs.w + cs.pl + cs.pr - cs.kw) / cs.sw + 1;
      ASSERT_TRUE(DirectConvSupported(p));
      const auto x = Random(static_cast<size_t>(p.n * p.c_in * p.h_in * p.w_in), rng);
      const auto oihw = Random(static_cast<size_t>(p.c_out * p.c_in * p.kh * p.kw), rng, 0.5f);
      const auto bias = Random(static_cast<size_t>(p.c_out), rng);
      std::vector<float> ohwi(oihw.size());
      ref::weights_oihw_to_ohwi_f32(p.c_out, p.c_in, p.kh, p.kw, oihw.data(), ohwi.data());
      const auto packed = PackDirectConvWeights(p, ohwi.data());
      // Guard floats after the scratch and the output catch writes out of range.
      constexpr float kGuard = 12345.0f;
      std::vector<float> scratch(static_cast<size_t>(DirectConvScratchFloats(p)) + 64, kGuard);
      for (int act = 0; act < 3; ++act) {
        const auto want = Reference(p, x, oihw, bias, static_cast<ref::Activation>(act));
        std::vector<float> got(want.size() + 64, kGuard);
        // Two row ranges, as two threads would split them (the first ends mid-image with batch 2).
        const int64_t rows = p.n * p.h_out, mid = rows / 2 + (p.n > 1 ? 1 : 0);
        DirectConvF32(p, x.data(), packed.data(), bias.data(), static_cast<ref::Activation>(act), 0,
                      mid, scratch.data(), got.data());
        DirectConvF32(p, x.data(), packed.data(), bias.data(), static_cast<ref::Activation>(act),
                      mid, rows, scratch.data(), got.data());
        for (size_t i = scratch.size() - 64; i < scratch.size(); ++i) ASSERT_EQ(scratch[i], kGuard);
        for (size_t i = want.size(); i < got.size(); ++i) ASSERT_EQ(got[i], kGuard);
        got.resize(want.size());
        ExpectNear(got, want, 1e-5, 1e-5, "direct conv");
      }
    }
  });
}

TEST(OptConvDirect, SupportedGeometries) {
  ref::Conv2dParams p{1, 3, 8, 8, 4, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1};
  EXPECT_TRUE(DirectConvSupported(p));
  auto q = p;
  q.c_in = 5;  // many channels: the GEMM path
  EXPECT_FALSE(DirectConvSupported(q));
  q = p;
  q.stride_w = 3;
  EXPECT_FALSE(DirectConvSupported(q));
  q = p;
  q.dil_w = 2;
  EXPECT_FALSE(DirectConvSupported(q));
  q = p;
  q.groups = 3;
  EXPECT_FALSE(DirectConvSupported(q));
}

}  // namespace
}  // namespace effi::kernels
