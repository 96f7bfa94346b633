// Highway Resize kernels (kernels/resize.h): table-driven nearest / linear resizing of the two
// spatial axes, NCHW per plane and NHWC vectorised over channels, compiled once per target by
// foreach_target and dispatched at run time. Linear arithmetic is double, in the reference's order
// (see resize.h), so results equal ref::resize_f32 exactly; the reference's "this axis is not
// interpolated here" (w1 == 0) is a branch, not a multiply by 0, so inf and NaN neighbours it
// never reads stay out of the result as they do there.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/resize_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/isa.h"
#include "kernels/resize.h"

#ifndef EFFI_KERNELS_HWY_RESIZE_HWY_ONCE_
#define EFFI_KERNELS_HWY_RESIZE_HWY_ONCE_
namespace effi::kernels::resize_detail {
// The NCHW tap-row buffer's row stride in doubles: out_w rounded up to 16 (>= the widest
// target's double lanes), so the vertical pass loads whole vectors from it.
inline int64_t SlotStride(int64_t out_w) { return (out_w + 15) / 16 * 16; }
}  // namespace effi::kernels::resize_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The reference's 1-D step: (1 - w1) * a + w1 * b.
HWY_INLINE double Lerp(double a, double b, double w1) { return (1.0 - w1) * a + w1 * b; }

// Channels [j0, c) of one NHWC output pixel from its (up to) four taps, in scalar double: the
// vector kernel's tail and the whole pixel on targets without double vectors.
template <bool kW, bool kH>
HWY_INLINE void PixelNhwcScalar(const float* x00, const float* x01, const float* x10,
                                const float* x11, double ww, double wh, float* y, int64_t j0,
                                int64_t c) {
  for (int64_t j = j0; j < c; ++j) {
    double top = x00[j], bot = 0.0;
    if constexpr (kW) top = Lerp(top, x01[j], ww);
    if constexpr (kH) {
      bot = x10[j];
      if constexpr (kW) bot = Lerp(bot, x11[j], ww);
      top = Lerp(top, bot, wh);
    }
    y[j] = static_cast<float>(top);
  }
}

#if HWY_HAVE_FLOAT64
using DD = hn::ScalableTag<double>;
using VD = hn::Vec<DD>;
using DF = hn::Rebind<float, DD>;  // as many floats as DD has doubles

// Masked tails as in gemm_hwy.cc: hardware masked on AVX2/AVX-512 (nothing past the mask is
// touched); Highway 1.0.3 emulates them on NEON/SSE4 with full-width accesses, which could fault
// past the end of a tensor or race with the thread writing the next row, so those targets finish
// a row with the same double arithmetic in scalar code.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kMaskedMemOps = true;
#else
constexpr bool kMaskedMemOps = false;
#endif

// double -> float lanes as static_cast rounds them (the reference's last step). Highway 1.0.3's
// emulated targets saturate +-inf to +-FLT_MAX in DemoteTo; the hardware conversions (x86
// cvtpd2ps, NEON fcvtn) keep inf, as static_cast does.
HWY_INLINE hn::Vec<DF> Demote(DF df, VD v) {
#if HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
  HWY_ALIGN double d[HWY_MAX_BYTES / sizeof(double)];
  HWY_ALIGN float f[HWY_MAX_BYTES / sizeof(double)];
  hn::Store(v, DD(), d);
  for (size_t i = 0; i < hn::Lanes(df); ++i) f[i] = static_cast<float>(d[i]);
  return hn::Load(df, f);
#else
  return hn::DemoteTo(df, v);
#endif
}

// One NHWC output pixel's channels [0, c) from its corners: along W when kW (x00, x01 and x10,
// x11), then along H when kH (top, bottom), else the corner itself.
template <bool kW, bool kH>
HWY_INLINE void PixelNhwc(const float* HWY_RESTRICT x00, const float* HWY_RESTRICT x01,
                          const float* HWY_RESTRICT x10, const float* HWY_RESTRICT x11, double ww,
                          double wh, float* HWY_RESTRICT y, int64_t c) {
  const DD dd;
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(dd));
  const VD w0 = hn::Set(dd, 1.0 - ww), w1 = hn::Set(dd, ww);
  const VD h0 = hn::Set(dd, 1.0 - wh), h1 = hn::Set(dd, wh);
  auto blend = [&](auto load) {
    VD top = load(x00);
    if constexpr (kW) top = hn::Add(hn::Mul(w0, top), hn::Mul(w1, load(x01)));
    if constexpr (!kH) {
      return top;
    } else {
      VD bot = load(x10);
      if constexpr (kW) bot = hn::Add(hn::Mul(w0, bot), hn::Mul(w1, load(x11)));
      return hn::Add(hn::Mul(h0, top), hn::Mul(h1, bot));
    }
  };
  int64_t j = 0;
  for (; j + L <= c; j += L) {
    const VD v = blend([&](const float* p) { return hn::PromoteTo(dd, hn::LoadU(df, p + j)); });
    hn::StoreU(Demote(df, v), df, y + j);
  }
  if (j == c) return;
  if constexpr (kMaskedMemOps) {
    const auto m = hn::FirstN(df, static_cast<size_t>(c - j));
    const VD v =
        blend([&](const float* p) { return hn::PromoteTo(dd, hn::MaskedLoad(m, df, p + j)); });
    hn::BlendedStore(Demote(df, v), m, df, y + j);
    return;
  }
  PixelNhwcScalar<kW, kH>(x00, x01, x10, x11, ww, wh, y, j, c);
}

