// Highway depthwise convolution on NHWC (vectors along channels), compiled once per target by
// foreach_target and dispatched at run time. See kernels/dwconv.h.
#include <algorithm>
#include <string>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/dwconv_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/dwconv.h"
#include "kernels/hwy/vec_math-inl.h"
#include "kernels/isa.h"

#ifndef EFFI_DWCONV_SHARED_
#define EFFI_DWCONV_SHARED_  // once, not per target (foreach_target re-includes this file)
namespace effi::kernels {
namespace {
// The widest vector (AVX-512) in floats: the packed weights' tap stride is a multiple of it.
constexpr int64_t kMaxLanes = 16;

// The in-image rows of one output row's window: per valid ky, the input row (pixel 0, channel 0)
// and the packed weights of tap (ky, 0). Rows in the padding are left out, so the kernels below
// never test a row per pixel.
struct RowTaps {
  const float** rows;
  const float** w;
  int64_t n;
};
}  // namespace
}  // namespace effi::kernels
#endif  // EFFI_DWCONV_SHARED_

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// File-local per target: other kernels' files define their own Conv, KernelName, ... per target.
namespace {

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
static_assert(hn::MaxLanes(DF()) <= kMaxLanes, "packed weights must hold whole vectors");

// Channel tails (c % lanes): AVX2/AVX-512 masked loads and stores never touch memory past the
// mask. Highway 1.0.3 emulates them on NEON/SSE4 with whole-vector accesses, which could read past
// the end of x or race with the thread writing the next row, so those targets go through a
// buffer (as the GEMM's tails do).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kMaskedMemOps = true;
#else
constexpr bool kMaskedMemOps = false;
#endif

// Output pixels per register tile of the 3x3 kernel: 8 on 32-register targets (8 accumulators, 3
// weights and the input column in flight), 4 on 16-register ones. On AVX-512, 4 pixels x 2
// channel vectors measured the same as 8 x 1 (56x56x128 with GELU 5% slower, the 14x14 and 7x7
// shapes within 3%).
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_EMU128 || \
    HWY_TARGET == HWY_SCALAR
constexpr size_t kTilePx = 4;
#else
constexpr size_t kTilePx = 8;
#endif

// p[0, lanes) for a full vector (kTail false) or a channel tail (lanes < L, zero beyond, reading
// nothing past p + lanes).
template <bool kTail>
HWY_INLINE VF LoadC(DF d, const float* HWY_RESTRICT p, size_t lanes) {
  if constexpr (!kTail) {
    (void)lanes;
    return hn::LoadU(d, p);
  } else if constexpr (kMaskedMemOps) {
    return hn::MaskedLoad(hn::FirstN(d, lanes), d, p);
  } else {
    HWY_ALIGN float t[HWY_LANES(float)] = {};
    for (size_t i = 0; i < lanes; ++i) t[i] = p[i];
    return hn::Load(d, t);
  }
}

template <bool kTail>
HWY_INLINE void StoreC(DF d, VF v, float* HWY_RESTRICT p, size_t lanes) {
  if constexpr (!kTail) {
    (void)lanes;
    hn::StoreU(v, d, p);
  } else if constexpr (kMaskedMemOps) {
    hn::BlendedStore(v, hn::FirstN(d, lanes), d, p);
  } else {
    HWY_ALIGN float t[HWY_LANES(float)];
    hn::Store(v, d, t);
    for (size_t i = 0; i < lanes; ++i) p[i] = t[i];
  }
}

// y = act(acc + bias) + residual, in EpilogueF32's order; bias and res already offset to the
// channel vector (both nullable).
template <bool kTail>
HWY_INLINE void Finish(DF d, VF acc, const float* bias, ref::Activation act, const float* res,
                       float* y, size_t lanes) {
  if (bias) acc = hn::Add(acc, LoadC<kTail>(d, bias, lanes));
  acc = Activate(d, acc, act);
  if (res) acc = hn::Add(acc, LoadC<kTail>(d, res, lanes));
  StoreC<kTail>(d, acc, y, lanes);
}

// A group of kNV channel vectors (kTail: one partial vector) for ForChannels' callbacks.
template <size_t kNV, bool kTail>
struct Channels {
  static constexpr size_t kVecs = kNV;
  static constexpr bool kPartial = kTail;
};

// f(Channels<...>(), j, lanes) over all c channels: groups of kNV full vectors from channel j,
// then single full vectors, then the partial tail (lanes = c % L; 0 for full vectors).
template <size_t kNV, class F>
HWY_INLINE void ForChannels(DF d, int64_t c, const F& f) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), cfull = c - c % L;
  const int64_t group = static_cast<int64_t>(kNV) * L;
  int64_t j = 0;
  for (; j + group <= cfull; j += group) f(Channels<kNV, false>(), j, size_t{0});
  if constexpr (kNV > 1) {
    for (; j < cfull; j += L) f(Channels<1, false>(), j, size_t{0});
  }
  if (j < c) f(Channels<1, true>(), j, static_cast<size_t>(c - j));
}

