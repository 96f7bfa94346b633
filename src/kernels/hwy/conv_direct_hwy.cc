// Highway direct convolution for few input channels (NCHW in, NHWC out), compiled once per target
// by foreach_target and dispatched at run time. See kernels/conv_direct.h.
#include <algorithm>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/conv_direct_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/conv_direct.h"
#include "kernels/hwy/vec_math-inl.h"
#include "kernels/isa.h"

#ifndef EFFI_CONV_DIRECT_SHARED_
#define EFFI_CONV_DIRECT_SHARED_  // once, not per target (foreach_target re-includes this file)
namespace effi::kernels {
namespace {
// Output channels per register group and the phase row stride: w_out rounded up to a whole number
// of the widest pixel tile (2 x 16 lanes) plus the largest tap offset, so every tile, tails
// included, loads inside the row (the padding is zero and its outputs are not stored).
constexpr int64_t kCo = 8;
constexpr int64_t kChunkRows = 8;  // output rows per chunk of phase rows
int64_t PhaseStride(const ref::Conv2dParams& p) {
  return (p.w_out + 63) / 64 * 64 + (p.kw - 1) / p.stride_w + 1;
}
}  // namespace
}  // namespace effi::kernels
#endif  // EFFI_CONV_DIRECT_SHARED_

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// The sw phase rows of one input row xr: out[q * wq + j] = xr[sw * j + q - pad_left], zero outside.
HWY_INLINE void PhaseRow(const ref::Conv2dParams& p, const float* xr, float* out) {
  const int64_t wq = PhaseStride(p), sw = p.stride_w, pl = p.pad_left, w = p.w_in;
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  // Interior [j_lo, j_hi): every phase's source sw * j + q - pl is inside the row.
  const int64_t j_lo = std::min(wq, (pl + sw - 1) / sw);
  const int64_t num = w - sw + pl;  // floor division below needs num >= 0
  const int64_t j_hi = num < 0 ? j_lo : std::max(j_lo, std::min(wq, num / sw + 1));
  int64_t j = j_lo;
  if (sw == 2) {
    // Stride 2: one deinterleaving load per 2 L inputs gives both phases.
    for (; j + L <= j_hi; j += L) {
      VF even, odd;
      hn::LoadInterleaved2(d, xr + 2 * j - pl, even, odd);
      hn::StoreU(even, d, out + j);
      hn::StoreU(odd, d, out + wq + j);
    }
  } else {
    std::memcpy(out + j, xr + j - pl, static_cast<size_t>(j_hi - j) * sizeof(float));
    j = j_hi;
  }
  for (int64_t q = 0; q < sw; ++q) {
    float* o = out + q * wq;
    auto at = [&](int64_t jj) {
      const int64_t ix = sw * jj + q - pl;
      return ix >= 0 && ix < w ? xr[ix] : 0.0f;
    };
    for (int64_t jj = 0; jj < j_lo; ++jj) o[jj] = at(jj);
    for (int64_t jj = j; jj < wq; ++jj) o[jj] = at(jj);
  }
}

#if HWY_TARGET != HWY_SCALAR
// Stores each 128-bit block b of v (4 floats) at p + b * stride: halves recursively, so AVX-512
// becomes 128-bit extracts straight to memory.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void StoreBlocks(D d, V v, float* p, int64_t stride) {
  if constexpr (hn::MaxLanes(D()) <= 4) {
    hn::StoreU(v, d, p);
  } else {
    const hn::Half<D> dh;
    StoreBlocks(dh, hn::LowerHalf(dh, v), p, stride);
    StoreBlocks(dh, hn::UpperHalf(dh, v), p + static_cast<int64_t>(hn::MaxLanes(D()) / 8) * stride,
                stride);
  }
}
#endif

// Writes 4 channel vectors (lane = pixel px0 + lane) as NHWC: out[px][cbase + 0..nc). Two rounds
// of interleaves turn each 128-bit block b of u[j] into the 4 channels of pixel 4 b + j, stored
// 16 bytes at a time. A partial quad (nc < 4) or a tile past w_out (padding pixels, not stored)
// goes through a buffer; the first version did that for every tile, and its 64-byte-store /
// 16-byte-reload pairs (no store forwarding) plus libc memcpy calls made the conv 3x slower.
HWY_INLINE void StoreTransposed4(DF d, VF c0, VF c1, VF c2, VF c3, float* y, int64_t px0,
                                 int64_t w_out, int64_t ldy, int64_t cbase, int64_t nc) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN float buf[4][HWY_LANES(float)];
#if HWY_TARGET == HWY_SCALAR
  hn::Store(c0, d, buf[0]);
  hn::Store(c1, d, buf[1]);
  hn::Store(c2, d, buf[2]);
  hn::Store(c3, d, buf[3]);
  for (int64_t i = 0; i < L && px0 + i < w_out; ++i)
    for (int64_t c = 0; c < nc; ++c) y[(px0 + i) * ldy + cbase + c] = buf[c][i];