// y[0, n) = float((1 - wh) * t0 + wh * t1), or float(t0) when !kH; t0 / t1 are tap rows padded
// to whole vectors (SlotStride).
template <bool kH>
HWY_INLINE void VerticalRow(const double* HWY_RESTRICT t0, const double* HWY_RESTRICT t1, double wh,
                            float* HWY_RESTRICT y, int64_t n) {
  const DD dd;
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(dd));
  const VD h0 = hn::Set(dd, 1.0 - wh), h1 = hn::Set(dd, wh);
  auto at = [&](int64_t j) {
    const VD a = hn::LoadU(dd, t0 + j);
    if constexpr (!kH) return a;
    return hn::Add(hn::Mul(h0, a), hn::Mul(h1, hn::LoadU(dd, t1 + j)));
  };
  int64_t j = 0;
  for (; j + L <= n; j += L) hn::StoreU(Demote(df, at(j)), df, y + j);
  if (j == n) return;
  if constexpr (kMaskedMemOps) {
    hn::BlendedStore(Demote(df, at(j)), hn::FirstN(df, static_cast<size_t>(n - j)), df, y + j);
    return;
  }
  HWY_ALIGN float t[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(Demote(df, at(j)), df, t);
  std::memcpy(y + j, t, static_cast<size_t>(n - j) * sizeof(float));
}
#else   // no double vectors on this target: the same arithmetic in scalar code
template <bool kW, bool kH>
HWY_INLINE void PixelNhwc(const float* x00, const float* x01, const float* x10, const float* x11,
                          double ww, double wh, float* y, int64_t c) {
  PixelNhwcScalar<kW, kH>(x00, x01, x10, x11, ww, wh, y, 0, c);
}

template <bool kH>
HWY_INLINE void VerticalRow(const double* t0, const double* t1, double wh, float* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = static_cast<float>(kH ? Lerp(t0[j], t1[j], wh) : t0[j]);
}
#endif  // HWY_HAVE_FLOAT64

// Output rows [r0, r1) of planes * out_h. Nearest: a gather per row (an output row equal to the
// one above, as in every upsampled pair, is a copy of it). Linear: separable, as the reference's
// order allows: each needed input row is interpolated along W once into a double tap row (two
// slots, so an upsampled input row serves both output rows that read it), then the output row is
// the vertical blend of two tap rows, vectorised along W.
void Nchw(const ResizePlan& plan, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t r0,
          int64_t r1, void* scratch) {
  const ResizeTable &th = plan.h, &tw = plan.w;
  const int64_t ih = th.in, iw = tw.in, oh = th.out, ow = tw.out;
  if (!plan.linear) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / oh, o = r % oh;
      float* dst = y + r * ow;
      if (r > r0 && o > 0 && th.i0[o] == th.i0[o - 1]) {
        std::memcpy(dst, dst - ow, static_cast<size_t>(ow) * sizeof(float));
        continue;
      }
      const float* src = x + (p * ih + th.i0[o]) * iw;
      for (int64_t j = 0; j < ow; ++j) dst[j] = src[tw.i0[j]];
    }
    return;
  }
  const int64_t stride = resize_detail::SlotStride(ow);
  double* slot[2] = {static_cast<double*>(scratch), static_cast<double*>(scratch) + stride};
  int64_t held[2] = {-1, -1};  // the input row (plane * ih + row) each slot holds
  for (double* s : slot) std::fill(s + ow, s + stride, 0.0);
  auto find = [&](int64_t row) { return held[0] == row ? 0 : held[1] == row ? 1 : -1; };
  auto fill = [&](int s, int64_t row) {
    const float* src = x + row * iw;
    double* t = slot[s];
    for (int64_t j = 0; j < ow; ++j) {
      const double a = src[tw.i0[j]], w1 = tw.w1[j];
      t[j] = w1 == 0.0 ? a : Lerp(a, src[tw.i1[j]], w1);
    }
    held[s] = row;
  };
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t p = r / oh, o = r % oh;
    const int64_t ra = p * ih + th.i0[o], rb = p * ih + th.i1[o];
    const double wh = th.w1[o];
    int sa = find(ra);
    if (sa < 0) {
      sa = find(rb) == 0 ? 1 : 0;  // keep the other row of this output if it is held
      fill(sa, ra);
    }
    if (wh == 0.0) {
      VerticalRow<false>(slot[sa], slot[sa], 0.0, y + r * ow, ow);
      continue;
    }
    int sb = find(rb);
    if (sb < 0) {
      sb = 1 - sa;
      fill(sb, rb);
    }
    VerticalRow<true>(slot[sa], slot[sb], wh, y + r * ow, ow);
  }
}