// The epilogue of a kNV x kNP block of accumulators (channel vectors x pixels) at channel j of
// pixel 0's output y (pixels c floats apart; res the same layout, nullable).
template <size_t kNV, size_t kNP, bool kTail>
HWY_INLINE void FinishBlock(DF d, VF (&acc)[kNV][kNP], int64_t c, int64_t j, size_t lanes,
                            const float* bias, ref::Activation act, const float* res, float* y) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (size_t v = 0; v < kNV; ++v) {
    const int64_t jv = j + static_cast<int64_t>(v) * L;
    for (size_t i = 0; i < kNP; ++i) {
      const int64_t at = static_cast<int64_t>(i) * c + jv;
      Finish<kTail>(d, acc[v][i], bias ? bias + jv : nullptr, act, res ? res + at : nullptr, y + at,
                    lanes);
    }
  }
}

// The 3-wide (kw = 3, dilation_w 1, stride_w kS) register tile over kRows in-image input rows:
// kNP output pixels x kNV channel vectors from channel j. Per input row, the (kNP - 1) * kS + 3
// input columns the tile covers are each loaded once and multiplied into every pixel whose window
// holds them (stride 1, 8 pixels: 10 loads + 3 weight loads for 24 FMAs), taps in (ky, kx) order
// per pixel. ix0: the input column of the first pixel's tap kx = 0 (inside the row: the caller
// gives interior pixels only). kRows is a template argument so every loop here is unrolled: with a
// run-time row loop GCC kept the accumulators on the stack across it (56x56x128, AVX-512, no
// activation: 232 -> 116 us of CPU time). kEdge 1 / 2: the tile's first / last input column is
// the one column of zero padding left / right of the image, not loaded (a row's border pixels
// then share a tile's loads instead of taking the one-pixel path, 21% of a 14-wide row's time).
template <size_t kNP, size_t kNV, int kS, int kRows, bool kTail, int kEdge = 0>
HWY_INLINE void Tile3(DF d, const RowTaps& t, int64_t ix0, int64_t c, int64_t ws, int64_t j,
                      size_t lanes, const float* bias, ref::Activation act, const float* res,
                      float* y) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  constexpr size_t kFirst = kEdge == 1 ? 1 : 0, kEnd = (kNP - 1) * kS + 3 - (kEdge == 2 ? 1 : 0);
  VF acc[kNV][kNP];
  for (size_t v = 0; v < kNV; ++v)
    for (size_t i = 0; i < kNP; ++i) acc[v][i] = hn::Zero(d);
  HWY_UNROLL(3)
  for (int r = 0; r < kRows; ++r) {
    const float* HWY_RESTRICT xp = t.rows[r] + (ix0 + static_cast<int64_t>(kFirst)) * c + j;
    const float* HWY_RESTRICT wr = t.w[r] + j;
    VF w[kNV][3];
    for (size_t v = 0; v < kNV; ++v)
      for (size_t k = 0; k < 3; ++k)
        w[v][k] = hn::LoadU(d, wr + static_cast<int64_t>(k) * ws + static_cast<int64_t>(v) * L);
    HWY_UNROLL(32)  // a literal: GCC 12 refuses template-dependent unroll counts
    for (size_t col = kFirst; col < kEnd; ++col, xp += c) {
      VF xv[kNV];
      for (size_t v = 0; v < kNV; ++v)
        xv[v] = LoadC<kTail>(d, xp + static_cast<int64_t>(v) * L, lanes);
      HWY_UNROLL(32)
      for (size_t i = 0; i < kNP; ++i) {
        // Column col is tap kx = col - i * kS of pixel i.
        if (col >= i * kS && col - i * kS < 3) {
          for (size_t v = 0; v < kNV; ++v)
            acc[v][i] = hn::MulAdd(w[v][col - i * kS], xv[v], acc[v][i]);
        }
      }
    }
  }
  FinishBlock<kNV, kNP, kTail>(d, acc, c, j, lanes, bias, act, res, y);
}

