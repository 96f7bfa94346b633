// Tests for the plain reference kernels: hand-computed small cases plus comparisons against
// independent naive formulations written here (explicit padding, one-axis-at-a-time, etc.).

#include "kernels/ref/ref_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <ostream>
#include <random>
#include <vector>

namespace effi::kernels::ref {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_vec(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = dist(gen);
  return v;
}

// Element-wise comparison with a mixed absolute/relative tolerance; reports the first few misses.
void expect_all_near(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = tol * (1.0 + std::fabs(want[i]));
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= bound)) {
      ADD_FAILURE() << "index " << i << ": got " << got[i] << ", want " << want[i];
      if (++reported == 5) return;
    }
  }
}

// Test-side NCHW -> NHWC and back, deliberately not using the kernels under test.
std::vector<float> to_nhwc(const std::vector<float>& x, int64_t n, int64_t c, int64_t hw) {
  std::vector<float> y(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t s = 0; s < hw; ++s) y[(b * hw + s) * c + ch] = x[(b * c + ch) * hw + s];
  return y;
}

std::vector<float> to_nchw(const std::vector<float>& x, int64_t n, int64_t hw, int64_t c) {
  std::vector<float> y(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t s = 0; s < hw; ++s) y[(b * c + ch) * hw + s] = x[(b * hw + s) * c + ch];
  return y;
}

// ================================ convolution ====================================================

struct ConvCase {
  int64_t n, c_in, h, w, c_out, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
};

// Readable parameter names in gtest failure messages instead of a byte dump.
void PrintTo(const ConvCase& k, std::ostream* os) {
  *os << "n" << k.n << " c" << k.c_in << " " << k.h << "x" << k.w << " -> c" << k.c_out << " k"
      << k.kh << "x" << k.kw << " s" << k.sh << "," << k.sw << " pads " << k.pt << "," << k.pl
      << "," << k.pb << "," << k.pr << " dil " << k.dh << "," << k.dw << " groups " << k.groups;
}

Conv2dParams make_conv(const ConvCase& k) {
  Conv2dParams p{};
  p.n = k.n;
  p.c_in = k.c_in;
  p.h_in = k.h;
  p.w_in = k.w;
  p.c_out = k.c_out;
  p.kh = k.kh;
  p.kw = k.kw;
  p.stride_h = k.sh;
  p.stride_w = k.sw;
  p.pad_top = k.pt;
  p.pad_left = k.pl;
  p.dil_h = k.dh;
  p.dil_w = k.dw;
  p.groups = k.groups;
  p.h_out = (k.h + k.pt + k.pb - ((k.kh - 1) * k.dh + 1)) / k.sh + 1;
  p.w_out = (k.w + k.pl + k.pr - ((k.kw - 1) * k.dw + 1)) / k.sw + 1;
  return p;
}

// Independent formulation: copy x into an explicitly zero-padded buffer, then convolve without any
// bounds checks.
std::vector<float> conv_padded_oracle(const Conv2dParams& p, const std::vector<float>& x,
                                      const std::vector<float>& w, const float* bias) {
  const int64_t hp =
      std::max(p.pad_top + p.h_in, (p.h_out - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1);
  const int64_t wp =
      std::max(p.pad_left + p.w_in, (p.w_out - 1) * p.stride_w + (p.kw - 1) * p.dil_w + 1);
  std::vector<double> padded(static_cast<size_t>(p.n * p.c_in * hp * wp), 0.0);
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t c = 0; c < p.c_in; ++c)
      for (int64_t h = 0; h < p.h_in; ++h)
        for (int64_t ww = 0; ww < p.w_in; ++ww)
          padded[((b * p.c_in + c) * hp + h + p.pad_top) * wp + ww + p.pad_left] =
              x[((b * p.c_in + c) * p.h_in + h) * p.w_in + ww];
  const int64_t cin_g = p.c_in / p.groups;
  const int64_t cout_g = p.c_out / p.groups;
  std::vector<float> y(static_cast<size_t>(p.n * p.c_out * p.h_out * p.w_out));
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t oc = g * cout_g; oc < (g + 1) * cout_g; ++oc)
        for (int64_t oh = 0; oh < p.h_out; ++oh)
          for (int64_t ow = 0; ow < p.w_out; ++ow) {
            double acc = bias ? bias[oc] : 0.0;
            for (int64_t i = 0; i < cin_g; ++i)
              for (int64_t ky = 0; ky < p.kh; ++ky)
                for (int64_t kx = 0; kx < p.kw; ++kx)
                  acc +=
                      padded[((b * p.c_in + g * cin_g + i) * hp + oh * p.stride_h + ky * p.dil_h) *
                                 wp +
                             ow * p.stride_w + kx * p.dil_w] *
                      w[((oc * cin_g + i) * p.kh + ky) * p.kw + kx];
            y[((b * p.c_out + oc) * p.h_out + oh) * p.w_out + ow] = static_cast<float>(acc);
          }
  return y;
}