// Output rows [r0, r1) of n * out_h, each out_w pixels of c channels.
void Nhwc(const ResizePlan& plan, int64_t c, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
          int64_t r0, int64_t r1) {
  const ResizeTable &th = plan.h, &tw = plan.w;
  const int64_t iw = tw.in, ow = tw.out;
  const size_t row_bytes = static_cast<size_t>(ow * c) * sizeof(float);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / th.out, o = r % th.out;
    float* dst = y + r * ow * c;
    const double wh = plan.linear ? th.w1[o] : 0.0;
    // Nearest, or linear where neither this row nor the one above interpolates along H: an output
    // row reading the same input row as the one above is a copy of it.
    if (r > r0 && o > 0 && wh == 0.0 && th.i0[o] == th.i0[o - 1] &&
        (!plan.linear || th.w1[o - 1] == 0.0)) {
      std::memcpy(dst, dst - ow * c, row_bytes);
      continue;
    }
    const float* top = x + (b * th.in + th.i0[o]) * iw * c;
    const float* bot = x + (b * th.in + th.i1[o]) * iw * c;
    for (int64_t j = 0; j < ow; ++j, dst += c) {
      const float* x00 = top + static_cast<int64_t>(tw.i0[j]) * c;
      const double ww = plan.linear ? tw.w1[j] : 0.0;
      if (ww == 0.0 && wh == 0.0) {
        std::memcpy(dst, x00, static_cast<size_t>(c) * sizeof(float));
        continue;
      }
      const float* x01 = top + static_cast<int64_t>(tw.i1[j]) * c;
      const float* x10 = bot + static_cast<int64_t>(tw.i0[j]) * c;
      const float* x11 = bot + static_cast<int64_t>(tw.i1[j]) * c;
      if (wh == 0.0)
        PixelNhwc<true, false>(x00, x01, x10, x11, ww, wh, dst, c);
      else if (ww == 0.0)
        PixelNhwc<false, true>(x00, x01, x10, x11, ww, wh, dst, c);
      else
        PixelNhwc<true, true>(x00, x01, x10, x11, ww, wh, dst, c);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(Nchw);
HWY_EXPORT(Nhwc);

bool ResizeAxisIsIdentity(const ref::ResizeParams& p, const ref::ResizeAxis& a) {
  if (a.in != a.out || a.scale != 1.0 || p.coord == ref::ResizeCoord::kTfCropAndResize)
    return false;
  if (a.in <= 1) return true;
  // With scale 1 every coordinate mode is x + a constant offset (0 or 0.5), so the first, second
  // and last index decide whether the axis is shifted.
  for (int64_t i : {int64_t{0}, int64_t{1}, a.in - 1}) {
    const ref::ResizeTap t = ref::resize_tap(p, a, i);
    if (t.outside || t.i0 != i || t.w1 != 0.0) return false;
  }
  return true;
}

namespace {

std::optional<ResizeTable> Table(const ref::ResizeParams& p, const ref::ResizeAxis& a) {
  if (a.in <= 0 || a.out <= 0 || a.out > kMaxResizeTable ||
      a.in > int64_t{std::numeric_limits<int32_t>::max()})
    return std::nullopt;
  ResizeTable t;
  t.in = a.in;
  t.out = a.out;
  const size_t n = static_cast<size_t>(a.out);
  t.i0.resize(n);
  t.i1.resize(n);
  t.w1.resize(n);
  for (int64_t o = 0; o < a.out; ++o) {
    const ref::ResizeTap tap = ref::resize_tap(p, a, o);
    const size_t k = static_cast<size_t>(o);
    t.i0[k] = static_cast<int32_t>(tap.i0);
    t.w1[k] = p.linear ? tap.w1 : 0.0;
    t.i1[k] = t.w1[k] == 0.0 ? t.i0[k] : static_cast<int32_t>(tap.i1);
  }
  return t;
}

}  // namespace

std::optional<ResizePlan> PlanResize(const ref::ResizeParams& p, const ref::ResizeAxis& h,
                                     const ref::ResizeAxis& w) {
  if (p.coord == ref::ResizeCoord::kTfCropAndResize) return std::nullopt;
  std::optional<ResizeTable> th = Table(p, h), tw = Table(p, w);
  if (!th || !tw) return std::nullopt;
  ResizePlan plan;
  plan.linear = p.linear;
  plan.h = std::move(*th);
  plan.w = std::move(*tw);
  return plan;
}

size_t ResizeNchwScratchBytes(const ResizePlan& plan) {
  return plan.linear
             ? static_cast<size_t>(2 * resize_detail::SlotStride(plan.w.out)) * sizeof(double)
             : 0;
}

void ResizeNchwF32(const ResizePlan& plan, const float* x, float* y, int64_t row_begin,
                   int64_t row_end, void* scratch) {
  if (row_end <= row_begin || plan.w.out <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Nchw)(plan, x, y, row_begin, row_end, scratch);
}

void ResizeNhwcF32(const ResizePlan& plan, int64_t c, const float* x, float* y, int64_t row_begin,
                   int64_t row_end) {
  if (row_end <= row_begin || plan.w.out <= 0 || c <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Nhwc)(plan, c, x, y, row_begin, row_end);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