#else
  const hn::Repartition<uint64_t, DF> du;
  const VF t0 = hn::InterleaveLower(d, c0, c1), t1 = hn::InterleaveUpper(d, c0, c1);
  const VF t2 = hn::InterleaveLower(d, c2, c3), t3 = hn::InterleaveUpper(d, c2, c3);
  const VF u[4] = {
      hn::BitCast(d, hn::InterleaveLower(du, hn::BitCast(du, t0), hn::BitCast(du, t2))),
      hn::BitCast(d, hn::InterleaveUpper(du, hn::BitCast(du, t0), hn::BitCast(du, t2))),
      hn::BitCast(d, hn::InterleaveLower(du, hn::BitCast(du, t1), hn::BitCast(du, t3))),
      hn::BitCast(d, hn::InterleaveUpper(du, hn::BitCast(du, t1), hn::BitCast(du, t3)))};
  if (nc == 4 && px0 + L <= w_out) {
    for (int64_t j = 0; j < 4; ++j) StoreBlocks(d, u[j], y + (px0 + j) * ldy + cbase, 4 * ldy);
    return;
  }
  for (size_t j = 0; j < 4; ++j) hn::Store(u[j], d, buf[j]);
  const size_t bytes = static_cast<size_t>(nc) * sizeof(float);
  for (int64_t b = 0; b < L / 4; ++b) {
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t px = px0 + 4 * b + j;
      if (px >= w_out) return;
      std::memcpy(y + px * ldy + cbase, &buf[j][4 * b], bytes);
    }
  }
#endif
}

// Register tile: kCo output channels x kPx vectors of pixels. 32-register targets take 2 pixel
// vectors (16 accumulators + 2 inputs + 1 weight), 16-register ones 1.
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3 || \
    HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
constexpr size_t kPx = 1;
#else
constexpr size_t kPx = 2;
#endif

// One kCo-channel group x kNV pixel vectors at (output row oy, pixels from px0), from the phase
// rows of input rows [iy0, iy0 + nrows) (layout [c][row][q][wq]).
template <size_t kNV>
HWY_INLINE void ConvTile(const ref::Conv2dParams& p, const float* phases, int64_t iy0,
                         int64_t nrows, const int64_t* koff, const float* wg, const float* bias,
                         ref::Activation act, int64_t g, int64_t oy, int64_t px0, float* yrow) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), wq = PhaseStride(p), sw = p.stride_w;
  VF acc[kCo][kNV];
  for (size_t co = 0; co < kCo; ++co)
    for (size_t v = 0; v < kNV; ++v) acc[co][v] = hn::Zero(d);
  for (int64_t c = 0; c < p.c_in; ++c) {
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_top + ky;
      if (iy < 0 || iy >= p.h_in) continue;  // zero padding rows add nothing
      const float* prow = phases + (c * nrows + iy - iy0) * sw * wq + px0;
      const float* wk = wg + (c * p.kh + ky) * p.kw * kCo;
      for (int64_t kx = 0; kx < p.kw; ++kx, wk += kCo) {
        const float* src = prow + koff[kx];
        VF in[kNV];
        for (size_t v = 0; v < kNV; ++v) in[v] = hn::LoadU(d, src + static_cast<int64_t>(v) * L);
        for (size_t co = 0; co < kCo; ++co) {
          const VF wv = hn::Set(d, wk[co]);
          for (size_t v = 0; v < kNV; ++v) acc[co][v] = hn::MulAdd(wv, in[v], acc[co][v]);
        }
      }
    }
  }
  for (size_t co = 0; co < kCo; ++co) {
    const int64_t ch = g * kCo + static_cast<int64_t>(co);
    const VF b = hn::Set(d, bias != nullptr && ch < p.c_out ? bias[ch] : 0.0f);
    for (size_t v = 0; v < kNV; ++v) acc[co][v] = Activate(d, hn::Add(acc[co][v], b), act);
  }
  for (int64_t quad = 0; quad < kCo / 4; ++quad) {
    const int64_t cbase = g * kCo + quad * 4;
    if (cbase >= p.c_out) break;
    const int64_t nc = std::min<int64_t>(4, p.c_out - cbase);
    const size_t q4 = static_cast<size_t>(quad) * 4;
    for (size_t v = 0; v < kNV; ++v) {
      StoreTransposed4(d, acc[q4][v], acc[q4 + 1][v], acc[q4 + 2][v], acc[q4 + 3][v], yrow,
                       px0 + static_cast<int64_t>(v) * L, p.w_out, p.c_out, cbase, nc);
    }
  }
}

