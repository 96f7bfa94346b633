// Highway NHWC pooling kernels (fused pool mixer, general average pool), vectorised over channels,
// compiled once per target by foreach_target and dispatched at run time.
#include <algorithm>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/pool_hwy.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/isa.h"
#include "kernels/pool.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Sum of `taps` consecutive pixels of the column sums (pixel stride c) at channel offset c0.
// kTaps > 0 fixes the count at compile time for the interior of the row.
template <int kTaps>
HWY_INLINE VF SumTaps(DF d, const float* HWY_RESTRICT col, int64_t c, int64_t taps) {
  VF s = hn::LoadU(d, col);
  if constexpr (kTaps > 0) {
    for (int t = 1; t < kTaps; ++t) s = hn::Add(s, hn::LoadU(d, col + t * c));
  } else {
    for (int64_t t = 1; t < taps; ++t) s = hn::Add(s, hn::LoadU(d, col + t * c));
  }
  return s;
}

// One output pixel of the mixer: y = x + scale * (avg - x) on all channels.
template <int kTaps>
HWY_INLINE void MixPixel(const float* HWY_RESTRICT col, int64_t taps, float inv_count,
                         const float* HWY_RESTRICT xc, const float* HWY_RESTRICT scale,
                         float* HWY_RESTRICT yc, int64_t c) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const VF inv = hn::Set(d, inv_count);
  int64_t j = 0;
  for (; j + L <= c; j += L) {
    const VF avg = hn::Mul(SumTaps<kTaps>(d, col + j, c, taps), inv);
    const VF xv = hn::LoadU(d, xc + j);
    const VF sc = scale ? hn::LoadU(d, scale + j) : hn::Set(d, 1.0f);
    hn::StoreU(hn::MulAdd(sc, hn::Sub(avg, xv), xv), d, yc + j);
  }
  for (; j < c; ++j) {  // channel tail (c % lanes), scalar in the same order
    float s = col[j];
    for (int64_t t = 1; t < taps; ++t) s += col[j + t * c];
    const float sc = scale ? scale[j] : 1.0f;
    yc[j] = xc[j] + sc * (s * inv_count - xc[j]);
  }
}

// Vertical sum of the kRows (1..3) input rows of a 3x3 window at element offset `at`.
template <int kRows>
HWY_INLINE VF Column3(DF d, const float* HWY_RESTRICT r0, const float* HWY_RESTRICT r1,
                      const float* HWY_RESTRICT r2, int64_t at) {
  VF s = hn::LoadU(d, r0 + at);
  if constexpr (kRows > 1) s = hn::Add(s, hn::LoadU(d, r1 + at));
  if constexpr (kRows > 2) s = hn::Add(s, hn::LoadU(d, r2 + at));
  return s;
}