TEST(RefConv, HandComputed3x3Pad1WithBias) {
  // 1..9 convolved with an all-ones 3x3 kernel and pad 1 gives the 3x3 neighbourhood sums.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> w(9, 1.0f);
  const float bias = 1.0f;
  const Conv2dParams p = make_conv({1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  ASSERT_EQ(p.h_out, 3);
  ASSERT_EQ(p.w_out, 3);
  std::vector<float> y(9);
  conv2d_nchw_f32(p, x.data(), w.data(), &bias, y.data());
  expect_all_near(y, {13, 22, 17, 28, 46, 34, 25, 40, 29}, 0);
  std::vector<float> y2(9);
  conv2d_nhwc_f32(p, x.data(), w.data(), &bias, y2.data());  // C = 1: both layouts coincide
  expect_all_near(y2, {13, 22, 17, 28, 46, 34, 25, 40, 29}, 0);
}

TEST(RefConv, HandComputedStride2Dilation2) {
  std::vector<float> x(25);
  std::iota(x.begin(), x.end(), 0.0f);
  const std::vector<float> w(4, 1.0f);
  const Conv2dParams p = make_conv({1, 1, 5, 5, 1, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 1});
  ASSERT_EQ(p.h_out, 2);
  ASSERT_EQ(p.w_out, 2);
  std::vector<float> y(4);
  conv2d_nchw_f32(p, x.data(), w.data(), nullptr, y.data());
  // Taps of output (0,0): x[0][0] + x[0][2] + x[2][0] + x[2][2] = 0 + 2 + 10 + 12.
  expect_all_near(y, {24, 32, 64, 72}, 0);
}

TEST(RefConv, GroupsDoNotMix) {
  // Two groups of one channel each, 1x1 weights 2 and 3: each output sees only its own channel.
  const std::vector<float> x = {1, 2, 10, 20};  // NCHW: c0 = {1, 2}, c1 = {10, 20}
  const std::vector<float> w = {2, 3};
  const Conv2dParams p = make_conv({1, 2, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2});
  std::vector<float> y(4);
  conv2d_nchw_f32(p, x.data(), w.data(), nullptr, y.data());
  expect_all_near(y, {2, 4, 30, 60}, 0);
  const std::vector<float> x_nhwc = {1, 10, 2, 20};
  conv2d_nhwc_f32(p, x_nhwc.data(), w.data(), nullptr, y.data());
  expect_all_near(y, {2, 30, 4, 60}, 0);
}

TEST(RefConv, WeightsOihwToOhwi) {
  // OIHW [1][2][1][2] = {i0w0, i0w1, i1w0, i1w1} -> OHWI {w0i0, w0i1, w1i0, w1i1}.
  const std::vector<float> src = {0, 1, 2, 3};
  std::vector<float> dst(4);
  weights_oihw_to_ohwi_f32(1, 2, 1, 2, src.data(), dst.data());
  expect_all_near(dst, {0, 2, 1, 3}, 0);
  // A bigger shape: spot-check that element (o, i, y, x) lands at [o][y][x][i].
  const int64_t co = 3, ci = 4, kh = 2, kw = 3;
  std::vector<float> s2(static_cast<size_t>(co * ci * kh * kw));
  std::iota(s2.begin(), s2.end(), 0.0f);
  std::vector<float> d2(s2.size());
  weights_oihw_to_ohwi_f32(co, ci, kh, kw, s2.data(), d2.data());
  EXPECT_EQ(d2[((2 * kh + 1) * kw + 2) * ci + 3], s2[((2 * ci + 3) * kh + 1) * kw + 2]);
  EXPECT_EQ(d2[((1 * kh + 0) * kw + 1) * ci + 2], s2[((1 * ci + 2) * kh + 0) * kw + 1]);
}

class RefConvRandom : public ::testing::TestWithParam<ConvCase> {};

TEST_P(RefConvRandom, NchwAndNhwcMatchPaddedOracle) {
  const ConvCase k = GetParam();
  const Conv2dParams p = make_conv(k);
  ASSERT_GT(p.h_out, 0);
  ASSERT_GT(p.w_out, 0);
  const int64_t cin_g = k.c_in / k.groups;
  const auto x = random_vec(k.n * k.c_in * k.h * k.w, 1);
  const auto w = random_vec(k.c_out * cin_g * k.kh * k.kw, 2);
  const auto bias = random_vec(k.c_out, 3);
  const auto want = conv_padded_oracle(p, x, w, bias.data());

  std::vector<float> y(want.size(), kNaN);
  conv2d_nchw_f32(p, x.data(), w.data(), bias.data(), y.data());
  expect_all_near(y, want, 1e-5);

  std::vector<float> w_ohwi(w.size());
  weights_oihw_to_ohwi_f32(k.c_out, cin_g, k.kh, k.kw, w.data(), w_ohwi.data());
  std::vector<float> y_nhwc(want.size(), kNaN);
  conv2d_nhwc_f32(p, to_nhwc(x, k.n, k.c_in, k.h * k.w).data(), w_ohwi.data(), bias.data(),
                  y_nhwc.data());
  expect_all_near(to_nchw(y_nhwc, k.n, p.h_out * p.w_out, k.c_out), want, 1e-5);

  // No bias: the same minus the bias.
  const auto want_nb = conv_padded_oracle(p, x, w, nullptr);
  conv2d_nchw_f32(p, x.data(), w.data(), nullptr, y.data());
  expect_all_near(y, want_nb, 1e-5);
}

// {n, c_in, h, w, c_out, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups}
INSTANTIATE_TEST_SUITE_P(
    Shapes, RefConvRandom,
    ::testing::Values(ConvCase{1, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                      ConvCase{2, 4, 8, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2},    // groups, s2
                      ConvCase{1, 4, 9, 11, 4, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 4},   // depthwise
                      ConvCase{1, 3, 10, 9, 5, 3, 2, 1, 2, 2, 0, 1, 3, 2, 3, 1},   // dil, asym
                      ConvCase{1, 6, 5, 5, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6},   // dw mult 2
                      ConvCase{1, 8, 4, 4, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   // pointwise
                      ConvCase{2, 6, 13, 13, 9, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 3},  // 5x5 groups
                      ConvCase{1, 3, 16, 15, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  // stem-like
                      ConvCase{1, 4, 1, 15, 4, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1, 1},   // 1-D, H=1
                      ConvCase{1, 5, 6, 7, 5, 3, 3, 3, 2, 0, 2, 2, 0, 1, 2, 5}));  // mixed

// ================================ pooling ========================================================

Pool2dParams make_pool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                       bool include_pad, bool ceil_mode = false, int64_t dh = 1, int64_t dw = 1) {
  Pool2dParams p{};
  p.n = n;
  p.c = c;
  p.h_in = h;
  p.w_in = w;
  p.kh = kh;
  p.kw = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_top = pt;
  p.pad_left = pl;
  p.pad_bottom = pb;
  p.pad_right = pr;
  p.dil_h = dh;
  p.dil_w = dw;
  p.count_include_pad = include_pad;
  // ONNX output size, including the ceil_mode rule that the last window must start inside the
  // input or the left/top padding.
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t pbeg, int64_t pend, int64_t d) {
    const int64_t span = in + pbeg + pend - ((k - 1) * d + 1);
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + pbeg) --o;
    return o;
  };
  p.h_out = out(h, kh, sh, pt, pb, dh);
  p.w_out = out(w, kw, sw, pl, pr, dw);
  return p;
}

std::vector<float> iota_vec(int64_t n, float start) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Expected values from the ONNX backend tests
// (averagepool_2d_precomputed_pads[_count_include_pad]).
TEST(RefPool, OnnxPrecomputedPads) {
  const auto x = iota_vec(25, 1.0f);
  std::vector<float> y(25);
  Pool2dParams p = make_pool(1, 1, 5, 5, 5, 5, 1, 1, 2, 2, 2, 2, false);
  ASSERT_EQ(p.h_out, 5);
  avgpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(y, {7,    7.5, 8,    8.5, 9,    9.5, 10,   10.5, 11,   11.5, 12,   12.5, 13,
                      13.5, 14,  14.5, 15,  15.5, 16,  16.5, 17,   17.5, 18,   18.5, 19},
                  1e-6);
  p.count_include_pad = true;
  avgpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(
      y, {2.52f, 3.6f, 4.8f,  4.08f, 3.24f, 4.56f,  6.4f,  8.4f,  7.04f, 5.52f, 7.2f,  10.0f, 13.0f,
          10.8f, 8.4f, 6.96f, 9.6f,  12.4f, 10.24f, 7.92f, 6.12f, 8.4f,  10.8f, 8.88f, 6.84f},
      1e-6);
}

TEST(RefPool, OnnxStridesCeilAndDilations) {
  const auto x5 = iota_vec(25, 1.0f);
  std::vector<float> y(4);
  avgpool2d_nchw_f32(make_pool(1, 1, 5, 5, 2, 2, 2, 2, 0, 0, 0, 0, false), x5.data(), y.data());
  expect_all_near(y, {4, 6, 14, 16}, 1e-6);

  // averagepool_2d_ceil: 4x4, 3x3 kernel, stride 2, ceil_mode -> the last windows overhang the
  // input. Without explicit pads, count_include_pad cannot change anything.
  const auto x4 = iota_vec(16, 1.0f);
  for (bool include : {false, true}) {
    const Pool2dParams p = make_pool(1, 1, 4, 4, 3, 3, 2, 2, 0, 0, 0, 0, include, true);
    ASSERT_EQ(p.h_out, 2);
    avgpool2d_nchw_f32(p, x4.data(), y.data());
    expect_all_near(y, {6, 7.5, 12, 13.5}, 1e-6);
  }

  // averagepool_2d_dilations: 2x2 kernel, dilation 2.
  const Pool2dParams pd = make_pool(1, 1, 4, 4, 2, 2, 1, 1, 0, 0, 0, 0, false, true, 2, 2);
  ASSERT_EQ(pd.h_out, 2);
  avgpool2d_nchw_f32(pd, x4.data(), y.data());
  expect_all_near(y, {6, 7, 10, 11}, 1e-6);
}

TEST(RefPool, CeilModeOverhangIsNotCountedEvenWithIncludePad) {
  // [1 2 3 4 5], kernel 2, stride 2, ceil_mode: the last window only covers 5 (onnxruntime and
  // onnx.reference give [1.5, 3.5, 5]).
  const std::vector<float> x = {1, 2, 3, 4, 5};
  const Pool2dParams p = make_pool(1, 1, 1, 5, 1, 2, 1, 2, 0, 0, 0, 0, true, true);
  ASSERT_EQ(p.w_out, 3);
  std::vector<float> y(3);
  avgpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(y, {1.5f, 3.5f, 5.0f}, 1e-6);
}

TEST(RefPool, CountIncludePadBordersAndOverhang) {
  // 6x6 ones, 3x3 kernel, stride 2, pads 1, ceil_mode -> 4x4. Per axis, window 0 has 2 input taps
  // of 3 padded taps, windows 1-2 have 3 of 3, window 3 starts on the last row and has 1 input
  // tap of 2 padded taps (the third tap overhangs the bottom pad and is not counted).
  const std::vector<float> x(36, 1.0f);
  Pool2dParams p = make_pool(1, 1, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, true, true);
  ASSERT_EQ(p.h_out, 4);
  ASSERT_EQ(p.w_out, 4);
  std::vector<float> y(16);
  avgpool2d_nchw_f32(p, x.data(), y.data());
  const float f[4] = {2.0f / 3.0f, 1.0f, 1.0f, 0.5f};
  std::vector<float> want(16);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) want[i * 4 + j] = f[i] * f[j];
  expect_all_near(y, want, 1e-6);
  EXPECT_NEAR(y[0], 4.0f / 9.0f, 1e-6);
  EXPECT_NEAR(y[15], 0.25f, 1e-6);

  // Excluding pads, every window averages ones.
  p.count_include_pad = false;
  avgpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(y, std::vector<float>(16, 1.0f), 1e-6);
}

TEST(RefPool, AvgNhwcMatchesNchw) {
  struct Case {
    int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    bool ceil;
  };
  const Case cases[] = {{1, 3, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false},
                        {2, 5, 9, 8, 3, 2, 2, 2, 1, 0, 1, 1, 1, 1, true},
                        {1, 4, 10, 11, 3, 3, 2, 3, 2, 1, 0, 2, 2, 1, true},
                        {1, 2, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false}};
  for (const Case& k : cases) {
    for (bool include : {false, true}) {
      const Pool2dParams p = make_pool(k.n, k.c, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.pt, k.pl, k.pb,
                                       k.pr, include, k.ceil, k.dh, k.dw);
      const auto x = random_vec(k.n * k.c * k.h * k.w, 7);
      std::vector<float> y(static_cast<size_t>(k.n * k.c * p.h_out * p.w_out), kNaN);
      avgpool2d_nchw_f32(p, x.data(), y.data());
      std::vector<float> y_nhwc(y.size(), kNaN);
      avgpool2d_nhwc_f32(p, to_nhwc(x, k.n, k.c, k.h * k.w).data(), y_nhwc.data());
      expect_all_near(to_nchw(y_nhwc, k.n, p.h_out * p.w_out, k.c), y, 1e-6);
    }
  }
}

TEST(RefPool, MaxIgnoresPaddingAndHandlesNaN) {
  // All-negative input: if padding were read as 0 the borders would come out 0.
  std::vector<float> x(9);
  for (int i = 0; i < 9; ++i) x[i] = -static_cast<float>(i + 1);
  const Pool2dParams p = make_pool(1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, false);
  std::vector<float> y(9);
  maxpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(y, {-1, -1, -2, -1, -1, -2, -4, -4, -5}, 0);

  x[4] = kNaN;  // centre: every window contains it
  maxpool2d_nchw_f32(p, x.data(), y.data());
  for (float v : y) EXPECT_TRUE(std::isnan(v));
}

TEST(RefPool, MaxMatchesNegInfPaddedOracle) {
  const int64_t n = 2, c = 3, h = 9, w = 8;
  const Pool2dParams p = make_pool(n, c, h, w, 3, 3, 2, 2, 1, 1, 1, 1, false, true);
  const auto x = random_vec(n * c * h * w, 11);
  const int64_t hp = h + 4, wp = w + 4;  // generous -inf border
  std::vector<float> padded(static_cast<size_t>(n * c * hp * wp), -kInf);
  for (int64_t i = 0; i < n * c; ++i)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t s = 0; s < w; ++s)
        padded[(i * hp + r + 1) * wp + s + 1] = x[(i * h + r) * w + s];
  std::vector<float> want(static_cast<size_t>(n * c * p.h_out * p.w_out));
  for (int64_t i = 0; i < n * c; ++i)
    for (int64_t oh = 0; oh < p.h_out; ++oh)
      for (int64_t ow = 0; ow < p.w_out; ++ow) {
        float m = -kInf;
        for (int64_t ky = 0; ky < 3; ++ky)
          for (int64_t kx = 0; kx < 3; ++kx)
            m = std::max(m, padded[(i * hp + oh * 2 + ky) * wp + ow * 2 + kx]);
        want[(i * p.h_out + oh) * p.w_out + ow] = m;
      }
  std::vector<float> y(want.size(), kNaN);
  maxpool2d_nchw_f32(p, x.data(), y.data());
  expect_all_near(y, want, 0);
}

