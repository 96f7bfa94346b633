// Reference LayerNorm (row statistics in double, optional Mean/InvStdDev outputs) and inference
// BatchNorm in channels-first and channels-last layouts.

#include <cmath>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

void layernorm_f32(int64_t rows, int64_t cols, const float* x, const float* gamma,
                   const float* beta, float eps, float* y, float* mean_out, float* inv_std_out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which cancels
    // catastrophically when |mean| >> stddev.
    double mean = 0.0;
    for (int64_t i = 0; i < cols; ++i) mean += xr[i];
    mean /= static_cast<double>(cols);
    double var = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
      const double d = xr[i] - mean;
      var += d * d;
    }
    var /= static_cast<double>(cols);
    const double inv_std = 1.0 / std::sqrt(var + static_cast<double>(eps));
    for (int64_t i = 0; i < cols; ++i) {
      double v = (xr[i] - mean) * inv_std;
      if (gamma != nullptr) v *= gamma[i];
      if (beta != nullptr) v += beta[i];
      yr[i] = static_cast<float>(v);
    }
    if (mean_out != nullptr) mean_out[r] = static_cast<float>(mean);
    if (inv_std_out != nullptr) inv_std_out[r] = static_cast<float>(inv_std);
  }
}

namespace {

// Straight from the definition, in double: y = (x - mean) / sqrt(var + eps) * scale + bias. Folding
// into x * mul + add would be faster but is the optimized kernels' business, not the oracle's.
inline float bn_one(float x, int64_t ch, const float* scale, const float* bias, const float* mean,
                    const float* var, float eps) {
  const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[ch]) + eps);
  return static_cast<float>((x - static_cast<double>(mean[ch])) * inv_std * scale[ch] + bias[ch]);
}

}  // namespace

void batchnorm_nchw_f32(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale,
                        const float* bias, const float* mean, const float* var, float eps,
                        float* y) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t base = (b * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        y[base + i] = bn_one(x[base + i], ch, scale, bias, mean, var, eps);
      }
    }
  }
}

void batchnorm_nhwc_f32(int64_t rows, int64_t c, const float* x, const float* scale,
                        const float* bias, const float* mean, const float* var, float eps,
                        float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t ch = 0; ch < c; ++ch) {
      y[r * c + ch] = bn_one(x[r * c + ch], ch, scale, bias, mean, var, eps);
    }
  }
}

}  // namespace effi::kernels::ref