// Interior pixels [ox, ox_end) of one output row, all channels: tiles of kNP pixels, then the
// remainder in halving tiles (54 interior pixels of a 56-wide row = 6 x 8 + 4 + 2). Narrow tiles
// take several channel vectors, so every tile keeps >= 4 (AVX2) or 8 (AVX-512) independent FMA
// chains: a 1-pixel tile of one vector is a 9-FMA dependency chain (the 7x7 stage's rows are
// 4 + 1 interior pixels). yr/rr: the output and residual rows (rr nullable).
template <size_t kNP, int kS, int kRows>
HWY_INLINE void Interior3(DF d, const RowTaps& t, int64_t ox, int64_t ox_end, int64_t pl, int64_t c,
                          int64_t ws, const float* bias, ref::Activation act, const float* rr,
                          float* yr) {
  constexpr size_t kNV = std::min<size_t>(4, std::max<size_t>(1, kTilePx / kNP));
  for (; ox + static_cast<int64_t>(kNP) <= ox_end; ox += static_cast<int64_t>(kNP)) {
    const int64_t ix0 = ox * kS - pl, at = ox * c;
    const float* res = rr ? rr + at : nullptr;
    ForChannels<kNV>(d, c, [&](auto ch, int64_t j, size_t lanes) {
      using Ch = decltype(ch);
      Tile3<kNP, Ch::kVecs, kS, kRows, Ch::kPartial>(d, t, ix0, c, ws, j, lanes, bias, act, res,
                                                     yr + at);
    });
  }
  if constexpr (kNP > 1)
    Interior3<kNP / 2, kS, kRows>(d, t, ox, ox_end, pl, c, ws, bias, act, rr, yr);
}

// Output pixels per edge tile (Tile3 with kEdge): 4, so a 7-wide row still has room for one.
constexpr int64_t kEdgePx = 4;

// Where a row's register tiles go: the interior [ox_lo, ox_hi) (every tap in the image) and, when
// a border pixel misses exactly one column of the image (pad 1, V2's case), an edge tile of
// kEdgePx pixels at either end that takes it. The pixels left over take the one-pixel path.
// Letting the two edge tiles overlap (a 7-wide row as pixels [0, 4) and [3, 7) instead of 4 + 2 +
// a one-pixel border) measured slower: 7x7x1024 on AVX-512 26.3 -> 28.4 us.
struct RowPlan {
  int64_t ox_lo, ox_hi, wo;
  bool left, right;
  int64_t tiles_begin() const { return left ? kEdgePx : ox_lo; }
  int64_t tiles_end() const { return right ? wo - kEdgePx : ox_hi; }
};

RowPlan PlanRow(const ref::Conv2dParams& p, int64_t ox_lo, int64_t ox_hi) {
  RowPlan rp{ox_lo, ox_hi, p.w_out, false, false};
  rp.left = p.pad_left == 1 && ox_lo == 1 && ox_hi >= kEdgePx;
  rp.right = ox_hi == p.w_out - 1 && (p.w_out - 1) * p.stride_w - p.pad_left + 2 == p.w_in &&
             p.w_out - kEdgePx >= rp.tiles_begin();
  return rp;
}

template <int kS, int kRows, int kEdge>
HWY_INLINE void EdgeTile(DF d, const RowTaps& t, int64_t ox, int64_t pl, int64_t c, int64_t ws,
                         const float* bias, ref::Activation act, const float* rr, float* yr) {
  constexpr size_t kNP = static_cast<size_t>(kEdgePx);
  constexpr size_t kNV = std::min<size_t>(4, std::max<size_t>(1, kTilePx / kNP));
  const int64_t ix0 = ox * kS - pl, at = ox * c;
  const float* res = rr ? rr + at : nullptr;
  ForChannels<kNV>(d, c, [&](auto ch, int64_t j, size_t lanes) {
    using Ch = decltype(ch);
    Tile3<kNP, Ch::kVecs, kS, kRows, Ch::kPartial, kEdge>(d, t, ix0, c, ws, j, lanes, bias, act,
                                                          res, yr + at);
  });
}

template <int kS, int kRows>
HWY_INLINE void Row3Tiles(DF d, const RowTaps& t, const RowPlan& rp, int64_t pl, int64_t c,
                          int64_t ws, const float* bias, ref::Activation act, const float* rr,
                          float* yr) {
  if (rp.left) EdgeTile<kS, kRows, 1>(d, t, 0, pl, c, ws, bias, act, rr, yr);
  Interior3<kTilePx, kS, kRows>(d, t, rp.tiles_begin(), rp.tiles_end(), pl, c, ws, bias, act, rr,
                                yr);
  if (rp.right) EdgeTile<kS, kRows, 2>(d, t, rp.wo - kEdgePx, pl, c, ws, bias, act, rr, yr);
}