TEST(RefPool, GlobalAverage) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // [n=2][c=2][hw=3]
  std::vector<float> y(4);
  global_avgpool_nchw_f32(2, 2, 3, x.data(), y.data());
  expect_all_near(y, {2, 5, 8, 11}, 1e-7);
  std::vector<float> y2(4);
  global_avgpool_nhwc_f32(2, 3, 2, to_nhwc(x, 2, 2, 3).data(), y2.data());
  expect_all_near(y2, {2, 5, 8, 11}, 1e-7);
}

// ================================ gemm / epilogue ================================================

TEST(RefGemm, HandComputed) {
  const std::vector<float> a = {1, 2, 3, 4};
  const std::vector<float> b = {5, 6, 7, 8};
  std::vector<float> c(4, kNaN);  // beta = 0 must not read C
  gemm_f32(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  expect_all_near(c, {19, 22, 43, 50}, 0);
  c.assign(4, 1.0f);
  gemm_f32(false, false, 2, 2, 2, 2.0f, a.data(), 2, b.data(), 2, 1.0f, c.data(), 2);
  expect_all_near(c, {39, 45, 87, 101}, 0);
  // A^T B: [[1,3],[2,4]] * [[5,6],[7,8]].
  gemm_f32(true, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  expect_all_near(c, {26, 30, 38, 44}, 0);
}

TEST(RefGemm, AllTransposeCombosWithLeadingDims) {
  const int64_t m = 5, n = 7, k = 9;
  const float alpha = 1.5f, beta = 0.5f;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      // Stored shapes: A is [m][k] or [k][m], B is [k][n] or [n][k]; leading dims are padded.
      const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
      const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
      const int64_t lda = a_cols + 3, ldb = b_cols + 2, ldc = n + 4;
      const auto a = random_vec(a_rows * lda, 21);
      const auto b = random_vec(b_rows * ldb, 22);
      const auto c0 = random_vec(m * ldc, 23);
      std::vector<float> want = c0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0.0;
          for (int64_t p = 0; p < k; ++p) {
            const double av = ta ? a[p * lda + i] : a[i * lda + p];
            const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
            acc += av * bv;
          }
          want[i * ldc + j] = static_cast<float>(alpha * acc + beta * c0[i * ldc + j]);
        }
      std::vector<float> c = c0;
      gemm_f32(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      SCOPED_TRACE(::testing::Message() << "trans_a=" << ta << " trans_b=" << tb);
      expect_all_near(c, want, 1e-6);  // also checks the ldc padding columns are untouched
    }
  }
}