// Output rows [r0, r1) in chunks of kChunkRows: the chunk's input rows become phase rows in the
// caller's scratch (L1/L2-resident, ~52 KB for the stem conv), then every pixel tile and channel
// group of the chunk's rows. Building the whole image's phase rows first and then convolving
// measured slower in the model (0.28 ms: the 0.7 MB of phase rows left L2).
void Conv(const ref::Conv2dParams& p, const float* x, const float* wp, const float* bias, int act_i,
          int64_t r0, int64_t r1, float* scratch, float* y) {
  const DF d;
  const ref::Activation act = static_cast<ref::Activation>(act_i);
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t tile = static_cast<int64_t>(kPx) * L, wq = PhaseStride(p), sw = p.stride_w;
  const int64_t taps = p.c_in * p.kh * p.kw, groups = (p.c_out + kCo - 1) / kCo;
  // Tap kx reads phase kx % sw at offset kx / sw: precomputed (a 64-bit division per tap was
  // most of the inner loop's time).
  int64_t koff[8];
  for (int64_t kx = 0; kx < p.kw; ++kx) koff[kx] = (kx % sw) * wq + kx / sw;
  for (int64_t r = r0; r < r1;) {
    const int64_t n = r / p.h_out, oy0 = r % p.h_out;
    const int64_t oy1 = std::min({p.h_out, oy0 + kChunkRows, oy0 + (r1 - r)});
    const int64_t iy0 = std::max<int64_t>(0, oy0 * p.stride_h - p.pad_top);
    const int64_t iy1 = std::max(iy0, std::min(p.h_in, (oy1 - 1) * p.stride_h - p.pad_top + p.kh));
    const int64_t nrows = iy1 - iy0;
    for (int64_t c = 0; c < p.c_in; ++c)
      for (int64_t iy = iy0; iy < iy1; ++iy)
        PhaseRow(p, x + ((n * p.c_in + c) * p.h_in + iy) * p.w_in,
                 scratch + (c * nrows + iy - iy0) * sw * wq);
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      float* yrow = y + (n * p.h_out + oy) * p.w_out * p.c_out;
      for (int64_t px0 = 0; px0 < p.w_out; px0 += tile) {
        // A last tile of at most one vector of pixels (112 = 3 x 32 + 16) takes the narrow tile.
        const bool narrow = kPx > 1 && p.w_out - px0 <= L;
        for (int64_t g = 0; g < groups; ++g) {
          const float* wg = wp + g * taps * kCo;
          if (narrow)
            ConvTile<1>(p, scratch, iy0, nrows, koff, wg, bias, act, g, oy, px0, yrow);
          else
            ConvTile<kPx>(p, scratch, iy0, nrows, koff, wg, bias, act, g, oy, px0, yrow);
        }
      }
    }
    r += oy1 - oy0;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(Conv);

bool DirectConvSupported(const ref::Conv2dParams& p) {
  return p.groups == 1 && p.dil_h == 1 && p.dil_w == 1 && p.c_in >= 1 && p.c_in <= 4 &&
         (p.stride_w == 1 || p.stride_w == 2) && p.stride_h >= 1 && p.kw >= 1 && p.kw <= 8 &&
         p.kh >= 1 && p.kh <= 8 && p.pad_left >= 0 && p.pad_left < p.kw && p.pad_top >= 0 &&
         p.w_out >= 1 && p.h_out >= 1 && p.c_out >= 1;
}

std::vector<float> PackDirectConvWeights(const ref::Conv2dParams& p, const float* ohwi) {
  const int64_t groups = (p.c_out + kCo - 1) / kCo, taps = p.c_in * p.kh * p.kw;
  std::vector<float> out(static_cast<size_t>(groups * taps * kCo), 0.0f);
  for (int64_t o = 0; o < p.c_out; ++o)
    for (int64_t ky = 0; ky < p.kh; ++ky)
      for (int64_t kx = 0; kx < p.kw; ++kx)
        for (int64_t c = 0; c < p.c_in; ++c) {
          const int64_t tap = (c * p.kh + ky) * p.kw + kx;
          out[static_cast<size_t>(((o / kCo) * taps + tap) * kCo + o % kCo)] =
              ohwi[((o * p.kh + ky) * p.kw + kx) * p.c_in + c];
        }
  return out;
}

int64_t DirectConvScratchFloats(const ref::Conv2dParams& p) {
  const int64_t rows = std::min(p.h_in, (kChunkRows - 1) * p.stride_h + p.kh);
  return p.c_in * rows * p.stride_w * PhaseStride(p);
}

void DirectConvF32(const ref::Conv2dParams& p, const float* x, const float* packed_w,
                   const float* bias, ref::Activation act, int64_t r0, int64_t r1, float* scratch,
                   float* y) {
  if (r1 <= r0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Conv)(p, x, packed_w, bias, static_cast<int>(act), r0, r1, scratch, y);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
