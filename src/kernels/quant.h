// Reference kernels for ONNX's quantization ops (QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv): plain integer
// loops with ONNX Runtime's exact arithmetic. Integer results are exact; float results are the
// ones ONNX Runtime's CPU kernels give bit for bit (x / scale in float32, round half to even,
// zero point added, saturated). The u8 x s8 GEMM with symmetric weights is ref::qgemm_u8s8_s32
// (ref_kernels.h), which qgemm_s32 reuses.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// A tensor seen as [outer][channels][inner] for per-axis quantization parameters: element (o, c, i)
// uses scale[c] and zero_point[c]. Per-tensor parameters are channels = 1.
struct QuantAxis {
  int64_t outer = 1, channels = 1, inner = 0;
};

// The largest K for which an integer dot product of 8-bit operands minus their zero points cannot
// overflow int32: each product is at most 255 * 255 = 65025 in magnitude (u8 - u8 zero point and
// s8 - s8 zero point both span [-255, 255]), and 33025 * 65025 < 2^31 <= 33026 * 65025. ONNX
// Runtime accumulates in int32 and wraps past it; effi refuses such K instead (EfficientFormer's
// largest K is 3 * 3 * 448 = 4032).
inline constexpr int64_t kMaxExactIntegerK = std::numeric_limits<int32_t>::max() / (255 * 255);

// saturate(nearbyint(v) + zero_point) to T's range, rounding half to even (the default rounding
// mode); NaN gives zero_point, as ref::quantize_linear_u8 does (ONNX leaves it undefined).
template <class T>
T SaturateRound(float v, int32_t zero_point) {
  const float q = std::isnan(v) ? 0.0f : std::nearbyint(v);
  const float y = q + static_cast<float>(zero_point);  // exact below 2^24; larger saturates
  return static_cast<T>(std::clamp(y, static_cast<float>(std::numeric_limits<T>::min()),
                                   static_cast<float>(std::numeric_limits<T>::max())));
}

// Per-tensor QuantizeLinear to u8 on the active ISA, bit-exact with ref::quantize_linear<uint8_t>
// (x / scale in float32, round half to even, + zero_point, saturated; NaN -> zero_point).
// scale > 0 and finite, zero_point in [0, 255]. Used by the int8 ops on their float inputs.
void QuantizeU8(int64_t count, const float* x, float scale, int32_t zero_point, uint8_t* y);

// Name of QuantizeU8's kernel for the active ISA, e.g. "quantize_f32_u8__AVX3" (bench labels, and
// tests checking that a forced target really ran).
const char* QuantizeU8KernelName();

namespace ref {

// ONNX QuantizeLinear to s8 (per tensor): y = saturate_-128_127(nearbyint(x / scale) + zero_point).
void quantize_linear_s8(int64_t count, const float* x, float scale, int32_t zero_point, int8_t* y);

// QuantizeLinear per axis (T = uint8_t or int8_t); zero_point nullable (0).
template <class T>
void quantize_linear(const QuantAxis& ax, const float* x, const float* scale, const T* zero_point,
                     T* y);

// DequantizeLinear per axis (T = uint8_t, int8_t or int32_t): y = float(x - zero_point) * scale,
// the difference taken exactly (int64) and rounded once to float; zero_point nullable (0).
template <class T>
void dequantize_linear(const QuantAxis& ax, const T* x, const float* scale, const T* zero_point,
                       float* y);

// DynamicQuantizeLinear (u8): the range [min(x, 0), max(x, 0)] (NaN ignored) maps onto [0, 255]:
// scale = (max - min) / 255 (1 when max == min, as ONNX Runtime), zero_point =
// saturate(round(-min / scale)), then y = QuantizeLinear(x, scale, zero_point).
void dynamic_quantize_linear_u8(int64_t count, const float* x, uint8_t* y, float* scale,
                                uint8_t* zero_point);

// acc[i][j] = sum_k (a[i][k] - a_zero_point) * (b[k][j] - b_zero_point[j * b_zp_stride]), exact
// (callers keep k <= kMaxExactIntegerK). TA, TB = uint8_t or int8_t; b_zero_point nullable (0),
// b_zp_stride 0 (per tensor) or 1 (per column).
template <class TA, class TB>
void qgemm_s32(int64_t m, int64_t n, int64_t k, const TA* a, int64_t lda, int32_t a_zero_point,
               const TB* b, int64_t ldb, const TB* b_zero_point, int64_t b_zp_stride, int32_t* acc,
               int64_t ldacc);

// Integer convolution, x NCHW (TX), w OIHW (TW), y NCHW int32: y = sum (x - x_zero_point) *
// (w - w_zero_point[oc * w_zp_stride]) over in-image taps (padding is x_zero_point, so it adds 0:
// ONNX ConvInteger / QLinearConv as ONNX Runtime pads). w_zero_point nullable; exact for
// c_in / groups * kh * kw <= kMaxExactIntegerK.
template <class TX, class TW>
void qconv2d_nchw_s32(const Conv2dParams& p, const TX* x, int32_t x_zero_point, const TW* w,
                      const TW* w_zero_point, int64_t w_zp_stride, int32_t* y);

// Requantization of int32 accumulators (QLinearMatMul, QLinearConv) as ONNX Runtime's
// MlasRequantizeOutput: y = saturate(nearbyint(float(acc + bias[c]) * multiplier[c]) + zero_point)
// with multiplier[c] = a_scale * b_scale[c] / y_scale; bias nullable (the sum is exact in int64).
template <class T>
void requantize(const QuantAxis& ax, const int32_t* acc, const int32_t* bias,
                const float* multiplier, int32_t zero_point, T* y);

}  // namespace ref
}  // namespace effi::kernels