TEST(RefGemm, ZeroKScalesC) {
  std::vector<float> c = {1, 2, 3, 4};
  gemm_f32(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 3.0f, c.data(), 2);
  expect_all_near(c, {3, 6, 9, 12}, 0);
  c.assign(4, kNaN);
  gemm_f32(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
  expect_all_near(c, {0, 0, 0, 0}, 0);
}

TEST(RefEpilogue, BiasReluResidual) {
  std::vector<float> y = {-1, 0.5f, 2, 1, -3, 0};
  const std::vector<float> bias = {0.5f, -1, 1};
  const std::vector<float> res = {1, 1, 1, 2, 2, 2};
  epilogue_f32(2, 3, bias.data(), Activation::kRelu, res.data(), y.data());
  expect_all_near(y, {1, 1, 4, 3.5f, 2, 3}, 0);
}

TEST(RefEpilogue, GeluAndNulls) {
  std::vector<float> y = {1, -1, 0, 2};
  epilogue_f32(1, 4, nullptr, Activation::kGelu, nullptr, y.data());
  expect_all_near(y, {0.8413447460685429f, -0.15865525393145707f, 0.0f, 1.9544997361036416f}, 1e-7);
  std::vector<float> z = {1, -2};
  epilogue_f32(2, 1, nullptr, Activation::kNone, nullptr, z.data());
  expect_all_near(z, {1, -2}, 0);
  const float bias = 10.0f;
  epilogue_f32(2, 1, &bias, Activation::kNone, nullptr, z.data());  // one column: bias[0] per row
  expect_all_near(z, {11, 8}, 0);
}

// ================================ elementwise ====================================================

TEST(RefUnary, KnownValues) {
  struct Case {
    UnaryOp op;
    float x;
    double want;
  };
  const Case cases[] = {
      {UnaryOp::kIdentity, -3.25f, -3.25},
      {UnaryOp::kRelu, -3.0f, 0.0},
      {UnaryOp::kRelu, 2.5f, 2.5},
      {UnaryOp::kNeg, 2.0f, -2.0},
      {UnaryOp::kAbs, -2.0f, 2.0},
      {UnaryOp::kSqrt, 9.0f, 3.0},
      {UnaryOp::kExp, 1.0f, 2.718281828459045},
      {UnaryOp::kLog, 2.0f, 0.6931471805599453},
      {UnaryOp::kErf, 0.5f, 0.5204998778130465},
      {UnaryOp::kGelu, 1.0f, 0.8413447460685429},
      {UnaryOp::kGelu, -3.0f, -0.0040496525285777},
      {UnaryOp::kSigmoid, 0.0f, 0.5},
      {UnaryOp::kSigmoid, 2.0f, 0.8807970779778823},
      {UnaryOp::kSigmoid, -2.0f, 0.11920292202211755},
      {UnaryOp::kTanh, 0.5f, 0.46211715726000974},
      {UnaryOp::kReciprocal, 4.0f, 0.25},
      {UnaryOp::kFloor, -1.5f, -2.0},
      {UnaryOp::kCeil, -1.5f, -1.0},
      {UnaryOp::kFloor, 2.0f, 2.0},
  };
  for (const Case& c : cases) {
    float y = kNaN;
    unary_f32(c.op, &c.x, &y, 1);
    EXPECT_NEAR(y, c.want, 1e-6 * (1.0 + std::fabs(c.want)))
        << "op " << static_cast<int>(c.op) << " x " << c.x;
  }
}

TEST(RefUnary, SigmoidStableForLargeMagnitude) {
  const std::vector<float> x = {-1000.0f, -90.0f, 90.0f, 1000.0f, -kInf, kInf};
  std::vector<float> y(x.size());
  unary_f32(UnaryOp::kSigmoid, x.data(), y.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1] / std::exp(-90.0), 1.0, 1e-3);  // tiny but not flushed to 0 or NaN
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], 1.0f);
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[5], 1.0f);
}

