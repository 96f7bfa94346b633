// im2col (kernels/im2col.h) for float and uint8_t against a plain per-element loop, on odd shapes:
// strides 1 and 2, asymmetric pads larger than the kernel's reach (whole padded kernel rows and
// taps cut on both sides), dilation 2 (the per-tap path), 1, 3 (the 3x3-over-RGB constant-size
// copy) and 5 channels, batches > 1 and row ranges [m0, m1) that start and end mid-image. The
// padding value is checked to be the one passed (a u8 zero point, a nonzero float), not 0.
#include "kernels/im2col.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace effi::kernels {
namespace {

// The definition: col[m][(ky * kw + kx) * c + ci] = x[b][iy][ix][ci] or pad outside the image.
template <class T>
std::vector<T> PlainIm2col(const ref::Conv2dParams& p, const std::vector<T>& x, int64_t m0,
                           int64_t m1, T pad) {
  const int64_t kcols = p.kh * p.kw * p.c_in;
  std::vector<T> col(static_cast<size_t>((m1 - m0) * kcols));
  for (int64_t m = m0; m < m1; ++m) {
    const int64_t b = m / (p.h_out * p.w_out), oy = m / p.w_out % p.h_out, ox = m % p.w_out;
    for (int64_t ky = 0; ky < p.kh; ++ky)
      for (int64_t kx = 0; kx < p.kw; ++kx)
        for (int64_t ci = 0; ci < p.c_in; ++ci) {
          const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
          const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
          const bool in = iy >= 0 && iy < p.h_in && ix >= 0 && ix < p.w_in;
          col[static_cast<size_t>((m - m0) * kcols + (ky * p.kw + kx) * p.c_in + ci)] =
              in ? x[static_cast<size_t>(((b * p.h_in + iy) * p.w_in + ix) * p.c_in + ci)] : pad;
        }
  }
  return col;
}

struct Case {
  int64_t n, c, h, w, kh, kw, stride, pt, pl, pb, pr, dil;
};

// ONNX's output size for the case.
ref::Conv2dParams Params(const Case& k) {
  ref::Conv2dParams p{k.n,  k.c,      k.h,      k.w,  1,    0,     0,     k.kh,
                      k.kw, k.stride, k.stride, k.pt, k.pl, k.dil, k.dil, 1};
  p.h_out = (k.h + k.pt + k.pb - k.dil * (k.kh - 1) - 1) / k.stride + 1;
  p.w_out = (k.w + k.pl + k.pr - k.dil * (k.kw - 1) - 1) / k.stride + 1;
  return p;
}

const Case kCases[] = {
    {1, 3, 7, 9, 3, 3, 2, 1, 1, 1, 1, 1},  // stem-like 3x3 s2 over RGB (9-element rows)
    {2, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1},  // 1 channel, batch 2, stride 1
    {1, 3, 6, 5, 3, 3, 2, 2, 2, 0, 1, 1},  // pads 2: whole padded kernel rows at the top
    {2, 5, 5, 7, 3, 2, 2, 0, 1, 1, 0, 1},  // 3x2 kernel, asymmetric pads, 5 channels
    {1, 1, 4, 2, 5, 5, 1, 2, 2, 2, 2, 1},  // kernel wider than the input: cut on both sides
    {1, 3, 9, 8, 3, 3, 2, 2, 2, 2, 2, 2},  // dilation 2: one copy per tap
    {1, 3, 3, 3, 1, 1, 2, 0, 0, 0, 0, 1},  // 1x1 stride 2 (no padding)
};

template <class T>
void CheckAll(T pad, T lo, T hi, T sentinel) {
  std::mt19937 rng(7);
  for (const Case& k : kCases) {
    const ref::Conv2dParams p = Params(k);
    SCOPED_TRACE(::testing::Message()
                 << "n" << k.n << " c" << k.c << " " << k.h << "x" << k.w << " k" << k.kh << "x"
                 << k.kw << " s" << k.stride << " d" << k.dil);
    ASSERT_GE(p.h_out, 1);
    ASSERT_GE(p.w_out, 1);
    std::vector<T> x(static_cast<size_t>(p.n * p.h_in * p.w_in * p.c_in));
    std::uniform_int_distribution<int> u(static_cast<int>(lo), static_cast<int>(hi));
    for (T& v : x) v = static_cast<T>(u(rng));
    const int64_t m = p.n * p.h_out * p.w_out, kcols = p.kh * p.kw * p.c_in;
    // Whole, a range from the start, ranges starting and ending mid-row / mid-image.
    const std::pair<int64_t, int64_t> ranges[] = {
        {0, m}, {0, m / 2}, {m / 3, m}, {p.w_out - 1, std::min(m, 2 * p.w_out + 1)}};
    int padded = 0;
    for (auto [m0, m1] : ranges) {
      if (m1 <= m0) continue;
      const std::vector<T> want = PlainIm2col(p, x, m0, m1, pad);
      // A sentinel after the rows: the kernel writes exactly (m1 - m0) * kcols elements.
      std::vector<T> got(static_cast<size_t>((m1 - m0) * kcols + 1), sentinel);
      Im2colNhwc<T>(p, x.data(), m0, m1, pad, got.data());
      EXPECT_EQ(got.back(), sentinel) << "wrote past the rows";
      got.pop_back();
      ASSERT_EQ(got, want) << "rows [" << m0 << ", " << m1 << ")";
      for (T v : want) padded += v == pad;
    }
    // Every case reaches into the padding except the unpadded 1x1 (the pad value is then unused).
    if (k.pt + k.pl + k.pb + k.pr > 0) {
      EXPECT_GT(padded, 0);
    }
  }
}

TEST(Im2col, Uint8PadsWithTheZeroPointLikeAPlainLoop) {
  // Data in [0, 100], padding 173: a padded tap is told apart from any real one.
  CheckAll<uint8_t>(173, 0, 100, 255);
}

TEST(Im2col, FloatLikeAPlainLoop) {
  CheckAll<float>(0.0f, -50.0f, 50.0f, 1e9f);
  // A nonzero float padding value takes the fill loop instead of memset.
  CheckAll<float>(-77.5f, -50.0f, 50.0f, 1e9f);
}

}  // namespace
}  // namespace effi::kernels
