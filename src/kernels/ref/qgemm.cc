// Reference int8 GEMM: the oracle for the packed int8 kernels (integer accumulators compared for
// equality) and their epilogue.
#include <cmath>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {
namespace {

// QuantizeLinear to u8 of one value, as a float in [0, 255]: saturate(nearbyint(x / scale) + zp),
// NaN -> zp. Shared by quantize_linear_u8 and the epilogue's fake quantization.
float QuantizeU8(float x, float scale, int32_t zero_point) {
  // nearbyint rounds half to even in the default rounding mode.
  const float q = std::isnan(x) ? 0.0f : std::nearbyint(x / scale);
  return std::fmin(std::fmax(q + static_cast<float>(zero_point), 0.0f), 255.0f);
}

}  // namespace

void qgemm_u8s8_s32(bool trans_b, int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                    int32_t a_zero_point, const int8_t* b, int64_t ldb, int32_t* acc,
                    int64_t ldacc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;  // int64: no intermediate can overflow whatever K
      for (int64_t kk = 0; kk < k; ++kk) {
        const int64_t w = trans_b ? b[j * ldb + kk] : b[kk * ldb + j];
        s += (int64_t{a[i * lda + kk]} - a_zero_point) * w;
      }
      acc[i * ldacc + j] = static_cast<int32_t>(s);
    }
  }
}

void qgemm_epilogue_f32(int64_t rows, int64_t cols, const int32_t* acc, const float* multiplier,
                        const float* bias, float fq_scale, int32_t fq_zero_point,
                        const float* post_bias, Activation act, const float* post_scale,
                        const float* residual, int64_t ldr, float* y) {
  for (int64_t i = 0; i < rows; ++i) {
    float* yi = y + i * cols;
    const float* ri = residual ? residual + i * ldr : nullptr;
    for (int64_t j = 0; j < cols; ++j) {
      float v = static_cast<float>(acc[i * cols + j]) * (multiplier ? multiplier[j] : 1.0f);
      if (bias) v += bias[j];
      // QuantizeLinear -> DequantizeLinear, the pair exactly as the two ops compute it.
      if (fq_scale != 0.0f)
        v = (QuantizeU8(v, fq_scale, fq_zero_point) - static_cast<float>(fq_zero_point)) * fq_scale;
      yi[j] = v;
    }
    // post_bias, activation and residual exactly as the fp32 GEMM's epilogue; a post_scale comes
    // between the activation and the residual.
    epilogue_f32(1, cols, post_bias, act, post_scale ? nullptr : ri, yi);
    if (post_scale) {
      for (int64_t j = 0; j < cols; ++j) {
        yi[j] *= post_scale[j];
        if (ri) yi[j] += ri[j];
      }
    }
  }
}

void quantize_linear_u8(int64_t count, const float* x, float scale, int32_t zero_point,
                        uint8_t* y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = static_cast<uint8_t>(QuantizeU8(x[i], scale, zero_point));
}

}  // namespace effi::kernels::ref