TEST(RefUnary, NaNPropagatesAndInPlaceWorks) {
  std::vector<float> x = {kNaN, -1.0f, 4.0f};
  unary_f32(UnaryOp::kRelu, x.data(), x.data(), 3);
  EXPECT_TRUE(std::isnan(x[0]));
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_EQ(x[2], 4.0f);
  unary_f32(UnaryOp::kSqrt, x.data() + 2, x.data() + 2, 1);
  EXPECT_EQ(x[2], 2.0f);
}

TEST(RefBinary, BroadcastStrides) {
  const int64_t out[3] = {2, 3, 4};
  int64_t s[3];
  const int64_t a[2] = {3, 1};
  broadcast_strides(2, a, 3, out, s);
  EXPECT_EQ(s[0], 0);
  EXPECT_EQ(s[1], 1);
  EXPECT_EQ(s[2], 0);
  const int64_t b[3] = {2, 1, 4};
  broadcast_strides(3, b, 3, out, s);
  EXPECT_EQ(s[0], 4);
  EXPECT_EQ(s[1], 0);
  EXPECT_EQ(s[2], 1);
  broadcast_strides(0, nullptr, 3, out, s);  // scalar
  EXPECT_EQ(s[0], 0);
  EXPECT_EQ(s[1], 0);
  EXPECT_EQ(s[2], 0);
  const int64_t full[3] = {2, 3, 4};
  broadcast_strides(3, full, 3, out, s);
  EXPECT_EQ(s[0], 12);
  EXPECT_EQ(s[1], 4);
  EXPECT_EQ(s[2], 1);
}

TEST(RefBinary, RowBroadcastAdd) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};  // [2,3]
  const std::vector<float> b = {10, 20, 30};        // [3]
  const int64_t out[2] = {2, 3};
  const int64_t a_shape[2] = {2, 3}, b_shape[1] = {3};
  int64_t as[2], bs[2];
  broadcast_strides(2, a_shape, 2, out, as);
  broadcast_strides(1, b_shape, 2, out, bs);
  std::vector<float> y(6);
  binary_broadcast<float>(BinaryOp::kAdd, 2, out, a.data(), as, b.data(), bs, y.data());
  expect_all_near(y, {11, 22, 33, 14, 25, 36}, 0);
  binary_broadcast<float>(BinaryOp::kSub, 2, out, a.data(), as, b.data(), bs, y.data());
  expect_all_near(y, {-9, -18, -27, -6, -15, -24}, 0);
}

TEST(RefBinary, BothSidesBroadcastMul) {
  // [2,1,4] * [3,1] -> [2,3,4]
  const auto a = random_vec(8, 31);
  const auto b = random_vec(3, 32);
  const int64_t out[3] = {2, 3, 4};
  const int64_t a_shape[3] = {2, 1, 4}, b_shape[2] = {3, 1};
  int64_t as[3], bs[3];
  broadcast_strides(3, a_shape, 3, out, as);
  broadcast_strides(2, b_shape, 3, out, bs);
  std::vector<float> y(24);
  binary_broadcast<float>(BinaryOp::kMul, 3, out, a.data(), as, b.data(), bs, y.data());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(y[(i * 3 + j) * 4 + k], a[i * 4 + k] * b[j]);
}

TEST(RefBinary, ScalarStrideZeroAndRankZero) {
  const std::vector<float> a = {1, 2, 3, 4};
  const float s = 2.0f;
  const int64_t out[2] = {2, 2};
  const int64_t as[2] = {2, 1}, zero[2] = {0, 0};
  std::vector<float> y(4);
  binary_broadcast<float>(BinaryOp::kDiv, 2, out, a.data(), as, &s, zero, y.data());
  expect_all_near(y, {0.5f, 1, 1.5f, 2}, 0);
  binary_broadcast<float>(BinaryOp::kPow, 2, out, &s, zero, a.data(), as, y.data());
  expect_all_near(y, {2, 4, 8, 16}, 0);
  float r = 0.0f;
  const float p = 3.0f, q = 4.0f;
  binary_broadcast<float>(BinaryOp::kMax, 0, nullptr, &p, nullptr, &q, nullptr, &r);
  EXPECT_EQ(r, 4.0f);
}

TEST(RefBinary, FloatPowMaxMinNaN) {
  const std::vector<float> a = {2, -8, 4, kNaN, 1};
  const std::vector<float> b = {0.5f, 1.0f / 3.0f, -1, 1, kNaN};
  const int64_t out[1] = {5}, st[1] = {1};
  std::vector<float> y(5);
  binary_broadcast<float>(BinaryOp::kPow, 1, out, a.data(), st, b.data(), st, y.data());
  EXPECT_NEAR(y[0], 1.41421356f, 1e-6);
  EXPECT_TRUE(std::isnan(y[1]));  // std::pow of a negative base with a non-integer exponent
  EXPECT_EQ(y[2], 0.25f);
  binary_broadcast<float>(BinaryOp::kMax, 1, out, a.data(), st, b.data(), st, y.data());
  EXPECT_EQ(y[0], 2.0f);
  EXPECT_EQ(y[1], 0.33333334f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_TRUE(std::isnan(y[4]));
  binary_broadcast<float>(BinaryOp::kMin, 1, out, a.data(), st, b.data(), st, y.data());
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[1], -8.0f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_TRUE(std::isnan(y[4]));
}

TEST(RefBinary, Int64DivTruncatesAndPowIsExact) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> a = {-7, 7, -7, 7, 5, kMin};
  const std::vector<int64_t> b = {2, 2, -2, -2, 0, -1};
  const int64_t out[1] = {6}, st[1] = {1};
  std::vector<int64_t> y(6);
  binary_broadcast<int64_t>(BinaryOp::kDiv, 1, out, a.data(), st, b.data(), st, y.data());
  EXPECT_EQ(y, (std::vector<int64_t>{-3, 3, 3, -3, 0, kMin}));

  const std::vector<int64_t> base = {3, 2, -2, 5, 1, -1, 2, 10};
  const std::vector<int64_t> ex = {4, 40, 3, 0, -5, -3, -1, 18};
  const int64_t out8[1] = {8};
  std::vector<int64_t> p(8);
  binary_broadcast<int64_t>(BinaryOp::kPow, 1, out8, base.data(), st, ex.data(), st, p.data());
  EXPECT_EQ(p, (std::vector<int64_t>{81, int64_t{1} << 40, -8, 1, 1, -1, 0, 1000000000000000000}));
}