// The register tiles of one row with 1-3 in-image input rows (kh <= 3 with kw = 3: V2's 3x3 has
// 2 at the top and bottom rows, 3 elsewhere).
template <int kS>
void Row3(DF d, const RowTaps& t, const RowPlan& rp, int64_t pl, int64_t c, int64_t ws,
          const float* bias, ref::Activation act, const float* rr, float* yr) {
  if (t.n == 3)
    Row3Tiles<kS, 3>(d, t, rp, pl, c, ws, bias, act, rr, yr);
  else if (t.n == 2)
    Row3Tiles<kS, 2>(d, t, rp, pl, c, ws, bias, act, rr, yr);
  else
    Row3Tiles<kS, 1>(d, t, rp, pl, c, ws, bias, act, rr, yr);
}

// One output pixel x kNV channel vectors from channel j, taps kx in [kx0, kx1) of every in-image
// row (the border pixels, and every pixel of geometries without a register tile). ix: the input
// column of tap kx = 0 (may be < 0).
template <size_t kNV, bool kTail>
HWY_INLINE void PixelVecs(DF d, const RowTaps& t, int64_t kx0, int64_t kx1, int64_t ix, int64_t dw,
                          int64_t c, int64_t ws, int64_t j, size_t lanes, const float* bias,
                          ref::Activation act, const float* res, float* y) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  VF acc[kNV][1];
  for (size_t v = 0; v < kNV; ++v) acc[v][0] = hn::Zero(d);
  for (int64_t r = 0; r < t.n; ++r) {
    const float* HWY_RESTRICT xr = t.rows[r] + j;
    const float* HWY_RESTRICT wr = t.w[r] + j;
    for (int64_t kx = kx0; kx < kx1; ++kx) {
      for (size_t v = 0; v < kNV; ++v) {
        const int64_t o = static_cast<int64_t>(v) * L;
        acc[v][0] = hn::MulAdd(hn::LoadU(d, wr + kx * ws + o),
                               LoadC<kTail>(d, xr + (ix + kx * dw) * c + o, lanes), acc[v][0]);
      }
    }
  }
  FinishBlock<kNV, 1, kTail>(d, acc, c, j, lanes, bias, act, res, y);
}

// One output pixel, all channels, taps kx in [kx0, kx1).
void PixelTaps(DF d, const ref::Conv2dParams& p, const RowTaps& t, int64_t ox, int64_t kx0,
               int64_t kx1, int64_t ws, const float* bias, ref::Activation act, const float* rr,
               float* yr) {
  const int64_t c = p.c_out, ix = ox * p.stride_w - p.pad_left;
  const float* res = rr ? rr + ox * c : nullptr;
  float* y = yr + ox * c;
  // 4 channel vectors at a time: 4 independent FMA chains.
  ForChannels<4>(d, c, [&](auto ch, int64_t j, size_t lanes) {
    using Ch = decltype(ch);
    PixelVecs<Ch::kVecs, Ch::kPartial>(d, t, kx0, kx1, ix, p.dil_w, c, ws, j, lanes, bias, act, res,
                                       y);
  });
}

// A border pixel: only its in-image taps, ix + kx * dw in [0, w_in).
void BorderPixel(DF d, const ref::Conv2dParams& p, const RowTaps& t, int64_t ox, int64_t ws,
                 const float* bias, ref::Activation act, const float* rr, float* yr) {
  const int64_t dw = p.dil_w, ix = ox * p.stride_w - p.pad_left;
  const int64_t kx0 = ix >= 0 ? 0 : (-ix + dw - 1) / dw;
  const int64_t last = p.w_in - 1 - ix;
  const int64_t kx1 = last < 0 ? 0 : std::min(p.kw, last / dw + 1);
  PixelTaps(d, p, t, ox, kx0, kx1, ws, bias, act, rr, yr);
}