// One output row of the 3x3 mixer (EfficientFormer's pool_size), input rows r0..r(kRows-1) (the
// in-image rows of the window), centre row xr. Per channel vector the row is walked left to right
// keeping the column sums of ox-1, ox, ox+1 in registers: 3 loads (+1 for x, an L1 hit) and one
// store per output vector, no intermediate buffer. 56x56x48 on AVX-512, in cache, 64-byte aligned:
// 20 us, vs 50 us for the generic column-sum-buffer path below (memcpy of the tensor: 8 us).
template <int kRows>
HWY_INLINE void Mix3x3Row(const float* HWY_RESTRICT r0, const float* HWY_RESTRICT r1,
                          const float* HWY_RESTRICT r2, const float* HWY_RESTRICT xr,
                          const float* HWY_RESTRICT scale, float* HWY_RESTRICT yr, int64_t w,
                          int64_t c) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  // Divisors: kRows in-image rows times 3 columns inside, 2 at the left/right edge, 1 if w == 1.
  const VF inv_mid = hn::Set(d, 1.0f / static_cast<float>(3 * kRows));
  const VF inv_edge = hn::Set(d, 1.0f / static_cast<float>((w > 1 ? 2 : 1) * kRows));
  int64_t j = 0;
  for (; j + L <= c; j += L) {
    const VF sc = scale ? hn::LoadU(d, scale + j) : hn::Set(d, 1.0f);
    VF prev = hn::Zero(d);
    VF cur = Column3<kRows>(d, r0, r1, r2, j);
    for (int64_t ox = 0; ox < w; ++ox) {
      const int64_t at = ox * c + j;
      const VF next = ox + 1 < w ? Column3<kRows>(d, r0, r1, r2, at + c) : hn::Zero(d);
      const VF inv = ox == 0 || ox + 1 == w ? inv_edge : inv_mid;
      const VF avg = hn::Mul(hn::Add(hn::Add(prev, cur), next), inv);
      const VF xv = hn::LoadU(d, xr + at);
      hn::StoreU(hn::MulAdd(sc, hn::Sub(avg, xv), xv), d, yr + at);
      prev = cur;
      cur = next;
    }
  }
  for (; j < c; ++j) {  // channel tail (c % lanes): the same sums in scalar
    const float sc = scale ? scale[j] : 1.0f;
    auto column = [&](int64_t ox) {
      float v = r0[ox * c + j];
      if (kRows > 1) v += r1[ox * c + j];
      if (kRows > 2) v += r2[ox * c + j];
      return v;
    };
    for (int64_t ox = 0; ox < w; ++ox) {
      float sum = column(ox);
      int64_t taps = 1;
      if (ox > 0) sum += column(ox - 1), ++taps;
      if (ox + 1 < w) sum += column(ox + 1), ++taps;
      const float xv = xr[ox * c + j];
      yr[ox * c + j] = xv + sc * (sum / static_cast<float>(taps * kRows) - xv);
    }
  }
}

void PoolMixer(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, const float* x,
               const float* scale, float* y, int64_t row_begin, int64_t row_end) {
  (void)n;
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t p = k / 2, wc = w * c;
  if (k == 3) {
    for (int64_t row = row_begin; row < row_end; ++row) {
      const int64_t b = row / h, oy = row % h;
      const int64_t y0 = std::max<int64_t>(oy - 1, 0), y1 = std::min<int64_t>(oy + 1, h - 1);
      const float* xb = x + b * h * wc;
      // Rows past y1 are never read; keep the pointers inside the image anyway.
      const float* r0 = xb + y0 * wc;
      const float* r1 = y1 > y0 ? r0 + wc : r0;
      const float* r2 = y1 > y0 + 1 ? r1 + wc : r1;
      const float* xr = xb + oy * wc;
      float* yr = y + row * wc;
      switch (y1 - y0 + 1) {
        case 3:
          Mix3x3Row<3>(r0, r1, r2, xr, scale, yr, w, c);
          break;
        case 2:
          Mix3x3Row<2>(r0, r1, r2, xr, scale, yr, w, c);
          break;
        default:
          Mix3x3Row<1>(r0, r1, r2, xr, scale, yr, w, c);
          break;
      }
    }
    return;
  }
  // Separable: per output row, the vertical window sums of all w*c columns (one contiguous stream
  // over the k input rows, into a buffer that stays in L1: <= 12.5 KiB on L1's shapes), then the
  // horizontal window over the buffer, fused with the mix. Input rows are re-read by the k output
  // rows that need them while still in cache, so DRAM sees one read and one write.
  auto col = hwy::AllocateAligned<float>(static_cast<size_t>(wc));
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / h, oy = row % h;
    const int64_t y0 = std::max<int64_t>(oy - p, 0), y1 = std::min<int64_t>(oy + p, h - 1);
    const float* xb = x + b * h * wc;
    int64_t j = 0;
    for (; j + L <= wc; j += L) {
      VF s = hn::LoadU(d, xb + y0 * wc + j);
      for (int64_t iy = y0 + 1; iy <= y1; ++iy) s = hn::Add(s, hn::LoadU(d, xb + iy * wc + j));
      hn::Store(s, d, col.get() + j);
    }
    for (; j < wc; ++j) {
      float s = xb[y0 * wc + j];
      for (int64_t iy = y0 + 1; iy <= y1; ++iy) s += xb[iy * wc + j];
      col[static_cast<size_t>(j)] = s;
    }
    const float* xr = xb + oy * wc;
    float* yr = y + row * wc;
    const int64_t rows_in = y1 - y0 + 1;
    for (int64_t ox = 0; ox < w; ++ox) {
      const int64_t x0 = std::max<int64_t>(ox - p, 0), x1 = std::min<int64_t>(ox + p, w - 1);
      const int64_t taps = x1 - x0 + 1;
      const float inv = 1.0f / static_cast<float>(rows_in * taps);
      const float* cx = col.get() + x0 * c;
      if (k == 3 && taps == 3) {
        MixPixel<3>(cx, taps, inv, xr + ox * c, scale, yr + ox * c, c);
      } else {
        MixPixel<0>(cx, taps, inv, xr + ox * c, scale, yr + ox * c, c);
      }
    }
  }
}