TEST(RefBinary, Int32WrapsAndBroadcasts) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  const std::vector<int32_t> a = {kMax, -5, 7};
  const int32_t one = 1;
  const int64_t out[1] = {3}, st[1] = {1}, zero[1] = {0};
  std::vector<int32_t> y(3);
  binary_broadcast<int32_t>(BinaryOp::kAdd, 1, out, a.data(), st, &one, zero, y.data());
  EXPECT_EQ(y, (std::vector<int32_t>{std::numeric_limits<int32_t>::min(), -4, 8}));
  binary_broadcast<int32_t>(BinaryOp::kMax, 1, out, a.data(), st, &one, zero, y.data());
  EXPECT_EQ(y, (std::vector<int32_t>{kMax, 1, 7}));
  binary_broadcast<int32_t>(BinaryOp::kMin, 1, out, a.data(), st, &one, zero, y.data());
  EXPECT_EQ(y, (std::vector<int32_t>{1, -5, 1}));
  const int32_t three = 3;
  binary_broadcast<int32_t>(BinaryOp::kMul, 1, out, a.data(), st, &three, zero, y.data());
  EXPECT_EQ(y[1], -15);
  EXPECT_EQ(y[2], 21);
  binary_broadcast<int32_t>(BinaryOp::kDiv, 1, out, a.data(), st, &three, zero, y.data());
  EXPECT_EQ(y, (std::vector<int32_t>{kMax / 3, -1, 2}));
}

// ================================ reductions =====================================================

TEST(RefReduce, HandComputed2x3) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {2, 3};
  const bool ax0[2] = {true, false}, ax1[2] = {false, true}, all[2] = {true, true};
  std::vector<float> y(3);
  reduce_f32(ReduceOp::kSum, 2, shape, ax0, x.data(), y.data());
  expect_all_near(y, {5, 7, 9}, 0);
  reduce_f32(ReduceOp::kMax, 2, shape, ax0, x.data(), y.data());
  expect_all_near(y, {4, 5, 6}, 0);
  std::vector<float> r(2);
  reduce_f32(ReduceOp::kSum, 2, shape, ax1, x.data(), r.data());
  expect_all_near(r, {6, 15}, 0);
  reduce_f32(ReduceOp::kMean, 2, shape, ax1, x.data(), r.data());
  expect_all_near(r, {2, 5}, 0);
  reduce_f32(ReduceOp::kMin, 2, shape, ax1, x.data(), r.data());
  expect_all_near(r, {1, 4}, 0);
  reduce_f32(ReduceOp::kSumSquare, 2, shape, ax1, x.data(), r.data());
  expect_all_near(r, {14, 77}, 0);
  reduce_f32(ReduceOp::kL2, 2, shape, ax1, x.data(), r.data());
  expect_all_near(r, {std::sqrt(14.0f), std::sqrt(77.0f)}, 1e-7);
  float s = 0.0f;
  reduce_f32(ReduceOp::kProd, 2, shape, all, x.data(), &s);
  EXPECT_EQ(s, 720.0f);
  reduce_f32(ReduceOp::kSum, 2, shape, all, x.data(), &s);
  EXPECT_EQ(s, 21.0f);
}

// Independent formulation: reduce one axis at a time (highest first) as [outer][len][inner].
std::vector<double> reduce_one_axis_at_a_time(ReduceOp op, std::vector<int64_t> shape,
                                              const std::vector<bool>& mask,
                                              const std::vector<float>& x) {
  std::vector<double> cur(x.begin(), x.end());
  if (op == ReduceOp::kSumSquare || op == ReduceOp::kL2)
    for (double& v : cur) v *= v;
  int64_t count = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (!mask[d]) continue;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; ++i) outer *= shape[i];
    for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
    const int64_t len = shape[d];
    count *= len;
    std::vector<double> next(static_cast<size_t>(outer * inner));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        double acc = cur[o * len * inner + in];
        for (int64_t l = 1; l < len; ++l) {
          const double v = cur[(o * len + l) * inner + in];
          if (op == ReduceOp::kMax)
            acc = std::max(acc, v);
          else if (op == ReduceOp::kMin)
            acc = std::min(acc, v);
          else if (op == ReduceOp::kProd)
            acc *= v;
          else
            acc += v;
        }
        next[o * inner + in] = acc;
      }
    cur.swap(next);
    shape[d] = 1;
  }
  if (op == ReduceOp::kMean)
    for (double& v : cur) v /= static_cast<double>(count);
  if (op == ReduceOp::kL2)
    for (double& v : cur) v = std::sqrt(v);
  return cur;
}

TEST(RefReduce, MatchesOneAxisAtATimeOnManyAxisSets) {
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  // Values in [0.5, 1.5] keep Prod well-conditioned.
  const auto x = random_vec(2 * 3 * 4 * 5, 41, 0.5f, 1.5f);
  const std::vector<std::vector<bool>> masks = {
      {false, true, false, false}, {true, false, true, false},  {false, true, false, true},
      {true, true, true, true},    {false, false, false, true}, {true, false, false, false},
      {false, false, true, true},  {false, false, false, false}};
  const ReduceOp ops[] = {ReduceOp::kMean, ReduceOp::kSum,       ReduceOp::kMax, ReduceOp::kMin,
                          ReduceOp::kProd, ReduceOp::kSumSquare, ReduceOp::kL2};
  for (const auto& mask : masks) {
    bool m[4];
    int64_t out_size = 1;
    for (int d = 0; d < 4; ++d) {
      m[d] = mask[d];
      if (!mask[d]) out_size *= shape[d];
    }
    for (ReduceOp op : ops) {
      const auto want_d = reduce_one_axis_at_a_time(op, shape, mask, x);
      ASSERT_EQ(static_cast<int64_t>(want_d.size()), out_size);
      std::vector<float> want(want_d.begin(), want_d.end());
      std::vector<float> y(static_cast<size_t>(out_size), kNaN);
      reduce_f32(op, 4, shape.data(), m, x.data(), y.data());
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " mask " << mask[0]
                                        << mask[1] << mask[2] << mask[3]);
      expect_all_near(y, want, 1e-6);
    }
  }
}