// Output rows [r0, r1): per row, the in-image rows of the window (RowTaps), then the left border
// pixels, the interior (register tiles for kw = 3 with dilation_w 1 and stride_w 1 or 2, with the
// border pixels in edge tiles where RowPlan allows; else one pixel at a time without bounds
// tests) and the right border. Per pixel, all channels: the input is read as contiguous runs of
// the 1-3 rows, the weights (kh * kw * c floats) stay in L1.
void DwConv(const ref::Conv2dParams& p, const float* x, const float* wp, const float* bias,
            int act_i, const float* residual, int64_t r0, int64_t r1, float* y) {
  const DF d;
  const ref::Activation act = static_cast<ref::Activation>(act_i);
  const int64_t c = p.c_out, ws = DepthwisePackedStride(c), wo = p.w_out;
  const int64_t sw = p.stride_w, pl = p.pad_left, dw = p.dil_w;
  std::vector<const float*> rows(static_cast<size_t>(p.kh)), wrows(static_cast<size_t>(p.kh));
  RowTaps t{rows.data(), wrows.data(), 0};
  // Interior [ox_lo, ox_hi): every tap's column ox * sw - pl + kx * dw inside [0, w_in).
  const int64_t ox_lo = std::min(wo, (pl + sw - 1) / sw);
  const int64_t num = p.w_in - 1 + pl - (p.kw - 1) * dw;
  const int64_t ox_hi = num < 0 ? ox_lo : std::clamp(num / sw + 1, ox_lo, wo);
  const bool tile3 = p.kw == 3 && dw == 1 && (sw == 1 || sw == 2);
  const RowPlan rp = PlanRow(p, ox_lo, ox_hi);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / p.h_out, oy = r % p.h_out;
    t.n = 0;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
      if (iy < 0 || iy >= p.h_in) continue;
      rows[static_cast<size_t>(t.n)] = x + (n * p.h_in + iy) * p.w_in * c;
      wrows[static_cast<size_t>(t.n)] = wp + ky * p.kw * ws;
      ++t.n;
    }
    float* yr = y + r * wo * c;
    const float* rr = residual ? residual + r * wo * c : nullptr;
    if (tile3 && t.n >= 1 && t.n <= 3) {
      for (int64_t ox = 0; ox < (rp.left ? 0 : ox_lo); ++ox)
        BorderPixel(d, p, t, ox, ws, bias, act, rr, yr);
      if (sw == 1)
        Row3<1>(d, t, rp, pl, c, ws, bias, act, rr, yr);
      else
        Row3<2>(d, t, rp, pl, c, ws, bias, act, rr, yr);
      for (int64_t ox = rp.right ? wo : ox_hi; ox < wo; ++ox)
        BorderPixel(d, p, t, ox, ws, bias, act, rr, yr);
    } else {
      for (int64_t ox = 0; ox < ox_lo; ++ox) BorderPixel(d, p, t, ox, ws, bias, act, rr, yr);
      for (int64_t ox = ox_lo; ox < ox_hi; ++ox)
        PixelTaps(d, p, t, ox, 0, p.kw, ws, bias, act, rr, yr);
      for (int64_t ox = ox_hi; ox < wo; ++ox) BorderPixel(d, p, t, ox, ws, bias, act, rr, yr);
    }
  }
}

const char* DwKernelName() {
  static const std::string name = "dwconv_f32_3x3_" + std::to_string(kTilePx) + "x" +
                                  std::to_string(hn::Lanes(DF())) + "__" +
                                  hwy::TargetName(HWY_TARGET);
  return name.c_str();
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(DwConv);
HWY_EXPORT(DwKernelName);

bool DepthwiseConvSupported(const ref::Conv2dParams& p) {
  return p.groups >= 1 && p.groups == p.c_in && p.groups == p.c_out && p.n >= 1 && p.h_in >= 1 &&
         p.w_in >= 1 && p.h_out >= 1 && p.w_out >= 1 && p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 &&
         p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_top >= 0 && p.pad_left >= 0;
}

int64_t DepthwisePackedStride(int64_t channels) {
  return (channels + kMaxLanes - 1) / kMaxLanes * kMaxLanes;
}

std::vector<float> PackDepthwiseWeights(const ref::Conv2dParams& p, const float* ohwi) {
  const int64_t ws = DepthwisePackedStride(p.c_out), taps = p.kh * p.kw;
  std::vector<float> out(static_cast<size_t>(taps * ws), 0.0f);
  for (int64_t o = 0; o < p.c_out; ++o)
    for (int64_t tap = 0; tap < taps; ++tap)
      out[static_cast<size_t>(tap * ws + o)] = ohwi[o * taps + tap];
  return out;
}

void DepthwiseConvF32(const ref::Conv2dParams& p, const float* x, const float* packed_w,
                      const float* bias, ref::Activation act, const float* residual, int64_t r0,
                      int64_t r1, float* y) {
  if (r1 <= r0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(DwConv)(p, x, packed_w, bias, static_cast<int>(act), residual, r0, r1, y);
}

const char* DepthwiseConvKernelName() {
  InitIsa();
  return HWY_DYNAMIC_DISPATCH(DwKernelName)();
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
