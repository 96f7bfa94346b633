// Reference quantization kernels (kernels/quant.h): the oracle and, until the packed int8 GEMM is
// wired to these ops, what the executor runs.
#include "kernels/quant.h"

#include <type_traits>

namespace effi::kernels::ref {
namespace {

template <class T>
int32_t ZeroPoint(const T* zero_point, int64_t i) {
  return zero_point ? static_cast<int32_t>(zero_point[i]) : 0;
}

}  // namespace

void quantize_linear_s8(int64_t count, const float* x, float scale, int32_t zero_point, int8_t* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = SaturateRound<int8_t>(x[i] / scale, zero_point);
}

template <class T>
void quantize_linear(const QuantAxis& ax, const float* x, const float* scale, const T* zero_point,
                     T* y) {
  static_assert(std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>);
  for (int64_t o = 0; o < ax.outer; ++o)
    for (int64_t c = 0; c < ax.channels; ++c) {
      const int64_t off = (o * ax.channels + c) * ax.inner;
      if constexpr (std::is_same_v<T, uint8_t>)
        quantize_linear_u8(ax.inner, x + off, scale[c], ZeroPoint(zero_point, c), y + off);
      else
        quantize_linear_s8(ax.inner, x + off, scale[c], ZeroPoint(zero_point, c), y + off);
    }
}

template <class T>
void dequantize_linear(const QuantAxis& ax, const T* x, const float* scale, const T* zero_point,
                       float* y) {
  for (int64_t o = 0; o < ax.outer; ++o)
    for (int64_t c = 0; c < ax.channels; ++c) {
      const int64_t off = (o * ax.channels + c) * ax.inner;
      const int64_t zp = ZeroPoint(zero_point, c);
      for (int64_t i = off; i < off + ax.inner; ++i)
        y[i] = static_cast<float>(int64_t{x[i]} - zp) * scale[c];
    }
}

void dynamic_quantize_linear_u8(int64_t count, const float* x, uint8_t* y, float* scale,
                                uint8_t* zero_point) {
  float lo = 0.0f, hi = 0.0f;  // the range always holds 0, so 0 is exactly representable
  for (int64_t i = 0; i < count; ++i) lo = std::fmin(lo, x[i]), hi = std::fmax(hi, x[i]);
  // ONNX Runtime's GetQuantizationParameter: (max - min) / (qmax - qmin) in float32, 1 for an
  // all-zero input (where ONNX's formula would divide by zero).
  const float s = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  // qmin - min / scale, saturated and rounded half to even (an infinite range gives NaN here,
  // which SaturateRound maps to 0).
  const uint8_t zp = SaturateRound<uint8_t>(0.0f - lo / s, 0);
  *scale = s;
  *zero_point = zp;
  quantize_linear_u8(count, x, s, zp, y);
}

template <class TA, class TB>
void qgemm_s32(int64_t m, int64_t n, int64_t k, const TA* a, int64_t lda, int32_t a_zero_point,
               const TB* b, int64_t ldb, const TB* b_zero_point, int64_t b_zp_stride, int32_t* acc,
               int64_t ldacc) {
  if constexpr (std::is_same_v<TA, uint8_t> && std::is_same_v<TB, int8_t>) {
    bool symmetric = true;  // u8 x s8 with a zero weight zero point: the existing oracle
    for (int64_t j = 0; b_zero_point && j < (b_zp_stride ? n : 1); ++j)
      symmetric = symmetric && b_zero_point[j] == 0;
    if (symmetric) {
      qgemm_u8s8_s32(false, m, n, k, a, lda, a_zero_point, b, ldb, acc, ldacc);
      return;
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t bz = ZeroPoint(b_zero_point, j * b_zp_stride);
      int64_t s = 0;  // int64: exact whatever k
      for (int64_t kk = 0; kk < k; ++kk)
        s += (int64_t{a[i * lda + kk]} - a_zero_point) * (int64_t{b[kk * ldb + j]} - bz);
      acc[i * ldacc + j] = static_cast<int32_t>(s);
    }
}

template <class TX, class TW>
void qconv2d_nchw_s32(const Conv2dParams& p, const TX* x, int32_t x_zero_point, const TW* w,
                      const TW* w_zero_point, int64_t w_zp_stride, int32_t* y) {
  const int64_t cpg = p.c_in / p.groups, mpg = p.c_out / p.groups;
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t oc = 0; oc < p.c_out; ++oc) {
      const int64_t g = oc / mpg, wz = ZeroPoint(w_zero_point, oc * w_zp_stride);
      for (int64_t oy = 0; oy < p.h_out; ++oy)
        for (int64_t ox = 0; ox < p.w_out; ++ox) {
          int64_t s = 0;
          for (int64_t ic = 0; ic < cpg; ++ic) {
            const TX* xc = x + ((b * p.c_in) + g * cpg + ic) * p.h_in * p.w_in;
            const TW* wc = w + (oc * cpg + ic) * p.kh * p.kw;
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
              if (iy < 0 || iy >= p.h_in) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
                if (ix < 0 || ix >= p.w_in) continue;
                s += (int64_t{xc[iy * p.w_in + ix]} - x_zero_point) *
                     (int64_t{wc[ky * p.kw + kx]} - wz);
              }
            }
          }
          y[((b * p.c_out + oc) * p.h_out + oy) * p.w_out + ox] = static_cast<int32_t>(s);
        }
    }
}