TEST(RefReduce, EmptyReducedDimYieldsIdentity) {
  const int64_t shape[2] = {0, 3};
  const bool mask[2] = {true, false};
  std::vector<float> y(3);
  reduce_f32(ReduceOp::kSum, 2, shape, mask, nullptr, y.data());
  expect_all_near(y, {0, 0, 0}, 0);
  reduce_f32(ReduceOp::kProd, 2, shape, mask, nullptr, y.data());
  expect_all_near(y, {1, 1, 1}, 0);
  reduce_f32(ReduceOp::kMax, 2, shape, mask, nullptr, y.data());
  EXPECT_EQ(y[0], -kInf);
  reduce_f32(ReduceOp::kMin, 2, shape, mask, nullptr, y.data());
  EXPECT_EQ(y[2], kInf);
  reduce_f32(ReduceOp::kMean, 2, shape, mask, nullptr, y.data());
  EXPECT_TRUE(std::isnan(y[1]));
}

// ================================ softmax ========================================================

TEST(RefSoftmax, HandComputedAndShiftInvariant) {
  const std::vector<float> x = {1, 2, 3, 1000, 1001, 1002};
  std::vector<float> y(6);
  softmax_f32(2, 3, 1, x.data(), y.data());
  expect_all_near(y, {0.09003057f, 0.24472847f, 0.66524096f, 0.09003057f, 0.24472847f, 0.66524096f},
                  1e-6);
  log_softmax_f32(2, 3, 1, x.data(), y.data());
  expect_all_near(
      y, {-2.40760596f, -1.40760596f, -0.40760596f, -2.40760596f, -1.40760596f, -0.40760596f},
      1e-6);
  const std::vector<float> with_inf = {-kInf, 0.0f};
  std::vector<float> z(2);
  softmax_f32(1, 2, 1, with_inf.data(), z.data());
  expect_all_near(z, {0, 1}, 0);
}

TEST(RefSoftmax, MiddleAxisLanesSumToOne) {
  const int64_t outer = 3, len = 7, inner = 5;
  const auto x = random_vec(outer * len * inner, 51, -4.0f, 4.0f);
  std::vector<float> y(x.size()), ly(x.size());
  softmax_f32(outer, len, inner, x.data(), y.data());
  log_softmax_f32(outer, len, inner, x.data(), ly.data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      double sum = 0.0, denom = 0.0;
      for (int64_t a = 0; a < len; ++a) denom += std::exp(x[(o * len + a) * inner + in]);
      for (int64_t a = 0; a < len; ++a) {
        const int64_t i = (o * len + a) * inner + in;
        EXPECT_GT(y[i], 0.0f);
        sum += y[i];
        // Unshifted textbook formula is safe for |x| <= 4.
        EXPECT_NEAR(y[i], std::exp(x[i]) / denom, 1e-6);
        EXPECT_NEAR(ly[i], std::log(y[i]), 1e-5);
      }
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
}

// ================================ normalization ==================================================

TEST(RefLayerNorm, HandComputedWithAffine) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> gamma = {1, 2, 1, 2}, beta = {0, 0, 1, 1};
  std::vector<float> y(4);
  float mean = 0.0f, inv_std = 0.0f;
  layernorm_f32(1, 4, x.data(), gamma.data(), beta.data(), 0.0f, y.data(), &mean, &inv_std);
  // mean 2.5, population variance 1.25.
  expect_all_near(y, {-1.3416408f, -0.8944272f, 1.4472136f, 3.6832816f}, 1e-6);
  EXPECT_FLOAT_EQ(mean, 2.5f);
  EXPECT_NEAR(inv_std, 1.0 / std::sqrt(1.25), 1e-7);
  layernorm_f32(1, 4, x.data(), nullptr, nullptr, 0.0f, y.data(), nullptr, nullptr);
  expect_all_near(y, {-1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f}, 1e-6);
}

TEST(RefLayerNorm, RowsHaveZeroMeanUnitVariance) {
  const int64_t rows = 4, cols = 33;
  const float eps = 1e-5f;
  // Offset 100 with spread ~2: a one-pass E[x^2]-E[x]^2 in float would lose most digits.
  const auto x = random_vec(rows * cols, 61, 98.0f, 102.0f);
  std::vector<float> y(x.size()), mean(rows), inv_std(rows);
  layernorm_f32(rows, cols, x.data(), nullptr, nullptr, eps, y.data(), mean.data(), inv_std.data());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0.0, v = 0.0, xm = 0.0, xv = 0.0;
    for (int64_t i = 0; i < cols; ++i) m += y[r * cols + i], xm += x[r * cols + i];
    m /= cols;
    xm /= cols;
    for (int64_t i = 0; i < cols; ++i) {
      v += (y[r * cols + i] - m) * (y[r * cols + i] - m);
      xv += (x[r * cols + i] - xm) * (x[r * cols + i] - xm);
    }
    v /= cols;
    xv /= cols;
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(v, xv / (xv + eps), 1e-4);  // = 1 up to the eps term
    EXPECT_NEAR(v, 1.0, 2e-4);
    EXPECT_NEAR(mean[r], xm, 1e-4);
    EXPECT_NEAR(inv_std[r], 1.0 / std::sqrt(xv + eps), 1e-4);
  }
}

TEST(RefBatchNorm, HandComputedBothLayouts) {
  const std::vector<float> scale = {2, 1}, bias = {0, 1}, mean = {1, 3}, var = {4, 1};
  const std::vector<float> x = {1, 2, 3, 4};  // NCHW [1][2][2]
  std::vector<float> y(4);
  batchnorm_nchw_f32(1, 2, 2, x.data(), scale.data(), bias.data(), mean.data(), var.data(), 0.0f,
                     y.data());
  expect_all_near(y, {0, 1, 1, 2}, 1e-7);
  const std::vector<float> xh = {1, 3, 2, 4};  // the same tensor channels-last
  batchnorm_nhwc_f32(2, 2, xh.data(), scale.data(), bias.data(), mean.data(), var.data(), 0.0f,
                     y.data());
  expect_all_near(y, {0, 1, 1, 2}, 1e-7);
}