void AvgPool(const ref::Pool2dParams& p, const float* x, float* y, int64_t row_begin,
             int64_t row_end) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t c = p.c;
  std::vector<int64_t> iys(static_cast<size_t>(p.kh)), ixs(static_cast<size_t>(p.kw));
  // Valid taps along one axis for output o, and the count_include_pad divisor factor (taps inside
  // the padded extent [-pad_begin, in + pad_end)), as in ref::avgpool2d_nhwc_f32.
  auto taps = [](int64_t o, int64_t stride, int64_t pad_b, int64_t pad_e, int64_t in, int64_t kk,
                 int64_t dil, int64_t* valid, int64_t* padded) {
    int64_t nv = 0;
    *padded = 0;
    for (int64_t i = 0; i < kk; ++i) {
      const int64_t pos = o * stride - pad_b + i * dil;
      if (pos >= -pad_b && pos < in + pad_e) ++*padded;
      if (pos >= 0 && pos < in) valid[nv++] = pos;
    }
    return nv;
  };
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / p.h_out, oy = row % p.h_out;
    int64_t ph = 0;
    const int64_t nh =
        taps(oy, p.stride_h, p.pad_top, p.pad_bottom, p.h_in, p.kh, p.dil_h, iys.data(), &ph);
    const float* xb = x + b * p.h_in * p.w_in * c;
    float* yr = y + row * p.w_out * c;
    for (int64_t ox = 0; ox < p.w_out; ++ox) {
      int64_t pw = 0;
      const int64_t nw =
          taps(ox, p.stride_w, p.pad_left, p.pad_right, p.w_in, p.kw, p.dil_w, ixs.data(), &pw);
      const int64_t valid = nh * nw;
      // An all-padding window averages nothing: 0, like the reference and onnxruntime.
      const float inv =
          valid == 0 ? 0.0f : 1.0f / static_cast<float>(p.count_include_pad ? ph * pw : valid);
      float* yc = yr + ox * c;
      int64_t j = 0;
      for (; j + L <= c; j += L) {
        VF s = hn::Zero(d);
        for (int64_t a = 0; a < nh; ++a) {
          const float* xrow = xb + iys[static_cast<size_t>(a)] * p.w_in * c + j;
          for (int64_t e = 0; e < nw; ++e)
            s = hn::Add(s, hn::LoadU(d, xrow + ixs[static_cast<size_t>(e)] * c));
        }
        hn::StoreU(hn::Mul(s, hn::Set(d, inv)), d, yc + j);
      }
      for (; j < c; ++j) {
        float s = 0.0f;
        for (int64_t a = 0; a < nh; ++a)
          for (int64_t e = 0; e < nw; ++e)
            s += xb[(iys[static_cast<size_t>(a)] * p.w_in + ixs[static_cast<size_t>(e)]) * c + j];
        yc[j] = s * inv;
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(PoolMixer);
HWY_EXPORT(AvgPool);

void PoolMixerNhwcF32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t pool_size, const float* x,
                      const float* scale, float* y, int64_t row_begin, int64_t row_end) {
  if (row_end <= row_begin || w <= 0 || c <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(PoolMixer)(n, h, w, c, pool_size, x, scale, y, row_begin, row_end);
}

void AvgPool2dNhwcF32(const ref::Pool2dParams& p, const float* x, float* y, int64_t row_begin,
                      int64_t row_end) {
  if (row_end <= row_begin || p.w_out <= 0 || p.c <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(AvgPool)(p, x, y, row_begin, row_end);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