template <class T>
void requantize(const QuantAxis& ax, const int32_t* acc, const int32_t* bias,
                const float* multiplier, int32_t zero_point, T* y) {
  for (int64_t o = 0; o < ax.outer; ++o)
    for (int64_t c = 0; c < ax.channels; ++c) {
      const int64_t off = (o * ax.channels + c) * ax.inner, add = bias ? bias[c] : 0;
      for (int64_t i = off; i < off + ax.inner; ++i)
        y[i] = SaturateRound<T>(static_cast<float>(acc[i] + add) * multiplier[c], zero_point);
    }
}

template void quantize_linear<uint8_t>(const QuantAxis&, const float*, const float*, const uint8_t*,
                                       uint8_t*);
template void quantize_linear<int8_t>(const QuantAxis&, const float*, const float*, const int8_t*,
                                      int8_t*);
template void dequantize_linear<uint8_t>(const QuantAxis&, const uint8_t*, const float*,
                                         const uint8_t*, float*);
template void dequantize_linear<int8_t>(const QuantAxis&, const int8_t*, const float*,
                                        const int8_t*, float*);
template void dequantize_linear<int32_t>(const QuantAxis&, const int32_t*, const float*,
                                         const int32_t*, float*);
template void requantize<uint8_t>(const QuantAxis&, const int32_t*, const int32_t*, const float*,
                                  int32_t, uint8_t*);
template void requantize<int8_t>(const QuantAxis&, const int32_t*, const int32_t*, const float*,
                                 int32_t, int8_t*);

#define EFFI_QUANT_INSTANTIATE(TA, TB)                                                        \
  template void qgemm_s32<TA, TB>(int64_t, int64_t, int64_t, const TA*, int64_t, int32_t,     \
                                  const TB*, int64_t, const TB*, int64_t, int32_t*, int64_t); \
  template void qconv2d_nchw_s32<TA, TB>(const Conv2dParams&, const TA*, int32_t, const TB*,  \
                                         const TB*, int64_t, int32_t*);
EFFI_QUANT_INSTANTIATE(uint8_t, uint8_t)
EFFI_QUANT_INSTANTIATE(uint8_t, int8_t)
EFFI_QUANT_INSTANTIATE(int8_t, uint8_t)
EFFI_QUANT_INSTANTIATE(int8_t, int8_t)
#undef EFFI_QUANT_INSTANTIATE

}  // namespace effi::kernels::ref