TEST(RefBatchNorm, NhwcMatchesNchwRandom) {
  const int64_t n = 2, c = 5, hw = 6;
  const auto x = random_vec(n * c * hw, 71);
  const auto scale = random_vec(c, 72), bias = random_vec(c, 73), mean = random_vec(c, 74);
  const auto var = random_vec(c, 75, 0.1f, 2.0f);
  std::vector<float> y(x.size()), yh(x.size());
  batchnorm_nchw_f32(n, c, hw, x.data(), scale.data(), bias.data(), mean.data(), var.data(), 1e-5f,
                     y.data());
  batchnorm_nhwc_f32(n * hw, c, to_nhwc(x, n, c, hw).data(), scale.data(), bias.data(), mean.data(),
                     var.data(), 1e-5f, yh.data());
  expect_all_near(to_nchw(yh, n, hw, c), y, 0);
  // Spot-check one element against the formula.
  const int64_t b = 1, ch = 3, s = 4, i = (b * c + ch) * hw + s;
  EXPECT_NEAR(y[i], (x[i] - mean[ch]) / std::sqrt(var[ch] + 1e-5) * scale[ch] + bias[ch], 1e-6);
}

// ================================ layout =========================================================

TEST(RefLayout, Transpose2D) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};  // [2,3]
  const int64_t shape[2] = {2, 3}, perm[2] = {1, 0};
  std::vector<float> y(6);
  transpose(sizeof(float), 2, shape, perm, x.data(), y.data());
  expect_all_near(y, {1, 4, 2, 5, 3, 6}, 0);
}

template <typename T>
void check_transpose_round_trip(const std::vector<int64_t>& shape,
                                const std::vector<int64_t>& perm) {
  const int rank = static_cast<int>(shape.size());
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  std::vector<T> x(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) x[i] = static_cast<T>(i * 7 + 3);
  std::vector<T> y(x.size()), back(x.size());
  transpose(sizeof(T), rank, shape.data(), perm.data(), x.data(), y.data());

  // Direct check of the mapping: y[j] at out index o equals x at in index i with i[perm[d]] = o[d].
  std::vector<int64_t> out_shape(rank), in_stride(rank, 1);
  for (int d = 0; d < rank; ++d) out_shape[d] = shape[perm[d]];
  for (int d = rank - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  for (int64_t j = 0; j < total; ++j) {
    int64_t rem = j, src = 0;
    for (int d = rank - 1; d >= 0; --d) {
      src += (rem % out_shape[d]) * in_stride[perm[d]];
      rem /= out_shape[d];
    }
    ASSERT_EQ(y[j], x[src]) << "out index " << j;
  }

  std::vector<int64_t> inv(rank);
  for (int d = 0; d < rank; ++d) inv[perm[d]] = d;
  transpose(sizeof(T), rank, out_shape.data(), inv.data(), y.data(), back.data());
  EXPECT_EQ(back, x);
}

TEST(RefLayout, TransposeRoundTripAllElemSizes) {
  check_transpose_round_trip<uint8_t>({2, 3, 4, 5}, {2, 0, 3, 1});
  check_transpose_round_trip<uint16_t>({3, 1, 4, 2}, {3, 2, 1, 0});
  check_transpose_round_trip<float>({2, 3, 4, 5}, {0, 2, 3, 1});
  check_transpose_round_trip<int64_t>({2, 3, 2, 3, 2}, {4, 1, 3, 0, 2});
  check_transpose_round_trip<double>({7}, {0});
}

TEST(RefLayout, NchwNhwcAgreeWithTranspose) {
  const int64_t n = 2, c = 3, hw = 5;
  const auto x = random_vec(n * c * hw, 81);
  std::vector<float> y(x.size()), t(x.size()), back(x.size());
  nchw_to_nhwc_f32(n, c, hw, x.data(), y.data());
  const int64_t shape[3] = {n, c, hw}, perm[3] = {0, 2, 1};
  transpose(sizeof(float), 3, shape, perm, x.data(), t.data());
  EXPECT_EQ(y, t);
  EXPECT_EQ(y, to_nhwc(x, n, c, hw));
  nhwc_to_nchw_f32(n, hw, c, y.data(), back.data());
  EXPECT_EQ(back, x);
}

TEST(RefLayout, StridedCopyReverseSliceExpandScalar) {
  const std::vector<float> v = {0, 1, 2, 3, 4, 5};
  std::vector<float> y(6);
  const int64_t s6[1] = {6}, neg1[1] = {-1};
  strided_copy(sizeof(float), 1, s6, v.data(), 5, neg1, y.data());  // reverse
  expect_all_near(y, {5, 4, 3, 2, 1, 0}, 0);

  // x [4][5] = 0..19; rows 1..2, columns 4, 2, 0 (step -2).
  std::vector<int64_t> m(20);
  std::iota(m.begin(), m.end(), int64_t{0});
  const int64_t shape[2] = {2, 3}, strides[2] = {5, -2};
  std::vector<int64_t> z(6);
  strided_copy(sizeof(int64_t), 2, shape, m.data(), 1 * 5 + 4, strides, z.data());
  EXPECT_EQ(z, (std::vector<int64_t>{9, 7, 5, 14, 12, 10}));

  // Expand [3] -> [2,3] via a 0 stride.
  const int64_t eshape[2] = {2, 3}, estr[2] = {0, 1};
  strided_copy(sizeof(float), 2, eshape, v.data(), 2, estr, y.data());
  expect_all_near(y, {2, 3, 4, 2, 3, 4}, 0);

  // Rank 0: a single element at the offset (Gather of one index).
  float one = -1.0f;
  strided_copy(sizeof(float), 0, nullptr, v.data(), 3, nullptr, &one);
  EXPECT_EQ(one, 3.0f);

  // Empty shape copies nothing.
  const int64_t empty[2] = {0, 3};
  float sentinel = 42.0f;
  strided_copy(sizeof(float), 2, empty, v.data(), 0, estr, &sentinel);
  EXPECT_EQ(sentinel, 42.0f);
}

}  // namespace
}  // namespace effi::kernels::ref
